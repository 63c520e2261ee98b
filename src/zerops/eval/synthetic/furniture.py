"""Chairs, tables and carts."""
from __future__ import annotations

import numpy as np

from zerops.eval.synthetic.assembly import NO_PART, Assembly, Part, round_corners
from zerops.eval.synthetic.cabinets import add_front, pick
from zerops.eval.synthetic.primitives import Primitive, box, cylinder, prism, rotation, rounded_box, tube


def _ring_positions(n: int, rx: float, rz: float, rng: np.random.Generator) -> np.ndarray:
    """(n,2) x,z positions of n legs under a seat/top of half extents rx, rz."""
    if n == 4:
        return np.array([[-rx, -rz], [rx, -rz], [rx, rz], [-rx, rz]])
    ang = 2 * np.pi * np.arange(n) / n + (np.pi / n if rng.random() < 0.5 else 0.0)
    return np.stack([rx * np.sin(ang), rz * np.cos(ang)], 1)


def _wheel(a: Assembly, part: Part, center, radius: float, width: float, axis_angle: float) -> None:
    """A wheel with horizontal axle; ``axis_angle`` rotates the axle about y (0 = along x)."""
    R = rotation("y", axis_angle) @ rotation("z", np.pi / 2)
    a.add(cylinder(radius, width, center, R), part, "wheel")


def _legs(a: Assembly, rng: np.random.Generator, pos: np.ndarray, top: float, bottom: float, splay: float,
          r: float, square: bool, material: str = "frame") -> list[tuple[np.ndarray, np.ndarray]]:
    """Legs from (pos, bottom) splayed outwards to (pos, top); returns their (foot, top) axis points."""
    axes = []
    for x, z in pos:
        foot = np.array([x * (1 + splay), bottom, z * (1 + splay)])
        head = np.array([x, top, z])
        p = a.part("leg")
        if square and splay == 0:
            a.add(box((2 * r, top - bottom, 2 * r), (x, (top + bottom) / 2, z)), p, material)
        else:
            a.add(tube([foot, head], r, ring=10 if not square else 4), p, material)
        axes.append((foot, head))
    return axes


def chair(rng: np.random.Generator, names: list[str]) -> Assembly:
    """Long: procedural geometry, one statement per part of the object."""
    a = Assembly("Chair", names)
    a.slot("seat", "fabric", "wood", "plastic")
    a.slot("frame", "wood", "metal", "plastic")
    a.slot("back", "fabric", "wood", "plastic")
    a.slot("wheel", "rubber", "plastic")
    W, D, T, H = rng.uniform(0.42, 0.6), rng.uniform(0.4, 0.55), rng.uniform(0.03, 0.09), rng.uniform(0.4, 0.5)
    swivel = rng.random() < 0.3
    a.add(rounded_box((W, T, D), rng.uniform(0.004, min(0.5 * T, 0.03)), (0, H - T / 2, 0)), a.part("seat"), "seat")
    sb = H - T + 0.008  # a little into the seat
    if swivel:
        hub_y, rw, spoke = rng.uniform(0.09, 0.13), rng.uniform(0.022, 0.035), rng.uniform(0.25, 0.32)
        a.add(box((0.18, 0.05, 0.2), (0, sb - 0.025 + 0.004, 0)), NO_PART, "frame")
        a.add(cylinder(rng.uniform(0.022, 0.035), sb - 0.05 - hub_y, (0, (sb - 0.046 + hub_y) / 2, 0)),
              NO_PART, "frame")
        a.add(cylinder(0.045, 0.05, (0, hub_y, 0)), NO_PART, "frame")
        rot0 = rng.uniform(0, 2 * np.pi)
        for k in range(5):
            ang = rot0 + 2 * np.pi * k / 5
            d = np.array([np.sin(ang), 0.0, np.cos(ang)])
            end = d * spoke + np.array([0, hub_y - 0.025, 0])
            a.add(tube([np.array([0, hub_y, 0]), end], 0.018, ring=8), a.part("leg"), "frame")
            top = 2 * rw + 0.012
            a.add(cylinder(0.008, end[1] - top + 0.01, (end[0], (end[1] + top) / 2, end[2])), NO_PART, "frame")
            _wheel(a, a.part("wheel"), end + d * 0.02 + np.array([0, rw - end[1], 0]), rw, 0.025, ang)
    else:
        n = int(pick(rng, [3, 4, 5, 6], [0.1, 0.7, 0.1, 0.1]))
        square = rng.random() < 0.5
        r = rng.uniform(0.012, 0.025)
        splay = 0.0 if square and rng.random() < 0.7 else rng.uniform(0.0, 0.15)
        pos = _ring_positions(n, W / 2 - r - rng.uniform(0.0, 0.04), D / 2 - r - rng.uniform(0.0, 0.04), rng)
        axes = _legs(a, rng, pos, sb, 0.0, splay, r, square)
        if rng.random() < 0.5:  # stretchers (unlabelled frame)
            y = rng.uniform(0.1, 0.22)
            f = y / sb
            pts = [foot + f * (head - foot) for foot, head in axes]
            for i in range(n if n != 4 or rng.random() < 0.5 else 2):
                a.add(tube([pts[i], pts[(i + 1) % n]], 0.6 * r, ring=8), NO_PART, "frame")
    # back
    bh, bt, tilt = rng.uniform(0.3, 0.55), rng.uniform(0.02, 0.05), rng.uniform(0.0, 0.25)
    R = rotation("x", -tilt)
    pivot = np.array([0, H - T - 0.002, -D / 2 + bt / 2])
    back = a.part("back")
    style = pick(rng, ["panel", "slats", "ladder"], [0.5, 0.25, 0.25])
    if style == "panel":
        a.add(rounded_box((W * rng.uniform(0.85, 1.0), bh + T, bt), min(0.02, bt / 2),
                          pivot + R @ [0, (bh + T) / 2, 0], R),
              back, "back")
    else:
        post = rng.uniform(0.015, 0.03)
        for sx in (-1, 1):
            a.add(box((2 * post, bh + T, bt), pivot + R @ [sx * (W / 2 - post), (bh + T) / 2, 0], R), back, "back")
        rail = rng.uniform(0.04, 0.1)
        a.add(box((W - 0.004, rail, bt), pivot + R @ [0, T + bh - rail / 2, 0], R), back, "back")
        k = int(rng.integers(2, 6))
        if style == "slats":
            for x in np.linspace(-W / 2 + post, W / 2 - post, k + 2)[1:-1]:
                a.add(box((0.025, bh - rail + 0.01, 0.7 * bt), pivot + R @ [x, T + (bh - rail) / 2, 0], R),
                      back, "back")
        else:
            for y in np.linspace(T, T + bh - rail, k + 1)[1:-1]:
                a.add(box((W - 2 * post, 0.03, 0.7 * bt), pivot + R @ [0, y, 0], R), back, "back")
    if rng.random() < 0.35:  # arms
        ah, aw = rng.uniform(0.17, 0.25), rng.uniform(0.035, 0.06)
        for sx in (-1, 1):
            arm = a.part("arm")
            x = sx * (W / 2 + aw / 2 - 0.01)
            a.add(box((aw, 0.025, D * rng.uniform(0.7, 0.9)), (x, H + ah, -D / 2 + 0.42 * D)), arm, "frame")
            a.add(box((0.025, ah + T / 2, 0.03), (x, H + ah / 2 - T / 2 + 0.005, D * 0.28)), arm, "frame")
    return a


def table(rng: np.random.Generator, names: list[str]) -> Assembly:
    """Long: procedural geometry, one statement per part of the object."""
    a = Assembly("Table", names)
    a.slot("top", "wood", "wood", "plastic", "metal")
    a.slot("frame", "wood", "metal", "plastic")
    a.slot("front", "wood", "plastic")
    a.slot("handle", "metal", "plastic", "wood")
    a.slot("wheel", "rubber", "plastic")
    kind = pick(rng, ["legs", "pedestal", "desk"], [0.55, 0.15, 0.3])
    H, T = rng.uniform(0.68, 0.78), rng.uniform(0.02, 0.05)
    round_top = kind == "pedestal" or (kind == "legs" and rng.random() < 0.25)
    W = rng.uniform(0.6, 1.1) if round_top else rng.uniform(0.8, 1.8)
    D = W * rng.uniform(0.8, 1.0) if round_top else rng.uniform(0.5, 0.9)
    top = a.part("tabletop")
    if round_top:
        a.add(cylinder(W / 2, T, (0, H - T / 2, 0), segments=64) if kind == "pedestal" or rng.random() < 0.5
              else _ellipse_top(W, D, T, H), top, "top")
    else:
        a.add(rounded_box((W, T, D), rng.uniform(0.003, T / 2), (0, H - T / 2, 0)), top, "top")
    sb = H - T + 0.006
    if kind == "pedestal":
        leg = a.part("leg")
        r = rng.uniform(0.03, 0.07)
        a.add(cylinder(r, sb - 0.03, (0, (sb + 0.03) / 2, 0)), leg, "frame")
        a.add(cylinder(rng.uniform(0.2, 0.3) * min(W, D) * 1.2, 0.04, (0, 0.02, 0)), leg, "frame")
        return a
    wheels = kind == "legs" and rng.random() < 0.15
    rw = rng.uniform(0.03, 0.045)
    bottom = 2 * rw + 0.01 if wheels else 0.0
    handle_style = pick(rng, ["bar", "knob", "none"], [0.5, 0.35, 0.15])
    if kind == "legs":
        n = int(pick(rng, [3, 4, 5, 6], [0.1, 0.7, 0.1, 0.1])) if round_top else 4
        r = rng.uniform(0.015, 0.04)
        ins = rng.uniform(0.02, 0.08)
        pos = _ring_positions(n, W / 2 - r - ins, D / 2 - r - ins, rng) * (0.75 if round_top else 1.0)
        square = rng.random() < 0.5
        axes = _legs(a, rng, pos, sb, bottom, 0.0 if square else rng.uniform(0, 0.08), r, square)
        if wheels:
            for foot, _ in axes:
                a.add(box((0.03, 0.02, 0.03), foot + [0, -0.008, 0]), NO_PART, "frame")
                _wheel(a, a.part("wheel"), [foot[0], rw, foot[2]], rw, 0.025, rng.uniform(0, np.pi))
        if not round_top and rng.random() < 0.6:  # apron, maybe with drawers
            ah = rng.uniform(0.06, 0.14)
            ax, az = W / 2 - r - ins, D / 2 - r - ins
            a.add(box((2 * ax, ah, 2 * az), (0, sb - ah / 2, 0)), NO_PART, "frame")
            nd = int(pick(rng, [0, 1, 2], [0.4, 0.35, 0.25]))
            if nd and ah > 0.08:
                xs = np.linspace(-ax + 0.05, ax - 0.05, nd + 1)
                for i in range(nd):
                    add_front(a, rng, xs[i], xs[i + 1], sb - ah + 0.01, sb - 0.012, az, "drawer", handle_style)
        return a
    # desk: a cabinet on one side, legs or a panel on the other
    cw = rng.uniform(0.35, 0.5) * min(W, 1.2)
    side = pick(rng, [-1.0, 1.0])
    cx = side * (W / 2 - cw / 2 - 0.01)
    cd = D - 0.04
    a.add(box((cw, sb, cd), (cx, sb / 2, -0.01)), NO_PART, "frame")
    zf = cd / 2 - 0.01
    x0, x1 = cx - cw / 2 + 0.012, cx + cw / 2 - 0.012
    y0, y1 = 0.04, sb - 0.015
    mode = pick(rng, ["drawers", "door", "mixed"], [0.5, 0.2, 0.3])
    if mode == "drawers":
        ys = np.linspace(y0, y1, int(rng.integers(1, 5)) + 1)
        for i in range(len(ys) - 1):
            add_front(a, rng, x0, x1, ys[i], ys[i + 1], zf, "drawer", handle_style)
    else:
        ym = y1 - rng.uniform(0.12, 0.2) if mode == "mixed" else y1
        if mode == "mixed":
            add_front(a, rng, x0, x1, ym, y1, zf, "drawer", handle_style)
        add_front(a, rng, x0, x1, y0, ym, zf, "door", handle_style, hinge="left" if side > 0 else "right")
    ox = -side * (W / 2 - 0.03)
    if rng.random() < 0.5:  # panel leg
        a.add(box((0.03, sb, D - 0.06), (ox, sb / 2, 0)), a.part("leg"), "frame")
    else:
        r = rng.uniform(0.015, 0.03)
        _legs(a, rng, np.array([[ox, -D / 2 + 0.05], [ox, D / 2 - 0.05]]), sb, 0.0, 0.0, r, rng.random() < 0.5)
    return a


def _ellipse_top(W: float, D: float, T: float, H: float) -> Primitive:
    """Elliptic table top (a prism of an ellipse, extruded along y)."""
    ang = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    poly = np.stack([W / 2 * np.cos(ang), D / 2 * np.sin(ang)], 1)
    return prism(poly, T, (0, H - T / 2, 0), rotation("x", np.pi / 2))


def cart(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Cart", names)
    a.slot("body", "metal", "plastic", "wood")
    a.slot("frame", "metal", "plastic")
    a.slot("wheel", "rubber", "plastic")
    L, W = rng.uniform(0.6, 1.0), rng.uniform(0.4, 0.6)
    rw = rng.uniform(0.04, 0.09)
    fork = rng.uniform(0.02, 0.05)
    hp = 2 * rw + fork
    t = rng.uniform(0.02, 0.06)
    a.add(box((W, t, L), (0, hp + t / 2, 0)), NO_PART, "body")
    for sx in (-1, 1):
        for sz in (-1, 1):
            x, z = sx * (W / 2 - 0.06), sz * (L / 2 - 0.08)
            a.add(box((0.04, fork + 0.01, 0.05), (x, 2 * rw + fork / 2 + 0.003, z)), NO_PART, "frame")
            _wheel(a, a.part("wheel"), (x, rw, z), rw, rng.uniform(0.025, 0.05), 0.0)
    top = hp + t
    hh = rng.uniform(0.7, 1.0)
    r = rng.uniform(0.01, 0.018)
    zb = -L / 2 + 0.03
    if rng.random() < 0.5:  # second shelf on four posts
        sh = rng.uniform(0.35, 0.6)
        for sx in (-1, 1):
            for sz in (-1, 1):
                a.add(cylinder(r, sh, (sx * (W / 2 - 0.03), top + sh / 2 - 0.004, sz * (L / 2 - 0.03))),
                      NO_PART, "frame")
        a.add(box((W, t * 0.7, L), (0, top + sh + 0.35 * t - 0.008, 0)), NO_PART, "body")
        zb = -L / 2 - 0.04
    path = np.array([[-W / 2 + 0.04, top - 0.005, zb], [-W / 2 + 0.04, hh, zb], [W / 2 - 0.04, hh, zb],
                     [W / 2 - 0.04, top - 0.005, zb]])
    a.add(tube(round_corners(path, 0.06), r), NO_PART, "frame")
    return a
