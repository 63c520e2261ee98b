"""The small mask and box operations every stage shares, in one place.

- :func:`mask_boxes` — (M, H, W) masks to xyxy boxes, vectorized;
- :func:`box_iou` — IoU of one box with many; :func:`box_nms` — greedy NMS on boxes, :func:`mask_nms` — on
  masks by their IoU;
- :func:`flatten_masks` — paint masks largest first, so every pixel or point takes the smallest covering mask;
- :func:`select_candidates` — pick one of a prompt's C candidate masks (smallest, smallest-confident, best);
- :func:`lift_mask` — a 2D mask to the visible points inside it; :class:`Lifter` — to a 3D group;
- :func:`nearest_index`, :func:`fill_nearest` — nearest-point lookups and the −1 label fill;
- :func:`pack_rows`, :func:`unpack_rows` — bit-packed (M, N) bool matrices (mask × point membership).

Pure numpy/scipy functions without state; they sit in ``geometry`` (below ``segmenters`` and ``stages``) so
that every layer above may use them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from zerops.geometry.clustering import largest_cluster

__all__ = ["mask_boxes", "box_iou", "select_candidates", "lift_mask", "nearest_index", "fill_nearest",
           "pack_rows", "unpack_rows", "Lifter", "SELECTION_RULES"]

SELECTION_RULES = ("smallest", "smallest-confident", "best")
_NEVER = np.iinfo(np.int64).max


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """(M, H, W) bool → (M, 4) float xyxy boxes (inclusive pixel extents + 1); empty masks give zeros."""
    masks = np.asarray(masks, dtype=bool)
    boxes = np.zeros((len(masks), 4), dtype=np.float64)
    if masks.size == 0:
        return boxes
    rows, cols = masks.any(axis=2), masks.any(axis=1)          # (M, H), (M, W)
    full = rows.any(axis=1)
    h, w = rows.shape[1], cols.shape[1]
    boxes[:, 0] = cols.argmax(axis=1)
    boxes[:, 1] = rows.argmax(axis=1)
    boxes[:, 2] = w - cols[:, ::-1].argmax(axis=1)
    boxes[:, 3] = h - rows[:, ::-1].argmax(axis=1)
    boxes[~full] = 0.0
    return boxes


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box (4,) with each of ``boxes`` (P, 4) -> (P,); 0 where the union is empty."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    area_b = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def box_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression on xyxy boxes; returns kept indices in decreasing score order."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(boxes), dtype=bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= box_iou(boxes[i], boxes) > iou_threshold
    return np.asarray(keep, dtype=np.int64)


def mask_nms(masks: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression on masks already in priority order ((K, ...) bool pixel or point masks):
    a mask is kept when its IoU with every kept one is <= ``threshold``. Returns the kept indices, in order."""
    m = np.asarray(masks, dtype=bool).reshape(len(masks), -1)
    size = m.sum(axis=1)
    mf = m.astype(np.float32)
    inter = mf @ mf.T
    iou = inter / np.maximum(size[:, None] + size[None, :] - inter, 1.0)
    keep: list[int] = []
    for i in range(len(m)):
        if all(iou[i, j] <= threshold for j in keep):
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def flatten_masks(masks: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Paint masks from largest to smallest (ties: the earlier first) so every pixel (or point) holds the
    smallest covering mask.

    Returns (H, W) (or (N,), for (N,) point masks) int64: mask index (into ``masks``) per pixel, −1 where none.
    """
    if len(masks) == 0:
        raise ValueError("no masks")
    areas = np.array([m.sum() for m in masks])
    label = np.full(masks[0].shape, -1, dtype=np.int64)
    for i in np.argsort(-areas, kind="stable"):
        label[masks[i]] = i
    return label


def select_candidates(areas: np.ndarray, scores: np.ndarray, rule: str, min_score: float,
                      allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One candidate per prompt: the (B,) index into the C candidates that ``rule`` points at, and (B,) bool
    whether it is accepted (``np.where(ok, index, -1)`` gives −1 for rejected prompts).

    Args:
        areas: (B, C) candidate areas in pixels; scores: (B, C) predicted IoUs.
        rule: ``smallest`` (the smallest allowed candidate, rejected if its score < ``min_score``),
            ``smallest-confident`` (the smallest allowed candidate scoring >= ``min_score``) or ``best``
            (the highest-scoring allowed candidate, rejected if < ``min_score``). Ties go to the first.
        allowed: (B, C) bool, candidates that may be chosen at all (default: every one).
    """
    areas, scores = np.asarray(areas), np.asarray(scores)
    if allowed is None:
        allowed = np.ones(areas.shape, dtype=bool)
    rows = np.arange(len(areas))
    if rule == "smallest-confident":
        conf = allowed & (scores >= min_score)
        idx = np.where(conf, areas, _NEVER).argmin(axis=1)
        ok = conf[rows, idx]
    elif rule == "best":
        idx = np.where(allowed, scores, -np.inf).argmax(axis=1)
        ok = allowed[rows, idx] & (scores[rows, idx] >= min_score)
    elif rule == "smallest":
        idx = np.where(allowed, areas, _NEVER).argmin(axis=1)
        ok = allowed[rows, idx] & (scores[rows, idx] >= min_score)
    else:
        raise ValueError(f"unknown selection rule {rule!r}: use {', '.join(SELECTION_RULES)}")
    return idx.astype(np.int64), ok


def lift_mask(mask: np.ndarray, pixels: np.ndarray, seen: np.ndarray, radius: np.ndarray | None = None,
              margin: float = 0.5) -> np.ndarray:
    """Points on the visible surface that lie inside a mask.

    A point is lifted when its centre pixel and the four pixels ``margin`` × its splat radius away
    (left, right, up, down) are all inside the mask. Near a mask's border the rendered splats of one part
    cover the centres of the next part's points, so the margin keeps those neighbours out — without it a
    group picks up a rim of foreign points, its farthest-point prompts land on them and self-extension
    drifts into the neighbour.

    Args:
        mask: (H, W) bool; pixels: (N, 2) float projections (x = column, y = row);
        seen: (N,) bool surface visibility of the view (``RenderedView.seen``);
        radius: (N,) splat radius in pixels (``RenderedView.radius``); None = centre pixel only.
    Returns:
        sorted int64 point indices.
    """
    h, w = mask.shape
    cand = np.flatnonzero(seen)
    x = pixels[cand, 0]
    y = pixels[cand, 1]
    offsets = [(0.0, 0.0)]
    if radius is not None and margin > 0:
        offsets += [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)]
        r = radius[cand] * margin
    inside = np.ones(len(cand), dtype=bool)
    for dx, dy in offsets:
        cx = x if dx == 0 else x + dx * r
        cy = y if dy == 0 else y + dy * r
        cols = np.clip(np.floor(cx).astype(np.int64), 0, w - 1)
        rows = np.clip(np.floor(cy).astype(np.int64), 0, h - 1)
        inside &= mask[rows, cols]
    return cand[inside].astype(np.int64)


@dataclass(frozen=True)
class Lifter:
    """How one run turns a view's 2D mask into a 3D group: :func:`lift_mask` with ``margin``, then the
    largest DBSCAN cluster (``eps``, ``min_points``) of the lifted points of ``xyz``."""

    xyz: np.ndarray
    eps: float
    min_points: int
    margin: float = 0.5

    def group(self, mask: np.ndarray, view: Any) -> np.ndarray:
        """Sorted int64 point indices (empty when nothing survives) of ``mask`` (H, W) in ``view`` (an object
        with ``seen``, ``pixels`` and ``radius``, e.g. ``RenderedView``)."""
        pts = lift_mask(mask, view.pixels, view.seen, view.radius, self.margin)
        if len(pts) == 0:
            return pts
        core = largest_cluster(pts, self.xyz, self.eps, self.min_points)
        return np.sort(core).astype(np.int64) if len(core) else core


def nearest_index(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """(Q,) index into ``points`` (P, 3) of the nearest point to each of ``queries`` (Q, 3)."""
    from scipy.spatial import cKDTree

    return cKDTree(points).query(queries, k=1)[1]


def fill_nearest(labels: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """A copy of ``labels`` (N,) with every −1 (any negative) replaced by the label of its nearest labelled
    point; unchanged when nothing, or everything, is labelled."""
    done = labels >= 0
    out = labels.copy()
    if done.all() or not done.any():
        return out
    out[~done] = labels[done][nearest_index(xyz[done], xyz[~done])]
    return out


def pack_rows(rows: np.ndarray) -> np.ndarray:
    """Bit-pack a (N,) or (M, N) bool array along its last axis (8 points per byte)."""
    return np.packbits(np.asarray(rows, dtype=bool), axis=-1)


def unpack_rows(packed: list[np.ndarray] | np.ndarray, n: int) -> np.ndarray:
    """(M, n) bool from M packed rows (a list of :func:`pack_rows` outputs, or their stack)."""
    if len(packed) == 0:
        return np.zeros((0, n), dtype=bool)
    return np.unpackbits(np.stack(list(packed)) if isinstance(packed, list) else packed, axis=1,
                         count=n).astype(bool)
