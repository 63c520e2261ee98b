"""The ``support`` merge mode: soft co-membership over every mask, average linkage, the support cut.

1. every mask the SAM stages decoded (:class:`~zerops.stages.evidence.MaskEvidence`) becomes coverage fractions
   per superpoint, weighted by SAM's predicted IoU × (1 − the mask's share of the object) ** ``size_power``
   (a whole-object mask says little about which parts go together);
2. the affinity of two adjacent superpoints is their soft co-membership over those masks
   (:func:`~zerops.stages.evidence.edge_affinity`), plus ``prior`` × (same geometric region − ½): geometry
   decides where SAM is silent, SAM overrides geometry where it is confident;
3. :func:`average_linkage` (the one loop, :func:`~zerops.stages.graphmerge.agglomerate`, scoring a pair by its
   boundary-weighted mean affinity) builds the merge tree;
4. the tree is cut per object (:mod:`zerops.stages.treecut`): a node is a part when SAM segments it as a whole,
   view after view, better than it segments its two halves.

The earlier merge of the graph preset (``graph.merge = "support"``, its settings the ``graph.support`` section,
:class:`~zerops.config.SupportConfig`); the default is :mod:`~zerops.stages.votemerge`.
"""
from __future__ import annotations

import numpy as np

from zerops.config import SupportConfig
from zerops.stages.evidence import MaskEvidence, edge_affinity, superpoint_evidence
from zerops.stages.graphmerge import MergeResult, MergeTree, agglomerate
from zerops.stages.superpoints import Superpoints
from zerops.stages.treecut import best_cut, node_support, regions_spanned

BOOST = 1e3      # key offset of the edges merged first


def _mean_affinity(a: np.ndarray, b: np.ndarray, bound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boundary rows (Σ s·(affinity + boost), Σ s·affinity, Σ s) → heap key and recorded mean affinity."""
    return bound[:, 0] / bound[:, 2], bound[:, 1] / bound[:, 2]


def average_linkage(n_nodes: int, edges: np.ndarray, affinity: np.ndarray, strength: np.ndarray | None = None,
                    sizes: np.ndarray | None = None, first: np.ndarray | None = None) -> MergeTree:
    """Greedy graph-constrained average linkage: the adjacent clusters with the highest boundary-weighted
    mean affinity are merged first.

    Args:
        n_nodes: S. edges: (E, 2) int pairs. affinity: (E,) float, larger = more alike (finite).
        strength: (E,) positive edge weights of the average (default 1).
        sizes: (S,) leaf sizes recorded in the tree (default 1).
        first: (E,) bool edges to merge across before any other (e.g. inside one geometric region, so
            that every region is a node of the tree); the recorded values stay the true mean affinities.
    """
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    affinity = np.asarray(affinity, dtype=np.float64)
    strength = np.ones(len(edges)) if strength is None else np.asarray(strength, dtype=np.float64)
    # a "first" pair's key is lifted by BOOST (clusters joined by first edges only: every first edge of a
    # pair is first, so pairs never mix)
    boost = np.zeros(len(edges)) if first is None else np.where(np.asarray(first, bool), BOOST, 0.0)
    boundary = np.stack([strength * (affinity + boost), strength * affinity, strength], axis=1)
    return agglomerate(n_nodes, edges, _mean_affinity, boundary, sizes)


def mask_weights(ev: MaskEvidence, size_power: float) -> np.ndarray:
    """(M,) weight per recorded mask: predicted IoU × (1 − covered share of the view's seen points) ** p."""
    if len(ev) == 0:
        return np.zeros(0)
    table = ev.table()
    share = table.size / np.maximum(table.seen_count[table.view_row], 1)
    return np.clip(np.asarray(ev.scores, dtype=np.float64), 0.0, None) * np.clip(1.0 - share, 0.0, 1.0) ** size_power


def support_merge(ev: MaskEvidence, sp: Superpoints, config: SupportConfig) -> MergeResult:
    """The support mode's tree, edge affinity and per-object support cut (see the module doc)."""
    same_region = (sp.region[sp.edges[:, 0]] == sp.region[sp.edges[:, 1]]).astype(np.float64)
    if len(ev):
        F, V, _ = superpoint_evidence(ev, sp.label, sp.count, config.evidence_min_seen)
        sam, _ = edge_affinity(F, V, mask_weights(ev, config.size_power), sp.edges, config.affinity_power)
    else:
        sam = np.full(len(sp.edges), np.nan)
    affinity = np.where(np.isnan(sam), 0.5, sam) + config.prior * (same_region - 0.5)
    tree = average_linkage(sp.count, sp.edges, affinity, sp.strength, sp.sizes(),
                           first=same_region > 0 if config.regions_first else None)
    support = node_support(tree, ev, sp.label, config, region=sp.region)
    margin = np.full(len(support), float(config.cut_margin))
    if not config.join_regions:               # a node spanning regions is always split
        margin[regions_spanned(tree, sp.region) > 1] = np.inf
    cut = best_cut(tree, support, sp.sizes(), margin)
    return MergeResult(tree=tree, affinity=affinity, cut=cut, stats={"evidence_edges": int(np.isfinite(sam).sum())})
