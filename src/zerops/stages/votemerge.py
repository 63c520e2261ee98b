"""View votes: each view's masks resolved into one partition, superpoints joined by the share of views that
put them in one segment (the default preset's merge).

Every decoded prompt leaves SAM's three candidates, small to large. A whole-object candidate is evidence that
points are on one object, not on one part, so candidates are not pooled as they come. Instead, per view:

1. each prompt keeps its **smallest confident** candidate (predicted IoU ≥ ``min_score``);
2. duplicates are dropped greedily by point IoU (SAM-style NMS, the higher score wins);
3. the kept masks are painted largest first, so that every seen point takes the smallest mask covering it:
   the view's *partition* (points no kept mask covers stay unknown).

Every view then votes once on every pair of clusters it sees: the overlap Σ_s min(f_A(s), f_B(s)) of the
two clusters' distributions over the view's segments (1: in one segment, 0: in different ones). A view
counts for a cluster only when it sees enough of it and labels most of what it sees. How often a view is
wrong, ε, is estimated per object from how often two views disagree on the same pair
(:func:`view_error_rate`), and the probability that two clusters are one part is the geometric prior ``g``
(``0.5 ± prior / 2``: inside one geometric region or across regions) updated by the votes,

    logit P = logit g + (agreeing − disagreeing votes) × log((1 − ε) / ε).

Clusters are merged greedily (graph-constrained, highest P first) while P ≥ ``threshold``. Where no view
speaks, or the views are no better than chance (ε → 0.5), the geometric regions decide (the ``components``
partition); where views agree, they decide — also across regions. Cluster votes are recomputed from the
merged clusters' summed histograms, so a large part's evidence is all of its points, not a mean of its
boundary edges.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from zerops.stages.evidence import MaskEvidence
from zerops.stages.graphmerge import MergeTree


@dataclass
class ViewPartitions:
    """Per view, the seen points' segment, and the kept masks themselves.

    Attributes:
        views: (V,) view indices. segment: (V, N) int64 segment id (global over views) of every point, −1 where
        the view sees the point but no kept mask covers it or the view does not see it. seen: (V, N) bool.
        segment_view: (T,) the view row of every segment id. kept: (K, N) bool the kept masks (after NMS; a
        segment is the part of its mask that no smaller kept mask covers); kept_view: (K,) their view rows.
    """

    views: np.ndarray
    segment: np.ndarray
    seen: np.ndarray
    segment_view: np.ndarray
    kept: np.ndarray
    kept_view: np.ndarray


def view_partitions(ev: MaskEvidence, min_score: float = 0.8, nms_iou: float = 0.8,
                    min_points: int = 3) -> ViewPartitions:
    """Resolve every view's masks into one partition (see the module doc).

    Args:
        ev: the decoded masks. min_score: a candidate is confident at this predicted IoU.
        nms_iou: a kept mask suppresses later ones overlapping it by more than this point IoU.
        min_points: candidates covering fewer seen points are ignored.
    """
    view_ids, seen = ev.seen_matrix()
    n = ev.n_points
    segment = np.full((len(view_ids), n), -1, dtype=np.int64)
    seg_view: list[int] = []
    kept: list[int] = []
    members = ev.member_matrix()
    size = members.sum(axis=1)
    scores = np.asarray(ev.scores)
    views = np.asarray(ev.views)
    prompts = np.asarray(ev.prompts if len(ev.prompts) == len(ev) else np.arange(len(ev)))
    for row, v in enumerate(view_ids):
        cand = np.flatnonzero((views == v) & (scores >= min_score) & (size >= min_points))
        if not len(cand):
            continue
        cand = cand[np.lexsort((size[cand], prompts[cand]))]          # per prompt, smallest first
        _, first = np.unique(prompts[cand], return_index=True)
        chosen = cand[first]
        chosen = chosen[np.argsort(-scores[chosen], kind="stable")]
        m = members[chosen].astype(np.float32)
        inter = m @ m.T
        union = size[chosen][:, None] + size[chosen][None, :] - inter
        iou = inter / np.maximum(union, 1.0)
        keep: list[int] = []
        for i in range(len(chosen)):
            if all(iou[i, j] <= nms_iou for j in keep):
                keep.append(i)
        for i in sorted(keep, key=lambda i: -size[chosen[i]]):        # largest first: small masks win
            segment[row, members[chosen[i]]] = len(seg_view)
            seg_view.append(row)
            kept.append(int(chosen[i]))
    return ViewPartitions(view_ids, segment, seen, np.asarray(seg_view, dtype=np.int64),
                          members[kept] if kept else np.zeros((0, n), bool), np.asarray(seg_view, dtype=np.int64))


@dataclass
class VoteFeatures:
    """Per cluster (rows): seen points per segment (T columns) and per kept mask (K columns), per view
    labelled and seen points; and the view row of every segment and kept mask."""

    hist: np.ndarray          # (C, T) float64
    cover: np.ndarray         # (C, K) float64
    known: np.ndarray         # (C, V) float64
    seen: np.ndarray          # (C, V) float64
    segment_view: np.ndarray  # (T,) int64
    kept_view: np.ndarray     # (K,) int64

    def rows(self, idx: list[int] | np.ndarray) -> "VoteFeatures":
        """The features of some clusters (the view maps shared)."""
        return VoteFeatures(self.hist[idx], self.cover[idx], self.known[idx], self.seen[idx], self.segment_view,
                            self.kept_view)


def superpoint_features(parts: ViewPartitions, label: np.ndarray, n_super: int) -> VoteFeatures:
    """Histograms of every superpoint (``label``: (N,) superpoint per point) over the views' segments."""
    n = len(label)
    onehot = csr_matrix((np.ones(n), (np.arange(n), label)), shape=(n, n_super))
    v, t = parts.segment.shape[0], len(parts.segment_view)
    rows, cols = np.nonzero(parts.segment >= 0)
    seg = parts.segment[rows, cols]
    hist = np.zeros((n_super, t))
    if len(seg):
        np.add.at(hist, (label[cols], seg), 1.0)
    cover = np.asarray((csr_matrix(parts.kept.astype(np.float64)) @ onehot).todense()).T.reshape(n_super, -1)
    known = np.asarray((csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(v, n)) @ onehot).todense()).T
    seen = np.asarray((csr_matrix(parts.seen.astype(np.float64)) @ onehot).todense()).T
    return VoteFeatures(hist=hist, cover=cover, known=np.asarray(known).reshape(n_super, v),
                        seen=seen.reshape(n_super, v), segment_view=parts.segment_view, kept_view=parts.kept_view)


def view_votes(f: VoteFeatures, a: np.ndarray, b: np.ndarray, min_seen: float = 3.0, nested: float = 0.5,
               min_known: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Per view, the vote of every cluster pair (a[i], b[i]) and whether the view votes: (P, V) float, (P, V) bool.

    The vote is the overlap of the two clusters' distributions over the view's segments, raised by
    ``nested`` × what one kept mask covering both adds (two segments nested in one larger kept mask: SAM saw
    a sub-part and the part). A view votes when it sees at least ``min_seen`` points of each and labels
    ≥ ``min_known`` of them."""
    ka, kb = f.known[a], f.known[b]
    ok = ((f.seen[a] >= min_seen) & (f.seen[b] >= min_seen) & (ka >= min_known * f.seen[a])
          & (kb >= min_known * f.seen[b]) & (ka > 0) & (kb > 0))                       # (P, V)
    votes = np.zeros(ok.shape)
    if f.hist.shape[1] == 0:
        return votes, np.zeros(ok.shape, bool)
    overlap = np.minimum(f.hist[a] / np.maximum(ka[:, f.segment_view], 1e-9),
                         f.hist[b] / np.maximum(kb[:, f.segment_view], 1e-9))          # (P, T)
    both = np.minimum(f.cover[a] / np.maximum(ka[:, f.kept_view], 1e-9),
                      f.cover[b] / np.maximum(kb[:, f.kept_view], 1e-9))               # (P, K)
    for v in range(ok.shape[1]):
        same = overlap[:, f.segment_view == v].sum(axis=1)
        cols = f.kept_view == v
        wider = both[:, cols].max(axis=1) if nested > 0 and cols.any() else same
        votes[:, v] = np.minimum(same + nested * np.maximum(wider - same, 0.0), 1.0)
    return votes * ok, ok


def pair_votes(f: VoteFeatures, a: np.ndarray, b: np.ndarray, min_seen: float = 3.0,
               nested: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(P,) summed votes and (P,) number of voting views of the cluster pairs (a[i], b[i]) (:func:`view_votes`)."""
    votes, ok = view_votes(f, a, b, min_seen, nested)
    return votes.sum(axis=1), ok.sum(axis=1).astype(np.float64)


def view_error_rate(feats: VoteFeatures, pairs: np.ndarray, min_seen: float = 3.0, nested: float = 0.5,
                    floor: float = 0.02) -> float:
    """How often a view's vote is wrong, estimated from how often two views disagree on the same pair.

    For a pair with per-view votes x (n ≥ 2 views), the share of view pairs that disagree is
    ``2 (s (n − 1) − s² + Σ x²) / (n (n − 1))`` with s = Σ x; averaged over the pairs (weighted by their view
    pairs) it estimates 2 ε (1 − ε) for independent views that err with probability ε. Returns ε in
    [``floor``, 0.5] (0.5: views are no better than chance, or no pair is seen twice)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0 or feats.hist.shape[1] == 0:
        return 0.5
    per_view, ok = view_votes(feats, pairs[:, 0], pairs[:, 1], min_seen, nested)
    n = ok.sum(axis=1).astype(np.float64)
    s = per_view.sum(axis=1)
    q = (per_view ** 2).sum(axis=1)
    view_pairs = n * (n - 1) / 2
    use = n >= 2
    if not use.any():
        return 0.5
    disagree = (s * (n - 1) - s * s + q)[use].sum() / view_pairs[use].sum()
    eps = (1.0 - np.sqrt(max(1.0 - 2.0 * min(disagree, 0.5), 0.0))) / 2.0
    return float(np.clip(eps, floor, 0.5))


@dataclass(frozen=True)
class VoteModel:
    """How view votes become a merge probability: the geometric ``prior`` (``GraphConfig.vote_prior``), each
    view's ``error`` rate (:func:`view_error_rate`), the ``nested`` vote weight and the ``min_seen`` points a
    view must see of both sides to vote."""

    prior: float = 0.6
    error: float = 0.1
    nested: float = 0.5
    min_seen: float = 3.0


def vote_affinity(feats: VoteFeatures, pairs: np.ndarray, strength: np.ndarray, inside: np.ndarray,
                  model: VoteModel | None = None) -> np.ndarray:
    """(P,) probability that each cluster pair (P, 2) is one part: the geometric prior ``g = 0.5 + prior ×
    (share of the boundary ``strength`` lying ``inside`` one region − 0.5)`` updated by the views' votes,
    each right with probability 1 − ``error``: ``logit = logit(g) + (2 s − n) log((1 − error) / error)``
    for s agreeing votes out of n views."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return np.zeros(0)
    model = model if model is not None else VoteModel()
    votes, count = pair_votes(feats, pairs[:, 0], pairs[:, 1], model.min_seen, model.nested)
    g = 0.5 + model.prior * (np.asarray(inside, float) / np.maximum(np.asarray(strength, float), 1e-12) - 0.5)
    error = float(np.clip(model.error, 1e-3, 0.5))
    logit = np.log(g / (1.0 - g)) + (2.0 * votes - count) * np.log((1.0 - error) / error)
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))


def vote_merge(feats: VoteFeatures, edges: np.ndarray, strength: np.ndarray, same_region: np.ndarray,
               sizes: np.ndarray, model: VoteModel | None = None) -> MergeTree:
    """Greedy graph-constrained merging of superpoints by view votes (see the module doc), until no edge is
    left; the :class:`~zerops.stages.graphmerge.MergeTree` records each merge's affinity (cut it at the
    threshold with :meth:`MergeTree.n_merges_at`).

    Args:
        feats: per-superpoint features (:func:`superpoint_features`). edges: (E, 2) adjacent superpoints;
        strength: (E,) boundary size; same_region: (E,) bool; sizes: (S,) points per superpoint.
    Long: one agglomeration loop whose heap and cluster state the steps share.
    """
    n = len(sizes)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    rows = {i: (feats.hist[i], feats.cover[i], feats.known[i], feats.seen[i]) for i in range(n)}
    # boundary between clusters: total strength and strength inside one region (one list shared by both ends)
    bound: list[dict[int, list[float]]] = [dict() for _ in range(2 * n)]
    for (a, b), s, r in zip(edges.tolist(), np.asarray(strength, float).tolist(), same_region.tolist()):
        if a == b:
            continue
        cur = bound[a].setdefault(b, [0.0, 0.0])
        cur[0] += s
        cur[1] += s * float(r)
        bound[b][a] = cur

    def affinity(pairs: np.ndarray, f: VoteFeatures, idx: np.ndarray) -> np.ndarray:
        s = np.array([bound[a][b][0] for a, b in pairs.tolist()])
        r = np.array([bound[a][b][1] for a, b in pairs.tolist()])
        return vote_affinity(f, idx, s, r, model)

    pairs = np.array([(a, b) for a in range(n) for b in bound[a] if a < b], dtype=np.int64).reshape(-1, 2)
    aff = affinity(pairs, feats, pairs) if len(pairs) else np.zeros(0)
    heap = [(-float(f), int(a), int(b)) for (a, b), f in zip(pairs.tolist(), aff)]
    heapq.heapify(heap)
    current = {(int(a), int(b)): float(f) for (a, b), f in zip(pairs.tolist(), aff)}
    alive = np.zeros(2 * n, dtype=bool)
    alive[:n] = True
    merges, values = [], []
    nxt = n
    while heap:
        neg, a, b = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or current.get((a, b)) != -neg:
            continue
        c = nxt
        nxt += 1
        alive[a] = alive[b] = False
        alive[c] = True
        merges.append((a, b))
        values.append(-neg)
        ra, rb = rows.pop(a), rows.pop(b)
        rows[c] = tuple(x + y for x, y in zip(ra, rb))
        for old in (a, b):
            for k, (s, r) in list(bound[old].items()):
                if k in (a, b):
                    continue
                cur = bound[c].setdefault(k, [0.0, 0.0])
                cur[0] += s
                cur[1] += r
                bound[k][c] = cur
                del bound[k][old]
            bound[old].clear()
        others = sorted(bound[c])
        if not others:
            continue
        block = VoteFeatures(*(np.stack([rows[x][j] for x in [c, *others]]) for j in range(4)),
                             feats.segment_view, feats.kept_view)
        idx = np.stack([np.arange(1, len(others) + 1), np.zeros(len(others), np.int64)], axis=1)
        new = affinity(np.array([(k, c) for k in others]), block, idx)
        for k, f in zip(others, new.tolist()):
            current[(k, c)] = f
            heapq.heappush(heap, (-f, k, c))
    return MergeTree(n_leaves=n, merges=np.asarray(merges, dtype=np.int64).reshape(-1, 2),
                     values=np.asarray(values, dtype=np.float64), sizes=np.asarray(sizes, np.int64))
