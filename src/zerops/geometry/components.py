"""``components``: weight-free geometric part segmentation, the baseline every method is measured beside and
the partition the graph preset falls back to when SAM finds nothing.

It never reads labels. It (1) splits the cloud into DBSCAN connected components with ``eps`` scaled to the
cloud's point spacing, then (2) inside each component grows smooth regions: neighbouring points stay together
when their (unoriented PCA) normals differ by less than ``angle_deg`` and, for colored clouds, their colors by
less than ``color_dist``; (3) regions smaller than ``min_region`` of the cloud are dissolved into their
neighbours.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from zerops.errors import ZeropsError
from zerops.geometry.clustering import dbscan
from zerops.geometry.pointops import estimate_normals, knn, point_spacing


def _renumber_by_size(labels: np.ndarray) -> np.ndarray:
    """Labels >= 0 renumbered 0, 1, ... by decreasing size (ties: first point index)."""
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full_like(labels, -1)
    ok = labels >= 0
    if not ok.any():
        return out
    uniq, first, inv, counts = np.unique(labels[ok], return_index=True, return_inverse=True, return_counts=True)
    order = np.lexsort((first, -counts))
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[order] = np.arange(len(uniq))
    out[ok] = rank[inv.reshape(-1)]
    return out


def surface_variation(xyz: np.ndarray, nbr: np.ndarray) -> np.ndarray:
    """(N,) float64 PCA surface variation l0 / (l0 + l1 + l2) of each point with its neighbours ``nbr``
    ((N,k) int): 0 on a plane, up to 1/3 for isotropic scatter; high near creases and edges."""
    pts = np.concatenate([xyz[:, None, :], xyz[nbr]], axis=1)
    pts = pts - pts.mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", pts, pts)
    ev = np.linalg.eigvalsh(cov)
    return ev[:, 0] / np.maximum(ev.sum(axis=1), 1e-30)


def _fill_from_neighbours(labels: np.ndarray, nbr: np.ndarray, group: np.ndarray, max_iter: int = 50) -> np.ndarray:
    """Give unlabelled points (-1) the most common label among labelled kNN neighbours of the same group,
    repeating until nothing changes (deterministic: ties go to the lowest label)."""
    labels = labels.copy()
    for _ in range(max_iter):
        todo = np.flatnonzero(labels < 0)
        if len(todo) == 0:
            break
        cand = labels[nbr[todo]]
        cand[group[nbr[todo]] != group[todo][:, None]] = -1
        row, col = np.nonzero(cand >= 0)
        if len(row) == 0:
            break
        pairs, counts = np.unique(np.stack([row, cand[row, col]], axis=1), axis=0, return_counts=True)
        order = np.lexsort((pairs[:, 1], -counts, pairs[:, 0]))  # per row: most votes, then lowest label
        pairs = pairs[order]
        first = np.r_[True, pairs[1:, 0] != pairs[:-1, 0]]
        labels[todo[pairs[first, 0]]] = pairs[first, 1]
    return labels


def segment_components(
    xyz: np.ndarray,
    rgb: np.ndarray | None = None,
    eps_factor: float = 3.0,
    min_points: int = 3,
    angle_deg: float | None = 20.0,
    color_dist: float | None = 0.15,
    max_variation: float | None = None,
    k: int = 10,
    normal_k: int = 16,
    min_region: float = 0.01,
) -> np.ndarray:
    """Weight-free geometric part segmentation.

    Args:
        xyz: (N,3) float points.
        rgb: (N,3) float colors in [0,1] or None.
        eps_factor: DBSCAN eps and neighbour radius, in multiples of the median point spacing.
        min_points: DBSCAN min_points (the point itself counted).
        angle_deg: max normal angle between neighbours of one region; None = components only.
        color_dist: max RGB distance between neighbours of one region (colored clouds); None = ignore color.
        max_variation: points whose surface variation (see :func:`surface_variation`, over ``normal_k``
            neighbours) exceeds this sit on creases or thin parts: they link only to each other, so a
            crease cannot bridge two smooth regions; small crease strips are then dissolved into their
            neighbours like any small region. None = no such gate.
        k: neighbours per point for region growing.
        normal_k: neighbours for the PCA normals.
        min_region: regions below this fraction of the cloud are merged into neighbouring regions.
    Returns:
        (N,) int64 part ids (largest part 0), -1 for DBSCAN noise.
    Long: one region-growing pass whose queues and labels the steps share.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    n = len(xyz)
    if n < 4:
        raise ZeropsError(f"need at least 4 points to segment, got {n}")
    eps = eps_factor * point_spacing(xyz)
    comp = dbscan(xyz, eps, min_points)
    if angle_deg is None and color_dist is None:
        return _renumber_by_size(comp)

    dist, nbr = knn(xyz, min(k, n - 1))
    rows = np.repeat(np.arange(n), nbr.shape[1])
    cols = nbr.reshape(-1)
    keep = (dist.reshape(-1) <= eps) & (comp[rows] >= 0) & (comp[rows] == comp[cols])
    if angle_deg is not None:
        normals = estimate_normals(xyz, k=min(normal_k, n - 1)).astype(np.float64)
        keep &= np.abs(np.sum(normals[rows] * normals[cols], axis=1)) >= np.cos(np.radians(angle_deg))
    if max_variation is not None:
        _, nbr_n = knn(xyz, min(normal_k, n - 1))
        flat = surface_variation(xyz, nbr_n) <= max_variation
        keep &= flat[rows] == flat[cols]  # crease points link only to crease points
    if color_dist is not None and rgb is not None:
        rgb = np.asarray(rgb, dtype=np.float64)
        keep &= np.linalg.norm(rgb[rows] - rgb[cols], axis=1) <= color_dist
    graph = coo_matrix((np.ones(int(keep.sum()), dtype=np.int8), (rows[keep], cols[keep])), shape=(n, n))
    _, region = connected_components(graph, directed=False)
    region = np.where(comp >= 0, region, -1)

    sizes = np.bincount(region[region >= 0], minlength=max(int(region.max()) + 1, 1))
    min_size = max(min_points, int(round(min_region * n)))
    small = (region >= 0) & (sizes[np.maximum(region, 0)] < min_size)
    labels = _fill_from_neighbours(np.where(small, -1, region), nbr, comp)
    # points no region reached (components that are tiny or all crease) become one part per component
    rest = (labels < 0) & (comp >= 0)
    labels[rest] = labels.max(initial=-1) + 1 + comp[rest]
    return _renumber_by_size(labels)
