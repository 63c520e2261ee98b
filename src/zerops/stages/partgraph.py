"""The superpoint-graph merging stage: superpoints + multi-view mask evidence → a merge tree → parts.

This replaces the spec's greedy point-IoU union (``merging.py``) in zerops's default preset:

1. :func:`~zerops.stages.superpoints.compute_superpoints` cuts the cloud into small geometric atoms;
2. every mask the SAM stages decoded (:class:`~zerops.stages.evidence.MaskEvidence`) becomes coverage fractions
   per superpoint, weighted by SAM's predicted IoU × (1 − the mask's share of the object) ** ``size_power``
   (a whole-object mask says little about which parts go together);
3. the affinity of two adjacent superpoints is their soft co-membership over those masks, plus
   ``prior`` × (same geometric region − ½): geometry decides where SAM is silent, SAM overrides geometry
   where it is confident;
4. :func:`~zerops.stages.graphmerge.agglomerate` builds the merge tree;
5. the tree is cut per object (:mod:`zerops.stages.treecut`): a node is a part when SAM segments it as a whole,
   view after view, better than it segments its two halves (``cut="auto"``); or at an affinity
   ``threshold`` / a part count ``n_parts`` (the granularity knob).

With ``GraphConfig.merge = "votes"`` (the default) steps 2–5 are :mod:`zerops.stages.votemerge` instead:
each view's masks become one partition, and superpoints are merged by the views' votes weighted by the
views' estimated error rate, the geometric regions as prior.

Every point belongs to a superpoint, so every point gets a part; an object without any usable mask falls
back to its geometric regions (the ``components`` partition).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zerops.config import GraphConfig
from zerops.errors import ZeropsError
from zerops.stages.evidence import MaskEvidence, edge_affinity, superpoint_evidence
from zerops.stages.graphmerge import MergeTree, agglomerate, renumber_by_weight
from zerops.stages.superpoints import Superpoints, compute_superpoints
from zerops.stages.treecut import best_cut, node_support, regions_spanned
from zerops.stages.votemerge import (
    VoteModel,
    superpoint_features,
    view_error_rate,
    view_partitions,
    vote_affinity,
    vote_merge,
)


@dataclass
class PartGraph:
    """The graph stage's result.

    Attributes:
        superpoints: the atoms (``superpoints.label``: (N,) superpoint per point).
        evidence: (E,) SAM affinity per edge (NaN: no mask saw the pair); affinity: (E,) with the prior.
        tree: the merge tree over superpoints. support: (nodes,) mask support of every tree node (leaves
        first, then merge i as node S + i). masks: masks used as evidence. margin: the auto cut's margin.
    """

    superpoints: Superpoints
    evidence: np.ndarray
    affinity: np.ndarray
    tree: MergeTree
    support: np.ndarray
    masks: int
    margin: float = 0.1
    min_part: float = 0.005
    join_regions: bool = False
    vote_threshold: float | None = None     # votes merge: the tree is cut where its affinity falls below this
    view_error: float | None = None         # votes merge: the estimated rate of wrong view votes

    def parts(self, threshold: float | None = None, n_parts: int | None = None) -> np.ndarray:
        """(N,) int64 part per point (largest part 0): the tree cut at an affinity ``threshold`` or at
        ``n_parts`` parts; with neither, the per-object cut by mask support."""
        if threshold is None and n_parts is None and self.vote_threshold is not None:
            leaves = self.tree.cut(threshold=self.vote_threshold)
            leaves = absorb_small(leaves, self.superpoints, self.affinity, self.min_part)
        elif threshold is None and n_parts is None:
            margin = np.full(len(self.support), float(self.margin))
            if not self.join_regions:               # a node spanning regions is always split
                margin[regions_spanned(self.tree, self.superpoints.region) > 1] = np.inf
            leaves = best_cut(self.tree, self.support, self.superpoints.sizes(), margin)
            leaves = absorb_small(leaves, self.superpoints, self.affinity, self.min_part)
        else:
            leaves = self.tree.cut(threshold=threshold, n_parts=n_parts)
        return leaves[self.superpoints.label]


LEVEL_COUNTS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


def hierarchy_levels(graph: PartGraph, chosen: np.ndarray) -> tuple[np.ndarray, int]:
    """Part labels at several granularities, coarse to fine, for stepping through the merge tree.

    Args:
        chosen: (N,) the result's own parts (kept as one of the levels).
    Returns:
        (L, N) int32 labels (each level renumbered by size) and the index of ``chosen`` among them.
    """
    k = int(chosen.max()) + 1
    levels: dict[int, np.ndarray] = {}
    for count in LEVEL_COUNTS:
        if count < graph.tree.n_leaves:
            lab = graph.parts(n_parts=count)
            levels.setdefault(int(lab.max()) + 1, lab)
    levels[k] = chosen
    counts = sorted(levels)
    return np.stack([levels[c].astype(np.int32) for c in counts]), counts.index(k)


def absorb_small(leaves: np.ndarray, sp: Superpoints, affinity: np.ndarray, min_part: float) -> np.ndarray:
    """(S,) leaf labels with every part below ``min_part`` of the points joined to the adjacent part it is
    most strongly tied to (boundary strength × affinity), smallest first; isolated parts stay."""
    leaves = leaves.copy()
    sizes = sp.sizes().astype(np.float64)
    floor = min_part * sizes.sum()
    a, b = sp.edges[:, 0], sp.edges[:, 1]
    tie = sp.strength * np.maximum(affinity, 1e-3)
    for _ in range(len(np.unique(leaves))):
        part_size = np.bincount(leaves, weights=sizes)
        small = np.flatnonzero((part_size > 0) & (part_size < floor))
        moved = False
        for p in small[np.argsort(part_size[small], kind="stable")]:
            pa, pb = leaves[a], leaves[b]
            cross = (pa != pb) & ((pa == p) | (pb == p))
            if not cross.any():
                continue
            other = np.where(pa[cross] == p, pb[cross], pa[cross])
            target = np.bincount(other, weights=tie[cross]).argmax()
            leaves[leaves == p] = target
            moved = True
            break
        if not moved:
            break
    return renumber_by_weight(leaves, sizes)


def mask_weights(ev: MaskEvidence, size_power: float) -> np.ndarray:
    """(M,) weight per recorded mask: predicted IoU × (1 − covered share of the view's seen points) ** p."""
    if len(ev) == 0:
        return np.zeros(0)
    view_ids, seen = ev.seen_matrix()
    row = {int(v): i for i, v in enumerate(view_ids)}
    seen_count = seen.sum(axis=1)
    members = ev.member_matrix()
    share = members.sum(axis=1) / np.maximum(seen_count[[row[v] for v in ev.views]], 1)
    return np.clip(np.asarray(ev.scores, dtype=np.float64), 0.0, None) * np.clip(1.0 - share, 0.0, 1.0) ** size_power


def build_part_graph(xyz: np.ndarray, rgb: np.ndarray | None, ev: MaskEvidence, config: GraphConfig,
                     superpoints: Superpoints | None = None) -> PartGraph:
    """Superpoints (unless given), evidence, affinities and the merge tree of one (normalized) cloud.

    Args:
        xyz: (N, 3) normalized points; rgb: (N, 3) colors in [0, 1] or None; ev: the decoded masks.
    """
    sp = superpoints if superpoints is not None else compute_superpoints(xyz, rgb, config)
    same_region = (sp.region[sp.edges[:, 0]] == sp.region[sp.edges[:, 1]]).astype(np.float64)
    if config.merge not in ("votes", "support"):
        raise ZeropsError(f"unknown graph merge '{config.merge}': use votes or support")
    if config.merge == "votes":
        parts = view_partitions(ev, config.vote_min_score, config.vote_nms)
        feats = superpoint_features(parts, sp.label, sp.count)
        error = max(view_error_rate(feats, sp.edges, nested=config.vote_nested), config.vote_min_error)
        model = VoteModel(config.vote_prior, error, config.vote_nested, config.vote_min_seen)
        affinity = vote_affinity(feats, sp.edges, sp.strength, sp.strength * same_region, model)
        tree = vote_merge(feats, sp.edges, sp.strength, same_region > 0, sp.sizes(), model)
        return PartGraph(superpoints=sp, evidence=affinity, affinity=affinity, tree=tree,
                         support=np.zeros(sp.count + len(tree.merges)), masks=len(ev), min_part=config.min_part,
                         vote_threshold=config.vote_threshold, view_error=error)
    if len(ev):
        F, V, _ = superpoint_evidence(ev, sp.label, sp.count, min_seen=config.evidence_min_seen)
        sam, _ = edge_affinity(F, V, mask_weights(ev, config.size_power), sp.edges, power=config.affinity_power)
    else:
        sam = np.full(len(sp.edges), np.nan)
    affinity = np.where(np.isnan(sam), 0.5, sam) + config.prior * (same_region - 0.5)
    tree = agglomerate(sp.count, sp.edges, affinity, sp.strength, sp.sizes(),
                       first=same_region > 0 if config.regions_first else None)
    support = node_support(tree, ev, sp.label, config, region=sp.region)
    return PartGraph(superpoints=sp, evidence=sam, affinity=affinity, tree=tree, support=support, masks=len(ev),
                     margin=config.cut_margin, min_part=config.min_part, join_regions=config.join_regions)


def graph_parts(graph: PartGraph, config: GraphConfig) -> np.ndarray:
    """(N,) part per point as configured: ``n_parts`` if > 0, else the ``cut`` rule."""
    if config.n_parts > 0:
        return graph.parts(n_parts=config.n_parts)
    if config.cut == "threshold":
        return graph.parts(threshold=config.threshold)
    if config.cut != "auto":
        raise ZeropsError(f"unknown graph cut '{config.cut}': use auto or threshold")
    return graph.parts()
