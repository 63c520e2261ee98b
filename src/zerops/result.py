"""What :meth:`zerops.pipeline.ZeroPS.segment` returns (:class:`PartResult`), and the subsampling of large
clouds with the propagation of their labels back to every point."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zerops.errors import ZeropsError
from zerops.geometry.masks import nearest_index
from zerops.io.cloud import PointCloud
from zerops.render.renderer import RenderedView
from zerops.stages.labeling import VoteRecord
from zerops.stages.partgraph import PartGraph

__all__ = ["PartResult", "subsample_cloud", "propagate_result"]


@dataclass
class PartResult:
    """What :meth:`ZeroPS.segment` returns.

    Attributes:
        xyz: (N, 3) float32 input coordinates (as given).
        part: (N,) int64 class-agnostic part id per point, −1 unassigned.
        parts: list of (M_k,) int64 point indices of part k.
        semantic / instance: (N,) int64 per-point class index / instance id, −1 none (only with part names).
        part_names: the class names semantic ids refer to ([] without labeling).
        seconds: stage → seconds, with ``total``.
        decodes: SAM prompts decoded by this call; counts: groups per stage and the decodes each stage
            took when it was computed (``decodes_groups``, ``decodes_extension``, also when cached).
        cached: the stages read from the stage cache (``groups``, ``extended``, ``boxes``).
        part_class: (P,) class per part (−1 unlabeled); instance_scores: {instance id: confidence};
        vote_matrix: (C, P) int64 votes before CNVP; detections: per view ``Detections`` (with part names);
        votes: one :class:`~zerops.stages.labeling.VoteRecord` per kept box, in view order (which part it voted for).
        sample: for clouds above ``config.max_points``, the (M,) indices of the points the views and groups
            refer to (the labels of all N points are copied from their nearest sampled point); else None.
        views: the rendered views (kept for visualisation), or [] when ``keep_views=False``.
    """

    xyz: np.ndarray
    part: np.ndarray
    parts: list[np.ndarray]
    seconds: dict[str, float]
    decodes: int
    counts: dict[str, int]
    semantic: np.ndarray | None = None
    instance: np.ndarray | None = None
    part_names: list[str] = field(default_factory=list)
    views: list[RenderedView] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    part_class: np.ndarray | None = None
    instance_scores: dict[int, float] = field(default_factory=dict)
    vote_matrix: np.ndarray | None = None
    detections: list[Any] = field(default_factory=list)
    votes: list[VoteRecord] = field(default_factory=list)
    sample: np.ndarray | None = None
    debug: dict[str, Any] = field(default_factory=dict)
    graph: PartGraph | None = None

    def regroup(self, threshold: float | None = None, n_parts: int | None = None) -> np.ndarray:
        """(N,) part per point at another granularity of the merge tree (graph mode): merge while the mean
        affinity is >= ``threshold`` (higher = more, smaller parts), or cut at ``n_parts`` parts; with
        neither, the per-object cut by mask support."""
        if self.graph is None:
            raise ZeropsError("regroup() needs the merge tree of the graph preset (this result has none)")
        part = self.graph.parts(threshold=threshold, n_parts=n_parts)
        return part if self.sample is None else part[self._nearest_sample()]

    def _nearest_sample(self) -> np.ndarray:
        return nearest_index(self.xyz[self.sample], self.xyz)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: part sizes, per-stage seconds, decodes and counts."""
        out: dict[str, Any] = {
            "points": int(len(self.part)),
            "parts": [int(len(p)) for p in self.parts],
            "unassigned": int((self.part < 0).sum()),
            "seconds": {k: round(float(v), 3) for k, v in self.seconds.items()},
            "decodes": int(self.decodes),
            "counts": {k: v if isinstance(v, float) else int(v) for k, v in self.counts.items()},
        }
        if self.cached:
            out["cached"] = list(self.cached)
        if self.part_names:
            out["part_names"] = list(self.part_names)
            out["part_labels"] = [self.part_names[c] if c >= 0 else None for c in self.part_class]
            out["instances"] = [{"instance": i, "name": self.part_names[int(self.semantic[self.instance == i][0])],
                                 "points": int((self.instance == i).sum()), "confidence": round(float(c), 4)}
                                for i, c in sorted(self.instance_scores.items())]
            out["vote_matrix"] = self.vote_matrix.tolist() if self.vote_matrix is not None else None
        return out


def subsample_cloud(pc: PointCloud, max_points: int, seed: int = 0) -> tuple[PointCloud, np.ndarray | None]:
    """At most ``max_points`` points: a seeded uniform random subset (sorted indices), or the cloud itself
    (and None) when it is small enough."""
    n = len(pc.xyz)
    if max_points <= 0 or n <= max_points:
        return pc, None
    idx = np.sort(np.random.default_rng(seed).choice(n, int(max_points), replace=False))
    sub = PointCloud(xyz=pc.xyz[idx], rgb=None if pc.rgb is None else pc.rgb[idx],
                     normals=None if pc.normals is None else pc.normals[idx], source=pc.source)
    return sub, idx


def propagate_result(result: PartResult, full: PointCloud, sample: np.ndarray) -> PartResult:
    """Copy per-point labels of the subset ``sample`` to every point of ``full`` by nearest neighbour."""
    nn = nearest_index(full.xyz[sample], full.xyz)
    result.xyz = full.xyz
    result.part = result.part[nn]
    result.parts = [np.flatnonzero(result.part == k) for k in range(len(result.parts))]
    if result.semantic is not None:
        result.semantic = result.semantic[nn]
        result.instance = result.instance[nn]
    result.sample = sample
    result.counts["subsampled_to"] = int(len(sample))
    return result
