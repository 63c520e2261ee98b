"""Small geometric operations on point clouds: neighbours, spacing, normals, farthest-point sampling.

All functions are pure and take an ``(N, 3)`` float array of coordinates. They are deterministic.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from zerops.arrays import check_points
from zerops.errors import ZeropsError
from zerops.signals import signals_deferred

_KNN_CHUNK = 1 << 18      # queries per scipy call: an interrupt waits for at most one chunk
_SPACING_SAMPLES = 20000  # at most this many query points when estimating the spacing


def _as_xyz(xyz: np.ndarray, min_points: int = 1) -> np.ndarray:
    """Check ``xyz`` is a finite (N, 3) array with at least ``min_points`` rows; return it as float64."""
    return check_points(xyz, min_points=min_points, dtype=np.float64)


def knn(xyz: np.ndarray, k: int, query: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest neighbours of each point, excluding the point itself.

    Args:
        xyz: (N, 3) points.
        k: number of neighbours; clipped to N - 1.
        query: optional (M,) int indices of the points to query (default: all points).

    Returns:
        dist: (M, k) float32 distances, ascending. idx: (M, k) int64 neighbour indices.
    """
    pts = _as_xyz(xyz, min_points=2)
    k = int(min(k, pts.shape[0] - 1))
    if k < 1:
        raise ZeropsError(f"k must be >= 1, got {k}")
    tree = cKDTree(pts)
    q = pts if query is None else pts[np.asarray(query, dtype=np.int64)]
    parts = []
    for start in range(0, max(len(q), 1), _KNN_CHUNK):      # scipy's query threads may not outlive an interrupt:
        with signals_deferred():                    # Ctrl-C is acted on between chunks (under a second)
            parts.append(tree.query(q[start:start + _KNN_CHUNK], k=k + 1, workers=-1))
    dist = np.concatenate([p[0] for p in parts]) if len(parts) != 1 else parts[0][0]
    idx = np.concatenate([p[1] for p in parts]) if len(parts) != 1 else parts[0][1]
    # Drop the self match. With duplicate points the self match may not be in column 0, so drop
    # exactly one occurrence of the query index per row (or the farthest column if it is absent).
    qidx = np.arange(pts.shape[0]) if query is None else np.asarray(query, dtype=np.int64)
    if np.array_equal(idx[:, 0], qidx):  # the usual case: no duplicates of the query point
        return dist[:, 1:].astype(np.float32), idx[:, 1:].astype(np.int64)
    is_self = idx == qidx[:, None]
    has_self = is_self.any(axis=1)
    drop = np.where(has_self, is_self.argmax(axis=1), k)
    keep = np.ones_like(is_self)
    keep[np.arange(len(q)), drop] = False
    dist = dist[keep].reshape(len(q), k)
    idx = idx[keep].reshape(len(q), k)
    return dist.astype(np.float32), idx.astype(np.int64)


def point_spacing(xyz: np.ndarray, k: int = 1) -> float:
    """Median distance from a point to its ``k``-th nearest neighbour (a scalar, in input units).

    For large clouds the median is taken over an evenly strided subset of at most 20,000 query points
    (against the full cloud), which is deterministic and accurate to well under a percent.
    """
    pts = _as_xyz(xyz, min_points=2)
    n = pts.shape[0]
    step = max(1, n // _SPACING_SAMPLES)
    query = np.arange(0, n, step)
    dist, _ = knn(pts, k, query=query)
    return float(np.median(dist[:, -1]))


def _smallest_eigvec_sym3(cov: np.ndarray) -> np.ndarray:
    """Eigenvector of the smallest eigenvalue of each symmetric 3x3 matrix: (M, 3, 3) -> (M, 3) float64.

    Closed form (trigonometric eigenvalues, then the largest cross product of two rows of
    ``A - lambda_min I``); rows where that is ill-conditioned fall back to ``np.linalg.eigh``.
    """
    a00, a11, a22 = cov[:, 0, 0], cov[:, 1, 1], cov[:, 2, 2]
    a01, a02, a12 = cov[:, 0, 1], cov[:, 0, 2], cov[:, 1, 2]
    q = (a00 + a11 + a22) / 3.0
    p1 = a01 * a01 + a02 * a02 + a12 * a12
    p2 = (a00 - q) ** 2 + (a11 - q) ** 2 + (a22 - q) ** 2 + 2.0 * p1
    p = np.sqrt(p2 / 6.0)
    safe_p = np.where(p > 0, p, 1.0)
    b00, b11, b22 = (a00 - q) / safe_p, (a11 - q) / safe_p, (a22 - q) / safe_p
    b01, b02, b12 = a01 / safe_p, a02 / safe_p, a12 / safe_p
    det = b00 * (b11 * b22 - b12 * b12) - b01 * (b01 * b22 - b12 * b02) + b02 * (b01 * b12 - b11 * b02)
    phi = np.arccos(np.clip(det / 2.0, -1.0, 1.0)) / 3.0
    lam = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)   # smallest eigenvalue
    m = cov - lam[:, None, None] * np.eye(3)
    crosses = np.stack([np.cross(m[:, 0], m[:, 1]), np.cross(m[:, 0], m[:, 2]), np.cross(m[:, 1], m[:, 2])], 1)
    sq = np.einsum("mcj,mcj->mc", crosses, crosses)
    best = sq.argmax(axis=1)
    vec = crosses[np.arange(len(cov)), best]
    norm2 = sq[np.arange(len(cov)), best]
    scale = np.maximum(np.abs(cov).reshape(len(cov), -1).max(axis=1), 1e-300)
    bad = norm2 <= (1e-6 * scale * scale) ** 2
    vec = vec / np.sqrt(np.where(bad, 1.0, norm2))[:, None]
    if bad.any():
        vec[bad] = np.linalg.eigh(cov[bad])[1][:, :, 0]
    return vec


def normals_from_neighbors(xyz: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
    """PCA normals from given neighbourhoods.

    Args:
        xyz: (N, 3) points. neighbors: (N, k) int indices of each point's neighbours (the point itself is
            always included).

    Returns:
        (N, 3) float32 unit normals (smallest-variance direction of point + neighbours), unoriented.
    """
    pts64 = np.asarray(xyz, dtype=np.float64)
    pts = (pts64 - pts64.mean(axis=0)).astype(np.float32)  # centred first: float32 keeps small offsets exact
    patch = pts[np.asarray(neighbors)] - pts[:, None, :]   # (N, k, 3) offsets from the point (which adds a 0 row)
    count = patch.shape[1] + 1
    mean = (patch.sum(axis=1) / count).astype(np.float64)
    second = (np.matmul(patch.transpose(0, 2, 1), patch) / count).astype(np.float64)
    cov = second - mean[:, :, None] * mean[:, None, :]      # (N, 3, 3)
    normals = _smallest_eigvec_sym3(cov)
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(norm > 0, normals / np.maximum(norm, 1e-12), np.array([0.0, 0.0, 1.0]))
    return normals.astype(np.float32)


def smooth_normals(normals: np.ndarray, neighbors: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Average each unoriented normal with its neighbours' (each flipped to agree with it).

    Args:
        normals: (N, 3) unit normals. neighbors: (N, k) int neighbour indices. iterations: smoothing passes.

    Returns:
        (N, 3) float32 unit normals, still unoriented.
    """
    out = np.asarray(normals, dtype=np.float32)
    nb_idx = np.asarray(neighbors)
    for _ in range(int(iterations)):
        nb = out[nb_idx]                                   # (N, k, 3)
        dots = np.matmul(nb, out[:, :, None])              # (N, k, 1)
        sign = np.where(dots < 0, np.float32(-1.0), np.float32(1.0)).transpose(0, 2, 1)
        acc = out + np.matmul(sign, nb)[:, 0, :]
        norm = np.linalg.norm(acc, axis=1, keepdims=True)
        out = np.where(norm > 1e-12, acc / np.maximum(norm, 1e-12), out).astype(np.float32)
    return out


def estimate_normals(xyz: np.ndarray, k: int = 16) -> np.ndarray:
    """Unoriented PCA normals from each point's ``k`` nearest neighbours: (N, 3) float32, unit length."""
    pts = _as_xyz(xyz, min_points=3)
    _, idx = knn(pts, k)
    return normals_from_neighbors(pts, idx)


def farthest_point_sampling(xyz: np.ndarray, k: int, start: int = 0) -> np.ndarray:
    """Greedy farthest-point sampling.

    Args:
        xyz: (N, 3) points. k: number of samples. start: index of the first sample.

    Returns:
        (min(k, N),) int64 indices in selection order; ``k >= N`` returns ``arange(N)``.
        Ties are broken by the lowest index, so the result is deterministic.
    """
    pts = _as_xyz(xyz, min_points=0)
    n = pts.shape[0]
    k = int(k)
    if k < 0:
        raise ZeropsError(f"number of samples must be >= 0, got {k}")
    if k >= n:
        return np.arange(n, dtype=np.int64)
    if not 0 <= start < n:
        raise ZeropsError(f"start index {start} is out of range for {n} points")
    out = np.empty(k, dtype=np.int64)
    if k == 0:
        return out
    pts = pts.astype(np.float32)
    min_d2 = np.full(n, np.inf, dtype=np.float32)
    cur = int(start)
    for i in range(k):
        out[i] = cur
        diff = pts - pts[cur]
        d2 = np.einsum("ij,ij->i", diff, diff)
        np.minimum(min_d2, d2, out=min_d2)
        cur = int(np.argmax(min_d2))
    return out
