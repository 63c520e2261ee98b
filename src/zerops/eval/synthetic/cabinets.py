"""Box-bodied furniture with fronts: StorageFurniture, Refrigerator, Door (and the drawer/door front helper)."""
from __future__ import annotations

import numpy as np

from zerops.eval.synthetic.assembly import NO_PART, Assembly, bar_handle
from zerops.eval.synthetic.primitives import box, cylinder, rotation, rounded_box, sphere, tube


def pick(rng: np.random.Generator, options, p=None):
    """One element of ``options`` (a sequence), drawn with probabilities ``p``."""
    return options[int(rng.choice(len(options), p=p))]


def add_front(a: Assembly, rng: np.random.Generator, x0: float, x1: float, y0: float, y1: float, zf: float,
              kind: str, handle_style: str, hinge: str = "left", gap: float = 0.004,
              thickness: float = 0.018, handle_part: str | None = "handle") -> None:
    """Add a drawer or door front covering [x0,x1] x [y0,y1] on the body face z = zf (facing +z),
    sunk 4 mm into the body, plus 0-2 handles (separate instances of ``handle_part``; -1 if None)."""
    part = a.part(kind)
    a.add(box((x1 - x0 - 2 * gap, y1 - y0 - 2 * gap, thickness),
              ((x0 + x1) / 2, (y0 + y1) / 2, zf + thickness / 2 - 0.004)), part, "front")
    zs = zf + thickness - 0.004
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    spots: list[tuple[float, float]] = []
    if handle_style == "none":
        return
    if kind == "drawer":
        if handle_style == "bar":
            spots = [(cx, cy)] if w < 0.7 or rng.random() < 0.6 else [(x0 + w / 4, cy), (x1 - w / 4, cy)]
        else:
            spots = [(cx, cy)] if w < 0.5 or rng.random() < 0.5 else [(x0 + w / 4, cy), (x1 - w / 4, cy)]
        axis = (1.0, 0.0, 0.0)
        length = min(0.4 * w, rng.uniform(0.08, 0.2))
    else:
        hx = x1 - min(0.06, 0.15 * w) if hinge == "left" else x0 + min(0.06, 0.15 * w)
        hy = cy if h < 0.9 else y0 + rng.uniform(0.45, 0.6) * h if y0 < 0.5 else y0 + 0.2 * h
        spots = [(hx, min(hy, y1 - 0.08))]
        axis = (0.0, 1.0, 0.0)
        length = min(0.5 * h, rng.uniform(0.1, 0.35))
    for sx, sy in spots:
        hp = a.part(handle_part) if handle_part else NO_PART
        if handle_style == "bar":
            a.add(bar_handle((sx, sy, zs), length, axis, (0, 0, 1), rng, standoff=rng.uniform(0.018, 0.03)),
                  hp, "handle")
        else:
            r = rng.uniform(0.01, 0.018)
            a.add(cylinder(0.5 * r, 0.025, (sx, sy, zs + 0.0125 - 0.004), rotation("x", np.pi / 2)), hp, "handle")
            a.add(sphere(r, (sx, sy, zs + 0.02 + 0.6 * r)), hp, "handle")


def storage_furniture(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("StorageFurniture", names)
    a.slot("body", "wood", "wood", "plastic", "metal")
    a.slot("front", "wood", "plastic", "metal")
    a.slot("handle", "metal", "metal", "plastic", "wood")
    W, D = rng.uniform(0.45, 1.5), rng.uniform(0.35, 0.6)
    H = rng.uniform(0.5, 1.9) if W < 1.0 else rng.uniform(0.5, 1.1)
    base = rng.uniform(0.04, 0.12)
    feet = rng.random() < 0.5
    if feet:
        for sx in (-1, 1):
            for sz in (-1, 1):
                a.add(box((0.04, base + 0.01, 0.04), (sx * (W / 2 - 0.04), (base + 0.01) / 2, sz * (D / 2 - 0.04))),
                      NO_PART, "body")
    else:
        a.add(box((W - 0.04, base + 0.01, D - 0.04), (0, (base + 0.01) / 2, -0.01)), NO_PART, "body")
    a.add(box((W, H - base, D), (0, base + (H - base) / 2, 0)), NO_PART, "body")
    if rng.random() < 0.4:  # overhanging top board
        a.add(box((W + 0.03, 0.025, D + 0.02), (0, H + 0.012 - 0.002, 0.01)), NO_PART, "body")
    m = rng.uniform(0.0, 0.025)
    x0, x1, y0, y1, zf = -W / 2 + m, W / 2 - m, base + m, H - m, D / 2
    style = pick(rng, ["bar", "knob", "none"], [0.55, 0.35, 0.1])
    layout = pick(rng, ["drawers", "doors", "mixed"], [0.4, 0.3, 0.3])
    ncol = 1 if W < 0.7 else int(rng.integers(1, 3))
    xs = np.linspace(x0, x1, ncol + 1)
    if layout == "drawers":
        rows = int(rng.integers(1, 5)) if H < 1.2 else int(rng.integers(3, 6))
        ys = np.linspace(y0, y1, rows + 1)
        for c in range(ncol):
            for r in range(rows):
                add_front(a, rng, xs[c], xs[c + 1], ys[r], ys[r + 1], zf, "drawer", style)
    elif layout == "doors":
        ndoor = 1 if W < 0.55 else 2
        xd = np.linspace(x0, x1, ndoor + 1)
        split = H > 1.3 and rng.random() < 0.5
        yd = [y0, y0 + 0.6 * (y1 - y0), y1] if split else [y0, y1]
        for r in range(len(yd) - 1):
            for c in range(ndoor):
                add_front(a, rng, xd[c], xd[c + 1], yd[r], yd[r + 1], zf, "door", style,
                          hinge="left" if c == 0 else "right")
    else:
        nd = int(rng.integers(1, 3))
        ytop = y1 - nd * rng.uniform(0.12, 0.2)
        ys = np.linspace(ytop, y1, nd + 1)
        for c in range(ncol):
            for r in range(nd):
                add_front(a, rng, xs[c], xs[c + 1], ys[r], ys[r + 1], zf, "drawer", style)
        ndoor = 1 if W < 0.55 else 2
        xd = np.linspace(x0, x1, ndoor + 1)
        for c in range(ndoor):
            add_front(a, rng, xd[c], xd[c + 1], y0, ytop, zf, "door", style, hinge="left" if c == 0 else "right")
    return a


def refrigerator(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Refrigerator", names)
    a.slot("body", "metal", "plastic")
    a.slot("front", "metal", "plastic")
    a.slot("handle", "metal", "plastic")
    W, H, D = rng.uniform(0.55, 0.95), rng.uniform(1.3, 1.9), rng.uniform(0.6, 0.75)
    feet = rng.uniform(0.02, 0.06)
    a.add(box((W - 0.08, feet + 0.01, D - 0.1), (0, (feet + 0.01) / 2, 0)), NO_PART, "body")
    a.add(rounded_box((W, H - feet, D), rng.uniform(0.005, 0.03), (0, feet + (H - feet) / 2, 0)), NO_PART, "body")
    layout = pick(rng, ["top", "bottom", "single", "side"], [0.35, 0.3, 0.15, 0.2])
    g = 0.006
    style = pick(rng, ["bar", "bar", "none"])
    x0, x1, y0, y1, zf = -W / 2, W / 2, feet + 0.01, H - 0.01, D / 2
    t = rng.uniform(0.04, 0.07)

    def door(xa, xb, ya, yb, hinge):
        p = a.part("door")
        a.add(rounded_box((xb - xa - 2 * g, yb - ya - 2 * g, t), 0.01,
                          ((xa + xb) / 2, (ya + yb) / 2, zf + t / 2 - 0.01)),
              p, "front")
        if style == "none":
            return
        hx = xb - 0.05 if hinge == "left" else xa + 0.05
        L = min(0.7 * (yb - ya), rng.uniform(0.2, 0.6))
        hy = (ya + 0.12 + L / 2 if ya < 0.4 * H and yb - ya < 0.6 * H
              else (yb - L / 2 - 0.08 if ya > 0.4 * H else ya + 0.55 * (yb - ya)))
        hy = np.clip(hy, ya + L / 2 + 0.03, yb - L / 2 - 0.03)
        a.add(bar_handle((hx, hy, zf + t - 0.01), L, (0, 1, 0), (0, 0, 1), rng, radius=rng.uniform(0.008, 0.014)),
              a.part("handle"), "handle")

    if layout == "side":
        xm = rng.uniform(-0.1, 0.0) * W
        door(x0, xm, y0, y1, "right")
        door(xm, x1, y0, y1, "left")
    elif layout == "single":
        door(x0, x1, y0, y1, pick(rng, ["left", "right"]))
    else:
        frac = rng.uniform(0.25, 0.35) if layout == "top" else rng.uniform(0.3, 0.4)
        ym = y1 - frac * (y1 - y0) if layout == "top" else y0 + frac * (y1 - y0)
        hinge = pick(rng, ["left", "right"])
        door(x0, x1, y0, ym, hinge)
        door(x0, x1, ym, y1, hinge)
    return a


def door(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Door", names)
    a.slot("frame", "wood", "wood", "metal", "plastic")
    a.slot("door", "wood", "wood", "plastic", "metal")
    a.slot("handle", "metal")
    double = rng.random() < 0.25
    ow = rng.uniform(1.3, 1.8) if double else rng.uniform(0.75, 1.0)
    oh = rng.uniform(1.95, 2.2)
    fw, fd, dt = rng.uniform(0.05, 0.12), rng.uniform(0.1, 0.2), rng.uniform(0.035, 0.05)
    fr = a.part("frame")
    for sx in (-1, 1):
        a.add(box((fw, oh + fw, fd), (sx * (ow / 2 + fw / 2), (oh + fw) / 2, 0)), fr, "frame")
    a.add(box((ow + 2 * fw, fw, fd), (0, oh + fw / 2, 0)), fr, "frame")
    leaves = ([(-ow / 2, 0.0, "left"), (0.0, ow / 2, "right")] if double
              else [(-ow / 2, ow / 2, pick(rng, ["left", "right"]))])
    raised = rng.random() < 0.5
    lever = rng.random() < 0.6
    for xa, xb, hinge in leaves:
        dp = a.part("door")
        xa2 = xa - 0.005 if xa < -ow / 2 + 1e-9 else xa + 0.002
        xb2 = xb + 0.005 if xb > ow / 2 - 1e-9 else xb - 0.002
        a.add(box((xb2 - xa2, oh + 0.0, dt), ((xa2 + xb2) / 2, oh / 2 + 0.005, 0)), dp, "door")
        w = xb - xa
        if raised:
            npan = int(rng.integers(1, 4))
            ys = np.linspace(0.15, oh - 0.15, npan + 1)
            for i in range(npan):
                for sz in (-1, 1):
                    a.add(box((w - 0.2, ys[i + 1] - ys[i] - 0.1, 0.016),
                              ((xa + xb) / 2, (ys[i] + ys[i + 1]) / 2, sz * (dt / 2 + 0.004))), dp, "door")
        hx = xb - 0.07 if hinge == "left" else xa + 0.07
        hy = rng.uniform(0.95, 1.05)
        sign_x = -1.0 if hinge == "left" else 1.0
        for sz in (-1, 1):
            hp = a.part("handle")
            z0 = sz * dt / 2
            a.add(cylinder(0.03, 0.02, (hx, hy, z0), rotation("x", np.pi / 2)), hp, "handle")
            if lever:
                path = np.array([[hx, hy, z0], [hx, hy, z0 + sz * 0.055], [hx + sign_x * 0.02, hy, z0 + sz * 0.065],
                                 [hx + sign_x * 0.12, hy, z0 + sz * 0.065]])
                a.add(tube(path, 0.009), hp, "handle")
            else:
                a.add(cylinder(0.01, 0.05, (hx, hy, z0 + sz * 0.025), rotation("x", np.pi / 2)), hp, "handle")
                a.add(sphere(0.028, (hx, hy, z0 + sz * 0.06)), hp, "handle")
    return a
