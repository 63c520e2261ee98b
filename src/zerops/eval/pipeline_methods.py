"""The pipeline as evaluation methods: ``zerops eval --method zerops``, ``--method cut-oracle`` (its merge tree
cut where the ground truth scores best: a bound) and ``--method labeling``."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from zerops.errors import ZeropsError
from zerops.eval.metrics import best_partition
from zerops.eval.prediction import Method, Prediction
from zerops.options import build_config, option_names, split_options
from zerops.pipeline import ZeroPS, build_detector

_RUNTIME = ("detector_seed", "cache")      # options that are not switches of the CLI table


def _split(method: str, options: Mapping[str, Any], allowed: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(build_config keyword arguments, runtime options) of ``options``, or a one-line error for an option the
    method does not take."""
    accepted = [*allowed, *_RUNTIME]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ZeropsError(f"method '{method}' does not accept options {unknown}; it accepts: {', '.join(accepted)}")
    return split_options(options)


def zerops_method(**options: Any) -> Method:
    """``zerops eval --method zerops``: the pipeline as an evaluation method. Class-agnostic parts; with a
    ``detector`` also semantic / instance labels (an ``oracle`` detector is given each shape's ground truth).
    ``options``: the switches of :data:`zerops.options.SWITCHES` by key (``preset``, ``passes``, ``segmenter``,
    ``device``, ``detector`` …), ``detector_seed``, and ``cache`` (stage-cache folder; None: no stage cache)."""
    model, det = _model("zerops", options)

    def run(shape) -> Prediction:
        _give_truth(model, shape)
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


#: the finest cut ``cut-oracle`` tries (parts per shape)
CUT_ORACLE_MAX_PARTS = 64


def cut_oracle_method(**options: Any) -> Method:
    """``zerops eval --method cut-oracle``: the pipeline's own merge tree (graph preset), cut for every shape where
    the ground truth scores best — its default cut or any cut at 1 … ``CUT_ORACLE_MAX_PARTS`` parts. It reads
    the labels: a measurement, not a method. The gap between it and ``zerops`` is what a per-object cut made
    from the evidence could win with the same masks and the same tree. ``options``: as ``zerops`` (no
    detector). The prediction's ``extra`` holds ``n_parts`` (the best cut) and ``default_parts``."""
    if options.get("detector") is not None:
        raise ZeropsError("method 'cut-oracle' scores class-agnostic parts only; it takes no detector")
    model, _ = _model("cut-oracle", options)
    if not model.config.graph.enabled:
        raise ZeropsError("method 'cut-oracle' cuts the graph preset's merge tree; this configuration has none "
                          "(use the default preset)")

    def run(shape) -> Prediction:
        _give_truth(model, shape)
        r = model.segment(shape.cloud, keep_views=False)
        counts = range(1, min(CUT_ORACLE_MAX_PARTS, r.graph.superpoints.count) + 1)
        cuts = [r.part, *(r.regroup(n_parts=k) for k in counts)]
        part = cuts[best_partition(shape.instance, cuts)]
        return Prediction(part=part, seconds=r.seconds["total"],
                          extra={"decodes": r.decodes, "seconds": r.seconds, "cached": r.cached,
                                 "n_parts": int(len(np.unique(part))), "default_parts": int(r.part.max()) + 1})
    return run


def _model(method: str, options: Mapping[str, Any]) -> tuple[ZeroPS, Any]:
    """The pipeline and its detector (or None) that a pipeline method's ``options`` ask for."""
    config_kw, run_kw = _split(method, options, option_names())
    segmenter, device = run_kw.get("segmenter", "embedded"), run_kw.get("device", "cpu")
    detector, cache = run_kw.get("detector"), run_kw.get("cache")
    cfg = build_config(**config_kw)
    det = build_detector(detector, device, cfg, seed=run_kw.get("detector_seed", 0)) if detector is not None else None
    return ZeroPS(cfg, segmenter=segmenter, device=device, progress=False, cache=cache, detector=det), det


def _give_truth(model: ZeroPS, shape) -> None:
    """An oracle segmenter gets this shape's ground-truth pixels (the views it will decode in)."""
    if hasattr(model.segmenter, "set_ground_truth"):
        views, sample = model.render_views(shape.cloud)
        model.segmenter.set_ground_truth(views, shape.instance if sample is None else shape.instance[sample])


def labeling_method(**options: Any) -> Method:
    """``zerops eval --method labeling``: the labeling step alone, on the ground-truth instances as parts
    (measures TDCM / Vote Matrix / CNVP independently of SAM). ``options``: the labeling switches of
    :data:`zerops.options.SWITCHES` (``detector`` default ``oracle:glip-like``), ``detector_seed``, ``cache``."""
    config_kw, run_kw = _split("labeling", options, option_names(labeling=True))
    device, cache = run_kw.get("device", "cpu"), run_kw.get("cache")
    cfg = build_config(**{"preset_name": "fast", **config_kw})
    det = build_detector(run_kw.get("detector", "oracle:glip-like"), device, cfg, seed=run_kw.get("detector_seed", 0))
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
