"""Devices and accessories: Clock, Display, Eyeglasses, Laptop, Suitcase."""
from __future__ import annotations

import numpy as np

from zerops.eval.synthetic.assembly import NO_PART, Assembly, bar_handle, round_corners
from zerops.eval.synthetic.cabinets import pick
from zerops.eval.synthetic.primitives import box, cylinder, ellipse_path, prism, rotation, rounded_box, torus, tube

_FRONT = rotation("x", np.pi / 2)  # local y (lathe axis) -> world z (facing the viewer)


def clock(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Clock", names)
    a.slot("body", "wood", "plastic", "metal")
    a.slot("face", "ceramic", "plastic", "metal")
    a.slot("hand", "metal", "plastic")
    kind = pick(rng, ["wall", "table"], [0.6, 0.4])
    if kind == "wall":
        R, d = rng.uniform(0.12, 0.25), rng.uniform(0.02, 0.05)
        cy = 0.0
        a.add(cylinder(R, d, (0, cy, d / 2), _FRONT, segments=64), NO_PART, "face")
        if rng.random() < 0.7:
            a.add(torus(R, rng.uniform(0.008, 0.02), (0, cy, d), _FRONT, segments=64), NO_PART, "body")
        zf, rf = d, R
    else:
        W, H, D = rng.uniform(0.12, 0.25), rng.uniform(0.1, 0.25), rng.uniform(0.05, 0.1)
        a.add(rounded_box((W, H, D), rng.uniform(0.005, 0.03), (0, H / 2 + 0.015, 0)), NO_PART, "body")
        for sx in (-1, 1):
            a.add(box((0.03, 0.02, D * 0.8), (sx * W * 0.35, 0.01, 0)), NO_PART, "body")
        rf = 0.42 * min(W, H)
        cy = H / 2 + 0.015
        a.add(cylinder(rf, 0.01, (0, cy, D / 2 - 0.003), _FRONT), NO_PART, "face")
        zf = D / 2 + 0.002
    for k in range(12):  # tick marks
        ang = 2 * np.pi * k / 12
        tl = (0.1 if k % 3 == 0 else 0.06) * rf
        c = np.array([0.85 * rf * np.sin(ang), cy + 0.85 * rf * np.cos(ang), zf + 0.001])
        a.add(box((0.012 * rf + 0.002, tl, 0.004), c, rotation("z", -ang)), NO_PART, "hand")
    nh = int(pick(rng, [2, 3], [0.5, 0.5]))
    for i in range(nh):
        L = (0.5, 0.75, 0.85)[i] * rf
        w = (0.06, 0.04, 0.012)[i] * rf + 0.002
        ang = rng.uniform(0, 2 * np.pi)
        z = zf + 0.004 + 0.004 * i
        c = np.array([0.0, cy, z]) + rotation("z", -ang) @ [0, 0.4 * L, 0]
        a.add(box((w, L * 1.1, 0.003), c, rotation("z", -ang)), a.part("hand"), "hand")
    a.add(cylinder(0.04 * rf + 0.003, 0.016, (0, cy, zf + 0.006), _FRONT), NO_PART, "hand")
    return a


def display(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Display", names)
    a.slot("body", "plastic", "plastic", "metal")
    a.slot("screen", "glass")
    a.slot("stand", "plastic", "metal")
    W = rng.uniform(0.45, 0.9)
    H = W * rng.uniform(0.55, 0.65)
    d = rng.uniform(0.015, 0.05)
    lift = rng.uniform(0.08, 0.2)
    yc = lift + H / 2
    a.add(rounded_box((W, H, d), 0.005, (0, yc, 0)), NO_PART, "body")
    b = rng.uniform(0.008, 0.03)
    a.add(box((W - 2 * b, H - 2 * b - rng.uniform(0, 0.03), 0.004), (0, yc + 0.005, d / 2)), a.part("screen"), "screen")
    if rng.random() < 0.4:  # back bulge
        a.add(rounded_box((0.6 * W, 0.6 * H, 2 * d), 0.02, (0, yc, -d)), NO_PART, "body")
    if rng.random() < 0.2:  # two feet
        for sx in (-1, 1):
            p = a.part("base")
            x = sx * W * 0.38
            a.add(tube([[x, lift + 0.02, 0], [x, 0.01, 0.0]], 0.01), p, "stand")
            a.add(box((0.04, 0.012, 0.18), (x, 0.006, 0)), p, "stand")
        return a
    zs = -d / 2 - 0.015
    if rng.random() < 0.5:
        a.add(box((rng.uniform(0.04, 0.08), yc + 0.004, 0.02), (0, yc / 2, zs)), a.part("support"), "stand")
    else:
        a.add(tube(round_corners(np.array([[0, yc, -d / 2 + 0.004], [0, yc, zs - 0.02], [0, 0.01, zs - 0.02]]), 0.03),
                   0.015), a.part("support"), "stand")
    bw = rng.uniform(0.15, 0.3)
    if rng.random() < 0.5:
        a.add(rounded_box((bw, 0.015, rng.uniform(0.12, 0.2)), 0.006, (0, 0.0075, zs)), a.part("base"), "stand")
    else:
        a.add(cylinder(0.5 * bw, 0.015, (0, 0.0075, zs)), a.part("base"), "stand")
    return a


def laptop(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Laptop", names)
    a.slot("body", "metal", "plastic")
    a.slot("keys", "plastic", "metal")
    a.slot("screen", "glass")
    W, D, t = rng.uniform(0.3, 0.4), rng.uniform(0.2, 0.27), rng.uniform(0.012, 0.022)
    a.add(rounded_box((W, t, D), 0.004, (0, t / 2, 0)), NO_PART, "body")
    kw, kd = W * rng.uniform(0.8, 0.9), D * rng.uniform(0.38, 0.45)
    kz = -D / 2 + 0.02 + kd / 2
    kb = a.part("keyboard")
    if rng.random() < 0.6:
        rows, cols = 5, int(rng.integers(12, 15))
        pw, pd = kw / cols, kd / rows
        for i in range(rows):
            for j in range(cols):
                a.add(box((pw * 0.82, 0.004, pd * 0.8),
                          (-kw / 2 + (j + 0.5) * pw, t + 0.0005, kz - kd / 2 + (i + 0.5) * pd)),
                      kb, "keys")
    else:
        a.add(box((kw, 0.004, kd), (0, t + 0.0005, kz)), kb, "keys")
    tw, td = W * rng.uniform(0.25, 0.4), D * rng.uniform(0.2, 0.3)
    a.add(box((tw, 0.003, td), (0, t + 0.0002, kz + kd / 2 + 0.015 + td / 2)), a.part("touchpad"), "keys")
    # lid, hinged at the back edge
    ang = rng.uniform(1.6, 2.2)
    hinge = np.array([0, t, -D / 2])
    lt = rng.uniform(0.006, 0.012)
    lidR = rotation("x", np.pi / 2 - ang)
    a.add(rounded_box((W, D, lt), 0.003, hinge + lidR @ [0, D / 2, -lt / 2], lidR), NO_PART, "body")
    sb = rng.uniform(0.01, 0.02)
    a.add(box((W - 2 * sb, D - 2 * sb - 0.012, 0.003), hinge + lidR @ [0, D / 2 - 0.004, 0.0005], lidR),
          a.part("screen"), "screen")
    if rng.random() < 0.7:
        a.add(cylinder(0.004, 0.004, hinge + lidR @ [0, D - sb / 2 - 0.002, 0.001], lidR @ _FRONT), a.part("camera"),
              "screen")
    hr = 0.6 * t
    if rng.random() < 0.5:
        a.add(cylinder(hr, W * rng.uniform(0.5, 0.8), hinge + [0, 0, -0.003], rotation("z", np.pi / 2)),
              a.part("shaft"), "body")
    else:
        for sx in (-1, 1):
            a.add(cylinder(hr, 0.05, hinge + [sx * W * 0.3, 0, -0.003], rotation("z", np.pi / 2)),
                  a.part("shaft"), "body")
    return a


def suitcase(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Suitcase", names)
    a.slot("body", "plastic", "fabric", "metal")
    a.slot("handle", "plastic", "metal", "rubber")
    a.slot("wheel", "rubber", "plastic")
    W, H, D = rng.uniform(0.35, 0.5), rng.uniform(0.5, 0.75), rng.uniform(0.2, 0.3)
    wheels = rng.random() < 0.75
    rw = rng.uniform(0.025, 0.04)
    y0 = 2 * rw + 0.01 if wheels else 0.02
    a.add(rounded_box((W, H, D), rng.uniform(0.02, 0.06), (0, y0 + H / 2, 0)), NO_PART, "body")
    if not wheels:
        for sx in (-1, 1):
            a.add(box((0.04, 0.03, 0.04), (sx * W * 0.35, 0.02, 0)), NO_PART, "body")
    if rng.random() < 0.5:  # zip seam band
        a.add(box((W + 0.004, H - 0.08, 0.02), (0, y0 + H / 2, 0)), NO_PART, "handle")
    top = y0 + H
    a.add(bar_handle((0, top - 0.002, 0), rng.uniform(0.1, 0.16), (1, 0, 0), (0, 1, 0), rng, standoff=0.03,
                     radius=0.01), a.part("handle"), "handle")
    if rng.random() < 0.5:
        a.add(bar_handle((W / 2 - 0.002, y0 + H / 2, 0), 0.12, (0, 1, 0), (1, 0, 0), rng, standoff=0.025, radius=0.009),
              a.part("handle"), "handle")
    if wheels:
        tele = a.part("handle")
        ext = rng.uniform(0.0, 0.4)
        zb = -D / 2 + 0.02
        for sx in (-1, 1):
            a.add(tube([[sx * 0.1, top - 0.02, zb], [sx * 0.1, top + 0.02 + ext, zb]], 0.009), tele, "handle")
        a.add(cylinder(0.014, 0.24, (0, top + 0.03 + ext, zb), rotation("z", np.pi / 2)), tele, "handle")
        corners = [(-1, -1), (1, -1)] + ([(-1, 1), (1, 1)] if rng.random() < 0.6 else [])
        for sx, sz in corners:
            x, z = sx * (W / 2 - 0.04), sz * (D / 2 - 0.035)
            a.add(box((0.03, 0.03, 0.04), (x, y0 - 0.008, z)), NO_PART, "body")
            a.add(cylinder(rw, 0.022, (x, rw, z), rotation("z", np.pi / 2)), a.part("wheel"), "wheel")
    return a


def eyeglasses(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Eyeglasses", names)
    a.slot("frame", "plastic", "metal")
    a.slot("lens", "glass")
    a.slot("leg", "plastic", "metal")
    rx, ry = rng.uniform(0.022, 0.03), rng.uniform(0.015, 0.024)
    gap = rng.uniform(0.008, 0.018)
    fr = rng.uniform(0.0012, 0.003)
    body = a.part("body")
    cxs = (-(gap / 2 + rx), gap / 2 + rx)
    for cx in cxs:
        a.add(tube(ellipse_path((cx, 0, 0), rx, ry, n=40), fr, closed=True, ring=8), body, "frame")
        ang = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        a.add(prism(np.stack([cx + 0.97 * rx * np.cos(ang), 0.97 * ry * np.sin(ang)], 1), 0.0015), body, "lens")
    bridge = np.array([[-gap / 2 - 0.002, ry * 0.4, 0], [0, ry * 0.55, 0.002], [gap / 2 + 0.002, ry * 0.4, 0]])
    a.add(tube(round_corners(bridge, 0.3 * gap), fr), body, "frame")
    L = rng.uniform(0.12, 0.15)
    fold = rng.random() < 0.15
    for sx in (-1, 1):
        x = sx * (gap / 2 + 2 * rx + 0.001)
        a.add(box((0.006, 0.006, 0.008), (x - sx * 0.002, ry * 0.4, -0.003)), body, "frame")
        if fold:
            path = np.array([[x, ry * 0.4, -0.006], [x, ry * 0.4, -0.012], [-0.6 * x, ry * 0.4, -0.016]])
        else:
            sp = rng.uniform(0.0, 0.015)
            path = np.array([[x, ry * 0.4, -0.006], [x + sx * sp, ry * 0.35, -L],
                             [x + sx * sp, ry * 0.35 - 0.025, -L - 0.03]])
        a.add(tube(round_corners(path, 0.01), rng.uniform(0.0015, 0.0025), ring=8), a.part("leg"), "leg")
    return a
