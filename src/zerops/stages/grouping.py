"""Initial 3D groups of a start view (METHOD.md §3.1): FPS point prompts → SAM masks → flattened 2D groups → 3D.

The segmenter is reached through an ``AmgDecodeFn``:
``decode(view_index, prompt_points) -> (masks (B,3,H,W) bool, scores (B,3) float, stability (B,3) float | None)``
with one single-point prompt per row. Stability is SAM's stability score (mask IoU between the logits
thresholded at ±1); when a segmenter cannot give it, the stability filter is skipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy import ndimage

from zerops.config import GroupingConfig
from zerops.geometry.masks import Lifter, box_nms, flatten_masks, mask_boxes
from zerops.geometry.pointops import farthest_point_sampling

AmgDecodeFn = Callable[[int, list[np.ndarray]], tuple[np.ndarray, np.ndarray, "np.ndarray | None"]]
#: ``decode_at(view_index, prompt_points, pixel, needed) -> (masks (B,3,P) bool at the (P,) flat pixels, scores
#: (B,3), stability (B,3) | None, areas (B,3) int64 full-mask pixels)``, the last two only for the candidates holding
#: a ``needed`` (P,) pixel (:func:`~zerops.segmenters.decode_at_with_stability`)
PointDecodeFn = Callable[[int, list[np.ndarray], np.ndarray, np.ndarray],
                         tuple[np.ndarray, np.ndarray, "np.ndarray | None", np.ndarray]]


@dataclass
class GroupingStats:
    decodes: int = 0
    candidates: int = 0       # masks passing the score filters
    kept_masks: int = 0       # masks after NMS and area filters
    groups: int = 0           # 3D groups after lifting


def remove_small_regions(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Fill holes and drop islands smaller than ``min_area`` pixels (SAM's small-region post-processing)."""
    out = mask.copy()
    holes, n = ndimage.label(~out)
    if n:
        sizes = ndimage.sum_labels(np.ones_like(out), holes, index=np.arange(1, n + 1))
        for lab in np.flatnonzero(sizes < min_area) + 1:
            out[holes == lab] = True
    islands, n = ndimage.label(out)
    if n:
        sizes = ndimage.sum_labels(np.ones_like(out), islands, index=np.arange(1, n + 1))
        small = np.flatnonzero(sizes < min_area) + 1
        if len(small) and len(small) < n:
            out[np.isin(islands, small)] = False
    return out


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of a (H, W) bool mask."""
    lab, n = ndimage.label(mask)  # default structure = 4-connectivity
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())[1:]
    return lab == (int(np.argmax(sizes)) + 1)


def start_view_prompts(visible: np.ndarray, xyz: np.ndarray, n_prompts: int) -> np.ndarray:
    """(P,) int64 point indices: farthest-point samples of the visible points of a start view."""
    vis = np.flatnonzero(visible)
    if len(vis) == 0:
        return vis.astype(np.int64)
    return vis[farthest_point_sampling(xyz[vis], min(n_prompts, len(vis)))]


def initial_groups(view: int, rendered: Any, decode: AmgDecodeFn, lift: Lifter, config: GroupingConfig,
                   stats: GroupingStats | None = None) -> list[np.ndarray]:
    """3D groups of one start view (METHOD.md §3.1 steps 1–6).

    Args:
        view: index of the start view; rendered: that view (``RenderedView``: ``seen``, ``pixels``,
            ``index_map``, ``radius``).
        lift: the run's points and how a mask becomes a group (DBSCAN ``eps``/``min_points``, lifting margin).
        config: the prompts, thresholds, ``batch_size`` (prompts per decode) and ``skip_covered`` (``fast``
            preset: skip a prompt whose pixel is already inside an accepted mask).
    Returns:
        list of sorted int64 point-index arrays (almost disjoint).
    Long: METHOD.md §3.1 steps 1–6 in order, one block each.
    """
    stats = stats if stats is not None else GroupingStats()
    pixels, index_map = rendered.pixels, rendered.index_map
    prompt_idx = start_view_prompts(rendered.seen, lift.xyz, config.n_prompts)
    object_pixels = int((index_map >= 0).sum())
    h, w = index_map.shape
    cand_masks: list[np.ndarray] = []
    cand_scores: list[float] = []
    covered = np.zeros((h, w), dtype=bool)
    for start in range(0, len(prompt_idx), config.batch_size):
        batch = prompt_idx[start:start + config.batch_size]
        pts = pixels[batch]
        if config.skip_covered:
            cols = np.clip(pts[:, 0].astype(int), 0, w - 1)
            rows = np.clip(pts[:, 1].astype(int), 0, h - 1)
            pts = pts[~covered[rows, cols]]
        if len(pts) == 0:
            continue
        masks, scores, stability = decode(view, [p[None, :] for p in pts])
        stats.decodes += len(pts)
        ok = scores > config.pred_iou_thresh
        if stability is not None:
            ok &= stability >= config.stability_score_thresh
        areas = masks.reshape(len(masks), 3, -1).sum(axis=2)
        for b, k in zip(*np.nonzero(ok)):
            cand_masks.append(masks[b, k])
            cand_scores.append(float(scores[b, k]))
            # only a mask that would survive the area filters counts as covering its pixels
            if config.skip_covered and config.min_mask_area < areas[b, k] <= config.max_object_fraction * object_pixels:
                covered |= masks[b, k]
    stats.candidates += len(cand_masks)
    if not cand_masks:
        return []
    stack = np.stack(cand_masks)
    keep = box_nms(mask_boxes(stack), np.asarray(cand_scores), config.box_nms_thresh)
    kept = []
    for i in keep:
        m = remove_small_regions(stack[i], config.min_mask_area)
        area = int(m.sum())
        if config.min_mask_area < area <= config.max_object_fraction * object_pixels:
            kept.append(m)
    stats.kept_masks += len(kept)
    if not kept:
        return []
    label = flatten_masks(kept)
    groups = []
    for i in range(len(kept)):
        region = label == i
        if not region.any():
            continue
        core = lift.group(largest_component(region), rendered)
        if len(core):
            groups.append(core)
    stats.groups += len(groups)
    return groups


def prompt_view(view: int, rendered: Any, decode_at: PointDecodeFn, xyz: np.ndarray, config: GroupingConfig,
                pixel: np.ndarray, stats: GroupingStats | None = None) -> list[np.ndarray]:
    """The prompts of :func:`initial_groups` in one start view, decoded at the view's evidence pixels only.

    For the vote merge without self-extension, which reads the evidence the decode records
    (``decode_at`` records it) and no groups: the same prompts are decoded and, with ``skip_covered``, the
    same ones skipped (a prompt's pixel inside a candidate passing the score, stability and area filters), so
    the evidence equals :func:`initial_groups`' (tested), without building any full-size mask.

    Args:
        rendered: the view (``seen``, ``pixels``, ``index_map``); xyz: (N, 3) the run's points.
        pixel: (P,) sorted flat indices of the pixels to read (the view's
            :func:`~zerops.stages.evidence.evidence_pixels`; they hold every seen point's centre pixel).
    Returns:
        [] (no groups).
    """
    stats = stats if stats is not None else GroupingStats()
    pixels, index_map = rendered.pixels, rendered.index_map
    h, w = index_map.shape
    prompt_idx = start_view_prompts(rendered.seen, xyz, config.n_prompts)
    object_pixels = int((index_map >= 0).sum())
    cols = np.clip(pixels[prompt_idx, 0].astype(int), 0, w - 1)
    rows = np.clip(pixels[prompt_idx, 1].astype(int), 0, h - 1)
    at = np.searchsorted(pixel, rows * w + cols)               # every prompt is a seen point: its pixel is there
    covered = np.zeros(len(pixel), dtype=bool)
    for start in range(0, len(prompt_idx), config.batch_size):
        batch = np.arange(start, min(start + config.batch_size, len(prompt_idx)))
        if config.skip_covered:
            batch = batch[~covered[at[batch]]]
        if len(batch) == 0:
            continue
        needed = np.zeros(len(pixel), dtype=bool)           # a candidate matters if it may cover a later prompt
        needed[at[start + config.batch_size:]] = config.skip_covered
        needed &= ~covered
        masks, scores, stability, areas = decode_at(view, [p[None, :] for p in pixels[prompt_idx[batch]]], pixel,
                                                    needed)
        stats.decodes += len(batch)
        ok = scores > config.pred_iou_thresh
        if stability is not None:
            ok &= stability >= config.stability_score_thresh
        stats.candidates += int(ok.sum())
        ok &= (areas > config.min_mask_area) & (areas <= config.max_object_fraction * object_pixels)
        covered |= masks[ok].any(axis=0) if ok.any() else False
    return []
