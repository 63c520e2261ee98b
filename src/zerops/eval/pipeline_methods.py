"""The pipeline as evaluation methods: ``zerops eval --method zerops`` and ``--method labeling``."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from zerops.config import DEFAULT_PRESET
from zerops.eval.prediction import Method, Prediction
from zerops.pipeline import ZeroPS, build_config, build_detector


def zerops_method(preset: str = DEFAULT_PRESET, segmenter: str = "embedded", device: str = "cpu",
                   no_extension: bool = False, passes: int | None = None, merge_threshold: float | None = None,
                   views: str | None = None, n_prompts: int | None = None, cache: str | None = None,
                   detector: str | None = None, no_penalty: bool = False, no_check: bool = False,
                   prompt_style: str | None = None, confidence: str | None = None, detector_seed: int = 0,
                   max_points: int | None = None, granularity: float | None = None, n_parts: int | None = None,
                   shading: str | None = None, overrides: Sequence[str] | None = None,
                   extension: bool = False) -> Method:
    """``zerops eval --method zerops``: the pipeline as an evaluation method. Class-agnostic parts; with a
    ``detector`` also semantic / instance labels (an ``oracle`` detector is given each shape's ground truth).
    ``cache``: stage-cache folder (None: no stage cache)."""
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


def labeling_method(detector: str = "oracle:glip-like", device: str = "cpu", no_penalty: bool = False,
                     no_check: bool = False, prompt_style: str | None = None, confidence: str | None = None,
                     detector_seed: int = 0, views: str | None = None, cache: str | None = None) -> Method:
    """``zerops eval --method labeling``: the labeling step alone, on the ground-truth instances as parts
    (measures TDCM / Vote Matrix / CNVP independently of SAM)."""
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
