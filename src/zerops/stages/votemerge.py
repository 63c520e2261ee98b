"""View votes: each view's masks resolved into one partition, superpoints joined by the share of views that
put them in one segment (the default preset's merge).

Every decoded prompt leaves SAM's three candidates, small to large. A whole-object candidate is evidence that
points are on one object, not on one part, so candidates are not pooled as they come. Instead, per view:

1. each prompt keeps its **smallest confident** candidate (predicted IoU ≥ ``min_score``, covering at
   least ``min_points`` seen points), unless the object's prompts mostly answer "the whole object"; then
   those prompts keep their largest candidate below it (:func:`prompt_choice`);
2. duplicates are dropped greedily by point IoU (SAM-style NMS at ``nms``, the higher score wins:
   :func:`~zerops.geometry.masks.mask_nms`);
3. the kept masks are painted largest first (:func:`~zerops.geometry.masks.flatten_masks`), so that every
   seen point takes the smallest mask covering it: the view's *partition* (points no kept mask covers stay
   unknown).

Every view then votes once on every pair of clusters it sees: the overlap Σ_s min(f_A(s), f_B(s)) of the
two clusters' distributions over the view's segments (1: in one segment, 0: in different ones). A view
counts for a cluster only when it sees enough of it (``min_seen`` points) and labels enough of what it
sees (``min_known``). How often a view is wrong, ε, is estimated per object from how often two views
disagree on the same pair (:func:`view_error_rate`, at least ``min_error``), and the probability that two
clusters are one part is the geometric prior ``g`` (``0.5 ± prior / 2``: inside one geometric region or
across regions) updated by the votes,

    logit P = logit g + (agreeing − disagreeing votes) × log((1 − ε) / ε),

the votes counted as at most ``max_views`` views (the mean vote × min(n, ``max_views``)): MobileSAM's views
err together, so many agreeing views are weaker evidence than as many independent ones.

Clusters are merged greedily (graph-constrained, highest P first: the one loop,
:func:`~zerops.stages.graphmerge.agglomerate`) until no edge is left, and the tree is cut where P falls
below ``threshold`` (:func:`vote_merge`); a part of that cut that no view sees (only the geometric prior keeps
it apart: hidden points) joins its best-tied neighbour (:func:`join_unseen`). The kept masks go with the
result (:func:`kept_masks`): a part too small to stand alone stays when several views' masks isolate it.
Where no view speaks, or the views are no better than chance (ε → 0.5), the geometric regions decide (the
``components`` partition); where views agree, they decide — also across regions. Cluster votes are recomputed from the
merged clusters' summed histograms, so a large part's evidence is all of its points, not a mean of its boundary
edges.

Every threshold is a field of the ``graph.votes`` section (:class:`~zerops.config.VoteConfig`); no function
here has a default of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from zerops.config import VoteConfig
from zerops.geometry.masks import flatten_masks, mask_nms
from zerops.stages.evidence import MaskEvidence
from zerops.stages.graphmerge import KeptMasks, MergeResult, MergeTree, absorb_parts, agglomerate, renumber_by_weight
from zerops.stages.superpoints import Superpoints


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


def prompt_choice(ev: MaskEvidence, config: VoteConfig, regions: int | None = None) -> np.ndarray:
    """(M,) bool: the one candidate of each prompt that its view's partition is made of (none where no
    candidate is confident).

    1. Each prompt keeps its **smallest confident** candidate (predicted IoU ≥ ``min_score``, covering at
       least ``min_points`` seen points).
    2. **Whole-object answers.** A kept candidate covering ≥ ``whole_share`` of its view's seen points says
       "the object", not a part. When at least ``whole_prompts`` of the object's prompts answer so, SAM is
       answering the object everywhere (box-like, flat-coloured objects: doors, refrigerators, laptops), and
       those prompts keep instead their largest candidate (any recorded score, ≥ ``min_points`` points) under
       ``whole_share``; a prompt without one keeps its whole-object answer. Not on an object that is one
       geometric region (``regions`` == 1: geometry and SAM agree that it is one piece, e.g. a sphere).

    Args:
        regions: the number of geometric regions of the object (None: unknown, the rule applies).
    """
    table = ev.table()
    size, scores = table.size, np.asarray(ev.scores)
    prompts = np.asarray(ev.prompts if len(ev.prompts) == len(ev) else np.arange(len(ev)))
    share = size / np.maximum(table.seen_count[table.view_row], 1)
    usable = size >= config.min_points
    choice = np.zeros(len(size), dtype=bool)
    cand = np.flatnonzero(usable & (scores >= config.min_score))
    if not len(cand):
        return choice
    cand = cand[np.lexsort((size[cand], prompts[cand]))]          # per prompt, smallest first
    _, first = np.unique(prompts[cand], return_index=True)
    kept = cand[first]
    whole = kept[share[kept] >= config.whole_share]
    if len(whole) < config.whole_prompts * len(kept) or regions == 1:
        choice[kept] = True
        return choice
    sub = np.flatnonzero(usable & (share < config.whole_share))
    sub = sub[np.lexsort((-size[sub], prompts[sub]))]             # per prompt, largest first
    ids, first = np.unique(prompts[sub], return_index=True)
    largest_sub = dict(zip(ids.tolist(), sub[first].tolist()))
    keep = [largest_sub.get(int(prompts[k]), k) if share[k] >= config.whole_share else k for k in kept.tolist()]
    choice[np.asarray(keep, dtype=np.int64)] = True
    return choice


def view_partitions(ev: MaskEvidence, config: VoteConfig, regions: int | None = None) -> ViewPartitions:
    """Resolve every view's masks into one partition (see the module doc).

    Args:
        ev: the decoded masks. config: ``min_score`` (a candidate is confident at this predicted IoU),
        ``nms`` (a kept mask suppresses later ones overlapping it by more than this point IoU),
        ``min_points`` (candidates covering fewer seen points are ignored), the whole-object rule's
        ``whole_share`` and ``whole_prompts``. regions: the object's number of geometric regions
        (:func:`prompt_choice`).
    """
    table = ev.table()
    view_ids, seen = table.view_ids, table.seen
    n = ev.n_points
    segment = np.full((len(view_ids), n), -1, dtype=np.int64)
    seg_view: list[int] = []
    kept: list[int] = []
    members, size = table.members, table.size
    scores = np.asarray(ev.scores)
    views = np.asarray(ev.views)
    choice = prompt_choice(ev, config, regions)
    for row, v in enumerate(view_ids):
        chosen = np.flatnonzero(choice & (views == v))
        if not len(chosen):
            continue
        chosen = chosen[np.argsort(-scores[chosen], kind="stable")]
        keep = chosen[mask_nms(members[chosen], config.nms)]
        keep = keep[np.argsort(-size[keep], kind="stable")]           # largest first: small masks win
        painted = flatten_masks(members[keep])
        segment[row] = np.where(painted >= 0, len(seg_view) + painted, -1)
        seg_view.extend([row] * len(keep))
        kept.extend(keep.tolist())
    return ViewPartitions(view_ids, segment, seen, np.asarray(seg_view, dtype=np.int64),
                          members[kept] if kept else np.zeros((0, n), bool), np.asarray(seg_view, dtype=np.int64))


def view_labels(ev: MaskEvidence | None, config: VoteConfig, regions: int | None = None) -> dict[int, np.ndarray]:
    """Each view's partition (:func:`view_partitions`; ``regions`` as there) as view index → (N,) segment
    0..K−1 per point (−1: unknown); empty without evidence (for ``--debug`` drawings)."""
    if ev is None or not len(ev):
        return {}
    parts = view_partitions(ev, config, regions)
    out = {}
    for row, v in enumerate(parts.views):
        _, dense = np.unique(parts.segment[row], return_inverse=True)
        out[int(v)] = np.where(parts.segment[row] >= 0, dense - int((parts.segment[row] < 0).any()), -1)
    return out


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


def view_votes(f: VoteFeatures, a: np.ndarray, b: np.ndarray, config: VoteConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per view, the vote of every cluster pair (a[i], b[i]) and whether the view votes: (P, V) float, (P, V) bool.

    The vote is the overlap of the two clusters' distributions over the view's segments, raised by
    ``nested`` × what one kept mask covering both adds (two segments nested in one larger kept mask: SAM
    saw a sub-part and the part). A view votes when it sees at least ``min_seen`` points of each and
    labels ≥ ``min_known`` of them."""
    min_seen, nested, min_known = config.min_seen, config.nested, config.min_known
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


def pair_votes(f: VoteFeatures, a: np.ndarray, b: np.ndarray, config: VoteConfig) -> tuple[np.ndarray, np.ndarray]:
    """(P,) summed votes and (P,) number of voting views of the cluster pairs (a[i], b[i]) (:func:`view_votes`),
    counted as at most ``max_views`` views (the mean vote × min(n, ``max_views``); 0: all of them): MobileSAM's
    views make the same mistake together, so twenty agreeing views are not twenty independent witnesses."""
    votes, ok = view_votes(f, a, b, config)
    total, count = votes.sum(axis=1), ok.sum(axis=1).astype(np.float64)
    if config.max_views > 0:
        capped = np.minimum(count, config.max_views)
        total, count = total * capped / np.maximum(count, 1.0), capped
    return total, count


def view_error_rate(feats: VoteFeatures, pairs: np.ndarray, config: VoteConfig) -> float:
    """How often a view's vote is wrong, estimated from how often two views disagree on the same pair (the
    votes of :func:`view_votes`, under the same ``config`` as the merge).

    For a pair with per-view votes x (n ≥ 2 views), the share of view pairs that disagree is
    ``2 (s (n − 1) − s² + Σ x²) / (n (n − 1))`` with s = Σ x; averaged over the pairs (weighted by their view
    pairs) it estimates 2 ε (1 − ε) for independent views that err with probability ε. Returns ε in
    [``min_error``, 0.5] (0.5: views are no better than chance, or no pair is seen twice)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0 or feats.hist.shape[1] == 0:
        return 0.5
    per_view, ok = view_votes(feats, pairs[:, 0], pairs[:, 1], config)
    n = ok.sum(axis=1).astype(np.float64)
    s = per_view.sum(axis=1)
    q = (per_view ** 2).sum(axis=1)
    view_pairs = n * (n - 1) / 2
    use = n >= 2
    if not use.any():
        return 0.5
    disagree = (s * (n - 1) - s * s + q)[use].sum() / view_pairs[use].sum()
    eps = (1.0 - np.sqrt(max(1.0 - 2.0 * min(disagree, 0.5), 0.0))) / 2.0
    return float(np.clip(eps, config.min_error, 0.5))


def vote_affinity(feats: VoteFeatures, pairs: np.ndarray, strength: np.ndarray, inside: np.ndarray,
                  config: VoteConfig, error: float) -> np.ndarray:
    """(P,) probability that each cluster pair (P, 2) is one part: the geometric prior ``g = 0.5 + prior ×
    (share of the boundary ``strength`` lying ``inside`` one region − 0.5)`` updated by the views' votes
    (:func:`pair_votes`), each right with probability 1 − ``error`` (:func:`view_error_rate`):
    ``logit = logit(g) + (2 s − n) log((1 − error) / error)`` for s agreeing votes out of n views."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return np.zeros(0)
    votes, count = pair_votes(feats, pairs[:, 0], pairs[:, 1], config)
    g = 0.5 + config.prior * (np.asarray(inside, float) / np.maximum(np.asarray(strength, float), 1e-12) - 0.5)
    error = float(np.clip(error, 1e-3, 0.5))          # (a numerical guard: the log-odds stay finite)
    logit = np.log(g / (1.0 - g)) + (2.0 * votes - count) * np.log((1.0 - error) / error)
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))


class _VoteScore:
    """The votes mode's pair score for :func:`~zerops.stages.graphmerge.agglomerate`: every cluster's summed
    features (a merged cluster's votes are those of all its points), the boundary rows (strength, strength
    inside one region)."""

    def __init__(self, feats: VoteFeatures, config: VoteConfig, error: float) -> None:
        self.feats, self.config, self.error = feats, config, error
        self.rows = {i: (feats.hist[i], feats.cover[i], feats.known[i], feats.seen[i]) for i in range(len(feats.hist))}

    def join(self, a: int, b: int, c: int) -> None:
        ra, rb = self.rows.pop(a), self.rows.pop(b)
        self.rows[c] = tuple(x + y for x, y in zip(ra, rb))

    def __call__(self, a: np.ndarray, b: np.ndarray, bound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = list(dict.fromkeys(np.concatenate([b, a]).tolist()))
        pos = {x: i for i, x in enumerate(ids)}
        block = VoteFeatures(*(np.stack([self.rows[x][j] for x in ids]) for j in range(4)),
                             self.feats.segment_view, self.feats.kept_view)
        idx = np.array([[pos[x], pos[y]] for x, y in zip(a.tolist(), b.tolist())], dtype=np.int64).reshape(-1, 2)
        p = vote_affinity(block, idx, bound[:, 0], bound[:, 1], self.config, self.error)
        return p, p


def vote_tree(feats: VoteFeatures, sp: Superpoints, config: VoteConfig, error: float) -> MergeTree:
    """Greedy graph-constrained merging of superpoints by view votes (see the module doc) until no edge is
    left; the tree records each merge's affinity.

    Args:
        feats: per-superpoint features (:func:`superpoint_features`); sp: the superpoints (edges, boundary
        strength, regions, sizes); error: the views' error rate (:func:`view_error_rate`).
    """
    same_region = (sp.region[sp.edges[:, 0]] == sp.region[sp.edges[:, 1]]).astype(np.float64)
    strength = np.asarray(sp.strength, dtype=np.float64)
    score = _VoteScore(feats, config, error)
    return agglomerate(sp.count, sp.edges, score, np.stack([strength, strength * same_region], axis=1), sp.sizes(),
                       join=score.join)


def vote_merge(ev: MaskEvidence, sp: Superpoints, config: VoteConfig) -> MergeResult:
    """The votes mode: view partitions, the error rate, the merge tree, cut where the affinity falls below
    ``threshold``."""
    parts = view_partitions(ev, config, regions=sp.n_regions)
    feats = superpoint_features(parts, sp.label, sp.count)
    error = view_error_rate(feats, sp.edges, config)
    same_region = (sp.region[sp.edges[:, 0]] == sp.region[sp.edges[:, 1]]).astype(np.float64)
    affinity = vote_affinity(feats, sp.edges, sp.strength, sp.strength * same_region, config, error)
    tree = vote_tree(feats, sp, config, error)
    cut = join_unseen(tree.cut(threshold=config.threshold), sp, feats.seen, affinity, config.min_seen)
    return MergeResult(tree=tree, affinity=affinity, cut=cut,
                       stats={"evidence_edges": int(np.isfinite(affinity).sum()), "view_error": error},
                       kept=kept_masks(parts, sp))


def kept_masks(parts: ViewPartitions, sp: Superpoints) -> KeptMasks:
    """The views' kept masks counted per superpoint (what lets a small part that views isolate stay)."""
    n = len(sp.label)
    onehot = csr_matrix((np.ones(n), (np.arange(n), sp.label)), shape=(n, sp.count))
    seen = parts.seen[parts.kept_view]
    return KeptMasks(inside=np.asarray((csr_matrix(parts.kept & seen, dtype=np.float64) @ onehot).todense()),
                     seen=np.asarray((csr_matrix(seen, dtype=np.float64) @ onehot).todense()),
                     view=np.asarray(parts.kept_view, dtype=np.int64))


def join_unseen(leaves: np.ndarray, sp: Superpoints, seen: np.ndarray, affinity: np.ndarray,
                min_seen: float) -> np.ndarray:
    """(S,) leaf labels where every part that no view sees ``min_seen`` points of (no view could vote on it:
    hidden inside, or behind other parts in every view) joins the adjacent part it is most strongly tied to
    (boundary strength × affinity), smallest first. Such a part exists only because the geometric prior
    keeps it apart; with no view to say it is a part, it is not one.

    Args:
        leaves: (S,) part per superpoint. seen: (S, V) seen points of every superpoint per view
        (:class:`VoteFeatures` ``seen``). affinity: (E,) per superpoint edge.
    """
    if seen.shape[1] == 0:                      # no view with masks: the geometric regions decide
        return renumber_by_weight(leaves, sp.sizes())

    def unseen(labels: np.ndarray, part_size: np.ndarray) -> np.ndarray:
        per_view = np.zeros((len(part_size), seen.shape[1]))
        np.add.at(per_view, labels, seen)
        return per_view.max(axis=1, initial=0.0) < min_seen

    return absorb_parts(leaves, sp.edges, sp.strength * np.maximum(affinity, 1e-3), sp.sizes(), unseen)
