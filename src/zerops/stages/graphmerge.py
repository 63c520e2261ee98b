"""Merging as clustering of the superpoint graph: greedy average linkage with a merge tree.

Nodes are superpoints, edges join adjacent ones; each edge has an affinity (evidence that the two belong to
one part) and a strength (how long their shared boundary is). :func:`agglomerate` repeatedly merges the two
adjacent clusters with the highest boundary-weighted mean affinity — average linkage restricted to the
graph — until no edge is left, and records every merge. The record is the merge tree: a part count or an
affinity threshold cuts it (:meth:`MergeTree.cut`), so the hierarchy of parts is kept in the result and a
granularity knob steps through it without recomputing anything.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

BOOST = 1e3      # key offset of the edges merged first


def renumber_by_weight(labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(S,) int64 ``labels`` (any ints ≥ 0) renumbered 0, 1, … by decreasing total ``weights`` ((S,) float),
    ties by first label."""
    _, lab = np.unique(labels, return_inverse=True)
    lab = lab.reshape(-1)
    weight = np.bincount(lab, weights=np.asarray(weights, dtype=np.float64), minlength=int(lab.max()) + 1)
    order = np.lexsort((np.arange(len(weight)), -weight))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[lab]


def absorb_parts(leaves: np.ndarray, edges: np.ndarray, tie: np.ndarray, sizes: np.ndarray,
                 select: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """(S,) leaf labels with every part that ``select`` picks joined, smallest first, to the adjacent part it
    is most strongly tied to; a picked part without neighbours stays.

    Args:
        leaves: (S,) part per leaf. edges: (E, 2) leaf pairs; tie: (E,) how strongly each edge ties its ends.
        sizes: (S,) leaf weights. select: ``select(leaves, part_size) -> (P,) bool`` over the part ids (P =
            ``leaves.max() + 1``; ``part_size``: (P,) summed weights), asked again after every join.
    Returns:
        The labels renumbered by weight (:func:`renumber_by_weight`).
    """
    leaves = np.asarray(leaves, dtype=np.int64).copy()
    sizes = np.asarray(sizes, dtype=np.float64)
    a, b = edges[:, 0], edges[:, 1]
    for _ in range(len(np.unique(leaves))):
        part_size = np.bincount(leaves, weights=sizes)
        picked = np.flatnonzero((part_size > 0) & select(leaves, part_size))
        moved = False
        for p in picked[np.argsort(part_size[picked], kind="stable")]:
            pa, pb = leaves[a], leaves[b]
            cross = (pa != pb) & ((pa == p) | (pb == p))
            if not cross.any():
                continue
            other = np.where(pa[cross] == p, pb[cross], pa[cross])
            leaves[leaves == p] = np.bincount(other, weights=tie[cross]).argmax()
            moved = True
            break
        if not moved:
            break
    return renumber_by_weight(leaves, sizes)


@dataclass
class MergeTree:
    """The merges of :func:`agglomerate`, in order.

    Attributes:
        n_leaves: S, the number of superpoints (leaves 0..S-1; merge i creates cluster S + i).
        merges: (K, 2) int64 the two clusters joined by each merge.
        values: (K,) float64 the mean affinity at which they were joined.
        sizes: (S,) int64 points per leaf (for display and statistics).
    """

    n_leaves: int
    merges: np.ndarray
    values: np.ndarray
    sizes: np.ndarray

    def n_merges_at(self, threshold: float) -> int:
        """How many merges the greedy merge makes before its best affinity falls below ``threshold``."""
        below = np.flatnonzero(self.values < threshold)
        return int(below[0]) if len(below) else len(self.values)

    def leaf_labels(self, n_merges: int) -> np.ndarray:
        """(S,) int64 cluster of every leaf after the first ``n_merges`` merges, renumbered 0.. by size."""
        parent = np.arange(self.n_leaves + len(self.merges))
        for i, (a, b) in enumerate(self.merges[: max(int(n_merges), 0)]):
            parent[a] = parent[b] = self.n_leaves + i
        root = np.arange(self.n_leaves)
        for _ in range(len(self.merges) + 1):
            nxt = parent[root]
            if np.array_equal(nxt, root):
                break
            root = nxt
        return renumber_by_weight(root, self.sizes)

    def cut(self, threshold: float | None = None, n_parts: int | None = None) -> np.ndarray:
        """(S,) leaf labels at an affinity ``threshold`` or at (about) ``n_parts`` clusters — as close as the
        graph allows: disconnected pieces never merge."""
        if n_parts is not None:
            return self.leaf_labels(self.n_leaves - max(int(n_parts), 1))
        return self.leaf_labels(self.n_merges_at(-np.inf if threshold is None else threshold))


PairScore = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class KeptMasks:
    """A merge mode's kept masks counted per superpoint, so that any part (a set of superpoints) can be
    matched against them.

    Attributes:
        inside: (K, S) points of every superpoint that each mask covers and its view sees.
        seen: (K, S) points of every superpoint that each mask's view sees. view: (K,) each mask's view.
    """

    inside: np.ndarray
    seen: np.ndarray
    view: np.ndarray

    def views_matching(self, leaves: np.ndarray, min_iou: float) -> np.ndarray:
        """(P,) int for every part of ``leaves`` ((S,) part per superpoint, P = ``leaves.max() + 1``): how many
        views hold a mask matching the part at point IoU ≥ ``min_iou`` over the points that view sees."""
        n_parts = int(leaves.max()) + 1
        inside = np.zeros((n_parts, len(self.view)))
        seen = np.zeros_like(inside)
        np.add.at(inside, leaves, self.inside.T)
        np.add.at(seen, leaves, self.seen.T)
        union = seen + self.inside.sum(axis=1) - inside
        part, mask = np.nonzero(inside >= min_iou * np.maximum(union, 1e-9))
        hit = np.zeros((n_parts, int(self.view.max(initial=-1)) + 1), dtype=bool)
        hit[part, self.view[mask]] = True
        return hit.sum(axis=1)


@dataclass
class MergeResult:
    """What every merge mode returns (:func:`zerops.stages.supportmerge.support_merge`,
    :func:`zerops.stages.votemerge.vote_merge`).

    Attributes:
        tree: the merge tree over the superpoints (:func:`agglomerate`).
        affinity: (E,) the affinity of every superpoint-graph edge (what ``absorb_small`` ties small parts by).
        cut: (S,) leaf labels of the mode's own cut (the support cut, or the vote threshold).
        stats: numbers for ``PartResult.counts`` (``evidence_edges``: edges some mask speaks about;
            ``view_error``: the votes mode's estimated rate of wrong view votes).
        kept: the masks the mode's views kept (the votes mode), which keep a small part that they match
            apart (:func:`~zerops.stages.partgraph.absorb_small`); None: no such masks.
    """

    tree: MergeTree
    affinity: np.ndarray
    cut: np.ndarray
    stats: dict[str, float] = field(default_factory=dict)
    kept: KeptMasks | None = None


def agglomerate(n_nodes: int, edges: np.ndarray, score_pair: PairScore, boundary: np.ndarray | None = None,
                sizes: np.ndarray | None = None, join: Callable[[int, int, int], None] | None = None) -> MergeTree:
    """The one greedy graph-constrained merge loop of every merge mode: repeatedly join the two adjacent
    clusters whose pair scores highest, until no edge is left, recording every merge (leaves 0..S-1; merge i
    creates cluster S + i). A merge mode supplies only how a pair is scored.

    Args:
        n_nodes: S. edges: (E, 2) int node pairs (self-loops are ignored).
        score_pair: ``score_pair(a, b, bound) -> (key, value)`` for P cluster pairs (``a``, ``b``: (P,) int64;
            ``bound``: (P, D) their summed ``boundary`` rows): the (P,) heap keys (the highest is merged first)
            and the (P,) values the tree records. Called once with every initial pair (a < b), then once per
            merge with the new cluster as ``b`` and its neighbours, ascending, as ``a``.
        boundary: (E, D) float per-edge quantities, summed over all edges between two clusters (default ones).
        sizes: (S,) leaf sizes recorded in the tree (default 1).
        join: ``join(a, b, c)``, called when clusters a and b become c before c's pairs are scored (where a mode
            keeps cluster state of its own).
    Returns:
        The :class:`MergeTree`. Ties: the lower cluster pair first.
    """
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    boundary = (np.ones((len(edges), 1)) if boundary is None
                else np.asarray(boundary, dtype=np.float64).reshape(len(edges), -1))
    # summed boundary between two clusters: one list shared by both ends
    bound: list[dict[int, list[float]]] = [dict() for _ in range(2 * n_nodes)]
    for (a, b), row in zip(edges.tolist(), boundary.tolist()):
        if a != b:
            _add(bound, a, b, row)
    pairs = np.array([(a, b) for a in range(n_nodes) for b in bound[a] if a < b], dtype=np.int64).reshape(-1, 2)
    heap = _scored(pairs[:, 0], pairs[:, 1], bound, score_pair)
    heapq.heapify(heap)
    alive = np.zeros(2 * n_nodes, dtype=bool)
    alive[:n_nodes] = True
    merges, values = [], []
    for c in range(n_nodes, 2 * n_nodes):
        while heap and not (alive[heap[0][1]] and alive[heap[0][2]]):
            heapq.heappop(heap)                         # a pair of alive clusters is scored once: the rest is stale
        if not heap:
            break
        _, a, b, value = heapq.heappop(heap)
        alive[a] = alive[b] = False
        alive[c] = True
        merges.append((a, b))
        values.append(value)
        if join is not None:
            join(a, b, c)
        for old in (a, b):
            for k, row in bound[old].items():
                if k not in (a, b):
                    _add(bound, c, k, row)
                    del bound[k][old]
            bound[old].clear()
        others = sorted(bound[c])
        for entry in _scored(np.asarray(others, dtype=np.int64), np.full(len(others), c, np.int64), bound,
                             score_pair):
            heapq.heappush(heap, entry)
    return MergeTree(n_leaves=n_nodes, merges=np.asarray(merges, dtype=np.int64).reshape(-1, 2),
                     values=np.asarray(values, dtype=np.float64),
                     sizes=np.ones(n_nodes, np.int64) if sizes is None else np.asarray(sizes, np.int64))


def _add(bound: list[dict[int, list[float]]], a: int, b: int, row: list[float]) -> None:
    """Add one boundary row to the (a, b) sums (created at zero, shared by both ends)."""
    cur = bound[a].get(b)
    if cur is None:
        cur = bound[a][b] = bound[b][a] = [0.0] * len(row)
    for j, x in enumerate(row):
        cur[j] += x


def _scored(a: np.ndarray, b: np.ndarray, bound: list[dict[int, list[float]]],
            score_pair: PairScore) -> list[tuple[float, int, int, float]]:
    """Heap entries (−key, a, b, value) of the cluster pairs (a[i], b[i])."""
    if not len(a):
        return []
    key, value = score_pair(a, b, np.array([bound[x][y] for x, y in zip(a.tolist(), b.tolist())]))
    return [(-k, x, y, v) for k, x, y, v in zip(np.asarray(key, np.float64).tolist(), a.tolist(), b.tolist(),
                                                 np.asarray(value, np.float64).tolist())]
