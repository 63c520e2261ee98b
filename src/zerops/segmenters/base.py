"""The promptable-segmenter protocol, prompt sets, mask selection and the registry.

A segmenter works like SAM's predictor with explicit state: ``set_images`` encodes a list of views once,
then ``predict(view, prompts)`` decodes a batch of point-prompt sets against one view's embedding and
returns, for every prompt set, SAM's 3 multimask candidates at the view's own resolution and their
predicted IoUs. The pipeline never needs to know which SAM it talks to.

Pixel convention (same as :mod:`zerops.render.renderer`): a point is (x = column, y = row) in continuous pixel
coordinates, pixel (r, c) covers [c, c+1) x [r, r+1) and its centre is (c + 0.5, r + 0.5).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from zerops.errors import ZeropsError
from zerops.geometry.masks import SELECTION_RULES, select_candidates

__all__ = ["PromptSet", "as_prompt_sets", "Segmenter", "select_masks", "check_segmenter", "check_pixels",
           "decode_with_stability"]


@dataclass(frozen=True)
class PromptSet:
    """K point prompts for one mask.

    points: (K, 2) float32 (x = column, y = row, pixel centres at +0.5);
    labels: (K,) int64, 1 = positive (on the part), 0 = negative (off the part).
    """

    points: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        try:
            pts = np.asarray(self.points, dtype=np.float32)
            lab = np.asarray(self.labels)
        except (TypeError, ValueError) as err:
            raise ZeropsError(f"prompt points/labels must be numeric arrays ({err})") from None
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ZeropsError(f"prompt points must have shape (K, 2) as (x, y), got {pts.shape}")
        if pts.shape[0] == 0:
            raise ZeropsError("a prompt set has no points: give at least one point per prompt set")
        if lab.shape != (pts.shape[0],):
            raise ZeropsError(f"prompt labels must have shape ({pts.shape[0]},), got {lab.shape}")
        if not np.all(np.isfinite(pts)):
            raise ZeropsError("prompt points contain NaN or infinite coordinates")
        if lab.size and not np.all(np.isin(lab, (0, 1))):
            raise ZeropsError("prompt labels must be 1 (positive) or 0 (negative)")
        object.__setattr__(self, "points", np.ascontiguousarray(pts))
        object.__setattr__(self, "labels", lab.astype(np.int64))

    @classmethod
    def positive(cls, points: Any) -> "PromptSet":
        """All points positive."""
        pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        return cls(pts, np.ones(len(pts), dtype=np.int64))

    def __len__(self) -> int:
        return int(self.points.shape[0])


def as_prompt_sets(prompts: Any) -> list[PromptSet]:
    """Normalize a batch: a PromptSet, a list of PromptSets, (points, labels) pairs or (K, 2) arrays
    (all-positive), or one (B, K, 2) array (all-positive)."""
    if isinstance(prompts, PromptSet):
        return [prompts]
    if isinstance(prompts, np.ndarray):
        if prompts.ndim == 3 and prompts.shape[-1] == 2:
            return [PromptSet.positive(p) for p in prompts]
        raise ZeropsError(f"a prompt array must have shape (B, K, 2), got {prompts.shape}")
    out = []
    for p in prompts:
        if isinstance(p, PromptSet):
            out.append(p)
        elif isinstance(p, tuple) and len(p) == 2:
            out.append(PromptSet(p[0], p[1]))
        else:
            out.append(PromptSet.positive(p))
    return out


def select_masks(masks: np.ndarray, scores: np.ndarray, rule: str = "smallest",
                 min_score: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Pick one of the 3 candidates per prompt.

    masks (B, 3, H, W) bool, scores (B, 3) float32 -> (index (B,) int64, -1 = rejected; chosen score (B,)).
    Rules: ``smallest`` (METHOD.md §3.2: the smallest-area candidate, rejected if its score < min_score),
    ``smallest-confident`` (smallest area among candidates scoring >= min_score), ``best`` (highest
    score, rejected if < min_score; pass min_score=-inf to always accept).
    """
    masks = np.asarray(masks)
    scores = np.asarray(scores, dtype=np.float32)
    if masks.ndim != 4 or scores.shape != masks.shape[:2]:
        raise ZeropsError(f"select_masks needs masks (B, C, H, W) and scores (B, C), got {masks.shape}, {scores.shape}")
    if rule not in SELECTION_RULES:
        raise ZeropsError(f"unknown mask selection rule '{rule}': use smallest, smallest-confident or best")
    b = masks.shape[0]
    area = masks.reshape(b, masks.shape[1], -1).sum(-1)
    idx, ok = select_candidates(area, scores, rule, min_score)
    chosen = scores[np.arange(b), idx] if b else np.zeros(0, np.float32)
    return np.where(ok, idx, -1).astype(np.int64), chosen.astype(np.float32)


class Segmenter(abc.ABC):
    """Promptable segmenter with explicit state (the encoded views).

    Subclasses implement ``_encode(images, progress)`` (store per-view state) and
    ``_decode(view, points (B, K, 2) float32 pixel coords, labels (B, K) int64)`` returning
    ``(masks (B, 3, H, W) bool, scores (B, 3) float32)``; this class validates inputs, groups prompt
    sets by size and counts ``n_encodes`` (views encoded) and ``n_decodes`` (prompt sets decoded).
    """

    name: str = "segmenter"

    def __init__(self) -> None:
        self._sizes: list[tuple[int, int]] = []
        self.reset_stats()

    # ---- state -------------------------------------------------------------------------------------
    #: True when the image state can be exported (:meth:`embedding`) and given back to :meth:`set_images`
    supports_embedding_cache: bool = False

    def set_images(self, images: Sequence[np.ndarray], progress: bool = False,
                   embeddings: Sequence[np.ndarray | None] | None = None) -> None:
        """Encode the views (each (H, W, 3) uint8 RGB). Replaces any previously set views.

        ``embeddings``: per view, a state returned earlier by :meth:`embedding` for the same image (that view
        is then not encoded again) or None; only for segmenters with ``supports_embedding_cache``.
        """
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = [images]
        images = list(images)
        if not images:
            raise ZeropsError("set_images got no images: pass a list of (H, W, 3) uint8 views")
        for i, img in enumerate(images):
            _check_image(img, i)
        self._sizes = []
        if embeddings is not None and self.supports_embedding_cache:
            if len(embeddings) != len(images):
                raise ZeropsError(f"got {len(embeddings)} embeddings for {len(images)} images")
            self._encode_with([np.ascontiguousarray(im) for im in images], list(embeddings), progress)
        else:
            self._encode([np.ascontiguousarray(im) for im in images], progress)
        self.n_encodes += len(images)
        self._sizes = [(int(im.shape[0]), int(im.shape[1])) for im in images]

    def embedding(self, view: int) -> np.ndarray:
        """The encoder's output for a set view (for the stage cache); see ``supports_embedding_cache``."""
        raise ZeropsError(f"{type(self).__name__} cannot export its image embeddings")

    def _encode_with(self, images: list[np.ndarray], embeddings: list[np.ndarray | None], progress: bool) -> None:
        """Like ``_encode``, reusing the given embeddings (None: encode that view)."""
        self._encode(images, progress)

    @property
    def n_views(self) -> int:
        """Number of views currently encoded."""
        return len(self._sizes)

    def image_size(self, view: int) -> tuple[int, int]:
        """(H, W) of an encoded view."""
        self._check_view(view)
        return self._sizes[view]

    def reset_stats(self) -> None:
        self.n_encodes = 0
        self.n_decodes = 0

    # ---- decoding ----------------------------------------------------------------------------------
    def predict(self, view: int,
                prompts: Iterable[PromptSet] | PromptSet | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decode B prompt sets on one view.

        Returns masks (B, 3, H, W) bool at the view's resolution and scores (B, 3) float32 (predicted IoU
        of each multimask candidate). B = 0 gives empty arrays.
        """
        masks, scores, _ = self._predict(view, prompts, None)
        return masks, scores

    def predict_with_stability(self, view: int, prompts: Iterable[PromptSet] | PromptSet | np.ndarray,
                               offset: float = 1.0, min_score: float | None = None,
                               min_stability: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Like :meth:`predict`, plus SAM's stability score (B, 3) float32: the IoU between a candidate's
        logits thresholded at +offset and at −offset. None when the segmenter cannot give logits.

        ``min_score`` / ``min_stability``: a candidate whose predicted IoU is <= ``min_score`` or whose
        stability is < ``min_stability`` is one the caller drops; its mask may be returned empty (and its
        stability 0) without being computed, which saves most of the upscaling work.
        """
        return self._predict(view, prompts, float(offset), min_score, min_stability)

    def predict_at(self, view: int, prompts: Iterable[PromptSet] | PromptSet | np.ndarray, rows: np.ndarray,
                   cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`predict`, the masks read at P pixels only: rows / cols (P,) int pixel indices ->
        (masks (B, 3, P) bool, scores (B, 3) float32). Segmenters with low-resolution logits evaluate just those
        pixels (:class:`~zerops.segmenters.embedded.EmbeddedSam`); this default decodes full masks."""
        rows, cols = check_pixels(rows, cols, self.image_size(view))
        masks, scores = self.predict(view, prompts)
        return masks[:, :, rows, cols], scores

    def predict_at_with_stability(self, view: int, prompts: Iterable[PromptSet] | PromptSet | np.ndarray,
                                  rows: np.ndarray, cols: np.ndarray, offset: float = 1.0,
                                  min_score: float | None = None, min_stability: float | None = None,
                                  needed: np.ndarray | None = None
                                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """Every candidate read at P pixels, with what the §3.1 filters need of the full masks: masks (B, 3, P)
        bool, scores (B, 3), stability (B, 3) float32 or None, areas (B, 3) int64 pixels of each full mask.
        Stability and areas are only needed where the caller may keep a candidate: they may be 0 for candidates
        scoring <= ``min_score`` (stability and area), below ``min_stability`` (area), or, with ``needed`` ((P,)
        bool), holding none of those pixels. This default decodes full masks and indexes them."""
        rows, cols = check_pixels(rows, cols, self.image_size(view))
        return _read_at(*self.predict_with_stability(view, prompts, offset), rows, cols)

    def _predict(self, view: int, prompts: Any, offset: float | None, min_score: float | None = None,
                 min_stability: float | None = None):
        sets = self._checked_sets(view, prompts)
        h, w = self._sizes[view]
        masks = np.zeros((len(sets), 3, h, w), dtype=bool)
        scores = np.zeros((len(sets), 3), dtype=np.float32)
        stability: np.ndarray | None = np.zeros((len(sets), 3), dtype=np.float32) if offset is not None else None
        if not sets:
            return masks, scores, stability
        sizes = np.array([len(p) for p in sets])
        for k in np.unique(sizes):                     # same K in one batch: no extra padding tokens
            idx = np.flatnonzero(sizes == k)
            pts = np.stack([sets[i].points for i in idx])
            lab = np.stack([sets[i].labels for i in idx])
            if offset is None:
                m, s = self._decode(view, pts, lab)
            else:
                m, s, st = self._decode_stability(view, pts, lab, offset, min_score=min_score,
                                                  min_stability=min_stability)
                if st is None:
                    stability = None
                elif stability is not None:
                    stability[idx] = st
            masks[idx] = m
            scores[idx] = s
        self.n_decodes += len(sets)
        return masks, scores, stability

    def _checked_sets(self, view: int, prompts: Any) -> list[PromptSet]:
        """The prompt sets of a batch, every point inside the set view, or a one-line error."""
        self._check_view(view)
        sets = as_prompt_sets(prompts)
        h, w = self._sizes[view]
        for i, p in enumerate(sets):
            x, y = p.points[:, 0], p.points[:, 1]
            if np.any(x < 0) or np.any(x > w) or np.any(y < 0) or np.any(y > h):
                raise ZeropsError(f"prompt set {i} has a point outside the {w}x{h} view "
                                  f"(x in [0, {w}], y in [0, {h}] expected)")
        return sets

    def _check_view(self, view: int) -> None:
        if not self._sizes:
            raise ZeropsError("no images are set: call set_images(views) before predict()")
        if not isinstance(view, (int, np.integer)) or not 0 <= int(view) < len(self._sizes):
            raise ZeropsError(f"view {view!r} does not exist: {len(self._sizes)} views are set")

    @abc.abstractmethod
    def _encode(self, images: list[np.ndarray], progress: bool) -> None:
        """Encode and store the views."""

    @abc.abstractmethod
    def _decode(self, view: int, points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """points (B, K, 2) float32, labels (B, K) int64 -> masks (B, 3, H, W) bool, scores (B, 3) float32."""

    def _decode_stability(self, view: int, points: np.ndarray, labels: np.ndarray, offset: float,
                          min_score: float | None = None,
                          min_stability: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Like ``_decode`` plus stability (B, 3); the default has no logits and returns None.
        ``min_score`` / ``min_stability`` allow skipping work on candidates the caller drops."""
        masks, scores = self._decode(view, points, labels)
        return masks, scores, None


def check_pixels(rows: Any, cols: Any, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(P,) int64 rows and cols inside an (H, W) view, or a one-line error."""
    rows = np.asarray(rows).reshape(-1)
    cols = np.asarray(cols).reshape(-1)
    if rows.shape != cols.shape or (rows.size and not (np.issubdtype(rows.dtype, np.integer)
                                                       and np.issubdtype(cols.dtype, np.integer))):
        raise ZeropsError(f"pixel rows and cols must be integer arrays of one length, got {rows.shape} {rows.dtype} "
                          f"and {cols.shape} {cols.dtype}")
    if rows.size and (rows.min() < 0 or cols.min() < 0 or rows.max() >= hw[0] or cols.max() >= hw[1]):
        raise ZeropsError(f"a pixel lies outside the {hw[1]}x{hw[0]} view")
    return rows.astype(np.int64), cols.astype(np.int64)


def decode_at_with_stability(segmenter: Any, view: int, sets: list[PromptSet], rows: np.ndarray, cols: np.ndarray,
                             min_score: float | None = None, min_stability: float | None = None,
                             needed: np.ndarray | None = None
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """:meth:`Segmenter.predict_at_with_stability` of any segmenter; one without it decodes full masks
    (:func:`decode_with_stability`) and they are read at the pixels here."""
    if hasattr(segmenter, "predict_at_with_stability"):
        return segmenter.predict_at_with_stability(view, sets, rows, cols, min_score=min_score,
                                                   min_stability=min_stability, needed=needed)
    return _read_at(*decode_with_stability(segmenter, view, sets), rows, cols)


def _read_at(masks: np.ndarray, scores: np.ndarray, stability: np.ndarray | None, rows: np.ndarray,
             cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Full (B, 3, H, W) masks read at the pixels, with their areas (B, 3): the fallback of the point decodes."""
    masks = np.asarray(masks, dtype=bool)
    return masks[:, :, rows, cols], scores, stability, masks.reshape(*masks.shape[:2], -1).sum(axis=2)


def decode_with_stability(segmenter: Any, view: int, sets: list[PromptSet], min_score: float | None = None,
                          min_stability: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(masks, scores, stability or None) of B prompt sets from any segmenter: a :class:`Segmenter` (which may
    leave the candidates at or below ``min_score`` / below ``min_stability`` empty), another object with a
    ``predict_with_stability``, or one with ``predict`` only (stability None)."""
    if isinstance(segmenter, Segmenter):
        return segmenter.predict_with_stability(view, sets, min_score=min_score, min_stability=min_stability)
    if hasattr(segmenter, "predict_with_stability"):
        return segmenter.predict_with_stability(view, sets)
    return (*segmenter.predict(view, sets), None)


def _check_image(img: Any, i: int) -> None:
    if not isinstance(img, np.ndarray):
        raise ZeropsError(f"image {i} is a {type(img).__name__}, expected a numpy (H, W, 3) uint8 array")
    if img.ndim != 3 or img.shape[2] != 3:
        raise ZeropsError(f"image {i} has shape {img.shape}, expected (H, W, 3) RGB")
    if img.dtype != np.uint8:
        raise ZeropsError(f"image {i} has dtype {img.dtype}, expected uint8 "
                          "(convert with (img * 255).astype(np.uint8))")
    if img.shape[0] < 2 or img.shape[1] < 2:
        raise ZeropsError(f"image {i} is too small ({img.shape[1]}x{img.shape[0]} pixels)")


def check_segmenter(obj: Any, spec: str) -> Any:
    """``obj`` if it implements ``set_images`` and ``predict`` (the protocol), else a one-line error."""
    if not (callable(getattr(obj, "set_images", None)) and callable(getattr(obj, "predict", None))):
        raise ZeropsError(f"'{spec}' does not implement set_images() and predict()")
    return obj
