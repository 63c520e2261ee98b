"""The superpoint-graph merging stage: superpoints + multi-view mask evidence → a merge tree → parts.

This replaces the spec's greedy point-IoU union (``merging.py``) in zerops's default preset:

1. :func:`~zerops.superpoints.compute_superpoints` cuts the cloud into small geometric atoms;
2. every mask the SAM stages decoded (:class:`~zerops.evidence.MaskEvidence`) becomes coverage fractions
   per superpoint, weighted by SAM's predicted IoU × (1 − the mask's share of the object) ** ``size_power``
   (a whole-object mask says little about which parts go together);
3. the affinity of two adjacent superpoints is their soft co-membership over those masks, plus
   ``prior`` × (same geometric region − ½): geometry decides where SAM is silent, SAM overrides geometry
   where it is confident;
4. :func:`~zerops.graphmerge.agglomerate` builds the merge tree, cut at ``threshold`` (or ``n_parts``).

Every point belongs to a superpoint, so every point gets a part; an object without any usable mask falls
back to its geometric regions (the ``components`` partition).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zerops.config import GraphConfig
from zerops.evidence import MaskEvidence, edge_affinity, superpoint_evidence
from zerops.graphmerge import MergeTree, agglomerate
from zerops.superpoints import Superpoints, compute_superpoints


@dataclass
class PartGraph:
    """The graph stage's result.

    Attributes:
        superpoints: the atoms (``superpoints.label``: (N,) superpoint per point).
        evidence: (E,) SAM affinity per edge (NaN: no mask saw the pair); affinity: (E,) with the prior.
        tree: the merge tree over superpoints. masks: masks used as evidence.
    """

    superpoints: Superpoints
    evidence: np.ndarray
    affinity: np.ndarray
    tree: MergeTree
    masks: int

    def parts(self, threshold: float | None = None, n_parts: int | None = None) -> np.ndarray:
        """(N,) int64 part per point, cutting the tree at ``threshold`` or ``n_parts`` (largest part 0)."""
        return self.tree.cut(threshold=threshold, n_parts=n_parts)[self.superpoints.label]


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
    sp = superpoints if superpoints is not None else compute_superpoints(
        xyz, rgb, angle_deg=config.angle_deg, color_dist=config.color_dist, min_region=config.min_region,
        size_fraction=config.size_fraction, min_size=config.min_size)
    if len(ev):
        F, V, _ = superpoint_evidence(ev, sp.label, sp.count)
        sam, _ = edge_affinity(F, V, mask_weights(ev, config.size_power), sp.edges)
    else:
        sam = np.full(len(sp.edges), np.nan)
    same_region = (sp.region[sp.edges[:, 0]] == sp.region[sp.edges[:, 1]]).astype(np.float64)
    affinity = np.where(np.isnan(sam), 0.5, sam) + config.prior * (same_region - 0.5)
    tree = agglomerate(sp.count, sp.edges, affinity, sp.strength, sp.sizes())
    return PartGraph(superpoints=sp, evidence=sam, affinity=affinity, tree=tree, masks=len(ev))


def graph_parts(graph: PartGraph, config: GraphConfig) -> np.ndarray:
    """(N,) part per point at the configured granularity (``n_parts`` if > 0, else ``threshold``)."""
    if config.n_parts > 0:
        return graph.parts(n_parts=config.n_parts)
    return graph.parts(threshold=config.threshold)
