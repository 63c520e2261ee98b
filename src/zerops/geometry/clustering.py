"""Density-based clustering of 3D points (DBSCAN) on a k-d tree.

Used by the pipeline's lifting step (METHOD.md §3.1: keep the largest DBSCAN cluster of the points under a
2D mask, eps 0.007, minPts 3) and by the geometric baseline. ``min_points`` counts the point itself,
as Open3D's ``cluster_dbscan`` does.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from zerops.arrays import check_points
from zerops.errors import ZeropsError


def _check_points(xyz: np.ndarray) -> np.ndarray:
    return check_points(xyz, dtype=np.float64, what="points")


def _check_params(eps: float, min_points: int) -> None:
    if not np.isfinite(eps) or eps <= 0:
        raise ZeropsError(f"DBSCAN eps must be a positive number, got {eps}")
    if int(min_points) != min_points or min_points < 1:
        raise ZeropsError(f"DBSCAN min_points must be an integer >= 1, got {min_points}")


def dbscan(xyz: np.ndarray, eps: float, min_points: int) -> np.ndarray:
    """Cluster points with DBSCAN.

    A point is a *core* point when at least ``min_points`` points (itself included) lie within
    distance ``eps``. Core points closer than ``eps`` are connected; each connected component is a
    cluster. A non-core point within ``eps`` of a core point joins the cluster of its nearest core
    point (deterministic, unlike the visiting order of classic DBSCAN); every other point is noise.

    Args:
        xyz: (N,3) float points.
        eps: neighbourhood radius (same units as ``xyz``).
        min_points: neighbourhood size, the point itself included, for a core point.
    Returns:
        (N,) int64 labels; -1 is noise. Clusters are numbered 0, 1, ... in the order of their
        lowest point index, so the labels are deterministic.
    """
    pts = _check_points(xyz)
    _check_params(eps, min_points)
    n = len(pts)
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels
    tree = cKDTree(pts)
    if min_points <= 1:
        core = np.ones(n, dtype=bool)
    else:
        counts = tree.query_ball_point(pts, r=eps, return_length=True)
        core = np.asarray(counts) >= min_points
    core_idx = np.flatnonzero(core)
    if len(core_idx) == 0:
        return labels

    core_pts = pts[core_idx]
    core_tree = cKDTree(core_pts)
    pairs = core_tree.query_pairs(r=eps, output_type="ndarray")
    m = len(core_idx)
    graph = coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(m, m)
    )
    _, comp = connected_components(graph, directed=False)
    labels[core_idx] = comp

    border = np.flatnonzero(~core)
    if len(border):
        dist, nearest = core_tree.query(pts[border], k=1, distance_upper_bound=eps)
        ok = np.isfinite(dist)
        labels[border[ok]] = comp[nearest[ok]]

    return _renumber_by_first_index(labels)


def _renumber_by_first_index(labels: np.ndarray) -> np.ndarray:
    """Renumber labels >= 0 as 0, 1, ... in order of first occurrence."""
    valid = labels >= 0
    if not valid.any():
        return labels
    uniq, first = np.unique(labels[valid], return_index=True)
    order = np.argsort(first, kind="stable")
    remap = np.empty(uniq.max() + 1, dtype=np.int64)
    remap[uniq[order]] = np.arange(len(uniq), dtype=np.int64)
    out = labels.copy()
    out[valid] = remap[labels[valid]]
    return out


def largest_cluster(
    indices: np.ndarray, xyz: np.ndarray, eps: float, min_points: int
) -> np.ndarray:
    """Keep the largest DBSCAN cluster of a subset of points.

    Args:
        indices: (M,) int indices into ``xyz`` (the subset, e.g. the points under a 2D mask).
        xyz: (N,3) float points of the whole cloud.
        eps, min_points: DBSCAN parameters (see :func:`dbscan`).
    Returns:
        (K,) int64 subset of ``indices`` (in their given order) forming the largest non-noise
        cluster; ties go to the cluster with the lowest label. Empty if every point is noise.
    """
    pts = _check_points(xyz)
    idx = np.asarray(indices)
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ZeropsError(f"indices must be a 1-D integer array, got {idx.dtype} {idx.shape}")
    idx = idx.astype(np.int64)
    if idx.min() < 0 or idx.max() >= len(pts):
        raise ZeropsError(f"indices out of range for a cloud of {len(pts)} points")
    labels = dbscan(pts[idx], eps, min_points)
    valid = labels >= 0
    if not valid.any():
        return np.zeros(0, dtype=np.int64)
    best = int(np.argmax(np.bincount(labels[valid])))
    return idx[labels == best]
