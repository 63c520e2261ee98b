"""Atoms fine enough: superpoints split where the views' partitions consistently cut them (issue #24, item 4).

Geometric superpoints (:mod:`zerops.stages.superpoints`) are compact chunks of geometric regions. Where two
parts join smoothly (a link and the next on a robot arm), a chunk can straddle the joint, and no merge of
the atoms can then separate the parts: the *superpoint ceiling*. The views see such joints — SAM's masks
end there — and views rarely split one part (measured: 8–12 % of a part's neighbouring point pairs are put
apart by a view, against 72–75 % of the pairs across two parts put together), so a cut that most views make
is trustworthy evidence even where their merges are not.

:func:`split_atoms` looks at every pair of k-NN neighbours inside one superpoint. A view votes on the pair
when its partition (:func:`~zerops.stages.votemerge.view_partitions`) labels both points; the pair is cut
when at least ``split_min_views`` views vote and fewer than ``split_together`` of them put both points in one
segment. The connected pieces of each superpoint with a cut pair, over its uncut pairs, become its new atoms;
pieces below ``split_min_points`` points rejoin the larger piece of their superpoint they touch most. A new atom
keeps its superpoint's geometric region, and the adjacency graph is rebuilt over the new atoms. With no
views, or none that cut, the superpoints come back unchanged (the partition is exactly the old one).
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from zerops.config import SuperpointConfig
from zerops.geometry.pointops import knn, point_spacing
from zerops.stages.superpoints import Superpoints, superpoint_graph


def cut_pairs(segment: np.ndarray, i: np.ndarray, j: np.ndarray, together: float,
              min_views: int) -> np.ndarray:
    """(P,) bool: which point pairs (i[p], j[p]) the views cut.

    Args:
        segment: (V, N) int64 each view's segment per point (−1: not seen or not labelled).
        i, j: (P,) int64 point indices. together: a pair is cut when fewer than this share of its voting views
        put both points in one segment … min_views: … and at least this many views vote on it.
    """
    si, sj = segment[:, i], segment[:, j]                      # (V, P)
    vote = (si >= 0) & (sj >= 0)
    n = vote.sum(axis=0)
    same = (vote & (si == sj)).sum(axis=0)
    return (n >= max(int(min_views), 1)) & (same < together * n)


def split_atoms(xyz: np.ndarray, sp: Superpoints, segment: np.ndarray, config: SuperpointConfig) -> Superpoints:
    """The superpoints ``sp`` of the points ``xyz`` ((N, 3)) split where the views' partitions cut them.

    Args:
        segment: (V, N) int64 each view's segment per point (−1 where the view labels none), e.g.
            ``view_partitions(ev, config.votes).segment``.
        config: the ``graph.superpoints`` section: ``split_together``, ``split_min_views``,
            ``split_min_points`` (this module's doc), ``edge_k`` and the adjacency settings for the new graph.
    Returns:
        new :class:`Superpoints` (``sp`` itself when nothing is cut).
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    n = len(xyz)
    segment = np.asarray(segment, dtype=np.int64).reshape(-1, n)
    if config.split_together <= 0 or not len(segment) or n < 4:
        return sp
    _, nbr = knn(xyz, min(config.edge_k, n - 1))
    i = np.repeat(np.arange(n), nbr.shape[1])
    j = nbr.reshape(-1)
    cut = cut_pairs(segment, i, j, config.split_together, config.split_min_views)
    inside = sp.label[i] == sp.label[j]
    if not (cut & inside).any():
        return sp
    keep = inside & ~cut
    graph = coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(n, n))
    _, piece = connected_components(graph, directed=False)
    piece = np.where(np.isin(sp.label, sp.label[i[cut & inside]]), piece, -1)   # atoms with no cut pair stay whole
    _, label = np.unique(np.stack([sp.label, piece], axis=1), axis=0, return_inverse=True)
    label = _absorb_small_pieces(label.reshape(-1).astype(np.int64), sp.label, i[inside], j[inside],
                                 config.split_min_points)
    if np.array_equal(label, sp.label):
        return sp
    parent = np.zeros(int(label.max()) + 1, dtype=np.int64)
    parent[label] = sp.label                                     # every piece lies in one superpoint
    edges, strength = superpoint_graph(xyz, label, k=config.edge_k, eps=config.edge_eps_factor * point_spacing(xyz),
                                       max_island=config.max_island, local_reach=config.local_reach)
    return Superpoints(label=label, region=sp.region[parent], edges=edges, strength=strength)


def _absorb_small_pieces(label: np.ndarray, atom: np.ndarray, i: np.ndarray, j: np.ndarray,
                         min_points: int) -> np.ndarray:
    """(N,) piece labels, renumbered 0..K−1, with every piece under ``min_points`` points joined back to the
    larger piece of its own superpoint (``atom``: (N,) per point) that most of its k-NN pairs inside that
    superpoint (i, j) reach: a sliver is mostly a mask edge that wobbles between views, not a part (measured:
    joining slivers to the next superpoint's piece instead cost realdev 1.6). Small superpoints the split left
    whole, and pieces with no such neighbour, stay."""
    for _ in range(4):                                   # a few rounds: a sliver may first join another sliver
        sizes = np.bincount(label)
        reach = (sizes[label[i]] < min_points) & (label[i] != label[j]) & (atom[i] == atom[j])
        if not reach.any():
            break
        pairs, counts = np.unique(np.stack([label[i[reach]], label[j[reach]]], axis=1), axis=0, return_counts=True)
        best: dict[int, tuple[int, int, int]] = {}
        for (src, dst), c in zip(pairs.tolist(), counts.tolist()):
            if (sizes[dst], -dst) > (sizes[src], -src) and (src not in best or (c, sizes[dst]) > best[src][1:]):
                best[src] = (dst, c, int(sizes[dst]))
        if not best:
            break
        target = np.arange(len(sizes))
        for src, (dst, _, _) in best.items():
            target[src] = dst
        _, label = np.unique(target[label], return_inverse=True)
        label = label.reshape(-1)
    return label.astype(np.int64)
