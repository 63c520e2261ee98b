"""The ZeroPS pipeline object: render → initial groups → self-extension → merging (→ labeling).

Usage (SAM-generator style: the constructor takes every knob, ``segment`` does the work)::

    from zerops import ZeroPS, preset
    result = ZeroPS(preset("fast")).segment("chair.ply")
    result.part            # (N,) int64 part id per input point, −1 unassigned
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from zerops.config import ZeroPSConfig, preset
from zerops.errors import ZeropsError
from zerops.extension import DecodeMemo, ExtensionStats, self_extension
from zerops.grouping import GroupingStats, initial_groups
from zerops.io import PointCloud, as_cloud
from zerops.merging import fill_unassigned, merge_groups, resolve_labels, cleanup_labels
from zerops.pointops import knn, point_spacing
from zerops.render import RenderedView, Renderer, normalize
from zerops.segmenters import PromptSet, get_segmenter
from zerops.views import extension_order, get_layout


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
        decodes: SAM prompts decoded; counts: groups per stage.
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
    debug: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: part sizes, per-stage seconds, decodes and counts."""
        out: dict[str, Any] = {
            "points": int(len(self.part)),
            "parts": [int(len(p)) for p in self.parts],
            "unassigned": int((self.part < 0).sum()),
            "seconds": {k: round(float(v), 3) for k, v in self.seconds.items()},
            "decodes": int(self.decodes),
            "counts": {k: int(v) for k, v in self.counts.items()},
        }
        if self.part_names:
            out["part_names"] = list(self.part_names)
        return out


class ZeroPS:
    """Zero-shot part segmentation of one object at a time.

    Args:
        config: every hyperparameter (``preset("paper")`` is the spec; default ``preset("fast")``).
        segmenter: a segmenter name (``embedded``, ``hf:<id-or-path>``, ``module:Class``) or object.
        device: ``cpu`` or ``cuda`` for the renderer and the segmenter.
        progress: show progress bars.
        debug: keep each start view's initial and extended groups and the stage statistics in
            ``PartResult.debug`` (``zerops segment --debug`` draws them).
    """

    def __init__(self, config: ZeroPSConfig | None = None, segmenter: Any = "embedded", device: str = "cpu",
                 progress: bool = True, debug: bool = False) -> None:
        self.config = config if config is not None else preset("fast")
        self.device = device
        self.progress = progress
        self.debug = debug
        self.segmenter = get_segmenter(segmenter, device=device) if isinstance(segmenter, str) else segmenter
        self.renderer = Renderer(self.config.render, device=device)
        self.layout = get_layout(self.config.render.views)

    # ------------------------------------------------------------------------------------------ stages
    def _decode_sve(self, view: int, prompts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """SVE decode: all prompt sets of one view in one segmenter call (positive clicks only)."""
        return self.segmenter.predict(self._slot[view], [PromptSet.positive(p) for p in prompts])

    def _decode_amg(self, view: int, prompts: list[np.ndarray]):
        """Initial-group decode: single-point prompts; stability scores when the segmenter offers them."""
        sets = [PromptSet.positive(p) for p in prompts]
        if hasattr(self.segmenter, "predict_with_stability"):
            return self.segmenter.predict_with_stability(self._slot[view], sets)
        masks, scores = self.segmenter.predict(self._slot[view], sets)
        return masks, scores, None

    def segment(self, cloud: Any, part_names: list[str] | None = None, keep_views: bool = True) -> PartResult:
        """Segment ``cloud`` (a path, :class:`~zerops.io.PointCloud`, (N,3)/(N,6) array or trimesh object)."""
        cfg = self.config
        t_all = time.perf_counter()
        seconds: dict[str, float] = {}
        pc: PointCloud = as_cloud(cloud)

        t = time.perf_counter()
        xyz, _, _ = normalize(pc.xyz)
        views = self.renderer.render(xyz, pc.rgb, pc.normals, layout=self.layout)
        seconds["render"] = time.perf_counter() - t

        names = [v.name for v in views]
        view_index = {n: i for i, n in enumerate(names)}
        starts = [s for s in self.layout.start_views if s in view_index]
        needed = names if cfg.extension.enabled else starts
        t = time.perf_counter()
        # only the views the run needs are encoded; _slot maps a view index to its segmenter slot
        self._slot = {view_index[n]: k for k, n in enumerate(needed)}
        self.segmenter.set_images([views[view_index[n]].image for n in needed], progress=self.progress)
        seconds["encode"] = time.perf_counter() - t

        eps = max(cfg.grouping.dbscan_eps, cfg.grouping.eps_spacing_factor * point_spacing(xyz))
        min_pts = cfg.grouping.dbscan_min_points

        t = time.perf_counter()
        gstats = GroupingStats()
        groups: dict[str, list[np.ndarray]] = {}
        for s in tqdm(starts, desc="initial groups", unit="view", disable=not self.progress, leave=False):
            v = views[view_index[s]]
            groups[s] = initial_groups(view_index[s], self._decode_amg, xyz, v.seen, v.pixels, v.index_map,
                                       cfg.grouping, eps, min_pts, batch_size=cfg.grouping.batch_size,
                                       skip_covered=cfg.grouping.skip_covered, stats=gstats,
                                       radius=v.radius, margin=cfg.grouping.lift_margin)
        seconds["groups"] = time.perf_counter() - t
        counts = {"initial_groups": sum(len(g) for g in groups.values())}
        initial = {k: list(v) for k, v in groups.items()} if self.debug else {}

        t = time.perf_counter()
        estats = ExtensionStats()
        if cfg.extension.enabled:
            schedule = {s: extension_order(self.layout, s) for s in starts}
            total = cfg.extension.passes * sum(len(v) for v in schedule.values())
            with tqdm(total=total, desc="self-extension", unit="step", disable=not self.progress,
                      leave=False) as bar:
                groups, estats = self_extension(groups, schedule, view_index, self._decode_sve, xyz, views,
                                                cfg.extension, eps, min_pts,
                                                memo=DecodeMemo() if cfg.extension.memoize else None,
                                                stop_when_stable=cfg.extension.stop_when_stable,
                                                progress=bar.update, margin=cfg.grouping.lift_margin,
                                                neighbors=knn(xyz, 8)[1] if cfg.extension.interior_prompts > 0
                                                else None)
        seconds["extension"] = time.perf_counter() - t

        t = time.perf_counter()
        pooled = [g for s in starts for g in groups[s]]
        merged = merge_groups(pooled, cfg.merging.iou_threshold)
        part = cleanup_labels(resolve_labels(merged, len(xyz)), xyz, eps, min_pts)
        if cfg.merging.fill_unassigned:
            part = fill_unassigned(part, xyz)
        seconds["merging"] = time.perf_counter() - t
        counts.update(extended_groups=len(pooled), merged_groups=len(merged), parts=int(part.max() + 1))

        seconds["total"] = time.perf_counter() - t_all
        parts = [np.flatnonzero(part == k) for k in range(int(part.max()) + 1)]
        return PartResult(xyz=pc.xyz, part=part, parts=parts, seconds=seconds,
                          decodes=gstats.decodes + estats.decodes, counts=counts,
                          views=views if keep_views else [],
                          debug={"initial": initial, "extended": groups, "grouping_stats": gstats,
                                 "extension_stats": estats} if self.debug else {})


def check_part_names(part_names: list[str] | None) -> list[str] | None:
    """Validate a part-name list: non-empty unique strings."""
    if part_names is None:
        return None
    names = [n.strip() for n in part_names if n and n.strip()]
    if not names:
        raise ZeropsError("the part-name list is empty: give names like 'arm,back,leg,seat,wheel'")
    if len(set(names)) != len(names):
        raise ZeropsError(f"part names repeat: {', '.join(names)}")
    return names


def build_config(preset_name: str = "fast", no_extension: bool = False, passes: int | None = None,
                 merge_threshold: float | None = None, views: str | None = None, n_prompts: int | None = None,
                 fill_unassigned: bool = False, seed: int | None = None) -> ZeroPSConfig:
    """The configuration behind the CLI/eval switches (``--preset``, ``--no-extension``, ``--passes`` …)."""
    cfg = preset(preset_name)
    over: dict[str, Any] = {}
    if no_extension:
        over["extension.enabled"] = False
    if passes is not None:
        if passes < 0:
            raise ZeropsError(f"--passes must be >= 0, got {passes}")
        over["extension.passes"] = int(passes)
    if merge_threshold is not None:
        if not 0.0 <= merge_threshold < 1.0:
            raise ZeropsError(f"--merge-threshold must be in [0, 1), got {merge_threshold}")
        over["merging.iou_threshold"] = float(merge_threshold)
    if views is not None:
        get_layout(views)  # validates the name
        over["render.views"] = views
    if n_prompts is not None:
        if n_prompts < 1:
            raise ZeropsError(f"--prompts must be >= 1, got {n_prompts}")
        over["grouping.n_prompts"] = int(n_prompts)
    if fill_unassigned:
        over["merging.fill_unassigned"] = True
    if seed is not None:
        over["seed"] = int(seed)
    return cfg.with_overrides(**over)


def _zerops_method(preset: str = "fast", segmenter: str = "embedded", device: str = "cpu",
                   no_extension: bool = False, passes: int | None = None, merge_threshold: float | None = None,
                   views: str | None = None, n_prompts: int | None = None):
    """``zerops eval --method zerops``: the pipeline as an evaluation method (class-agnostic parts)."""
    from zerops.evaluate import Prediction

    cfg = build_config(preset, no_extension, passes, merge_threshold, views, n_prompts)
    model = ZeroPS(cfg, segmenter=segmenter, device=device, progress=False)

    def run(shape) -> Prediction:
        r = model.segment(shape.cloud, keep_views=False)
        return Prediction(part=r.part, seconds=r.seconds["total"],
                          extra={"decodes": r.decodes, "seconds": r.seconds, "counts": r.counts})
    return run


def _register() -> None:
    from zerops.evaluate import register_method

    register_method("zerops", _zerops_method)


_register()
