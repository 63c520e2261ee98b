"""Multi-modal labeling (METHOD.md §4): two-dimensional checking mechanism (TDCM), Vote Matrix, Class
Non-highest Vote Penalty (CNVP) and the final label assignment. Pure functions over numpy arrays.

Shapes: ``part`` (N,) int64 class-agnostic part id per point (−1 none) with P parts; C part names (classes);
per view, ``pixels`` (N, 2) float (x, y) projections of all points and ``index_map`` (H, W) int32.

    V = vote_matrix(detections, views, part, n_classes)    # (C, P) votes
    D = cnvp(V)                                             # (C, P) decision matrix
    labels = assign_labels(D, part)                         # semantic / instance per point
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from zerops.detectors.base import Detections
from zerops.geometry.masks import box_iou

__all__ = ["part_boxes", "box_iou", "box_points", "tdcm_vote", "vote_matrix", "cnvp", "assign_labels",
           "Labels", "VoteRecord", "CONFIDENCE_RULES"]

CONFIDENCE_RULES = ("votes", "one")


def part_boxes(pixels: np.ndarray, part: np.ndarray, n_parts: int) -> np.ndarray:
    """(P, 4) float xyxy bounding box of the projections of **all** points of each part (occluded ones
    included, METHOD.md §4.2); a part without points gets a zero box."""
    boxes = np.zeros((n_parts, 4), dtype=np.float64)
    ok = part >= 0
    if not ok.any() or n_parts == 0:
        return boxes
    ids, px = part[ok], pixels[ok].astype(np.float64)
    lo = np.full((n_parts, 2), np.inf)
    hi = np.full((n_parts, 2), -np.inf)
    np.minimum.at(lo, ids, px)
    np.maximum.at(hi, ids, px)
    has = np.isfinite(lo[:, 0])
    boxes[has] = np.concatenate([lo[has], hi[has]], axis=1)
    return boxes


def box_points(index_map: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Sorted unique point indices of the pixels inside an xyxy box (pixel (r, c) has centre (c+.5, r+.5))."""
    h, w = index_map.shape
    c0 = int(np.clip(np.ceil(box[0] - 0.5), 0, w))
    r0 = int(np.clip(np.ceil(box[1] - 0.5), 0, h))
    c1 = int(np.clip(np.floor(box[2] - 0.5) + 1, 0, w))
    r1 = int(np.clip(np.floor(box[3] - 0.5) + 1, 0, h))
    ids = index_map[r0:r1, c0:c1].ravel()
    return np.unique(ids[ids >= 0])


def tdcm_vote(box: np.ndarray, index_map: np.ndarray, part: np.ndarray, part_sizes: np.ndarray,
              boxes2d: np.ndarray, check: bool = True) -> tuple[int, int, int]:
    """The part one box votes for, by the two-dimensional checking mechanism.

    Returns (voted part or −1, p2 = argmax of the 2D box IoU, p3 = argmax of the 3D point IoU); ties take the
    first index. With ``check=False`` (ablation) the box votes for p3 whatever p2 is. A box that overlaps
    no part in 2D or 3D casts no vote.
    """
    n_parts = len(part_sizes)
    if n_parts == 0:
        return -1, -1, -1
    s2 = box_iou(np.asarray(box, np.float64), boxes2d)
    pts = box_points(index_map, box)
    lab = part[pts]
    lab = lab[lab >= 0]
    inter = np.bincount(lab, minlength=n_parts).astype(np.float64)
    union = part_sizes + len(pts) - inter
    s3 = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    p2, p3 = int(np.argmax(s2)), int(np.argmax(s3))
    if s3[p3] <= 0 or (check and s2[p2] <= 0):
        return -1, p2, p3
    if check and p2 != p3:
        return -1, p2, p3
    return p3, p2, p3


@dataclass
class VoteRecord:
    """Per box: view, class, score, (p2, p3) and the part it voted for (−1 = no vote)."""

    view: int
    label: int
    score: float
    p2: int
    p3: int
    voted: int


def vote_matrix(detections: Sequence[Detections], views: Sequence[Any], part: np.ndarray, n_classes: int,
                check: bool = True, records: list[VoteRecord] | None = None) -> np.ndarray:
    """Vote Matrix V (C, P) int64: V[c, p] = boxes of class c, over all views, that voted for part p.

    ``detections[i]`` are the (already filtered) boxes of ``views[i]`` (objects with ``pixels`` (N, 2) and
    ``index_map`` (H, W)). ``records``: when a list is given, one :class:`VoteRecord` per box is appended.
    """
    n_parts = int(part.max()) + 1 if len(part) and part.max() >= 0 else 0
    V = np.zeros((n_classes, n_parts), dtype=np.int64)
    if n_parts == 0:
        return V
    sizes = np.bincount(part[part >= 0], minlength=n_parts).astype(np.float64)
    for i, (det, view) in enumerate(zip(detections, views)):
        if len(det) == 0:
            continue
        boxes2d = part_boxes(view.pixels, part, n_parts)
        for box, label, score in zip(det.boxes, det.labels, det.scores):
            if not 0 <= int(label) < n_classes:
                continue
            voted, p2, p3 = tdcm_vote(box, view.index_map, part, sizes, boxes2d, check=check)
            if voted >= 0:
                V[int(label), voted] += 1
            if records is not None:
                records.append(VoteRecord(i, int(label), float(score), p2, p3, voted))
    return V


def cnvp(V: np.ndarray) -> np.ndarray:
    """Class Non-highest Vote Penalty: D = w(V / rowmax) * V with w = 1 at r = 1, 0.5 for 0.5 <= r < 1,
    0 below (rowmax 0 is taken as 1). (C, P) -> (C, P) float64."""
    V = np.asarray(V, dtype=np.float64)
    if V.size == 0:
        return V.copy()
    m = V.max(axis=1, keepdims=True)
    m[m == 0] = 1.0
    r = V / m
    w = np.where(r >= 1.0, 1.0, np.where(r >= 0.5, 0.5, 0.0))
    return w * V


@dataclass
class Labels:
    """Final labels. ``semantic`` / ``instance`` (N,) int64 (−1 none); ``part_class`` (P,) class per part
    (−1 unlabeled); ``instance_scores`` {instance id: confidence}; ``decision`` the (C, P) matrix used."""

    semantic: np.ndarray
    instance: np.ndarray
    part_class: np.ndarray
    instance_scores: dict[int, float] = field(default_factory=dict)
    decision: np.ndarray | None = None


def assign_labels(D: np.ndarray, part: np.ndarray, confidence: str = "one") -> Labels:
    """Each part takes argmax_c D[c, p] (lowest class on ties) and becomes one instance; a part whose best
    value is 0 stays unlabeled (−1).

    Confidence (ranks instances for mAP50): ``one`` (default) = 1.0 for all (the ZeroPS code; ties keep
    part order); ``votes`` = share of the part's surviving votes won by its class × D[c*, p] / max_p' D[c*, p'],
    so a part that the class's best-voted part outvotes and a part with contested votes rank lower.
    """
    if confidence not in CONFIDENCE_RULES:
        from zerops.errors import ZeropsError
        raise ZeropsError(f"unknown confidence rule '{confidence}': use {' or '.join(CONFIDENCE_RULES)}")
    D = np.asarray(D, dtype=np.float64)
    n_parts = D.shape[1] if D.ndim == 2 else 0
    semantic = np.full(len(part), -1, dtype=np.int64)
    instance = np.full(len(part), -1, dtype=np.int64)
    part_class = np.full(n_parts, -1, dtype=np.int64)
    scores: dict[int, float] = {}
    if n_parts == 0 or D.shape[0] == 0:
        return Labels(semantic, instance, part_class, scores, D)
    best = np.argmax(D, axis=0)
    value = D[best, np.arange(n_parts)]
    col_sum = D.sum(axis=0)
    row_max = D.max(axis=1)
    next_id = 0
    for p in range(n_parts):
        if value[p] <= 0:
            continue
        c = int(best[p])
        part_class[p] = c
        on = part == p
        semantic[on] = c
        instance[on] = next_id
        if confidence == "one":
            scores[next_id] = 1.0
        else:
            scores[next_id] = float(value[p] / col_sum[p] * value[p] / row_max[c])
        next_id += 1
    return Labels(semantic, instance, part_class, scores, D)
