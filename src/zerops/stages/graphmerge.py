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
from dataclasses import dataclass

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


def agglomerate(n_nodes: int, edges: np.ndarray, affinity: np.ndarray, strength: np.ndarray | None = None,
                sizes: np.ndarray | None = None, first: np.ndarray | None = None) -> MergeTree:
    """Greedy graph-constrained average linkage.

    Args:
        n_nodes: S. edges: (E, 2) int pairs. affinity: (E,) float, larger = more alike (finite).
        strength: (E,) positive edge weights of the average (default 1).
        sizes: (S,) leaf sizes recorded in the tree (default 1).
        first: (E,) bool edges to merge across before any other (e.g. inside one geometric region, so
            that every region is a node of the tree); the recorded values stay the true mean affinities.
    Returns:
        The :class:`MergeTree` of all merges until no edge is left. Ties: the lower cluster pair first.
    Long: one agglomeration loop whose heap and cluster state the steps share.
    """
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    affinity = np.asarray(affinity, dtype=np.float64)
    strength = np.ones(len(edges)) if strength is None else np.asarray(strength, dtype=np.float64)
    # a "first" pair's key is lifted by BOOST (clusters joined by first edges only: every first edge of a
    # pair is first, so pairs never mix; see the docstring)
    boost = np.zeros(len(edges)) if first is None else np.where(np.asarray(first, bool), BOOST, 0.0)
    num: list[dict[int, float]] = [dict() for _ in range(2 * n_nodes)]
    raw: list[dict[int, float]] = [dict() for _ in range(2 * n_nodes)]      # the same sums without the boost
    den: list[dict[int, float]] = [dict() for _ in range(2 * n_nodes)]
    for (a, b), f, g, s in zip(edges.tolist(), (affinity + boost).tolist(), affinity.tolist(), strength.tolist()):
        if a == b:
            continue
        raw[a][b] = raw[a].get(b, 0.0) + s * g
        raw[b][a] = raw[a][b]
        num[a][b] = num[a].get(b, 0.0) + s * f
        den[a][b] = den[a].get(b, 0.0) + s
        num[b][a], den[b][a] = num[a][b], den[a][b]
    heap = [(-num[a][b] / den[a][b], a, b) for a in range(n_nodes) for b in num[a] if a < b]
    heapq.heapify(heap)
    alive = np.zeros(2 * n_nodes, dtype=bool)
    alive[:n_nodes] = True
    merges, values = [], []
    nxt = n_nodes
    while heap:
        neg, a, b = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or b not in num[a] or -neg != num[a][b] / den[a][b]:
            continue
        c = nxt
        nxt += 1
        alive[a] = alive[b] = False
        alive[c] = True
        merges.append((a, b))
        values.append(raw[a][b] / den[a][b])
        for old in (a, b):
            for k in list(num[old]):
                if k in (a, b):
                    continue
                num[c][k] = num[c].get(k, 0.0) + num[old][k]
                raw[c][k] = raw[c].get(k, 0.0) + raw[old][k]
                den[c][k] = den[c].get(k, 0.0) + den[old][k]
                del num[k][old], den[k][old], raw[k][old]
            num[old].clear()
            raw[old].clear()
            den[old].clear()
        for k in num[c]:
            num[k][c], den[k][c], raw[k][c] = num[c][k], den[c][k], raw[c][k]
            heapq.heappush(heap, (-num[c][k] / den[c][k], min(c, k), max(c, k)))
    return MergeTree(n_leaves=n_nodes, merges=np.asarray(merges, dtype=np.int64).reshape(-1, 2),
                     values=np.asarray(values, dtype=np.float64),
                     sizes=np.ones(n_nodes, np.int64) if sizes is None else np.asarray(sizes, np.int64))
