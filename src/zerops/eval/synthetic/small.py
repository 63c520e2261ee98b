"""Small articulated objects: Faucet, Lamp, Scissors."""
from __future__ import annotations

import numpy as np

from zerops.eval.synthetic.assembly import NO_PART, Assembly, round_corners
from zerops.eval.synthetic.cabinets import pick
from zerops.eval.synthetic.containers import solid_profile
from zerops.eval.synthetic.primitives import (
    align,
    arc_path,
    box,
    cylinder,
    ellipse_path,
    lathe,
    prism,
    rotation,
    sphere,
    tube,
)


def faucet(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Faucet", names)
    a.slot("body", "metal", "metal", "plastic")
    a.slot("switch", "metal", "plastic")
    a.slot("spout", "metal")
    hb, rb = rng.uniform(0.08, 0.2), rng.uniform(0.018, 0.03)
    a.add(cylinder(rb * 1.8, 0.012, (0, 0.006, 0)), NO_PART, "body")
    a.add(cylinder(rb, hb, (0, hb / 2 + 0.008, 0)), NO_PART, "body")
    top = hb + 0.008
    rs = rng.uniform(0.008, 0.014)
    if rng.random() < 0.5:  # gooseneck
        reach = rng.uniform(0.1, 0.2)
        rise = rng.uniform(0.05, 0.15)
        arc = arc_path((reach / 2, top - 0.01, 0), reach / 2, np.pi, 0.0, (1, 0, 0), (0, 1, 0), 24)
        arc[:, 1] = top - 0.01 + (arc[:, 1] - top + 0.01) * (rise + reach / 2) / (reach / 2)
        path = np.concatenate([[[0, top - 0.02, 0]], arc, [[reach, top - 0.05, 0]]])
        path = path @ rotation("y", np.pi / 2).T  # reach towards +z
    else:  # straight spout from the side of the column
        ys = top - rng.uniform(0.02, 0.05)
        L = rng.uniform(0.1, 0.2)
        path = round_corners(np.array([[0, ys, 0], [0, ys, L], [0, ys - 0.03, L + 0.01]]), 0.02)
    a.add(tube(path, rs), a.part("spout"), "spout")
    if rng.random() < 0.6:  # single lever on top
        sw = a.part("switch")
        a.add(cylinder(rb * 0.8, 0.02, (0, top + 0.008, 0)), sw, "switch")
        ang = rng.uniform(0.2, 0.7)
        a.add(tube([[0, top + 0.015, 0], [0, top + 0.015 + 0.08 * np.sin(ang), -0.08 * np.cos(ang)]], 0.006),
              sw, "switch")
    else:  # two knobs on the sides
        ky = top - rng.uniform(0.03, 0.06)
        cross = rng.random() < 0.5
        for sx in (-1, 1):
            sw = a.part("switch")
            x = sx * (rb + 0.03)
            a.add(cylinder(0.008, 0.04, (sx * (rb + 0.012), ky, 0), rotation("z", np.pi / 2)), sw, "switch")
            if cross:
                for ang in (0.0, np.pi / 2):
                    a.add(box((0.012, 0.05, 0.01), (x, ky, 0), rotation("x", ang)), sw, "switch")
            else:
                a.add(cylinder(0.016, 0.025, (x, ky, 0), rotation("z", np.pi / 2)), sw, "switch")
    return a


def lamp(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Lamp", names)
    a.slot("base", "metal", "wood", "plastic", "ceramic")
    a.slot("body", "metal", "wood", "plastic")
    a.slot("shade", "fabric", "plastic", "metal")
    a.slot("bulb", "glass", "ceramic")
    kind = pick(rng, ["table", "floor", "arm"], [0.45, 0.25, 0.3])
    H = rng.uniform(0.35, 0.6) if kind != "floor" else rng.uniform(1.2, 1.7)
    rb = rng.uniform(0.07, 0.14) * (1.6 if kind == "floor" else 1.0)
    bh = rng.uniform(0.015, 0.05)
    base = a.part("base")
    if rng.random() < 0.7:
        a.add(lathe(solid_profile([(rb, 0.0), (rb, bh * 0.7), (rb * 0.7, bh)])), base, "base")
    else:
        a.add(box((2 * rb, bh, 1.6 * rb), (0, bh / 2, 0)), base, "base")
    body = a.part("body")
    pr = rng.uniform(0.008, 0.018) * (1.5 if kind == "floor" else 1.0)
    if kind == "arm":
        l1, l2 = rng.uniform(0.2, 0.35), rng.uniform(0.2, 0.35)
        a1, a2 = rng.uniform(0.1, 0.6), rng.uniform(1.6, 2.4)
        j = np.array([0, bh - 0.005, 0])
        k = j + l1 * np.array([0, np.cos(a1), -np.sin(a1)])
        e = k + l2 * np.array([0, np.cos(a2), np.sin(a2) * -1.0]) * np.array([1, 1, -1])
        a.add(tube([j, k], pr), body, "body")
        a.add(sphere(pr * 1.6, k), body, "body")
        a.add(tube([k, e], pr), body, "body")
        tip, axis = e, np.array([0, -0.6, 0.8]) / np.linalg.norm([0, -0.6, 0.8])
    else:
        tip = np.array([0, H, 0])
        a.add(cylinder(pr, H - bh + 0.01, (0, bh + (H - bh) / 2 - 0.005, 0)), body, "body")
        axis = np.array([0, -1.0, 0])
    # shade: open truncated cone opening along `axis`, bulb inside
    sl = rng.uniform(0.1, 0.25) * (1.4 if kind == "floor" else 1.0)
    r_in, r_out = rng.uniform(0.03, 0.12) * sl / 0.15, rng.uniform(0.08, 0.2) * sl / 0.15
    if kind == "arm":
        r_in, sl = rng.uniform(0.02, 0.04), rng.uniform(0.08, 0.14)
        r_out = rng.uniform(0.05, 0.09)
    w = 0.003
    prof = np.array([[r_out, 0.0], [r_in, sl], [r_in - w, sl], [r_out - w, 0.0]])
    up = np.array([0, 1.0, 0])
    R = align(up, -axis)  # shade local +y points against the opening direction
    origin = tip + axis * (sl * (0.75 if kind != "arm" else 0.95))
    a.add(lathe(prof, origin, R, segments=48), a.part("shade"), "shade")
    if kind == "arm":
        a.add(lathe(solid_profile([(r_in, 0.0), (r_in, 0.02), (0.5 * r_in, 0.03)]), origin + R @ [0, sl - 0.001, 0], R),
              NO_PART, "shade")
    if rng.random() < 0.85:
        br = min(0.035, 0.6 * r_in + 0.01)
        a.add(sphere(br, origin + R @ [0, sl * 0.45, 0]), a.part("bulb"), "bulb")
        sock = max(sl * 0.55 - br, 0.01)
        a.add(cylinder(0.45 * br, sock, origin + R @ [0, sl * 0.45 + br + sock / 2 - 0.008, 0], R), NO_PART, "body")
    return a


def scissors(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Scissors", names)
    a.slot("blade", "metal")
    a.slot("handle", "plastic", "plastic", "metal")
    a.slot("screw", "metal")
    L, bw = rng.uniform(0.07, 0.12), rng.uniform(0.012, 0.02)
    th = rng.uniform(0.0015, 0.003)
    opening = rng.uniform(0.05, 0.5)
    hl = rng.uniform(0.03, 0.05)
    rr = rng.uniform(0.012, 0.02)
    for k, sgn in enumerate((-1, 1)):
        R = rotation("y", sgn * opening / 2)
        y = (k - 0.5) * th * 1.02
        poly = np.array([[0.0, -0.004], [L, 0.0], [L * 0.6, bw * 0.9], [-0.008, bw * 0.5]])
        if sgn > 0:
            poly[:, 1] = -poly[:, 1]
        # blade lies in the x-z plane: prism local xy -> world xz
        P = R @ rotation("x", np.pi / 2)
        a.add(prism(poly, th, R @ [0, y, 0], P), a.part("blade"), "blade")
        h = a.part("handle")
        ratio = rng.uniform(0.6, 0.9)
        ring_c = R @ np.array([-hl - rr, y, -sgn * (rr * ratio + 0.004)])
        a.add(tube([R @ [-0.006, y, 0], R @ [-hl * 0.6, y, -sgn * rr * 0.3], ring_c + R @ [rr * 0.9, 0, 0]],
                   rng.uniform(0.003, 0.0045)), h, "handle")
        a.add(tube(ellipse_path(ring_c, rr, rr * ratio, R @ [1, 0, 0], R @ [0, 0, 1], 32),
                   rng.uniform(0.0025, 0.004), closed=True, ring=8), h, "handle")
    a.add(cylinder(0.003, 2.6 * th, (0, 0, 0)), a.part("screw"), "screw")
    return a
