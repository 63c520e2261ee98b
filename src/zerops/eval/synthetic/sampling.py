"""Area-uniform sampling of the visible surface of a union of primitives."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zerops.eval.synthetic.primitives import Primitive

INSIDE_EPS = 1e-5  # a point deeper than this inside another primitive is hidden


def inside_others(prims: Sequence[Primitive], xyz: np.ndarray, owner: np.ndarray,
                  eps: float = INSIDE_EPS) -> np.ndarray:
    """(M,) bool: point m lies strictly inside some primitive other than ``owner[m]``."""
    hidden = np.zeros(len(xyz), dtype=bool)
    for j, prim in enumerate(prims):
        lo, hi = prim.bounds
        cand = np.flatnonzero(~hidden & (owner != j) & np.all((xyz >= lo) & (xyz <= hi), axis=1))
        if len(cand):
            hidden[cand[prim.sdf(xyz[cand]) < -eps]] = True
    return hidden


def _triangles(prims: Sequence[Primitive]) -> tuple[np.ndarray, np.ndarray]:
    tri = np.concatenate([p.vertices[p.faces] for p in prims])  # (T,3,3)
    owner = np.concatenate([np.full(len(p.faces), j, dtype=np.int64) for j, p in enumerate(prims)])
    return tri, owner


def sample_surface(prims: Sequence[Primitive], n: int, rng: np.random.Generator,
                   oversample: float = 1.5, max_rounds: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample n points area-uniformly on the visible surface of the union of ``prims``.

    Returns xyz (n,3) float64, normals (n,3) float64 (outward face normals), owner (n,) int64 (primitive index).
    """
    tri, tri_owner = _triangles(prims)
    cr = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * np.linalg.norm(cr, axis=1)
    keep_tri = area > 0
    tri, tri_owner, cr, area = tri[keep_tri], tri_owner[keep_tri], cr[keep_tri], area[keep_tri]
    fn = cr / (2.0 * area[:, None])
    cdf = np.cumsum(area)
    cdf /= cdf[-1]
    xs, ns, os = [], [], []
    total, m = 0, int(np.ceil(n * oversample))
    for _ in range(max_rounds):
        t = np.minimum(np.searchsorted(cdf, rng.random(m), side="right"), len(cdf) - 1)
        u, v = rng.random(m), rng.random(m)
        flip = u + v > 1
        u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
        x = tri[t, 0] + u[:, None] * (tri[t, 1] - tri[t, 0]) + v[:, None] * (tri[t, 2] - tri[t, 0])
        ok = ~inside_others(prims, x, tri_owner[t])
        xs.append(x[ok])
        ns.append(fn[t][ok])
        os.append(tri_owner[t][ok])
        total += int(ok.sum())
        if total >= n:
            break
        m = int(np.ceil((n - total) * 2.0 * m / max(1, ok.sum()))) if ok.any() else m * 2
    x, nr, ow = np.concatenate(xs), np.concatenate(ns), np.concatenate(os)
    if len(x) < n:
        raise RuntimeError(f"could not sample {n} visible points (got {len(x)})")
    pick = rng.permutation(len(x))[:n]
    return x[pick], nr[pick], ow[pick]
