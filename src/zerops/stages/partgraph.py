"""The superpoint-graph merging stage: superpoints + multi-view mask evidence → a merge tree → parts.

This replaces the spec's greedy point-IoU union (``merging.py``) in zerops's default preset:

1. :func:`~zerops.stages.superpoints.compute_superpoints` cuts the cloud into small geometric atoms;
2. one merge mode (``graph.merge``) turns the decoded masks (:class:`~zerops.stages.evidence.MaskEvidence`)
   into a merge tree over the superpoints, an affinity per graph edge and its own cut, all through the one
   greedy loop :func:`~zerops.stages.graphmerge.agglomerate`:

   - ``votes`` (the default, :func:`~zerops.stages.votemerge.vote_merge`): each view's masks become one
     partition, superpoints are merged by the views' votes weighted by the views' estimated error rate, the
     geometric regions as prior; the tree is cut where the merge probability falls below ``graph.votes.threshold``
     and parts no view sees join their neighbour;
   - ``support`` (the earlier merge, :func:`~zerops.stages.supportmerge.support_merge`): the score-weighted
     soft co-membership of adjacent superpoints over every mask, average linkage, and the per-object cut by
     mask support (:mod:`zerops.stages.treecut`), the ``graph.support`` section;
3. parts below ``min_part`` of the points join their best-tied neighbour unless several views' kept masks
   isolate them (:func:`absorb_small`); an affinity ``threshold`` or a part count ``n_parts`` cuts the same
   tree instead (the granularity knob).

Every point belongs to a superpoint, so every point gets a part; an object without any usable mask falls
back to its geometric regions (the ``components`` partition).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zerops.config import GraphConfig
from zerops.errors import ZeropsError
from zerops.stages.atomsplit import split_atoms
from zerops.stages.evidence import MaskEvidence
from zerops.stages.graphmerge import KeptMasks, MergeResult, MergeTree, absorb_parts
from zerops.stages.superpoints import Superpoints, compute_superpoints
from zerops.stages.supportmerge import support_merge
from zerops.stages.votemerge import view_partitions, vote_merge

MERGES = {"votes": vote_merge, "support": support_merge}


@dataclass
class PartGraph:
    """The graph stage's result.

    Attributes:
        superpoints: the atoms (``superpoints.label``: (N,) superpoint per point).
        merge: the merge mode's :class:`~zerops.stages.graphmerge.MergeResult` (tree, edge affinity, own cut).
        masks: masks used as evidence. min_part: parts below this share of the points join a neighbour,
        unless ``min_part_views`` views' kept masks match them at point IoU ≥ ``min_part_iou``
        (:func:`absorb_small`).
    """

    superpoints: Superpoints
    merge: MergeResult
    masks: int
    min_part: float
    min_part_views: int
    min_part_iou: float

    @property
    def tree(self) -> MergeTree:
        return self.merge.tree

    @property
    def affinity(self) -> np.ndarray:
        return self.merge.affinity

    def parts(self, threshold: float | None = None, n_parts: int | None = None) -> np.ndarray:
        """(N,) int64 part per point (largest part 0): the tree cut at an affinity ``threshold`` or at
        ``n_parts`` parts; with neither, the merge mode's own cut, small parts absorbed."""
        if threshold is None and n_parts is None:
            leaves = absorb_small(self.merge.cut, self.superpoints, self.merge.affinity, self.min_part,
                                  self.merge.kept, self.min_part_views, self.min_part_iou)
        else:
            leaves = self.merge.tree.cut(threshold=threshold, n_parts=n_parts)
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


def absorb_small(leaves: np.ndarray, sp: Superpoints, affinity: np.ndarray, min_part: float,
                 kept: KeptMasks | None, min_views: int, min_iou: float) -> np.ndarray:
    """(S,) leaf labels with every part below ``min_part`` of the points joined to the adjacent part it is
    most strongly tied to (boundary strength × affinity), smallest first; parts without neighbours stay, and
    so does a part that masks of at least ``min_views`` views (``kept``; 0 or None: none) match at point IoU ≥
    ``min_iou``: several views isolate it (a handle, a knob), so it is a part, not debris."""
    sizes = sp.sizes().astype(np.float64)
    floor = min_part * sizes.sum()

    def small(labels: np.ndarray, part_size: np.ndarray) -> np.ndarray:
        picked = part_size < floor
        if kept is not None and min_views > 0 and picked.any():
            picked &= kept.views_matching(labels, min_iou) < min_views
        return picked

    return absorb_parts(leaves, sp.edges, sp.strength * np.maximum(affinity, 1e-3), sizes, small)


def build_part_graph(xyz: np.ndarray, rgb: np.ndarray | None, ev: MaskEvidence, config: GraphConfig,
                     superpoints: Superpoints | None = None) -> PartGraph:
    """Superpoints (unless given), and the configured merge mode's tree, affinities and cut of one
    (normalized) cloud.

    Args:
        xyz: (N, 3) normalized points; rgb: (N, 3) colors in [0, 1] or None; ev: the decoded masks.
    """
    sp = superpoints if superpoints is not None else compute_superpoints(xyz, rgb, config.superpoints)
    if config.merge not in MERGES:
        raise ZeropsError(f"unknown graph merge '{config.merge}': use votes or support")
    if config.merge == "votes" and config.superpoints.split_together > 0 and len(ev):
        parts = view_partitions(ev, config.votes, regions=sp.n_regions)
        sp = split_atoms(xyz, sp, parts.segment, config.superpoints)
    return PartGraph(superpoints=sp, merge=MERGES[config.merge](ev, sp, getattr(config, config.merge)), masks=len(ev),
                     min_part=config.min_part, min_part_views=config.min_part_views,
                     min_part_iou=config.min_part_iou)


def graph_parts(graph: PartGraph, config: GraphConfig) -> np.ndarray:
    """(N,) part per point as configured: ``n_parts`` if > 0, else the ``cut`` rule."""
    if config.n_parts > 0:
        return graph.parts(n_parts=config.n_parts)
    if config.cut == "threshold":
        return graph.parts(threshold=config.threshold)
    if config.cut != "auto":
        raise ZeropsError(f"unknown graph cut '{config.cut}': use auto or threshold")
    return graph.parts()
