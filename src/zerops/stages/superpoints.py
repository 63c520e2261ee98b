"""Superpoints: small, geometrically coherent point sets, the atoms that the graph merge groups into parts.

Two levels:

1. **Regions** — the geometric partition of :func:`zerops.geometry.components.segment_components`: DBSCAN components
   split where normals or colors jump (creases, material boundaries). Every point gets a region (DBSCAN
   noise takes its nearest labelled neighbour's region).
2. **Superpoints** — regions cut into compact chunks of at most ``max_size`` points (farthest-point seeds +
   a few k-means steps inside the region), so that smoothly joined parts (an arm segment and the next, a
   leg and the body it grows out of) fall into different superpoints that evidence can later tell apart.

``superpoint_graph`` gives the adjacency of superpoints (pairs of k-NN point neighbours across a boundary),
with the number of such point pairs as the edge strength.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from zerops.config import SuperpointConfig
from zerops.errors import ZeropsError
from zerops.geometry import masks as maskops
from zerops.geometry.pointops import farthest_point_sampling, knn, point_spacing


@dataclass
class Superpoints:
    """A superpoint partition of a cloud.

    Attributes:
        label: (N,) int64 superpoint id of every point, 0..S-1 (no −1).
        region: (S,) int64 geometric region of each superpoint (regions are unions of superpoints).
        edges: (E, 2) int64 adjacent superpoint pairs, a < b.
        strength: (E,) float64 number of k-NN point pairs joining the two superpoints.
    """

    label: np.ndarray
    region: np.ndarray
    edges: np.ndarray
    strength: np.ndarray

    @property
    def count(self) -> int:
        return int(len(self.region))

    @property
    def n_regions(self) -> int:
        """The number of geometric regions."""
        return int(len(np.unique(self.region)))

    def sizes(self) -> np.ndarray:
        """(S,) int64 points per superpoint."""
        return np.bincount(self.label, minlength=self.count)


def fill_nearest(labels: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """(N,) labels with every −1 replaced by the label of its nearest labelled point (all −1 → all 0)."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) and (labels < 0).all():
        return np.zeros_like(labels)
    return maskops.fill_nearest(labels, xyz)


def split_region(xyz: np.ndarray, max_size: int, iterations: int = 3) -> np.ndarray:
    """Cut one region ((M, 3) points) into compact chunks of at most max_size points: (M,) int64 chunk ids.

    Seeds are farthest-point samples (deterministic); a few k-means steps make the chunks compact.
    """
    m = len(xyz)
    k = int(np.ceil(m / max(int(max_size), 1)))
    if k <= 1:
        return np.zeros(m, dtype=np.int64)
    centers = xyz[farthest_point_sampling(xyz, k)].astype(np.float64)
    assign = np.zeros(m, dtype=np.int64)
    for _ in range(max(int(iterations), 1)):
        assign = maskops.nearest_index(centers, xyz)
        counts = np.bincount(assign, minlength=k)
        sums = np.zeros((k, 3))
        np.add.at(sums, assign, xyz)
        used = counts > 0
        centers[used] = sums[used] / counts[used, None]
    _, assign = np.unique(assign, return_inverse=True)
    assign = assign.reshape(-1).astype(np.int64)
    # k-means does not balance sizes: cut every chunk still above the cap again (the cap is a guarantee)
    out = np.empty(m, dtype=np.int64)
    n_out = 0
    for c in range(int(assign.max()) + 1):
        idx = np.flatnonzero(assign == c)
        sub = split_region(xyz[idx], max_size, iterations) if len(idx) > max_size else np.zeros(len(idx), np.int64)
        out[idx] = n_out + sub
        n_out += int(sub.max()) + 1
    return out


def compute_superpoints(xyz: np.ndarray, rgb: np.ndarray | None = None,
                        config: SuperpointConfig | None = None) -> Superpoints:
    """Regions (normal / color continuity) cut into chunks of at most ``max(min_size, size_fraction × N)``.

    Args:
        xyz: (N, 3) points (any scale). rgb: (N, 3) colors in [0, 1] or None.
        config: the ``graph.superpoints`` section (default ``SuperpointConfig()``): ``angle_deg``,
            ``color_dist``, ``min_region``, ``edge_eps_factor``, ``normal_k``, ``crease_normal_k``,
            ``max_variation``: the region growing of ``components`` (with few normal neighbours and the crease
            gate, so creases cut regions); ``size_fraction``, ``min_size``: the size cap of a superpoint;
            ``edge_k``, ``max_island``, ``local_reach``: the adjacency graph.
    """
    from zerops.geometry.components import segment_components

    c = config if config is not None else SuperpointConfig()
    eps_factor, normal_k, crease_normal_k = c.edge_eps_factor, c.normal_k, c.crease_normal_k
    max_variation = c.max_variation or None
    xyz = np.asarray(xyz, dtype=np.float64)
    n = len(xyz)
    if n < 4:
        raise ZeropsError(f"need at least 4 points for superpoints, got {n}")
    common = dict(eps_factor=eps_factor, angle_deg=c.angle_deg, color_dist=c.color_dist, min_region=c.min_region)
    regions = fill_nearest(segment_components(xyz, rgb, normal_k=normal_k, **common), xyz)
    base_of = None
    if crease_normal_k:     # atoms also cut where a crease-sensitive growing cuts; regions stay the baseline's
        fine = fill_nearest(segment_components(xyz, rgb, normal_k=crease_normal_k, max_variation=max_variation,
                                               **common), xyz)
        pairs, regions = np.unique(np.stack([regions, fine], axis=1), axis=0, return_inverse=True)
        regions = regions.reshape(-1)
        base_of = pairs[:, 0]
    cap = max(int(c.min_size), int(round(c.size_fraction * n)))
    label = np.empty(n, dtype=np.int64)
    region_of: list[int] = []
    for r in range(int(regions.max()) + 1):
        idx = np.flatnonzero(regions == r)
        if len(idx) == 0:
            continue
        chunk = split_region(xyz[idx], cap)
        label[idx] = len(region_of) + chunk
        region_of.extend([r if base_of is None else int(base_of[r])] * (int(chunk.max()) + 1))
    edges, strength = superpoint_graph(xyz, label, k=c.edge_k, eps=eps_factor * point_spacing(xyz),
                                       max_island=c.max_island, local_reach=c.local_reach)
    return Superpoints(label=label, region=np.asarray(region_of, dtype=np.int64), edges=edges, strength=strength)


def superpoint_graph(xyz: np.ndarray, label: np.ndarray, k: int = SuperpointConfig.edge_k, eps: float | None = None,
                     max_island: float = SuperpointConfig.max_island,
                     local_reach: float = SuperpointConfig.local_reach) -> tuple[np.ndarray, np.ndarray]:
    """Adjacency of the segments of ``label`` ((N,) int64 ≥ 0): (E, 2) pairs a < b and (E,) strengths
    (k-NN point pairs across the boundary within ``eps`` or within ``local_reach`` × the larger of the two
    points' local spacing, the median of their k-NN distances: parts sampled sparser than the cloud's
    median stay connected)."""
    n = len(xyz)
    dist, nbr = knn(xyz, min(k, n - 1))
    a = np.repeat(label, nbr.shape[1])
    b = label[nbr.reshape(-1)]
    keep = a != b
    if eps is not None:
        local = np.median(dist, axis=1)
        reach = np.maximum(eps, local_reach * np.maximum(local[:, None], local[nbr])).reshape(-1)
        keep &= dist.reshape(-1) <= reach
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    # small pieces no k-NN pair joins to the rest (a dense clump whose neighbours all lie inside it) get one
    # edge from their point nearest to another piece, so that they can still join a part
    lo, hi = _bridge_islands(xyz, label, lo, hi, max_island)
    if len(lo) == 0:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    pairs, counts = np.unique(np.stack([lo, hi], axis=1), axis=0, return_counts=True)
    return pairs.astype(np.int64), counts.astype(np.float64)


def _bridge_islands(xyz: np.ndarray, label: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    max_island: float = SuperpointConfig.max_island) -> tuple[np.ndarray, np.ndarray]:
    """Edge lists (lo, hi) plus one edge per small island of the segment graph (under ``max_island`` of the
    points) to its nearest other piece, repeated while there are such islands (two clumps side by side first
    join each other, then the rest). Larger pieces stay apart: separate parts, not stray clumps."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_seg = int(label.max()) + 1
    for _ in range(8):
        graph = coo_matrix((np.ones(len(lo)), (lo, hi)), shape=(n_seg, n_seg))
        n_comp, comp = connected_components(graph, directed=False)
        if n_comp <= 1:
            break
        point_comp = comp[label]
        largest = np.bincount(point_comp).argmax()
        extra = []
        for c in range(n_comp):
            inside = point_comp == c
            if c == largest or inside.all() or inside.sum() >= max_island * len(label):
                continue
            d, j = cKDTree(xyz[~inside]).query(xyz[inside], k=1)
            i = int(np.argmin(d))
            a, b = int(label[np.flatnonzero(inside)[i]]), int(label[np.flatnonzero(~inside)[j[i]]])
            extra.append((min(a, b), max(a, b)))
        if not extra:
            break
        lo = np.concatenate([lo, np.asarray([e[0] for e in extra], dtype=np.int64)])
        hi = np.concatenate([hi, np.asarray([e[1] for e in extra], dtype=np.int64)])
    return lo, hi


def oracle_merge(label: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """The best any merge of the segments in ``label`` can do: each segment takes the ground-truth id
    (``gt``, (N,) int64, −1 unlabeled) most of its points carry. (N,) int64; used for the ceiling."""
    n_seg = int(label.max()) + 1
    ids, g = np.unique(gt, return_inverse=True)
    g = g.reshape(-1)
    table = np.zeros((n_seg, len(ids)), dtype=np.int64)
    np.add.at(table, (label, g), 1)
    return ids[table.argmax(axis=1)][label]
