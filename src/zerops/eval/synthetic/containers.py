"""Lathed containers: Bottle, Box, Bucket, Kettle, KitchenPot, TrashCan."""
from __future__ import annotations

import numpy as np

from zerops.eval.synthetic.assembly import NO_PART, Assembly, bar_handle, round_corners
from zerops.eval.synthetic.cabinets import add_front, pick
from zerops.eval.synthetic.primitives import arc_path, bezier, box, cylinder, lathe, rotation, rounded_box, tube


def solid_profile(outer: np.ndarray) -> np.ndarray:
    """Closed (r,y) polygon of a solid of revolution from its outer silhouette (K,2), bottom to top."""
    outer = np.asarray(outer, dtype=np.float64)
    return np.concatenate([[[0.0, outer[0, 1]]], outer, [[0.0, outer[-1, 1]]]])


def shell_profile(outer: np.ndarray, wall: float, floor: float) -> np.ndarray:
    """Closed (r,y) polygon of an open-topped vessel: outer silhouette (K,2) from the bottom edge to the rim,
    wall thickness ``wall``, floor thickness ``floor`` (y measured from the bottom)."""
    outer = np.asarray(outer, dtype=np.float64)
    y0 = outer[0, 1]
    inner = [(max(r - wall, 1e-3), y) for r, y in outer[::-1] if y > y0 + floor + wall]
    rim = outer[-1]
    r_floor = max(np.interp(y0 + floor, outer[:, 1], outer[:, 0]) - wall, 1e-3)
    pts = [(0.0, y0), *map(tuple, outer), (rim[0] - 0.5 * wall, rim[1] + 0.3 * wall), *inner,
           (r_floor, y0 + floor), (0.0, y0 + floor)]
    return np.array(pts)


def vessel_outline(rng: np.random.Generator, r: float, h: float, style: str, n: int = 12) -> np.ndarray:
    """(n,2) outer silhouette (r,y) from the bottom to the top for a vessel of max radius r and height h."""
    t = np.linspace(0, 1, n)
    if style == "straight":
        rr = r * (rng.uniform(0.85, 1.0) + (1 - rng.uniform(0.85, 1.0)) * t)
    elif style == "taper":
        rr = r * (rng.uniform(0.65, 0.85) + rng.uniform(0.15, 0.35) * t)
    else:  # bulge
        rr = r * (rng.uniform(0.6, 0.8) + 0.35 * np.sin(np.pi * np.clip(t * rng.uniform(0.9, 1.2), 0, 1)))
        rr = np.minimum(rr, r)
    rr[0] *= 0.96
    return np.stack([rr, h * t], 1)


def _lid(a: Assembly, rng: np.random.Generator, r: float, y: float, part, knob: bool = True) -> None:
    """A domed lid of radius r resting at height y, with a knob."""
    hd = rng.uniform(0.1, 0.35) * r
    t = np.linspace(0, 1, 8)
    dome = np.stack([r * np.cos(0.5 * np.pi * t) + 0.0, y - 0.004 + 0.01 * r + hd * np.sin(0.5 * np.pi * t)], 1)
    prof = np.concatenate([[[0.0, y - 0.004], [r, y - 0.004]], dome[:-1], [[0.0, dome[-1, 1]]]])
    a.add(lathe(prof), part, "lid")
    if knob:
        kr = rng.uniform(0.08, 0.16) * r
        top = dome[-1, 1]
        a.add(cylinder(0.5 * kr, 0.6 * kr + 0.004, (0, top + 0.3 * kr - 0.002, 0)), part, "lid")
        knob = solid_profile([(kr, top + 0.5 * kr), (kr, top + 0.9 * kr), (0.7 * kr, top + 1.1 * kr)])
        a.add(lathe(knob), part, "lid")


def bottle(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Bottle", names)
    a.slot("body", "plastic", "glass", "ceramic", "metal")
    a.slot("lid", "plastic", "metal")
    r, hb = rng.uniform(0.03, 0.06), rng.uniform(0.12, 0.25)
    rn, hn = rng.uniform(0.25, 0.5) * r, rng.uniform(0.02, 0.06)
    sh = rng.uniform(0.03, 0.08)
    body = vessel_outline(rng, r, hb, pick(rng, ["straight", "straight", "bulge"]), 10)
    t = np.linspace(0, 1, 8)[1:]
    shoulder = np.stack([rn + (body[-1, 0] - rn) * np.cos(0.5 * np.pi * t), hb + sh * np.sin(0.5 * np.pi * t)], 1)
    outline = np.concatenate([body, shoulder, [[rn, hb + sh + hn]]])
    a.add(lathe(solid_profile(outline)), NO_PART, "body")
    if rng.random() < 0.9:
        ch = rng.uniform(0.015, 0.04)
        cr = rn * rng.uniform(1.1, 1.4)
        y0 = hb + sh + hn - 0.6 * ch
        a.add(lathe(solid_profile([(cr, y0), (cr, y0 + ch - 0.002), (0.9 * cr, y0 + ch)])), a.part("lid"), "lid")
    return a


def bucket(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Bucket", names)
    a.slot("body", "plastic", "metal")
    a.slot("handle", "metal", "plastic")
    r, h = rng.uniform(0.12, 0.18), rng.uniform(0.2, 0.32)
    outline = vessel_outline(rng, r, h, "taper")
    a.add(lathe(shell_profile(outline, rng.uniform(0.004, 0.008), 0.01)), NO_PART, "body")
    hp = a.part("handle")
    ry = h - rng.uniform(0.02, 0.05)
    rr = np.interp(ry, outline[:, 1], outline[:, 0])
    for sx in (-1, 1):
        a.add(cylinder(0.015, 0.02, (sx * (rr + 0.004), ry, 0), rotation("z", np.pi / 2)), NO_PART, "body")
    tilt = rng.uniform(-1.2, 1.2) if rng.random() < 0.6 else 0.0
    R = rotation("x", tilt)
    rad = rr + 0.012
    arc = arc_path((0, 0, 0), rad, 0.0, np.pi, (1, 0, 0), (0, 1, 0), 33)
    arc[:, 1] *= rng.uniform(0.8, 1.1)
    a.add(tube(arc @ R.T + [0, ry, 0], rng.uniform(0.003, 0.005)), hp, "handle")
    if rng.random() < 0.5:  # grip sleeve on top of the wire
        a.add(cylinder(0.012, 0.1, R @ arc[16] + [0, ry, 0], R @ rotation("z", np.pi / 2)), hp, "handle")
    return a


def kettle(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Kettle", names)
    a.slot("body", "metal", "plastic", "ceramic")
    a.slot("lid", "metal", "plastic")
    a.slot("handle", "plastic", "metal", "wood")
    r, h = rng.uniform(0.08, 0.12), rng.uniform(0.14, 0.26)
    style = pick(rng, ["bulge", "taper", "straight"])
    outline = vessel_outline(rng, r, h, style)
    if style == "taper":
        outline[:, 0] = outline[::-1, 0]  # wide bottom, narrow top
    electric = rng.random() < 0.35
    y0 = 0.02 if electric else 0.0
    outline[:, 1] += y0
    if electric:
        a.add(cylinder(outline[0, 0] * 1.1, 0.025, (0, 0.0125, 0)), NO_PART, "body")
    a.add(lathe(solid_profile(outline)), NO_PART, "body")
    rt = outline[-1, 0]
    _lid(a, rng, rt * rng.uniform(0.75, 0.95), outline[-1, 1], a.part("lid"))
    # spout (+x): from inside the lower body up and out
    ys = y0 + rng.uniform(0.2, 0.45) * h
    rs = np.interp(ys, outline[:, 1], outline[:, 0])
    tip = np.array([rs + rng.uniform(0.05, 0.1), y0 + h * rng.uniform(0.8, 1.0), 0])
    spout = bezier([[rs - 0.01, ys, 0], [rs + 0.04, ys + 0.01, 0], [tip[0] - 0.02, tip[1] - 0.03, 0], tip], 16)
    if rng.random() < 0.85:
        a.add(tube(spout, rng.uniform(0.01, 0.018)), a.part("spout"), "body")
    hp = a.part("handle")
    hr = rng.uniform(0.008, 0.014)
    if rng.random() < 0.6:  # side loop at -x
        ya, yb = y0 + 0.85 * h, y0 + 0.3 * h
        ra = np.interp(ya, outline[:, 1], outline[:, 0]) - 0.008
        rb = np.interp(yb, outline[:, 1], outline[:, 0]) - 0.008
        out = rng.uniform(0.05, 0.09)
        path = bezier([[-ra, ya, 0], [-ra - out * 1.3, ya + 0.03, 0], [-rb - out * 1.3, yb, 0], [-rb, yb, 0]], 20)
        a.add(tube(path, hr), hp, "handle")
    else:  # arch over the top, across z
        yt = outline[-1, 1]
        rr = rt + 0.004
        arc = arc_path((0, yt - 0.01, 0), rr, 0.0, np.pi, (0, 0, 1), (0, 1, 0), 24)
        arc[:, 1] = yt - 0.01 + (arc[:, 1] - yt + 0.01) * rng.uniform(1.2, 1.8)
        a.add(tube(arc, hr), hp, "handle")
    return a


def kitchen_pot(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("KitchenPot", names)
    a.slot("body", "metal", "metal", "ceramic")
    a.slot("lid", "metal", "glass")
    a.slot("handle", "metal", "plastic", "wood")
    r, h = rng.uniform(0.09, 0.16), rng.uniform(0.07, 0.18)
    outline = vessel_outline(rng, r, h, "straight", 6)
    lid = rng.random() < 0.7
    if lid:
        a.add(lathe(solid_profile(outline)), NO_PART, "body")
        _lid(a, rng, outline[-1, 0] + 0.006, h, a.part("lid"))
    else:
        a.add(lathe(shell_profile(outline, 0.005, 0.008)), NO_PART, "body")
    yh = h * rng.uniform(0.7, 0.9)
    rr = np.interp(yh, outline[:, 1], outline[:, 0])
    if rng.random() < 0.65:  # two side handles
        loop = rng.random() < 0.5
        for sx in (-1, 1):
            hp = a.part("handle")
            if loop:
                a.add(bar_handle((sx * (rr - 0.004), yh, 0), rng.uniform(0.05, 0.08), (0, 0, 1), (sx, 0, 0), rng,
                                 standoff=rng.uniform(0.025, 0.04)), hp, "handle")
            else:
                a.add(rounded_box((0.06, 0.018, 0.07), 0.008, (sx * (rr + 0.025), yh, 0)), hp, "handle")
    else:  # long pan handle
        L = rng.uniform(0.15, 0.25)
        path = np.array([[rr - 0.01, yh, 0], [rr + 0.04, yh + 0.01, 0], [rr + L, yh + L * rng.uniform(0.1, 0.35), 0]])
        a.add(tube(round_corners(path, 0.02), rng.uniform(0.009, 0.014), ring=10), a.part("handle"), "handle")
    return a


def trash_can(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("TrashCan", names)
    a.slot("body", "metal", "plastic")
    a.slot("lid", "metal", "plastic")
    a.slot("pedal", "metal", "plastic", "rubber")
    a.slot("front", "metal", "plastic")
    a.slot("handle", "metal", "plastic")
    kind = pick(rng, ["pedal", "box", "open", "cabinet"], [0.4, 0.35, 0.1, 0.15])
    h = rng.uniform(0.35, 0.7)
    if kind in ("pedal", "open"):
        r = rng.uniform(0.12, 0.2)
        outline = vessel_outline(rng, r, h, pick(rng, ["straight", "taper"]), 6)
        if kind == "open":
            a.add(lathe(shell_profile(outline, 0.006, 0.01)), NO_PART, "body")
            return a
        a.add(lathe(solid_profile(outline)), NO_PART, "body")
        _lid(a, rng, outline[-1, 0] + 0.004, h, a.part("lid"), knob=rng.random() < 0.3)
        r0 = outline[0, 0]
        a.add(rounded_box((0.1, 0.015, 0.08), 0.005, (0, 0.03, r0 + 0.03)), a.part("footpedal"), "pedal")
        return a
    W, D = rng.uniform(0.25, 0.45), rng.uniform(0.2, 0.4)
    a.add(rounded_box((W, h, D), rng.uniform(0.005, 0.04), (0, h / 2, 0)), NO_PART, "body")
    lh = rng.uniform(0.02, 0.08)
    lid = a.part("lid")
    a.add(rounded_box((W + 0.01, lh, D + 0.01), 0.008, (0, h + lh / 2 - 0.01, 0)), lid, "lid")
    if rng.random() < 0.4:  # swing flap on the lid
        a.add(box((0.6 * W, 0.01, 0.4 * D), (0, h + lh - 0.008, 0)), lid, "lid")
    if kind == "cabinet":
        add_front(a, rng, -W / 2 + 0.02, W / 2 - 0.02, 0.05, h - 0.05, D / 2, "door", "bar", hinge="left",
                  handle_part=None)
    elif rng.random() < 0.5:
        a.add(rounded_box((0.1, 0.015, 0.08), 0.005, (0, 0.03, D / 2 + 0.035)), a.part("footpedal"), "pedal")
    return a


def box_category(rng: np.random.Generator, names: list[str]) -> Assembly:
    a = Assembly("Box", names)
    a.slot("body", "wood", "plastic", "metal", "fabric")
    a.slot("lid", "wood", "plastic", "metal", "fabric")
    W, D, H = rng.uniform(0.15, 0.5), rng.uniform(0.12, 0.4), rng.uniform(0.08, 0.3)
    mode = pick(rng, ["closed", "open", "round"], [0.45, 0.35, 0.2])
    lid = a.part("lid")
    lh = rng.uniform(0.15, 0.35) * H
    if mode == "round":
        r = 0.5 * min(W, D)
        a.add(cylinder(r, H, (0, H / 2, 0)), NO_PART, "body")
        a.add(cylinder(r + 0.004, lh, (0, H - lh / 2 + 0.002, 0)), lid, "lid")
    elif mode == "closed":
        a.add(rounded_box((W, H, D), rng.uniform(0.001, 0.01), (0, H / 2, 0)), NO_PART, "body")
        e = rng.uniform(0.002, 0.008)
        a.add(rounded_box((W + 2 * e, lh, D + 2 * e), 0.003, (0, H - lh / 2 + 0.002, 0)), lid, "lid")
    else:
        w = rng.uniform(0.006, 0.015)
        a.add(box((W, w, D), (0, w / 2, 0)), NO_PART, "body")
        for sx in (-1, 1):
            a.add(box((w, H, D), (sx * (W / 2 - w / 2), H / 2, 0)), NO_PART, "body")
            a.add(box((W - 2 * w + 0.002, H, w), (0, H / 2, sx * (D / 2 - w / 2))), NO_PART, "body")
        ang = rng.uniform(0.6, 1.9)
        R = rotation("x", -ang)
        hinge = np.array([0, H, -D / 2])
        a.add(box((W, w, D), hinge + R @ [0, w / 2, D / 2], R), lid, "lid")
    return a
