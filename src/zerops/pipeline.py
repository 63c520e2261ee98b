"""The ZeroPS pipeline object: render → initial groups → self-extension → merging (→ labeling).

Usage (SAM-generator style: the constructor takes every knob, ``segment`` does the work)::

    from zerops import ZeroPS, preset
    result = ZeroPS().segment("chair.ply")          # the default preset, graph
    result.part            # (N,) int64 part id per input point, −1 unassigned
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from zerops.cache import StageCache, array_digest, pack_groups, stage_key, unpack_groups
from zerops.config import DEFAULT_PRESET, ZeroPSConfig, preset
from zerops.detectors import as_detector, get_detector
from zerops.detectors.base import pack_detections, unpack_detections
from zerops.stages.evidence import MaskEvidence, pack_evidence, unpack_evidence
from zerops.stages.labeling import VoteRecord, assign_labels, cnvp, vote_matrix
from zerops.errors import ZeropsError
from zerops.stages.extension import DecodeMemo, ExtensionStats, self_extension
from zerops.stages.grouping import GroupingStats, initial_groups
from zerops.io.cloud import PointCloud
from zerops.io.load import as_cloud
from zerops.partnames import resolve_part_names
from zerops.result import PartResult, propagate_result, subsample_cloud
from zerops.stages.merging import fill_unassigned, merge_groups, resolve_labels, cleanup_labels
from zerops.stages.partgraph import PartGraph, build_part_graph, graph_parts
from zerops.geometry.pointops import knn, point_spacing
from zerops.render.renderer import RenderedView, Renderer, normalize
from zerops.segmenters import PromptSet, Segmenter, get_segmenter
from zerops.render.views import extension_order, get_layout


class ZeroPS:
    """Zero-shot part segmentation of one object at a time.

    Args:
        config: every hyperparameter (``preset("paper")`` is the spec; default ``preset("graph")``).
        segmenter: a segmenter name (``embedded``, ``hf:<id-or-path>``, ``module:Class``) or object.
        device: ``cpu`` or ``cuda`` for the renderer and the segmenter.
        progress: show progress bars.
        cache: a :class:`~zerops.cache.StageCache` (or its folder) for the initial and extended groups;
            a rerun that changes only merging settings then skips SAM entirely. None: no cache.
        detector: a detector name (``hf:<id-or-path>``, ``oracle:perfect|glip-like``, ``module:Class``) or
            object; needed to name parts (``segment(cloud, part_names=...)``).
        debug: keep each start view's initial and extended groups and the stage statistics in
            ``PartResult.debug`` (``zerops segment --debug`` draws them).
    """

    def __init__(self, config: ZeroPSConfig | None = None, segmenter: Any = "embedded", device: str = "cpu",
                 progress: bool = True, debug: bool = False, cache: StageCache | str | Path | None = None,
                 detector: Any = None) -> None:
        self.config = config if config is not None else preset(DEFAULT_PRESET)
        self.cache = StageCache(cache) if isinstance(cache, (str, Path)) else cache
        self.device = device
        self.progress = progress
        self.debug = debug
        self.segmenter = get_segmenter(segmenter, device=device) if isinstance(segmenter, str) else segmenter
        self.detector = (build_detector(detector, device, self.config) if isinstance(detector, str)
                         else as_detector(detector) if detector is not None else None)
        self.renderer = Renderer(self.config.render, device=device)
        r = self.config.render
        self.layout = get_layout(r.views, r.view_neighbors, r.start_fraction)
        self._evidence: MaskEvidence | None = None     # graph mode: the masks decoded for the current cloud
        self._views: list[RenderedView] = []

    # ------------------------------------------------------------------------------------------ stages
    def _decode_sve(self, view: int, prompts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """SVE decode: all prompt sets of one view in one segmenter call (positive clicks only)."""
        masks, scores = self.segmenter.predict(self._slot[view], [PromptSet.positive(p) for p in prompts])
        self._record(view, masks, scores, "extension")
        return masks, scores

    def _packed_evidence(self) -> dict[str, np.ndarray]:
        return pack_evidence(self._evidence) if self._evidence is not None else {}

    def _record(self, view: int, masks: np.ndarray, scores: np.ndarray, source: str) -> None:
        """Keep every decoded candidate as evidence for the superpoint graph (graph mode only)."""
        if self._evidence is not None:
            v = self._views[view]
            self._evidence.add_view_masks(view, masks, scores, v.seen, v.pixels, source)

    def _decode_amg(self, view: int, prompts: list[np.ndarray]):
        """Initial-group decode: single-point prompts; stability scores when the segmenter offers them."""
        sets = [PromptSet.positive(p) for p in prompts]
        if isinstance(self.segmenter, Segmenter):
            g = self.config.grouping
            if self._evidence is not None:      # every candidate above the evidence floor is upscaled
                out = self.segmenter.predict_with_stability(
                    self._slot[view], sets, min_score=min(g.pred_iou_thresh, self.config.graph.mask_min_score))
            else:
                out = self.segmenter.predict_with_stability(self._slot[view], sets, min_score=g.pred_iou_thresh,
                                                            min_stability=g.stability_score_thresh)
        elif hasattr(self.segmenter, "predict_with_stability"):
            out = self.segmenter.predict_with_stability(self._slot[view], sets)
        else:
            out = (*self.segmenter.predict(self._slot[view], sets), None)
        self._record(view, out[0], out[1], "groups")
        return out

    def _encode(self, views: list[RenderedView], view_index: dict[str, int], needed: list[str]) -> float:
        """Encode the views a run needs (``_slot`` maps a view index to its segmenter slot); seconds.
        With a stage cache and a segmenter that can export its embeddings, views are encoded once."""
        t = time.perf_counter()
        self._slot = {view_index[n]: k for k, n in enumerate(needed)}
        images = [views[view_index[n]].image for n in needed]
        if self.cache is None or not getattr(self.segmenter, "supports_embedding_cache", False):
            self.segmenter.set_images(images, progress=self.progress)
            return time.perf_counter() - t
        keys = [stage_key("embeddings", array_digest(im), _identity(self.segmenter)) for im in images]
        hits = [self.cache.get("embeddings", k) for k in keys]
        self.segmenter.set_images(images, progress=self.progress,
                                  embeddings=[h["embedding"] if h is not None else None for h in hits])
        for k, (key, hit) in enumerate(zip(keys, hits)):
            if hit is None:
                self.cache.put("embeddings", key, {"embedding": self.segmenter.embedding(k)})
        return time.perf_counter() - t

    def _stage_keys(self, pc: PointCloud) -> dict[str, str]:
        """The cloud's digest and the cache keys of the initial and extended groups (everything each
        depends on)."""
        cfg = self.config
        cloud = array_digest(pc.xyz, pc.rgb, pc.normals)
        groups = stage_key("groups", cloud, cfg.render, cfg.grouping, cfg.seed, _identity(self.segmenter),
                           *(("evidence", cfg.graph.mask_min_score) if cfg.graph.enabled else ()))
        return {"cloud": cloud, "groups": groups, "extended": stage_key("extended", groups, cfg.extension)}

    def segment(self, cloud: Any, part_names: Sequence[str] | str | None = None, category: str | None = None,
                keep_views: bool = True) -> PartResult:
        """Segment ``cloud`` (a path, :class:`~zerops.io.cloud.PointCloud`, (N,3)/(N,6) array or trimesh object).

        With ``part_names`` (or a PartNetE ``category``, whose part names are then used) the parts are also
        labeled (spec §4) by the detector: ``semantic``, ``instance`` and ``part_names`` are filled in.
        """
        cfg = self.config
        names = resolve_part_names(part_names, category)
        if names is not None and self.detector is None:
            raise ZeropsError("naming parts needs a detector: give detector='hf:<Grounding DINO / OWL id or "
                              "folder>' (--detector), or 'oracle:perfect|glip-like' when evaluating with ground "
                              "truth, or a plug-in 'module:Class'")
        t_all = time.perf_counter()
        full: PointCloud = as_cloud(cloud)
        pc, sample = subsample_cloud(full, cfg.max_points, cfg.seed)
        if sample is not None and self.detector is not None and hasattr(self.detector, "set_sample"):
            self.detector.set_sample(sample)          # the oracle's ground truth follows the subset
        result = self._segment(pc, names, category, keep_views, t_all)
        if sample is not None:
            result = propagate_result(result, full, sample)
            result.seconds["total"] = time.perf_counter() - t_all
        return result

    def label(self, cloud: Any, part: np.ndarray, part_names: Sequence[str] | str | None = None,
              category: str | None = None, keep_views: bool = True) -> PartResult:
        """Name given class-agnostic parts (spec §4 only): ``part`` (N,) int64 part id per point (−1 none),
        e.g. from another segmenter, or ground-truth instances to measure the labeling step alone."""
        t_all = time.perf_counter()
        names = resolve_part_names(part_names, category)
        if names is None or self.detector is None:
            raise ZeropsError("label() needs part names (or a category) and a detector")
        pc = as_cloud(cloud)
        part = np.asarray(part)
        if part.shape != (len(pc.xyz),) or not np.issubdtype(part.dtype, np.integer):
            raise ZeropsError(f"part must be an ({len(pc.xyz)},) integer array, got {part.shape} {part.dtype}")
        ids = np.unique(part[part >= 0])                       # renumber to 0..P-1, −1 stays −1
        part = np.where(part >= 0, np.searchsorted(ids, part), -1).astype(np.int64)
        if len(ids) == 0:
            raise ZeropsError("label() got no parts (every point is −1)")
        t = time.perf_counter()
        xyz, _, _ = normalize(pc.xyz)
        views = self.renderer.render(xyz, pc.rgb, pc.normals, layout=self.layout)
        seconds = {"render": time.perf_counter() - t}
        result = PartResult(xyz=pc.xyz, part=part, parts=[np.flatnonzero(part == k) for k in range(len(ids))],
                            seconds=seconds, decodes=0, counts={"parts": len(ids)},
                            views=views if keep_views else [])
        keys = {"cloud": array_digest(pc.xyz, pc.rgb, pc.normals)} if self.cache is not None else {}
        t = time.perf_counter()
        self._label(result, views, names, category, keys)
        seconds["labeling"] = time.perf_counter() - t
        seconds["total"] = time.perf_counter() - t_all
        return result

    def _segment(self, pc: PointCloud, names: list[str] | None, category: str | None, keep_views: bool,
                 t_all: float) -> PartResult:
        cfg = self.config
        seconds: dict[str, float] = {"render": 0.0, "encode": 0.0, "groups": 0.0, "extension": 0.0}

        t = time.perf_counter()
        xyz, _, _ = normalize(pc.xyz)
        views = self.renderer.render(xyz, pc.rgb, pc.normals, layout=self.layout)
        seconds["render"] = time.perf_counter() - t

        view_names = [v.name for v in views]
        view_index = {n: i for i, n in enumerate(view_names)}
        starts = [s for s in self.layout.start_views if s in view_index]
        eps = max(cfg.grouping.dbscan_eps, cfg.grouping.eps_spacing_factor * point_spacing(xyz))
        min_pts = cfg.grouping.dbscan_min_points
        keys = self._stage_keys(pc) if self.cache is not None else {}
        cached: list[str] = []
        counts: dict[str, int] = {}
        gstats, estats = GroupingStats(), ExtensionStats()
        initial: dict[str, list[np.ndarray]] = {}
        groups: dict[str, list[np.ndarray]] | None = None
        graph_mode = cfg.graph.enabled
        self._evidence = MaskEvidence(len(xyz)) if graph_mode else None
        self._views = views

        # ---- self-extension from the cache: neither SAM nor the initial groups are needed
        if cfg.extension.enabled and self.cache is not None:
            hit = self.cache.get("extended", keys["extended"])
            if hit is not None:
                groups = unpack_groups(hit)
                counts.update(initial_groups=int(hit["initial_groups"]), decodes_groups=int(hit["decodes_groups"]),
                              decodes_extension=int(hit["decodes_extension"]))
                cached.append("extended")
                if graph_mode:
                    self._evidence = unpack_evidence(hit)

        if groups is None:
            hit = self.cache.get("groups", keys["groups"]) if self.cache is not None else None
            if cfg.extension.enabled:
                seconds["encode"] = self._encode(views, view_index, view_names)
            if hit is not None:
                groups = unpack_groups(hit)
                counts["decodes_groups"] = int(hit["decodes"])
                cached.append("groups")
                if graph_mode:
                    self._evidence = unpack_evidence(hit)
            else:
                if not cfg.extension.enabled:
                    seconds["encode"] = self._encode(views, view_index, starts)
                t = time.perf_counter()
                groups = {}
                for s in tqdm(starts, desc="initial groups", unit="view", disable=not self.progress, leave=False):
                    v = views[view_index[s]]
                    groups[s] = initial_groups(view_index[s], self._decode_amg, xyz, v.seen, v.pixels, v.index_map,
                                               cfg.grouping, eps, min_pts, stats=gstats,
                                               radius=v.radius, margin=cfg.grouping.lift_margin)
                seconds["groups"] = time.perf_counter() - t
                counts["decodes_groups"] = gstats.decodes
                if self.cache is not None:
                    self.cache.put("groups", keys["groups"], {**pack_groups(groups), **self._packed_evidence(),
                                                              "decodes": np.int64(gstats.decodes)})
            counts["initial_groups"] = sum(len(g) for g in groups.values())
            initial = {k: list(v) for k, v in groups.items()} if self.debug else {}

            if cfg.extension.enabled:
                t = time.perf_counter()
                schedule = {s: extension_order(self.layout, s) for s in starts}
                total = cfg.extension.passes * sum(len(v) for v in schedule.values())
                with tqdm(total=total, desc="self-extension", unit="step", disable=not self.progress,
                          leave=False) as bar:
                    groups, estats = self_extension(groups, schedule, view_index, self._decode_sve, xyz, views,
                                                    cfg.extension, eps, min_pts,
                                                    memo=DecodeMemo() if cfg.extension.memoize else None,
                                                    stop_when_stable=cfg.extension.stop_when_stable,
                                                    progress=bar.update, margin=cfg.grouping.lift_margin,
                                                    neighbors=knn(xyz, cfg.extension.interior_neighbors)[1]
                                                    if cfg.extension.interior_prompts > 0
                                                    else None)
                seconds["extension"] = time.perf_counter() - t
                counts["decodes_extension"] = estats.decodes
                if self.cache is not None:
                    self.cache.put("extended", keys["extended"], {
                        **pack_groups(groups), **self._packed_evidence(),
                        "initial_groups": np.int64(counts["initial_groups"]),
                        "decodes_groups": np.int64(counts["decodes_groups"]),
                        "decodes_extension": np.int64(estats.decodes)})

        t = time.perf_counter()
        pooled = [g for s in starts for g in groups.get(s, [])]
        counts["extended_groups"] = len(pooled)
        graph: PartGraph | None = None
        if graph_mode:
            evidence = self._evidence if self._evidence is not None else MaskEvidence(len(xyz))
            graph = build_part_graph(xyz, pc.rgb, evidence, cfg.graph)
            part = graph_parts(graph, cfg.graph)
            counts.update(superpoints=graph.superpoints.count, graph_edges=len(graph.superpoints.edges),
                          evidence_masks=len(evidence),
                          evidence_edges=int(np.isfinite(graph.evidence).sum()))
        else:
            merged = merge_groups(pooled, cfg.merging.iou_threshold)
            part = cleanup_labels(resolve_labels(merged, len(xyz)), xyz, eps, min_pts)
            if cfg.merging.fill_unassigned:
                part = fill_unassigned(part, xyz)
            counts["merged_groups"] = len(merged)
        self._evidence, self._views = None, []
        seconds["merging"] = time.perf_counter() - t
        counts["parts"] = int(part.max() + 1)

        n_parts = int(part.max()) + 1
        result = PartResult(xyz=pc.xyz, part=part, parts=[np.flatnonzero(part == k) for k in range(n_parts)],
                            seconds=seconds, decodes=gstats.decodes + estats.decodes, counts=counts,
                            views=views if keep_views else [], cached=cached, graph=graph,
                            debug={"initial": initial, "extended": groups, "grouping_stats": gstats,
                                   "extension_stats": estats} if self.debug else {})
        if names is not None:
            t = time.perf_counter()
            self._label(result, views, names, category, keys)
            seconds["labeling"] = time.perf_counter() - t
        seconds["total"] = time.perf_counter() - t_all
        return result

    def _label(self, result: PartResult, views: list[RenderedView], names: list[str], category: str | None,
               keys: dict[str, str]) -> None:
        """Detect part names in every view, vote (TDCM), penalize (CNVP), assign (spec §4).
        ``keys["cloud"]``: the cloud's digest (with a stage cache)."""
        lab = self.config.labeling
        detections = None
        key = None
        if self.cache is not None:
            token = getattr(self.detector, "cache_token", None)
            token = token() if callable(token) else _identity(self.detector)
            key = stage_key("boxes", keys["cloud"], self.config.render, token, names, category, lab.prompt_style,
                            lab.box_score_thresh, lab.whole_object_fraction)
            hit = self.cache.get("boxes", key)
            if hit is not None:
                detections = unpack_detections(hit)
                result.cached.append("boxes")
        if detections is None:
            detections = self.detector.detect_views(views, names, category=category,
                                                    score_threshold=lab.box_score_thresh,
                                                    max_object_fraction=lab.whole_object_fraction,
                                                    progress=self.progress)
            if self.cache is not None:
                self.cache.put("boxes", key, pack_detections(detections))
        records: list[VoteRecord] = []
        V = vote_matrix(detections, views, result.part, len(names), check=lab.check, records=records)
        D = cnvp(V) if lab.penalty else V.astype(np.float64)
        labels = assign_labels(D, result.part, confidence=lab.confidence)
        result.semantic, result.instance = labels.semantic, labels.instance
        result.part_names = list(names)
        result.part_class = labels.part_class
        result.instance_scores = labels.instance_scores
        result.vote_matrix = V
        result.detections = detections
        result.votes = records
        result.counts.update(boxes=int(sum(len(d) for d in detections)),
                             votes=int(V.sum()), labeled_parts=int((labels.part_class >= 0).sum()))


def _identity(model: Any) -> str:
    """What names a segmenter or detector in cache keys: its ``name``, else its class."""
    return str(getattr(model, "name", type(model).__qualname__))


def build_detector(spec: str, device: str, config: ZeroPSConfig, seed: int = 0) -> Any:
    """A detector from its spec; ``hf:`` detectors get the configured prompt style, ``oracle`` the seed."""
    if spec.startswith("hf:"):
        return get_detector(spec, device=device, prompt_style=config.labeling.prompt_style)
    if spec.split(":")[0] == "oracle":
        return get_detector(spec, device=device, seed=seed)
    return get_detector(spec, device=device)

