"""The ZeroPS pipeline object: render → initial groups [→ self-extension, off in the default preset] → merging
or the superpoint graph (→ labeling).

Usage (SAM-generator style: the constructor takes every knob, ``segment`` does the work)::

    from zerops import ZeroPS, preset
    result = ZeroPS().segment("chair.ply")          # the default preset, graph
    result.part            # (N,) int64 part id per input point, −1 unassigned
"""
from __future__ import annotations

import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from zerops.cache import StageCache, array_digest, pack_groups, stage_key, unpack_groups
from zerops.config import DEFAULT_PRESET, ZeroPSConfig, preset
from zerops.detectors import as_detector, get_detector
from zerops.detectors.base import pack_detections, unpack_detections
from zerops.errors import ZeropsError
from zerops.geometry.masks import fill_nearest
from zerops.geometry.pointops import knn, point_spacing
from zerops.io.cloud import PointCloud
from zerops.io.load import as_cloud
from zerops.partnames import resolve_part_names
from zerops.render.renderer import RenderedView, Renderer, normalize
from zerops.render.views import extension_order, get_layout
from zerops.result import PartResult, propagate_result, subsample_cloud
from zerops.runstate import Run
from zerops.segmenters import PromptSet, decode_at_with_stability, decode_with_stability, get_segmenter
from zerops.stages.evidence import MaskEvidence, evidence_pixels, pack_evidence, unpack_evidence
from zerops.stages.extension import DecodeMemo, SveTools, self_extension
from zerops.stages.grouping import initial_groups, prompt_view
from zerops.stages.labeling import VoteRecord, assign_labels, cnvp, vote_matrix
from zerops.stages.merging import cleanup_labels, merge_groups, resolve_labels
from zerops.stages.partgraph import PartGraph, build_part_graph, graph_parts
from zerops.stages.votemerge import view_labels


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

    # ------------------------------------------------------------------------------------------ stages
    def _decode_sve(self, run: Run, view: int, prompts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """SVE decode: all prompt sets of one view in one segmenter call (positive clicks only)."""
        masks, scores = self.segmenter.predict(run.slot[view], [PromptSet.positive(p) for p in prompts])
        _record(run, view, masks, scores, "extension")
        return masks, scores

    def _decode_amg(self, run: Run, view: int, prompts: list[np.ndarray]):
        """Initial-group decode: single-point prompts, stability scores when the segmenter offers them. In graph
        mode every candidate comes back (the evidence floor applies where evidence is recorded); otherwise the
        segmenter may leave the candidates that the §3.1 filters drop empty."""
        g = self.config.grouping
        drops = {} if run.evidence is not None else dict(min_score=g.pred_iou_thresh,
                                                         min_stability=g.stability_score_thresh)
        out = decode_with_stability(self.segmenter, run.slot[view], [PromptSet.positive(p) for p in prompts], **drops)
        _record(run, view, out[0], out[1], "groups")
        return out

    def _decode_points(self, run: Run, view: int, prompts: list[np.ndarray], pixel: np.ndarray, needed: np.ndarray):
        """Initial-prompt decode at the (P,) flat evidence pixels only (``config.decodes_at_points``), recorded."""
        g, rendered = self.config.grouping, run.views[view]
        hw = rendered.index_map.shape
        out = decode_at_with_stability(self.segmenter, run.slot[view], [PromptSet.positive(p) for p in prompts],
                                       pixel // hw[1], pixel % hw[1], min_score=g.pred_iou_thresh,
                                       min_stability=g.stability_score_thresh, needed=needed)
        run.evidence.add_view_pixels(view, out[0], pixel, hw, out[1], rendered, "groups",
                                     min_score=run.evidence_floor, won_pixels=run.won_pixels)
        return out

    def _encode(self, run: Run, needed: list[str]) -> float:
        """Encode the views a run needs (``run.slot`` maps a view index to its segmenter slot); seconds.
        With a stage cache and a segmenter that can export its embeddings, views are encoded once."""
        t = time.perf_counter()
        run.slot = {run.view_index[n]: k for k, n in enumerate(needed)}
        images = [run.views[run.view_index[n]].image for n in needed]
        if self.cache is None or not getattr(self.segmenter, "supports_embedding_cache", False):
            self.segmenter.set_images(images, progress=self.progress)
            return time.perf_counter() - t
        encoder = getattr(self.segmenter, "encoder_name", None) or _identity(self.segmenter)   # shared encodes
        keys = [stage_key("embeddings", array_digest(im), encoder) for im in images]
        hits = [self.cache.get("embeddings", k) for k in keys]
        self.segmenter.set_images(images, progress=self.progress,
                                  embeddings=[h["embedding"] if h is not None else None for h in hits])
        for k, (key, hit) in enumerate(zip(keys, hits)):
            if hit is None:
                self.cache.put("embeddings", key, {"embedding": self.segmenter.embedding(k)})
        return time.perf_counter() - t

    def _stage_keys(self, pc: PointCloud) -> dict[str, str]:
        """The cloud's digest and the cache keys of the initial and extended groups (all they depend on)."""
        cfg = self.config   # (``prompt_views`` enters the key only when not the default: older keys stay valid)
        cloud = array_digest(pc.xyz, pc.rgb, pc.normals)
        grouping = {"__type__": "GroupingConfig", **{k: v for k, v in asdict(cfg.grouping).items() if v != "start"}}
        groups = stage_key("groups", cloud, cfg.render, grouping, cfg.seed, _identity(self.segmenter),
                           *((("evidence-won-pixels" if cfg.graph.lift_won_pixels else "evidence-centre"),
                              cfg.graph.mask_min_score) if cfg.graph.enabled else ()),
                           *(("no-groups",) if cfg.decodes_at_points else ()))
        return {"cloud": cloud, "groups": groups, "extended": stage_key("extended", groups, cfg.extension)}

    def segment(self, cloud: Any, part_names: Sequence[str] | str | None = None, category: str | None = None,
                keep_views: bool = True) -> PartResult:
        """Segment ``cloud`` (a path, :class:`~zerops.io.cloud.PointCloud`, (N,3)/(N,6) array or trimesh object).

        With ``part_names`` (or a PartNetE ``category``, whose part names are then used) the parts are also
        labeled (METHOD.md §4) by the detector: ``semantic``, ``instance`` and ``part_names`` are filled in.
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

    def render_views(self, cloud: Any) -> tuple[list[RenderedView], np.ndarray | None]:
        """The views :meth:`segment` renders of ``cloud`` and the points they show (None: all), for the oracle."""
        full = as_cloud(cloud)
        pc, sample = subsample_cloud(full, self.config.max_points, self.config.seed)
        xyz, _, _ = normalize(pc.xyz)
        return self.renderer.render(xyz, pc.rgb, pc.normals, layout=self.layout), sample

    def label(self, cloud: Any, part: np.ndarray, part_names: Sequence[str] | str | None = None,
              category: str | None = None, keep_views: bool = True) -> PartResult:
        """Name given class-agnostic parts (METHOD.md §4 only): ``part`` (N,) int64 part id per point (−1 none),
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
        """The stages on a (sub)sampled cloud: render, [cached] initial groups, [cached] self-extension,
        merging or the part graph, [labeling]."""
        cfg, t = self.config, time.perf_counter()
        xyz, _, _ = normalize(pc.xyz)
        views = self.renderer.render(xyz, pc.rgb, pc.normals, layout=self.layout)
        view_index = {v.name: i for i, v in enumerate(views)}
        prompted = self.layout.start_views if cfg.grouping.prompt_views == "start" else list(view_index)
        run = Run(xyz=xyz, rgb=pc.rgb, views=views, view_index=view_index,
                   starts=[s for s in prompted if s in view_index],
                   eps=max(cfg.grouping.dbscan_eps, cfg.grouping.eps_spacing_factor * point_spacing(xyz)),
                   min_pts=cfg.grouping.dbscan_min_points, keys=self._stage_keys(pc) if self.cache is not None else {},
                   evidence=MaskEvidence(len(xyz)) if cfg.graph.enabled else None,
                   won_pixels=cfg.graph.lift_won_pixels, evidence_floor=cfg.graph.mask_min_score)
        run.seconds["render"] = time.perf_counter() - t

        groups = self._cached_extension(run) if cfg.extension.enabled else None
        if groups is None:
            groups = self._initial_stage(run)
            run.counts["initial_groups"] = sum(len(g) for g in groups.values())
            initial = {k: list(v) for k, v in groups.items()} if self.debug else {}
            if cfg.extension.enabled:
                groups = self._extension_stage(run, groups)
        else:
            initial = {}

        t, votes = time.perf_counter(), cfg.graph.votes
        part, graph = self._merge_stage(run, groups)
        run.seconds["merging"] = time.perf_counter() - t
        run.counts["parts"] = n_parts = int(part.max()) + 1
        result = PartResult(xyz=pc.xyz, part=part, parts=[np.flatnonzero(part == k) for k in range(n_parts)],
                            seconds=run.seconds, decodes=run.gstats.decodes + run.estats.decodes, counts=run.counts,
                            views=views if keep_views else [], cached=run.cached, graph=graph,
                            debug={"initial": initial, "extended": groups, "grouping_stats": run.gstats,
                                   "extension_stats": run.estats, "evidence": run.evidence, "partitions": view_labels(
                                       run.evidence, votes, graph and graph.superpoints.n_regions)}
                            if self.debug else {})
        if names is not None:
            t = time.perf_counter()
            self._label(result, views, names, category, run.keys)
            run.seconds["labeling"] = time.perf_counter() - t
        run.seconds["total"] = time.perf_counter() - t_all
        return result

    # ---- the stage cache: a miss (or no cache) is None; a cache that cannot be written is skipped
    def _cache_get(self, stage: str, run: Run) -> dict[str, np.ndarray] | None:
        hit = self.cache.get(stage, run.keys[stage]) if self.cache is not None else None
        if hit is not None:
            run.cached.append(stage)
            if self.config.graph.enabled:
                run.evidence = unpack_evidence(hit)
        return hit

    def _cache_put(self, stage: str, run: Run, groups: dict[str, list[np.ndarray]],
                   **scalars: int) -> None:
        if self.cache is not None:
            evidence = pack_evidence(run.evidence) if run.evidence is not None else {}
            self.cache.put(stage, run.keys[stage], {**pack_groups(groups), **evidence,
                                                    **{k: np.int64(v) for k, v in scalars.items()}})

    def _cached_extension(self, run: Run) -> dict[str, list[np.ndarray]] | None:
        """The extended groups from the stage cache (then neither SAM nor the initial groups are needed)."""
        hit = self._cache_get("extended", run)
        if hit is None:
            return None
        run.counts.update(initial_groups=int(hit["initial_groups"]), decodes_groups=int(hit["decodes_groups"]),
                          decodes_extension=int(hit["decodes_extension"]))
        return unpack_groups(hit)

    def _initial_stage(self, run: Run) -> dict[str, list[np.ndarray]]:
        """Initial 3D groups of every start view (METHOD.md §3.1), from the cache or SAM. With self-extension
        every view is encoded (it decodes in all of them), else only the start views."""
        cfg = self.config
        hit = self._cache_get("groups", run)
        if cfg.extension.enabled:
            run.seconds["encode"] = self._encode(run, [v.name for v in run.views])
        if hit is not None:
            run.counts["decodes_groups"] = int(hit["decodes"])
            return unpack_groups(hit)
        if not cfg.extension.enabled:
            run.seconds["encode"] = self._encode(run, run.starts)
        t = time.perf_counter()
        groups = {}
        for s in tqdm(run.starts, desc="initial groups", unit="view", disable=not self.progress, leave=False):
            i = run.view_index[s]
            if cfg.decodes_at_points:           # the vote merge reads the evidence only
                groups[s] = prompt_view(i, run.views[i], partial(self._decode_points, run), run.xyz, cfg.grouping,
                                        evidence_pixels(run.views[i], run.views[i].index_map.shape, run.won_pixels),
                                        stats=run.gstats)
            else:
                groups[s] = initial_groups(i, run.views[i], partial(self._decode_amg, run), run.lifter(cfg),
                                           cfg.grouping, stats=run.gstats)
        run.seconds["groups"] = time.perf_counter() - t
        run.counts["decodes_groups"] = run.gstats.decodes
        self._cache_put("groups", run, groups, decodes=run.gstats.decodes)
        return groups

    def _extension_stage(self, run: Run, groups: dict[str, list[np.ndarray]]) -> dict[str, list[np.ndarray]]:
        """Self-extension of every start view's groups over its BFS view order (METHOD.md §3.2–3.3)."""
        cfg = self.config
        t = time.perf_counter()
        schedule = {s: extension_order(self.layout, s) for s in run.starts}
        total = cfg.extension.passes * sum(len(v) for v in schedule.values())
        neighbors = (knn(run.xyz, cfg.extension.interior_neighbors)[1] if cfg.extension.interior_prompts > 0
                     else None)
        tools = SveTools(partial(self._decode_sve, run), run.lifter(cfg), neighbors,
                         memo=DecodeMemo() if cfg.extension.memoize else None)
        with tqdm(total=total, desc="self-extension", unit="step", disable=not self.progress, leave=False) as bar:
            groups, run.estats = self_extension(groups, schedule, run.view_index, run.views, tools, cfg.extension,
                                                progress=bar.update)
        run.seconds["extension"] = time.perf_counter() - t
        run.counts["decodes_extension"] = run.estats.decodes
        self._cache_put("extended", run, groups, initial_groups=run.counts["initial_groups"],
                        decodes_groups=run.counts["decodes_groups"], decodes_extension=run.estats.decodes)
        return groups

    def _merge_stage(self, run: Run, groups: dict[str, list[np.ndarray]]) -> tuple[np.ndarray, PartGraph | None]:
        """(N,) parts from the pooled groups: merging (METHOD.md §3.4), or the part graph (§11) in graph mode."""
        cfg = self.config
        pooled = [g for s in run.starts for g in groups.get(s, [])]
        run.counts["extended_groups"] = len(pooled)
        if cfg.graph.enabled:
            evidence = run.evidence if run.evidence is not None else MaskEvidence(len(run.xyz))
            graph = build_part_graph(run.xyz, run.rgb, evidence, cfg.graph)
            stats = graph.merge.stats
            run.counts.update({} if "view_error" not in stats else {"view_error": round(stats["view_error"], 4)})
            run.counts.update(superpoints=graph.superpoints.count, graph_edges=len(graph.superpoints.edges),
                              evidence_masks=len(evidence), evidence_edges=int(stats["evidence_edges"]))
            return graph_parts(graph, cfg.graph), graph
        merged = merge_groups(pooled, cfg.merging.iou_threshold)
        part = cleanup_labels(resolve_labels(merged, len(run.xyz)), run.xyz, run.eps, run.min_pts)
        if cfg.merging.fill_unassigned:
            part = fill_nearest(part, run.xyz)      # display only (METHOD.md §3.4 step 5)
        run.counts["merged_groups"] = len(merged)
        return part, None

    def _label(self, result: PartResult, views: list[RenderedView], names: list[str], category: str | None,
               keys: dict[str, str]) -> None:
        """Detect part names in every view, vote (TDCM), penalize (CNVP), assign (METHOD.md §4).
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


def _record(run: Run, view: int, masks: np.ndarray, scores: np.ndarray, source: str) -> None:
    """Keep every decoded candidate as evidence for the superpoint graph (graph mode only)."""
    if run.evidence is not None:
        run.evidence.add_view_masks(view, masks, scores, run.views[view], source, min_score=run.evidence_floor,
                                    won_pixels=run.won_pixels)


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

