"""The state of one cloud's pass through the pipeline's stages (:class:`Run`), as :class:`~zerops.pipeline.ZeroPS`
keeps it: the rendered views, the DBSCAN settings, cache keys, decode statistics, the evidence and timings."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zerops.config import GraphConfig, ZeroPSConfig
from zerops.geometry.masks import Lifter
from zerops.render.renderer import RenderedView
from zerops.stages.evidence import MaskEvidence
from zerops.stages.extension import ExtensionStats
from zerops.stages.grouping import GroupingStats


@dataclass
class Run:
    """One cloud's pass through the stages: its views and maps, DBSCAN settings, cache keys and bookkeeping."""

    xyz: np.ndarray                              # (N, 3) normalized points
    rgb: np.ndarray | None                       # (N, 3) colors or None
    views: list[RenderedView]
    view_index: dict[str, int]
    starts: list[str]
    eps: float
    min_pts: int
    keys: dict[str, str]                         # stage -> cache key ("cloud": the cloud's digest)
    seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("render", "encode", "groups", "extension"), 0.0))
    counts: dict[str, int] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)
    gstats: GroupingStats = field(default_factory=GroupingStats)
    estats: ExtensionStats = field(default_factory=ExtensionStats)
    evidence: MaskEvidence | None = None         # graph mode: every decoded candidate mask of this cloud
    slot: dict[int, int] = field(default_factory=dict)   # view index -> the segmenter's image slot
    won_pixels: bool = GraphConfig.lift_won_pixels        # evidence: lift masks by the pixels a point wins
    evidence_floor: float = GraphConfig.mask_min_score    # evidence: candidates scoring <= this are not kept

    def lifter(self, config: ZeroPSConfig) -> Lifter:
        """How this run turns a mask into a group (its points, DBSCAN settings, lifting margin)."""
        return Lifter(self.xyz, self.eps, self.min_pts, config.grouping.lift_margin)
