"""``oracle:choice``: the embedded SAM's own candidates, with the choice among its three made right.

A diagnostic, for evaluation only, as ``oracle:perfect`` is. It measures how much of what SAM sees the choice
among its three multimask candidates loses: the masks are the real model's (MobileSAM through
:class:`~zerops.segmenters.embedded.EmbeddedSam`, or any inner segmenter), only the predicted IoUs are
replaced so that one candidate per prompt is *the* confident one (score 1, the others 0). Every stage then
keeps that candidate (the view-vote partitions keep the smallest confident one; SVE the smallest above its
floor). Which one:

- ``choice`` (``choice-best``): the candidate closest to the ground-truth part under the prompt, by IoU over
  the pixels that show a point (the part under a prompt as in ``oracle:perfect``: the majority under its
  positive points); needs :meth:`ChoiceSegmenter.set_ground_truth` (``zerops eval`` calls it);
- ``choice-small`` / ``choice-middle`` / ``choice-large``: always SAM's first / second / third candidate;
- ``choice-score``: the candidate with the highest predicted IoU.

The fixed rules need no ground truth. The gap between ``choice`` and the default preset with the plain
embedded model is what a choice made from the evidence can win; the fixed rules show no threshold can.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from zerops.errors import ZeropsError
from zerops.segmenters.base import Segmenter
from zerops.segmenters.oracle import OracleSegmenter, image_digest, prompt_part, truth_pixels

__all__ = ["CHOICE_RULES", "ChoiceSegmenter", "choose_candidates", "oracle_segmenter"]

#: rule -> fixed candidate index (None: decided per prompt)
CHOICE_RULES = {"best": None, "small": 0, "middle": 1, "large": 2, "score": None}


def choose_candidates(masks: np.ndarray, scores: np.ndarray, rule: str, part: np.ndarray | None = None,
                      points: np.ndarray | None = None, labels: np.ndarray | None = None) -> np.ndarray:
    """Per prompt the index of the candidate a rule picks, −1: none.

    masks (B, C, H, W) bool, scores (B, C); for ``best`` also the view's ground truth ``part`` (H, W) (−2
    background, from :func:`~zerops.segmenters.oracle.truth_pixels`) and the prompts' points (B, K, 2) and
    labels (B, K). ``best`` picks the highest IoU with the part under the prompt over the pixels showing a
    point (the smaller candidate on ties); −1 when the prompt is on the background or no candidate touches
    the part. Returns (B,) int64.
    """
    b, c = scores.shape
    if rule not in CHOICE_RULES:
        raise ZeropsError(f"unknown candidate choice '{rule}': use {', '.join(CHOICE_RULES)}")
    if CHOICE_RULES[rule] is not None:
        return np.full(b, min(CHOICE_RULES[rule], c - 1), dtype=np.int64)
    if rule == "score":
        return np.argmax(scores, axis=1).astype(np.int64) if c else np.full(b, -1, np.int64)
    out = np.full(b, -1, dtype=np.int64)
    fg = part > -2
    for i in range(b):
        found = prompt_part(part, points[i], labels[i])
        if found is None:
            continue
        truth = part == found[0]
        cand = masks[i] & fg[None]
        inter = (cand & truth[None]).reshape(c, -1).sum(axis=1)
        union = (cand | truth[None]).reshape(c, -1).sum(axis=1)
        iou = inter / np.maximum(union, 1)
        if iou.max() > 0:
            out[i] = int(np.argmax(iou))
    return out


class ChoiceSegmenter(Segmenter):
    """An inner segmenter's candidates; one per prompt marked confident by a rule (see the module doc).

    Args:
        preset: ``choice`` or ``choice-<rule>`` (rules: best, small, middle, large, score).
        inner: the segmenter whose masks are used (default: the embedded MobileSAM on ``device``).
    """

    def __init__(self, preset: str = "choice", device: str = "cpu", *, inner: Segmenter | None = None) -> None:
        super().__init__()
        rule = "best" if preset == "choice" else preset[len("choice-"):] if preset.startswith("choice-") else ""
        if rule not in CHOICE_RULES:
            raise ZeropsError(f"unknown oracle segmenter 'oracle:{preset}': use oracle:choice or "
                              f"oracle:choice-{{{'|'.join(r for r in CHOICE_RULES if r != 'best')}}}")
        if inner is None:
            from zerops.segmenters.embedded import EmbeddedSam

            inner = EmbeddedSam(device)
        self.rule = rule
        self.inner = inner
        inner_name = str(getattr(inner, "name", type(inner).__qualname__))
        self.name = f"oracle:choice-{rule}({inner_name})"
        #: the stage cache keys image embeddings by this: the inner model's, so its encodes are shared
        self.encoder_name = inner_name
        self.supports_embedding_cache = bool(getattr(inner, "supports_embedding_cache", False))
        self._truth: dict[str, np.ndarray] = {}
        self._parts: list[np.ndarray | None] = []

    def cache_token(self) -> str:
        return self.name

    def set_ground_truth(self, views: Sequence[Any], instance: np.ndarray) -> None:
        """As :meth:`zerops.segmenters.oracle.OracleSegmenter.set_ground_truth` (used by the ``best`` rule; passed
        on to an inner segmenter that takes it too)."""
        self._truth = truth_pixels(views, instance)
        if hasattr(self.inner, "set_ground_truth"):
            self.inner.set_ground_truth(views, instance)

    def _encode(self, images: list[np.ndarray], progress: bool) -> None:
        self._encode_with(images, [None] * len(images), progress)

    def _encode_with(self, images: list[np.ndarray], embeddings: list[np.ndarray | None], progress: bool) -> None:
        parts: list[np.ndarray | None] = []
        for i, im in enumerate(images):
            part = self._truth.get(image_digest(im))
            if part is None and self.rule == "best":
                raise ZeropsError(f"oracle:choice has no ground truth for image {i}: it answers only views rendered "
                                  "from the cloud given to set_ground_truth (zerops eval does this)")
            parts.append(part)
        self.inner.set_images(images, progress=progress,
                              embeddings=embeddings if any(e is not None for e in embeddings) else None)
        self._parts = parts

    def embedding(self, view: int) -> np.ndarray:
        return self.inner.embedding(view)

    def _decode(self, view: int, points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._rescored(view, points, labels, None)[:2]

    def _decode_stability(self, view, points, labels, offset, min_score=None, min_stability=None):
        """The inner model's candidates and stability; no floors (every candidate is needed to choose)."""
        return self._rescored(view, points, labels, offset)

    def _rescored(self, view: int, points: np.ndarray, labels: np.ndarray,
                  offset: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """masks (B, 3, H, W), scores (B, 3) with the chosen candidate at 1 and the others at 0, stability."""
        sets = [(p, lab) for p, lab in zip(points, labels)]
        if offset is None:
            masks, scores = self.inner.predict(view, sets)
            stability = None
        else:
            masks, scores, stability = self.inner.predict_with_stability(view, sets, offset=offset)
        pick = choose_candidates(masks, scores, self.rule, self._parts[view], points, labels)
        new = np.zeros_like(scores)
        ok = np.flatnonzero(pick >= 0)
        new[ok, pick[ok]] = 1.0
        if stability is not None:
            stability = stability.copy()
            stability[ok, pick[ok]] = 1.0
        return masks, new, stability


def oracle_segmenter(preset: str | None = "perfect", device: str = "cpu", **options: Any) -> Segmenter:
    """The ``oracle:`` registry entry: ``perfect`` / ``noisy-P`` (:class:`OracleSegmenter`) or ``choice`` /
    ``choice-<rule>`` (:class:`~zerops.segmenters.choice.ChoiceSegmenter`: the embedded SAM's own candidates,
    the choice among them made from the ground truth or by a fixed rule)."""
    if preset is not None and (preset == "choice" or preset.startswith("choice-")):
        options.pop("seed", None)
        return ChoiceSegmenter(preset, device=device, **options)
    return OracleSegmenter(preset, device=device, **options)
