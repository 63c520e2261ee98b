"""The ZeroPS pipeline object: render → initial groups → self-extension → merging (→ labeling).

Usage (SAM-generator style: the constructor takes every knob, ``segment`` does the work)::

    from zerops import ZeroPS, preset
    result = ZeroPS().segment("chair.ply")          # the default preset, graph
    result.part            # (N,) int64 part id per input point, −1 unassigned
"""
from __future__ import annotations

import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from zerops.cache import StageCache, array_digest, pack_groups, stage_key, unpack_groups
from zerops.config import DEFAULT_PRESET, ZeroPSConfig, preset
from zerops.options import build_config, parse_overrides
from zerops.detectors import Detections, as_detector, check_part_names, get_detector
from zerops.stages.evidence import MaskEvidence, pack_evidence, unpack_evidence
from zerops.stages.labeling import VoteRecord, assign_labels, cnvp, vote_matrix
from zerops.errors import ZeropsError
from zerops.stages.extension import DecodeMemo, ExtensionStats, self_extension
from zerops.stages.grouping import GroupingStats, initial_groups
from zerops.io.core import PointCloud, as_cloud
from zerops.stages.merging import fill_unassigned, merge_groups, resolve_labels, cleanup_labels
from zerops.stages.partgraph import PartGraph, build_part_graph, graph_parts
from zerops.geometry.pointops import knn, point_spacing
from zerops.render.renderer import RenderedView, Renderer, normalize
from zerops.segmenters import PromptSet, Segmenter, get_segmenter
from zerops.render.views import extension_order, get_layout


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
        from scipy.spatial import cKDTree
        return cKDTree(self.xyz[self.sample]).query(self.xyz, k=1)[1]

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
        self.layout = get_layout(self.config.render.views)
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
        """Segment ``cloud`` (a path, :class:`~zerops.io.core.PointCloud`, (N,3)/(N,6) array or trimesh object).

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
                                               cfg.grouping, eps, min_pts, batch_size=cfg.grouping.batch_size,
                                               skip_covered=cfg.grouping.skip_covered, stats=gstats,
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
                                                    neighbors=knn(xyz, 8)[1] if cfg.extension.interior_prompts > 0
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
    from scipy.spatial import cKDTree

    _, nn = cKDTree(full.xyz[sample]).query(full.xyz, k=1)
    result.xyz = full.xyz
    result.part = result.part[nn]
    result.parts = [np.flatnonzero(result.part == k) for k in range(len(result.parts))]
    if result.semantic is not None:
        result.semantic = result.semantic[nn]
        result.instance = result.instance[nn]
    result.sample = sample
    result.counts["subsampled_to"] = int(len(sample))
    return result


def build_detector(spec: str, device: str, config: ZeroPSConfig, seed: int = 0) -> Any:
    """A detector from its spec; ``hf:`` detectors get the configured prompt style, ``oracle`` the seed."""
    if spec.startswith("hf:"):
        return get_detector(spec, device=device, prompt_style=config.labeling.prompt_style)
    if spec.split(":")[0] == "oracle":
        return get_detector(spec, device=device, seed=seed)
    return get_detector(spec, device=device)


def resolve_part_names(part_names: Sequence[str] | str | None, category: str | None) -> list[str] | None:
    """The part names to label with: the given list (or comma-separated string), else the PartNetE names of
    ``category``; None when neither is given."""
    if part_names is not None:
        return check_part_names(part_names)
    if category is None:
        return None
    from zerops.eval.partnete import load_partnete_meta

    table = load_partnete_meta()
    match = {k.lower(): k for k in table}.get(str(category).strip().lower())
    if match is None:
        raise ZeropsError(f"unknown PartNetE category '{category}': give --parts, or one of "
                          f"{', '.join(sorted(table))}")
    return list(table[match])


def pack_detections(detections: Sequence[Detections]) -> dict[str, np.ndarray]:
    """Per-view detections -> flat arrays (for the stage cache)."""
    return {"counts": np.array([len(d) for d in detections], np.int64),
            "boxes": np.concatenate([d.boxes for d in detections]) if detections else np.zeros((0, 4), np.float32),
            "scores": np.concatenate([d.scores for d in detections]) if detections else np.zeros(0, np.float32),
            "labels": np.concatenate([d.labels for d in detections]) if detections else np.zeros(0, np.int64)}


def unpack_detections(arrays: dict[str, np.ndarray]) -> list[Detections]:
    off = np.concatenate([[0], np.cumsum(arrays["counts"])])
    return [Detections(arrays["boxes"][a:b], arrays["scores"][a:b], arrays["labels"][a:b])
            for a, b in zip(off[:-1], off[1:])]


def _zerops_method(preset: str = DEFAULT_PRESET, segmenter: str = "embedded", device: str = "cpu",
                   no_extension: bool = False, passes: int | None = None, merge_threshold: float | None = None,
                   views: str | None = None, n_prompts: int | None = None, cache: str | None = None,
                   detector: str | None = None, no_penalty: bool = False, no_check: bool = False,
                   prompt_style: str | None = None, confidence: str | None = None, detector_seed: int = 0,
                   max_points: int | None = None, granularity: float | None = None, n_parts: int | None = None,
                   shading: str | None = None, overrides: Sequence[str] | None = None,
                   extension: bool = False):
    """``zerops eval --method zerops``: the pipeline as an evaluation method. Class-agnostic parts; with a
    ``detector`` also semantic / instance labels (an ``oracle`` detector is given each shape's ground truth).
    ``cache``: stage-cache folder (None: no stage cache)."""
    from zerops.eval.evaluate import Prediction

    cfg = build_config(preset, no_extension, passes, merge_threshold, views, n_prompts,
                       no_penalty=no_penalty, no_check=no_check, prompt_style=prompt_style, confidence=confidence,
                       max_points=max_points, granularity=granularity, n_parts=n_parts, shading=shading,
                       overrides=overrides, extension=extension)
    det = build_detector(detector, device, cfg, seed=detector_seed) if detector is not None else None
    model = ZeroPS(cfg, segmenter=segmenter, device=device, progress=False, cache=cache, detector=det)

    def run(shape) -> Prediction:
        if det is None:
            r = model.segment(shape.cloud, keep_views=False)
            return Prediction(part=r.part, seconds=r.seconds["total"],
                              extra={"decodes": r.decodes, "seconds": r.seconds, "counts": r.counts,
                                     "cached": r.cached})
        if hasattr(det, "set_ground_truth"):
            det.set_ground_truth(shape.semantic, shape.instance)
        r = model.segment(shape.cloud, part_names=shape.part_names, category=shape.category, keep_views=False)
        return Prediction(part=r.part, semantic=r.semantic, instance=r.instance, instance_scores=r.instance_scores,
                          seconds=r.seconds["total"],
                          extra={"decodes": r.decodes, "seconds": r.seconds, "counts": r.counts, "cached": r.cached,
                                 "vote_matrix": r.vote_matrix.tolist()})
    return run


def _labeling_method(detector: str = "oracle:glip-like", device: str = "cpu", no_penalty: bool = False,
                     no_check: bool = False, prompt_style: str | None = None, confidence: str | None = None,
                     detector_seed: int = 0, views: str | None = None, cache: str | None = None):
    """``zerops eval --method labeling``: the labeling step alone, on the ground-truth instances as parts
    (measures TDCM / Vote Matrix / CNVP independently of SAM)."""
    from zerops.eval.evaluate import Prediction

    cfg = build_config("fast", views=views, no_penalty=no_penalty, no_check=no_check, prompt_style=prompt_style,
                       confidence=confidence)
    det = build_detector(detector, device, cfg, seed=detector_seed)
    model = ZeroPS(cfg, segmenter=_NoSegmenter(), device=device, progress=False, cache=cache, detector=det)

    def run(shape) -> Prediction:
        if not (shape.instance >= 0).any():         # nothing to name: an empty prediction
            none = np.full(shape.n_points, -1, dtype=np.int64)
            return Prediction(part=none, semantic=none, instance=none, instance_scores={})
        if hasattr(det, "set_ground_truth"):
            det.set_ground_truth(shape.semantic, shape.instance)
        r = model.label(shape.cloud, shape.instance, part_names=shape.part_names, category=shape.category,
                        keep_views=False)
        return Prediction(part=r.part, semantic=r.semantic, instance=r.instance, instance_scores=r.instance_scores,
                          seconds=r.seconds["total"], extra={"seconds": r.seconds, "counts": r.counts,
                                                             "vote_matrix": r.vote_matrix.tolist()})
    return run


class _NoSegmenter:
    """Placeholder for runs that never call SAM (``ZeroPS.label``)."""

    name = "none"


def _register() -> None:
    from zerops.eval.evaluate import register_method

    register_method("zerops", _zerops_method)
    register_method("labeling", _labeling_method)


_register()
