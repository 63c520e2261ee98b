"""The text-grounded part-detector protocol, detections, prompt styles and the registry.

A detector takes a rendered view and the part names and returns boxes in view pixels::

    det = get_detector("hf:IDEA-Research/grounding-dino-base")
    d = det.detect(image, ["arm", "back", "leg", "seat", "wheel"], category="chair")
    d.boxes   # (K, 4) float32 xyxy pixels
    d.scores  # (K,) float32
    d.labels  # (K,) int64, index into part_names

The pipeline calls :meth:`Detector.detect_views`, which by default runs :meth:`detect` on each view and
applies the shared post-filters (score threshold, whole-object boxes). Detectors that need more than the
image (the ground-truth ``oracle``) override it.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from zerops.errors import ZeropsError

__all__ = ["Detections", "Detector", "PROMPT_STYLES", "build_prompt", "filter_detections", "check_part_names",
           "object_pixels", "as_detector", "pack_detections", "unpack_detections"]

PROMPT_STYLES = ("names", "of-category")


@dataclass
class Detections:
    """Boxes found in one view. ``boxes`` (K, 4) float32 xyxy pixels, ``scores`` (K,), ``labels`` (K,)."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if not (len(self.boxes) == len(self.scores) == len(self.labels)):
            raise ZeropsError(f"detections disagree in length: {len(self.boxes)} boxes, "
                              f"{len(self.scores)} scores, {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.boxes)

    def subset(self, keep: np.ndarray) -> "Detections":
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep])

    def to_json(self, part_names: Sequence[str]) -> list[dict[str, Any]]:
        return [{"box": [round(float(v), 2) for v in b], "score": round(float(s), 4),
                 "label": int(c), "name": part_names[int(c)]}
                for b, s, c in zip(self.boxes, self.scores, self.labels)]


def build_prompt(part_names: Sequence[str], style: str = "names", category: str | None = None) -> list[str]:
    """The phrase for each part name: ``names`` -> "arm"; ``of-category`` -> "arm of a chair"."""
    if style not in PROMPT_STYLES:
        raise ZeropsError(f"unknown prompt style '{style}': use {' or '.join(PROMPT_STYLES)}")
    names = [str(n).strip().lower().replace("_", " ") for n in part_names]
    if style == "of-category":
        if not category:
            raise ZeropsError("prompt style 'of-category' needs the object category (e.g. --category Chair)")
        cat = str(category).strip().lower().replace("_", " ")
        art = "an" if cat[:1] in "aeiou" else "a"
        names = [f"{n} of {art} {cat}" for n in names]
    return names


def check_part_names(part_names: Any) -> list[str]:
    """Validate a list of part names (non-empty, unique, non-blank strings)."""
    if isinstance(part_names, str):
        part_names = [p for p in part_names.split(",")]
    names = [str(p).strip() for p in (part_names or [])]
    if not names or any(not n for n in names):
        raise ZeropsError("part names must be a non-empty list of non-blank names, e.g. 'arm,back,leg,seat'")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ZeropsError(f"part names repeat: {', '.join(dup)}")
    return names


def filter_detections(det: Detections, score_threshold: float = 0.5, object_points: np.ndarray | None = None,
                      max_object_fraction: float = 0.98) -> Detections:
    """Keep boxes with score >= threshold that do not hold more than ``max_object_fraction`` of the object's
    projected points strictly inside. ``object_points`` (P, 2) float pixel (x, y) of all its points."""
    keep = det.scores >= score_threshold
    if object_points is not None and len(object_points) and len(det):
        x, y = object_points[:, 0], object_points[:, 1]
        for k in np.flatnonzero(keep):
            x0, y0, x1, y1 = det.boxes[k]
            inside = np.count_nonzero((x > x0) & (x < x1) & (y > y0) & (y < y1))
            if inside > max_object_fraction * len(object_points):
                keep[k] = False
    return det.subset(keep)


def object_pixels(view: Any) -> np.ndarray:
    """(N, 2) float32 pixel (x, y) projections of all the object's points in a ``RenderedView`` (visible
    or not: the whole-object filter of PartSLIP counts them all)."""
    return np.asarray(view.pixels, dtype=np.float32)


class Detector(abc.ABC):
    """A text-grounded detector. Subclasses implement :meth:`detect`."""

    name: str = "detector"

    @abc.abstractmethod
    def detect(self, image: np.ndarray, part_names: Sequence[str], category: str | None = None) -> Detections:
        """image (H, W, 3) uint8, part names -> raw :class:`Detections` (no score threshold applied)."""

    def detect_views(self, views: Sequence[Any], part_names: Sequence[str], category: str | None = None,
                     score_threshold: float = 0.5, max_object_fraction: float = 0.98,
                     progress: bool = False) -> list[Detections]:
        """Detections for each rendered view (``RenderedView``), filtered as the spec says."""
        import sys

        from tqdm import tqdm

        out = []
        for view in tqdm(views, desc="detect", unit="view", disable=not progress, file=sys.stderr):
            det = self.detect(view.image, part_names, category=category)
            obj = object_pixels(view)
            out.append(filter_detections(det, score_threshold, obj, max_object_fraction))
        return out


def as_detector(obj: Any, name: str | None = None) -> Detector:
    """A :class:`Detector` as is; any other object with ``detect(image, part_names, category=None)`` wrapped
    so that its output is checked and the shared ``detect_views`` (thresholds, filters) applies to it.
    Detectors that need more than the image (ground truth, ...) subclass :class:`Detector`."""
    if isinstance(obj, Detector):
        return obj
    name = name or str(getattr(obj, "name", type(obj).__qualname__))
    if not callable(getattr(obj, "detect", None)):
        raise ZeropsError(f"'{name}' does not implement detect(image, part_names)")
    return _Wrapped(obj, name)


class _Wrapped(Detector):
    """A duck-typed plug-in: its detect() output (Detections or a (boxes, scores, labels) tuple) is checked."""

    def __init__(self, inner: Any, spec: str) -> None:
        self.inner, self.name = inner, spec

    def detect(self, image: np.ndarray, part_names: Sequence[str], category: str | None = None) -> Detections:
        out = self.inner.detect(image, part_names, category=category)
        if isinstance(out, Detections):
            return out
        try:
            boxes, scores, labels = out
        except (TypeError, ValueError):
            raise ZeropsError(f"detector '{self.name}' must return Detections or (boxes, scores, labels)") from None
        return Detections(boxes, scores, labels)


def pack_detections(detections: Sequence[Detections]) -> dict[str, np.ndarray]:
    """Per-view detections -> flat arrays (for the stage cache)."""
    return {"counts": np.array([len(d) for d in detections], np.int64),
            "boxes": np.concatenate([d.boxes for d in detections]) if detections else np.zeros((0, 4), np.float32),
            "scores": np.concatenate([d.scores for d in detections]) if detections else np.zeros(0, np.float32),
            "labels": np.concatenate([d.labels for d in detections]) if detections else np.zeros(0, np.int64)}


def unpack_detections(arrays: dict[str, np.ndarray]) -> list[Detections]:
    """The inverse of :func:`pack_detections`."""
    off = np.concatenate([[0], np.cumsum(arrays["counts"])])
    return [Detections(arrays["boxes"][a:b], arrays["scores"][a:b], arrays["labels"][a:b])
            for a, b in zip(off[:-1], off[1:])]
