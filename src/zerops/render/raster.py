"""Z-buffered disk splatting of projected points into a pixel -> point index map.

A pixel shows the nearest point (smallest depth; equal depths: the lower index) whose disk contains the
pixel centre. Pixel ``(column c, row r)`` has its centre at ``(c + 0.5, r + 0.5)``.

How it is vectorized: points are grouped into classes of similar radius. For a class, every point gets the
same table of integer pixel offsets around the pixel holding its centre; the offsets that every disk of the
class covers are written directly, the others are tested exactly with one small matrix product. Each
candidate pixel then takes the smallest depth key:

* numpy backend: points are sorted by depth and written farthest first with a plain fancy-index assignment,
  so the nearest point's write lands last; classes are merged with ``np.minimum``. Larger clouds are drawn
  front to back in depth stages, and a point is skipped when every 8..64 px block its disk touches already
  shows nearer points (a max-pyramid of depth ranks): exact occlusion culling, which roughly halves the work
  on closed shapes.
* torch backend (CPU or CUDA): ``scatter_reduce(..., "amin")`` on int64 keys that pack the float32 depth bits
  (monotonic for positive floats) above the point index, so no sort is needed.

Both backends return identical maps.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from zerops.errors import ZeropsError

_EMPTY32 = np.iinfo(np.int32).max
_CHUNK = 1 << 22        # candidate pixels per vectorized batch (bounds memory)
_MAX_CLASSES = 12       # numpy backend: radius classes per view (each costs one buffer merge)
_CULL_MIN_POINTS = 4000   # numpy backend: occlusion culling for clouds at least this large ...
_CULL_MAX_BLOCK = 64      # ... whose largest disk fits cull blocks of at most this many pixels
_BLOCK = 8                # finest cull block, pixels
_CULL_STAGES = (0.3, 0.5, 0.7)  # depth-rank fractions where the culled stages start


@functools.lru_cache(maxsize=256)
def _disk_offsets(r_max: float, r_min: float) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Pixel offsets a disk of radius <= ``r_max`` centred anywhere in the origin pixel can cover.

    Returns:
        dx, dy: (K,) int32 offsets, those covered by every disk of radius >= ``r_min`` first;
        n_inner: how many of those come first; ring: (4, K - n_inner) float32 coefficients of the exact test
        (see :func:`_point_coefficients`).
    """
    reach = int(math.ceil(r_max + 0.5))
    g = np.arange(-reach, reach + 1)
    dx, dy = (a.ravel() for a in np.meshgrid(g, g))
    far = np.hypot(np.abs(dx) + 0.5, np.abs(dy) + 0.5)
    near = np.hypot(np.maximum(np.abs(dx) - 0.5, 0), np.maximum(np.abs(dy) - 0.5, 0))
    keep = near <= r_max
    dx, dy, far = dx[keep], dy[keep], far[keep]
    inner = far <= r_min
    order = np.lexsort((dy, dx, ~inner))
    dx, dy = dx[order].astype(np.int32), dy[order].astype(np.int32)
    n_in = int(inner.sum())
    rx, ry = dx[n_in:].astype(np.float32), dy[n_in:].astype(np.float32)
    ring = np.stack([2.0 * rx, 2.0 * ry, np.ones_like(rx), -(rx * rx + ry * ry)]).astype(np.float32)
    for a in (dx, dy, ring):
        a.flags.writeable = False
    return dx, dy, n_in, ring


def _point_coefficients(px: np.ndarray, py: np.ndarray, rad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anchor pixels and exact-coverage coefficients.

    With ``f`` the centre's offset from its pixel's centre, pixel offset ``d`` is covered iff
    ``|d - f|^2 <= r^2``, i.e. ``[fx, fy, r^2 - |f|^2, 1] . [2dx, 2dy, 1, -|d|^2] >= 0``.

    Returns: cx, cy (M,) int32 anchor pixel; coef (M, 4) float32.
    """
    cxf = np.floor(px)
    cyf = np.floor(py)
    coef = np.empty((len(px), 4), dtype=np.float32)
    coef[:, 0] = px - cxf - 0.5
    coef[:, 1] = py - cyf - 0.5
    coef[:, 2] = rad * rad - coef[:, 0] ** 2 - coef[:, 1] ** 2
    coef[:, 3] = 1.0
    return cxf.astype(np.int32), cyf.astype(np.int32), coef


def _classes(rad: np.ndarray, max_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radius classes: (M,) int class id, and per class id the [lower, upper) radius bounds."""
    lo = math.floor(float(rad.min()) * 8) / 8          # bounds on a 1/8 px grid: offset tables get reused
    hi = float(rad.max())
    width = math.ceil(max(0.5, (hi - lo) / max_classes) * 8) / 8 if hi > lo else 1.0
    cls = np.minimum(((rad - lo) / width).astype(np.int64), max(0, int((hi - lo) / width)))
    n = int(cls.max()) + 1
    lower = lo + width * np.arange(n)
    upper = lower + width
    upper[-1] = max(upper[-1], hi)
    return cls, lower, upper


def _depth_keys(dep: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(M,) int64 keys ordered like (depth, index): the float32 depth bits (monotonic for depth >= 0, so
    negative depths are clamped to 0) above the 32-bit point index."""
    bits = np.maximum(dep[idx], np.float32(0)).astype(np.float32).view(np.int32).astype(np.int64)
    return (bits << 32) | idx.astype(np.int64)


def splat(
    pixels: np.ndarray,
    depth: np.ndarray,
    radius: np.ndarray,
    height: int,
    width: int,
    valid: np.ndarray | None = None,
    backend: str = "numpy",
    device: Any = "cpu",
) -> np.ndarray:
    """Z-buffered disk splatting.

    Args:
        pixels: (N, 2) float disk centres (x = column, y = row), pixel centres at +0.5.
        depth: (N,) float, smaller is nearer; only points with depth > 0 should be drawn (see ``valid``).
        radius: (N,) float disk radii in pixels (> 0).
        height, width: image size in pixels.
        valid: optional (N,) bool mask of the points to draw.
        backend: ``"numpy"`` or ``"torch"``; device: torch device for the torch backend.

    Returns:
        (height, width) int32 index of the nearest covering point per pixel, -1 where no disk covers it.
    """
    px = np.asarray(pixels[:, 0], dtype=np.float32)
    py = np.asarray(pixels[:, 1], dtype=np.float32)
    rad = np.asarray(radius, dtype=np.float32)
    dep = np.asarray(depth, dtype=np.float32)
    keep = (px + rad > 0) & (px - rad < width) & (py + rad > 0) & (py - rad < height)
    keep &= np.isfinite(dep) & np.isfinite(rad) & (rad > 0)
    if valid is not None:
        keep &= np.asarray(valid, dtype=bool)
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return np.full((height, width), -1, dtype=np.int32)
    if backend == "numpy":
        return _splat_numpy(px, py, rad, dep, idx, height, width)
    if backend == "torch":
        return _splat_torch(px, py, rad, dep, idx, height, width, device)
    raise ZeropsError(f"unknown splat backend '{backend}'; use 'numpy' or 'torch'")


def _splat_numpy(px, py, rad, dep, idx, height, width) -> np.ndarray:
    keys = np.sort(_depth_keys(dep, idx))                 # rank 0 = nearest; ties -> lower index
    order = (keys & 0xFFFFFFFF).astype(np.int64)
    n = len(order)
    rad = rad[order]
    cx, cy, coef = _point_coefficients(px[order], py[order], rad)
    cls, lower, upper = _classes(rad, _MAX_CLASSES)
    r_max = float(upper[-1])
    pad = 2 * int(math.ceil(r_max)) + 4                   # disks of points just outside the image stay inside
    block = _BLOCK
    while block < 2 * math.ceil(r_max) + 3:
        block *= 2
    wp = -(-(width + 2 * pad) // block) * block           # padded size, a multiple of the cull block size
    hp = -(-(height + 2 * pad) // block) * block
    grid = _Grid(wp, hp, block, cx + pad, cy + pad, coef, cls, lower, upper)
    best = np.full(hp * wp + 1, _EMPTY32, dtype=np.int32)
    ranks = np.arange(n, dtype=np.int32)
    if n < _CULL_MIN_POINTS or block > _CULL_MAX_BLOCK:
        grid.write(best, ranks)
    else:
        # Front to back in depth stages: before each later stage, skip every point whose disk lies in blocks
        # that are already fully covered by nearer points (exact: such a point cannot win any pixel).
        bounds = [int(f * n) for f in _CULL_STAGES] + [n]
        grid.write(best, ranks[: bounds[0]])
        for b0, b1 in zip(bounds[:-1], bounds[1:]):
            stage = ranks[b0:b1]
            grid.write(best, stage[~grid.hidden(best, stage, rad[stage])])
    best = best[:-1].reshape(hp, wp)[pad:pad + height, pad:pad + width]
    lookup = np.append(order, -1).astype(np.int32)
    return np.take(lookup, np.minimum(best, n))


def _block_max(a: np.ndarray, b: int) -> np.ndarray:
    """Max over non-overlapping b x b blocks of a 2-D array whose sides are multiples of b."""
    h, w = a.shape
    cols = a.reshape(h, w // b, b)
    m = cols[:, :, 0].copy()
    for i in range(1, b):
        np.maximum(m, cols[:, :, i], out=m)
    rows = m.reshape(h // b, b, w // b)
    out = rows[:, 0].copy()
    for i in range(1, b):
        np.maximum(out, rows[:, i], out=out)
    return out


class _Grid:
    """Padded z-buffer geometry of one view for the numpy backend (points indexed by depth rank)."""

    def __init__(self, wp, hp, block, ax, ay, coef, cls, lower, upper):
        self.wp, self.hp, self.block = wp, hp, block
        self.ax, self.ay = ax, ay                      # (M,) int32 anchor pixel in padded coordinates
        self.base = ay * wp + ax
        self.coef, self.cls, self.lower, self.upper = coef, cls, lower, upper

    def write(self, best: np.ndarray, ranks: np.ndarray) -> None:
        """best[pixel] = min(best[pixel], rank of every given point whose disk covers the pixel)."""
        if len(ranks) == 0:
            return
        cls = self.cls[ranks]
        present = np.flatnonzero(np.bincount(cls))
        buf = None
        for c in present:
            members = ranks[cls == c][::-1]           # farthest first: the nearest point writes last
            dx, dy, n_in, ring = _disk_offsets(float(self.upper[c]) + 1e-4, float(self.lower[c]) - 1e-4)
            offs = dy * self.wp + dx
            # Large batches: plain writes into a scratch buffer, then one dense np.minimum merge.
            # Small ones: write straight into ``best`` where they are nearer (no dense pass).
            dense = len(members) * len(offs) > len(best) // 2
            if dense:
                if buf is None:
                    buf = np.empty_like(best)
                buf.fill(_EMPTY32)
            step = max(1, _CHUNK // len(offs))
            for s0 in range(0, len(members), step):
                sel = members[s0:s0 + step]
                cand = self.candidates(sel, offs, n_in, ring)
                if dense:
                    buf[cand] = sel[:, None]
                else:
                    vals = np.broadcast_to(sel[:, None], cand.shape)
                    nearer = vals < best[cand]
                    best[cand[nearer]] = vals[nearer]
            if dense:
                np.minimum(best, buf, out=best)

    def candidates(self, sel: np.ndarray, offs: np.ndarray, n_in: int, ring: np.ndarray) -> np.ndarray:
        """(len(sel), K) int32 flat pixel indices covered by the points' disks; uncovered ones -> trash."""
        cand = np.empty((len(sel), len(offs)), dtype=np.int32)
        np.add(self.base[sel, None], offs[None, :], out=cand)
        if n_in < len(offs):
            np.copyto(cand[:, n_in:], self.hp * self.wp, where=np.matmul(self.coef[sel], ring) < 0)
        return cand

    def hidden(self, best: np.ndarray, ranks: np.ndarray, rad: np.ndarray) -> np.ndarray:
        """(len(ranks),) bool: every pixel the point's disk can touch already shows a nearer point.

        Uses a max-pyramid of the rank buffer over blocks of 8, 16, 32, ... pixels; each point is tested on
        the finest level whose blocks are at least its disk's width, against the (up to 4) blocks its disk's
        bounding box touches.
        """
        worst = _block_max(best[:-1].reshape(self.hp, self.wp), _BLOCK)  # farthest rank per block (EMPTY: hole)
        reach = np.ceil(rad).astype(np.int32) + 1
        need = 2 * reach + 1
        out = np.zeros(len(ranks), dtype=bool)
        size = _BLOCK
        while True:
            sel = np.flatnonzero(need <= size) if size < self.block else np.arange(len(ranks))
            if len(sel):
                ax, ay, rc = self.ax[ranks[sel]], self.ay[ranks[sel]], reach[sel]
                bx0, bx1 = (ax - rc) // size, (ax + rc) // size
                by0, by1 = (ay - rc) // size, (ay + rc) // size
                top = np.maximum(np.maximum(worst[by0, bx0], worst[by0, bx1]),
                                 np.maximum(worst[by1, bx0], worst[by1, bx1]))
                out[sel] = top < ranks[sel]
                need[sel] = np.iinfo(np.int32).max      # done
            if size >= self.block:
                return out
            worst = _block_max(worst, 2)
            size *= 2


def _splat_torch(px, py, rad, dep, idx, height, width, device) -> np.ndarray:
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise ZeropsError("the torch splat backend needs PyTorch; install it or use backend='numpy'") from None
    dev = torch.device(device)
    rad_k = rad[idx]
    cx, cy, coef = _point_coefficients(px[idx], py[idx], rad_k)
    cls, lower, upper = _classes(rad_k, 4 * _MAX_CLASSES)
    pad = 2 * int(math.ceil(float(upper[-1]))) + 4
    wp, hp = width + 2 * pad, height + 2 * pad
    trash = hp * wp
    keys = torch.from_numpy(_depth_keys(dep, idx)).to(dev)
    base = torch.from_numpy(((cy + pad) * wp + (cx + pad)).astype(np.int64)).to(dev)
    coef_t = torch.from_numpy(coef).to(dev)
    cls_t = torch.from_numpy(cls).to(dev)
    empty = torch.iinfo(torch.int64).max
    best = torch.full((hp * wp + 1,), empty, dtype=torch.int64, device=dev)
    for c in np.flatnonzero(np.bincount(cls)):
        members = torch.nonzero(cls_t == int(c)).flatten()
        dx, dy, n_in, ring = _disk_offsets(float(upper[c]) + 1e-4, float(lower[c]) - 1e-4)
        offs = torch.from_numpy((dy * wp + dx).astype(np.int64)).to(dev)
        ring_t = torch.from_numpy(ring.copy()).to(dev)
        step = max(1, _CHUNK // len(offs))
        for s0 in range(0, len(members), step):
            sel = members[s0:s0 + step]
            cand = base[sel, None] + offs[None, :]
            if n_in < len(offs):
                outside = (coef_t[sel] @ ring_t) < 0
                cand[:, n_in:].masked_fill_(outside, trash)
            vals = keys[sel, None].expand(cand.shape)
            best.scatter_reduce_(0, cand.reshape(-1), vals.reshape(-1), "amin")
    best = best[:-1].reshape(hp, wp)[pad:pad + height, pad:pad + width]
    hit = best != empty
    out = torch.where(hit, best & 0xFFFFFFFF, torch.full_like(best, -1))
    return out.to(torch.int32).cpu().numpy()
