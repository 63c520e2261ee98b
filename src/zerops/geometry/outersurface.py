"""Area-uniform sampling of the outer surface of a triangle soup (what renders of the object can see).

PartNetE's clouds are fused from renders, so inner and hidden faces carry no points. Here a candidate point
is kept when at least one of ``n_views`` outside viewpoints sees it: the views are directions spread evenly
over the sphere (a Fibonacci lattice; orthographic cameras at infinity), each with a z-buffer of all
triangles at ``resolution`` x ``resolution`` pixels over the bounding sphere. A point is seen from a view
when it is no deeper than the z-buffer at its pixel plus a tolerance for the slope of its own face within
the pixel, and its face is not seen nearly edge-on (|cos| >= ``MIN_COS``). Candidates are drawn in rounds
(more than needed), hidden ones dropped, and ``n`` of the kept ones taken at random: a seeded generator gives
the same points every run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zerops.errors import ZeropsError

N_VIEWS = 40            # outside viewpoints
RESOLUTION = 512        # z-buffer pixels per side
MIN_COS = 0.12          # faces seen more edge-on than this (about 83 degrees) do not count as seen
_CHUNK = 1 << 21        # candidate pixels per vectorized rasterization batch


def view_directions(n: int) -> np.ndarray:
    """(n, 3) float64 unit directions (object -> camera) evenly spread on the sphere (Fibonacci lattice)."""
    i = np.arange(n, dtype=np.float64) + 0.5
    y = 1.0 - 2.0 * i / n
    r = np.sqrt(np.maximum(0.0, 1.0 - y * y))
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    return np.stack([r * np.cos(phi), y, r * np.sin(phi)], axis=1)


def _basis(d: np.ndarray) -> np.ndarray:
    """(3, 3) rows: screen x, screen y, and -d (depth grows away from the camera)."""
    a = np.array([0.0, 1.0, 0.0]) if abs(d[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(a, d)
    u /= np.linalg.norm(u)
    return np.stack([u, np.cross(d, u), -d])


@dataclass
class DepthViews:
    """Z-buffers of a triangle soup: ``depth`` (V, R, R) float32 (inf = empty), the view ``frames`` (V, 3, 3)
    (rows: screen x, screen y, depth axis), the common ``center`` (3,) and ``pixel`` size in world units."""

    depth: np.ndarray
    frames: np.ndarray
    center: np.ndarray
    pixel: float

    def project(self, k: int, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Screen coordinates in pixels (M, 2) and depth (M,) of world points in view ``k``."""
        q = (xyz - self.center) @ self.frames[k].T
        res = self.depth.shape[1]
        return q[:, :2] / self.pixel + 0.5 * res, q[:, 2]


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts (K,): owner (sum,) index into K and position (sum,) 0..counts[k]-1 within its owner."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)


def _rasterize(x: np.ndarray, y: np.ndarray, z: np.ndarray, res: int) -> np.ndarray:
    """Z-buffer (res*res,) float64 of triangles with screen corners ``x``, ``y`` (T, 3) in pixels and depths ``z``.

    A pixel (column c, row r) takes the nearest depth of the triangles that contain its centre (c+0.5, r+0.5);
    edges count as inside, so neighbouring triangles leave no cracks. Scanline spans: with the corners sorted by
    y, every (triangle, row) pair gets the columns between the long edge and the short edge of that row, so
    only covered pixels are visited.
    """
    zbuf = np.full(res * res, np.inf)
    r0 = np.ceil(y.min(axis=1) - 0.5).astype(np.int64).clip(0, res)
    r1 = np.floor(y.max(axis=1) - 0.5).astype(np.int64).clip(-1, res - 1)
    keep = np.flatnonzero(r1 >= r0)                 # triangles that cover at least one row of pixel centres
    x, y, z, r0, r1 = x[keep], y[keep], z[keep], r0[keep], r1[keep]
    area2 = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (y[:, 1] - y[:, 0]) * (x[:, 2] - x[:, 0])
    ok = np.abs(area2) > 1e-12
    if not ok.all():
        x, y, z, r0, r1, area2 = x[ok], y[ok], z[ok], r0[ok], r1[ok], area2[ok]
    if len(x) == 0:
        return zbuf
    # depth as an affine function of the screen position: depth = gx * x + gy * y + g0
    dz1, dz2 = z[:, 1] - z[:, 0], z[:, 2] - z[:, 0]
    dx1, dx2, dy1, dy2 = x[:, 1] - x[:, 0], x[:, 2] - x[:, 0], y[:, 1] - y[:, 0], y[:, 2] - y[:, 0]
    gx = (dz1 * dy2 - dz2 * dy1) / area2
    gy = (dx1 * dz2 - dx2 * dz1) / area2
    g0 = z[:, 0] - gx * x[:, 0] - gy * y[:, 0]
    order = np.argsort(y, axis=1, kind="stable")
    xs, ys = np.take_along_axis(x, order, 1), np.take_along_axis(y, order, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s02 = np.where(ys[:, 2] > ys[:, 0], (xs[:, 2] - xs[:, 0]) / (ys[:, 2] - ys[:, 0]), 0.0)
        s01 = np.where(ys[:, 1] > ys[:, 0], (xs[:, 1] - xs[:, 0]) / (ys[:, 1] - ys[:, 0]), 0.0)
        s12 = np.where(ys[:, 2] > ys[:, 1], (xs[:, 2] - xs[:, 1]) / (ys[:, 2] - ys[:, 1]), 0.0)
    rows = r1 - r0 + 1
    ends = np.cumsum(rows)
    start = 0
    while start < len(rows):                                       # batches of about _CHUNK / 8 rows
        base = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + _CHUNK // 8, side="right")))
        t, k = _expand(rows[start:stop])
        t += start
        yc = (r0[t] + k) + 0.5
        x_long = xs[t, 0] + (yc - ys[t, 0]) * s02[t]
        upper = yc < ys[t, 1]
        x_short = np.where(upper, xs[t, 0] + (yc - ys[t, 0]) * s01[t], xs[t, 1] + (yc - ys[t, 1]) * s12[t])
        c0 = np.ceil(np.minimum(x_long, x_short) - 0.5 - 1e-7).clip(0, res).astype(np.int64)
        c1 = np.floor(np.maximum(x_long, x_short) - 0.5 + 1e-7).clip(-1, res - 1).astype(np.int64)
        span = np.maximum(c1 - c0 + 1, 0)
        s, j = _expand(span)
        col = c0[s] + j
        ts = t[s]
        depth = gx[ts] * (col + 0.5) + gy[ts] * yc[s] + g0[ts]
        np.minimum.at(zbuf, (r0[ts] + k[s]) * res + col, depth)
        start = stop
    return zbuf


def depth_views(triangles: np.ndarray, n_views: int = N_VIEWS, resolution: int = RESOLUTION) -> DepthViews:
    """Z-buffers of ``triangles`` (T, 3, 3) from ``n_views`` directions around the bounding sphere."""
    tri = np.asarray(triangles, dtype=np.float64)
    pts = tri.reshape(-1, 3)
    center = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
    radius = float(np.sqrt(((pts - center) ** 2).sum(axis=1).max()))
    if not radius > 0:
        raise ZeropsError("the mesh has no extent; nothing to sample")
    pixel = 2.0 * radius * 1.01 / resolution
    frames = np.stack([_basis(d) for d in view_directions(n_views)])
    depth = np.empty((n_views, resolution, resolution), dtype=np.float32)
    rel = (pts - center) / pixel
    for k in range(n_views):
        q = (rel @ frames[k].T).reshape(-1, 3, 3)
        zb = _rasterize(q[:, :, 0] + 0.5 * resolution, q[:, :, 1] + 0.5 * resolution, q[:, :, 2] * pixel, resolution)
        depth[k] = zb.reshape(resolution, resolution)
    return DepthViews(depth, frames, center, pixel)


def seen(views: DepthViews, xyz: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """(M,) bool: point m (on a face with unit normal ``normals[m]``) is seen from at least one view."""
    res = views.depth.shape[1]
    out = np.zeros(len(xyz), dtype=bool)
    for k in range(len(views.frames)):
        todo = np.flatnonzero(~out)
        if len(todo) == 0:
            break
        cos = np.abs(normals[todo] @ views.frames[k][2])
        todo, cos = todo[cos >= MIN_COS], cos[cos >= MIN_COS]
        scr, z = views.project(k, xyz[todo])
        col = np.clip(np.floor(scr[:, 0]).astype(np.int64), 0, res - 1)
        row = np.clip(np.floor(scr[:, 1]).astype(np.int64), 0, res - 1)
        front = views.depth[k, row, col].astype(np.float64)
        # the own face's depth may change by up to tan(angle) * 0.71 px between the point and the pixel centre
        tol = views.pixel * (0.75 * np.sqrt(1.0 - cos * cos) / cos + 0.5)
        out[todo[z <= front + tol]] = True
    return out


def sample_outer_surface(triangles: np.ndarray, n: int, rng: np.random.Generator, n_views: int = N_VIEWS,
                         resolution: int = RESOLUTION, oversample: float = 2.0,
                         max_rounds: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample ``n`` points area-uniformly on the part of ``triangles`` (T, 3, 3) seen from outside.

    Returns face (n,) int64 triangle index, bary (n, 3) float64 barycentric weights and xyz (n, 3) float64.
    Raises ZeropsError when the visible surface is too small to give ``n`` points.
    """
    tri = np.asarray(triangles, dtype=np.float64)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(cross, axis=1)
    if not np.isfinite(tri).all():
        raise ZeropsError("the mesh has NaN or infinite vertex coordinates")
    if not area.sum() > 0:
        raise ZeropsError("the mesh has zero surface area; nothing to sample")
    normals = cross / np.maximum(area, 1e-300)[:, None]
    cdf = np.cumsum(area) / area.sum()
    views = depth_views(tri, n_views, resolution)
    faces, barys, total, m = [], [], 0, int(np.ceil(n * oversample))
    for _ in range(max_rounds):
        f = np.minimum(np.searchsorted(cdf, rng.random(m), side="right"), len(cdf) - 1)
        uv = rng.random((m, 2))
        flip = uv.sum(axis=1) > 1.0
        uv[flip] = 1.0 - uv[flip]
        bary = np.column_stack([1.0 - uv.sum(axis=1), uv])
        xyz = np.einsum("mk,mkd->md", bary, tri[f])
        ok = seen(views, xyz, normals[f])
        faces.append(f[ok])
        barys.append(bary[ok])
        total += int(ok.sum())
        if total >= n:
            break
        share = max(ok.mean(), 0.01)
        m = int(np.ceil(1.5 * (n - total) / share)) + 64
    if total < n:
        raise ZeropsError(f"only {total} of the sampled points are visible from outside; the visible surface "
                          "is too small for the requested number of points")
    face, bary = np.concatenate(faces), np.concatenate(barys)
    pick = np.sort(rng.permutation(len(face))[:n])
    face, bary = face[pick], bary[pick]
    return face, bary, np.einsum("mk,mkd->md", bary, tri[face])
