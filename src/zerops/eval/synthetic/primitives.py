"""Solid primitives for procedural objects: a triangle mesh of the surface plus an analytic signed distance.

Coordinates are y-up, objects face +z (PartNet's convention). Every primitive is a closed solid; the mesh is used
for area-uniform surface sampling, the signed distance (negative inside) for dropping sampled points that lie
inside another primitive, so the sampled surface is the visible surface of the union.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_EYE = np.eye(3)


def rotation(axis: str | np.ndarray, angle: float) -> np.ndarray:
    """(3,3) float64 rotation by ``angle`` radians about ``axis`` ('x', 'y', 'z' or a 3-vector)."""
    named = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}
    a = named.get(axis, axis) if isinstance(axis, str) else axis
    a = np.asarray(a, dtype=np.float64)
    a = a / np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return _EYE + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def polygon_sdf(q: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Signed distance of 2D points q (M,2) to the closed polygon poly (K,2); negative inside (even-odd rule)."""
    a = poly[None, :, :]
    b = np.roll(poly, -1, axis=0)[None, :, :]
    p = q[:, None, :]
    e = b - a
    w = p - a
    t = np.clip((w * e).sum(-1) / np.maximum((e * e).sum(-1), 1e-300), 0.0, 1.0)
    d = np.sqrt(((w - e * t[..., None]) ** 2).sum(-1)).min(axis=1)
    ay, by, py = a[..., 1], b[..., 1], p[..., 1]
    cross = (ay > py) != (by > py)
    xint = a[..., 0] + (py - ay) / np.where(by - ay == 0, 1e-300, by - ay) * e[..., 0]
    inside = (cross & (p[..., 0] < xint)).sum(axis=1) % 2 == 1
    return np.where(inside, -d, d)


def polygon_area(poly: np.ndarray) -> float:
    """Signed area of a 2D polygon (K,2); positive for counter-clockwise order."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float((x * np.roll(y, -1) - np.roll(x, -1) * y).sum())


def triangulate_polygon(poly: np.ndarray) -> np.ndarray:
    """Ear-clipping triangulation of a simple counter-clockwise polygon (K,2) -> (K-2,3) int64 indices."""
    idx = list(range(len(poly)))
    tris: list[tuple[int, int, int]] = []
    guard = 0
    while len(idx) > 3 and guard < 10 * len(poly) ** 2:
        guard += 1
        n = len(idx)
        for k in range(n):
            i0, i1, i2 = idx[k - 1], idx[k], idx[(k + 1) % n]
            a, b, c = poly[i0], poly[i1], poly[i2]
            if (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) <= 1e-14:
                continue
            others = [j for j in idx if j not in (i0, i1, i2)]
            if others and _in_triangle(poly[others], a, b, c).any():
                continue
            tris.append((i0, i1, i2))
            idx.pop(k)
            break
        else:  # degenerate remainder: fan it
            break
    for k in range(1, len(idx) - 1):
        tris.append((idx[0], idx[k], idx[k + 1]))
    return np.asarray(tris, dtype=np.int64)


def _in_triangle(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    def side(u, v):
        return (v[0] - u[0]) * (p[:, 1] - u[1]) - (v[1] - u[1]) * (p[:, 0] - u[0])
    return (side(a, b) >= 0) & (side(b, c) >= 0) & (side(c, a) >= 0)


@dataclass
class Primitive:
    """One solid: ``kind`` with local ``params``, placed by rotation R and translation t (world = R @ local + t).

    ``vertices`` (V,3) float64 and ``faces`` (F,3) int64 are the world-space surface mesh with outward winding.
    ``semantic``/``instance`` label the points sampled on it (-1 = no listed part); ``material`` names the
    material slot used for coloring.
    """

    kind: str
    params: dict
    vertices: np.ndarray
    faces: np.ndarray
    R: np.ndarray = field(default_factory=lambda: _EYE.copy())
    t: np.ndarray = field(default_factory=lambda: np.zeros(3))
    semantic: int = -1
    instance: int = -1
    material: str = "body"

    def local(self, p: np.ndarray) -> np.ndarray:
        return (p - self.t) @ self.R

    def sdf(self, p: np.ndarray) -> np.ndarray:
        """Signed distance (M,) float64 of world points p (M,3); negative inside."""
        q = self.local(p)
        k, prm = self.kind, self.params
        if k == "box":
            return _box_sdf(q, prm["half"])
        if k == "rbox":
            return _box_sdf(q, prm["half"] - prm["r"]) - prm["r"]
        if k == "lathe":
            rq = np.stack([np.hypot(q[:, 0], q[:, 2]), q[:, 1]], axis=1)
            return polygon_sdf(rq, prm["profile"])
        if k == "prism":
            d2 = polygon_sdf(q[:, :2], prm["poly"])
            dz = np.abs(q[:, 2]) - prm["hz"]
            w = np.stack([d2, dz], axis=1)
            return np.minimum(w.max(1), 0.0) + np.linalg.norm(np.maximum(w, 0.0), axis=1)
        if k == "tube":
            return _polyline_distance(q, prm["path"], prm["closed"]) - prm["radius"]
        raise ValueError(f"unknown primitive kind {k!r}")

    @property
    def bounds(self) -> np.ndarray:
        """(2,3) world axis-aligned bounding box of the mesh (slightly padded)."""
        pad = 1e-3
        return np.stack([self.vertices.min(0) - pad, self.vertices.max(0) + pad])


def _box_sdf(q: np.ndarray, half: np.ndarray) -> np.ndarray:
    d = np.abs(q) - half
    return np.linalg.norm(np.maximum(d, 0.0), axis=1) + np.minimum(d.max(1), 0.0)


def _polyline_distance(q: np.ndarray, path: np.ndarray, closed: bool) -> np.ndarray:
    a = path if closed else path[:-1]
    b = np.roll(path, -1, axis=0) if closed else path[1:]
    best = np.full(len(q), np.inf)
    for s in range(0, len(a), 16):  # chunks keep the (M,S,3) temporaries small
        aa, bb = a[s:s + 16][None], b[s:s + 16][None]
        e = bb - aa
        w = q[:, None, :] - aa
        t = np.clip((w * e).sum(-1) / np.maximum((e * e).sum(-1), 1e-300), 0.0, 1.0)
        best = np.minimum(best, np.linalg.norm(w - e * t[..., None], axis=-1).min(1))
    return best


def _place(kind: str, params: dict, v: np.ndarray, f: np.ndarray, R, t) -> Primitive:
    R = _EYE.copy() if R is None else np.asarray(R, dtype=np.float64)
    t = np.zeros(3) if t is None else np.asarray(t, dtype=np.float64)
    return Primitive(kind, params, v @ R.T + t, np.asarray(f, dtype=np.int64), R, t)


_BOX_FACES = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
                       [2, 3, 7], [2, 7, 6], [1, 2, 6], [1, 6, 5], [0, 4, 7], [0, 7, 3]])


def box(size, center=(0, 0, 0), R=None) -> Primitive:
    """Axis-aligned (in its frame) box of full ``size`` (3,) centred at ``center``."""
    h = 0.5 * np.abs(np.asarray(size, dtype=np.float64))
    s = np.array([[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
                  [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], dtype=np.float64)
    return _place("box", {"half": h}, s * h, _BOX_FACES, R, center)


def rounded_box(size, radius: float, center=(0, 0, 0), R=None, steps: int = 4) -> Primitive:
    """Box of full ``size`` with edges and corners rounded by ``radius``."""
    h = 0.5 * np.abs(np.asarray(size, dtype=np.float64))
    r = float(min(radius, 0.999 * h.min()))
    inner = h - r
    axes = [np.unique(np.concatenate([np.linspace(-hh, -ii, steps + 1), np.linspace(ii, hh, steps + 1)]))
            for hh, ii in zip(h, inner)]
    verts, faces = [], []
    for ax in range(3):
        u, w = [a for a in range(3) if a != ax]
        for sgn in (-1.0, 1.0):
            gu, gw = np.meshgrid(axes[u], axes[w], indexing="ij")
            p = np.zeros(gu.shape + (3,))
            p[..., ax], p[..., u], p[..., w] = sgn * h[ax], gu, gw
            p = p.reshape(-1, 3)
            nu, nw = gu.shape
            i = np.arange(nu * nw).reshape(nu, nw)
            a, b, c, d = i[:-1, :-1].ravel(), i[1:, :-1].ravel(), i[1:, 1:].ravel(), i[:-1, 1:].ravel()
            quad = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
            # outward winding: (u x w) has sign of the permutation; flip to match sgn
            if (np.cross(np.eye(3)[u], np.eye(3)[w])[ax] * sgn) < 0:
                quad = quad[:, ::-1]
            faces.append(quad + sum(len(x) for x in verts))
            verts.append(p)
    v = np.concatenate(verts)
    q = np.clip(v, -inner, inner)
    d = v - q
    v = q + r * d / np.linalg.norm(d, axis=1, keepdims=True)
    return _place("rbox", {"half": h, "r": r}, v, np.concatenate(faces), R, center)


def lathe(profile, center=(0, 0, 0), R=None, segments: int = 48) -> Primitive:
    """Solid of revolution about the local y axis of the closed (r, y) polygon ``profile`` (K,2), r >= 0."""
    prof = np.asarray(profile, dtype=np.float64)
    if polygon_area(prof) < 0:
        prof = prof[::-1].copy()
    k = len(prof)
    ang = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    v = np.stack([prof[None, :, 0] * np.cos(ang)[:, None], np.broadcast_to(prof[None, :, 1], (segments, k)),
                  -prof[None, :, 0] * np.sin(ang)[:, None]], axis=-1).reshape(-1, 3)
    i = np.arange(segments * k).reshape(segments, k)
    a = i.ravel()
    b = np.roll(i, -1, axis=1).ravel()
    c = np.roll(np.roll(i, -1, axis=0), -1, axis=1).ravel()
    d = np.roll(i, -1, axis=0).ravel()
    f = np.concatenate([np.stack([a, c, b], 1), np.stack([a, d, c], 1)])
    return _place("lathe", {"profile": prof}, v, f, R, center)


def cylinder(radius: float, height: float, center=(0, 0, 0), R=None, segments: int = 40) -> Primitive:
    """Capped cylinder along local y."""
    h = 0.5 * height
    return lathe([(0, -h), (radius, -h), (radius, h), (0, h)], center, R, segments)


def torus(major: float, minor: float, center=(0, 0, 0), R=None, segments: int = 48, ring: int = 16) -> Primitive:
    """Torus about local y (a lathed circle)."""
    a = np.linspace(0, 2 * np.pi, ring, endpoint=False)
    return lathe(np.stack([major + minor * np.cos(a), minor * np.sin(a)], 1), center, R, segments)


def sphere(radius: float, center=(0, 0, 0), R=None, segments: int = 32) -> Primitive:
    a = np.linspace(-np.pi / 2, np.pi / 2, segments // 2 + 1)
    return lathe(np.stack([radius * np.cos(a), radius * np.sin(a)], 1), center, R, segments)


def prism(poly, thickness: float, center=(0, 0, 0), R=None) -> Primitive:
    """Extrusion of the simple 2D polygon ``poly`` (K,2) in local xy by ``thickness`` along local z."""
    p = np.asarray(poly, dtype=np.float64)
    if polygon_area(p) < 0:
        p = p[::-1].copy()
    k, hz = len(p), 0.5 * thickness
    tri = triangulate_polygon(p)
    v = np.concatenate([np.c_[p, np.full(k, -hz)], np.c_[p, np.full(k, hz)]])
    i = np.arange(k)
    j = (i + 1) % k
    side = np.concatenate([np.stack([i, j, j + k], 1), np.stack([i, j + k, i + k], 1)])
    f = np.concatenate([tri[:, ::-1], tri + k, side])
    return _place("prism", {"poly": p, "hz": hz}, v, f, R, center)


def align(u, v) -> np.ndarray:
    """(3,3) rotation taking direction u to direction v."""
    u = np.asarray(u, dtype=np.float64) / np.linalg.norm(u)
    v = np.asarray(v, dtype=np.float64) / np.linalg.norm(v)
    c = np.cross(u, v)
    s = np.linalg.norm(c)
    if s < 1e-9:
        return _EYE.copy() if u @ v > 0 else rotation("x" if abs(u[0]) < 0.9 else "y", np.pi)
    return rotation(c, np.arctan2(s, u @ v))


def tube(path, radius: float, closed: bool = False, ring: int = 12) -> Primitive:
    """Swept circle of ``radius`` along a world-space polyline ``path`` (K,3).

    A two-point path is a flat-ended cylinder; longer open paths get hemispherical end caps (as their
    signed distance, the distance to the polyline minus the radius, implies)."""
    path = np.asarray(path, dtype=np.float64)
    if len(path) == 2 and not closed:
        d = path[1] - path[0]
        return cylinder(radius, float(np.linalg.norm(d)), path.mean(0), align((0, 1, 0), d), segments=max(ring, 8))
    k = len(path)
    tang = np.gradient(path, axis=0) if not closed else np.roll(path, -1, 0) - np.roll(path, 1, 0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True)
    ref = np.array([0.0, 1.0, 0.0]) if abs(tang[0, 1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    n0 = np.cross(tang[0], ref)
    normals = [n0 / np.linalg.norm(n0)]
    for s in range(1, k):  # parallel transport of the frame
        n = normals[-1] - tang[s] * (normals[-1] @ tang[s])
        normals.append(n / np.linalg.norm(n))
    nrm = np.array(normals)
    bin_ = np.cross(tang, nrm)
    centers, radii, rows_n, rows_b = list(path), [radius] * k, list(nrm), list(bin_)
    if not closed:
        phi = np.linspace(0, np.pi / 2, 5)[1:]
        start = [(path[0] - radius * np.sin(p) * tang[0], radius * np.cos(p)) for p in phi[::-1]]
        stop = [(path[-1] + radius * np.sin(p) * tang[-1], radius * np.cos(p)) for p in phi]
        centers = [c for c, _ in start] + centers + [c for c, _ in stop]
        radii = [r for _, r in start] + radii + [r for _, r in stop]
        rows_n = [nrm[0]] * 4 + rows_n + [nrm[-1]] * 4
        rows_b = [bin_[0]] * 4 + rows_b + [bin_[-1]] * 4
    c, r, nn, bb = np.array(centers), np.array(radii), np.array(rows_n), np.array(rows_b)
    a = np.linspace(0, 2 * np.pi, ring, endpoint=False)
    v = c[:, None, :] + r[:, None, None] * (np.cos(a)[None, :, None] * nn[:, None, :]
                                            + np.sin(a)[None, :, None] * bb[:, None, :])
    m = len(c)
    i = np.arange(m * ring).reshape(m, ring)
    rows = m if closed else m - 1
    a0 = i[:rows].ravel()
    b0 = np.roll(i, -1, axis=1)[:rows].ravel()
    c0 = np.roll(np.roll(i, -1, axis=1), -1, axis=0)[:rows].ravel()
    d0 = np.roll(i, -1, axis=0)[:rows].ravel()
    f = np.concatenate([np.stack([a0, b0, c0], 1), np.stack([a0, c0, d0], 1)])
    return Primitive("tube", {"path": path, "radius": float(radius), "closed": bool(closed)}, v.reshape(-1, 3),
                     f.astype(np.int64))


def arc_path(center, radius: float, a0: float, a1: float, u=(1, 0, 0), v=(0, 1, 0), n: int = 24) -> np.ndarray:
    """(n,3) points on the circular arc center + radius (cos a u + sin a v), a from a0 to a1."""
    a = np.linspace(a0, a1, n)
    return (np.asarray(center, dtype=np.float64) + radius * (np.cos(a)[:, None] * np.asarray(u, dtype=np.float64)
                                                             + np.sin(a)[:, None] * np.asarray(v, dtype=np.float64)))


def ellipse_path(center, rx: float, ry: float, u=(1, 0, 0), v=(0, 1, 0), n: int = 40) -> np.ndarray:
    """(n,3) closed ellipse loop (no repeated end point)."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return (np.asarray(center, dtype=np.float64) + rx * np.cos(a)[:, None] * np.asarray(u, dtype=np.float64)
            + ry * np.sin(a)[:, None] * np.asarray(v, dtype=np.float64))


def bezier(points, n: int = 24) -> np.ndarray:
    """(n,3) points on the Bezier curve with control points (K,3)."""
    p = np.asarray(points, dtype=np.float64)
    t = np.linspace(0, 1, n)[:, None]
    from math import comb
    k = len(p) - 1
    return sum(comb(k, i) * t ** i * (1 - t) ** (k - i) * p[i] for i in range(k + 1))
