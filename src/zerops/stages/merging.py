"""Merging (METHOD.md §3.4): pool the 3D groups of all start views into class-agnostic parts.

All functions are pure: groups are sorted int64 arrays of point indices into a cloud of N points.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from zerops.geometry.clustering import largest_cluster


def point_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two point-index sets (sorted unique int arrays)."""
    if len(a) == 0 and len(b) == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def merge_groups(groups: Sequence[np.ndarray], iou_threshold: float = 0.3) -> list[np.ndarray]:
    """Greedy single-pass merging, largest group first (METHOD.md §3.4 steps 1–2).

    Each group (in order of decreasing size; ties keep input order) is unioned into the FIRST already
    merged group whose point IoU with it is strictly greater than ``iou_threshold``; otherwise it starts a
    new merged group. Merged groups are never merged with each other afterwards.

    Args:
        groups: point-index arrays (any order, duplicates allowed); empty ones are dropped.
    Returns:
        merged groups as sorted unique int64 arrays, in creation order.
    """
    pool = [np.unique(np.asarray(g, dtype=np.int64)) for g in groups]
    pool = [g for g in pool if len(g)]
    order = sorted(range(len(pool)), key=lambda i: -len(pool[i]))  # stable: ties keep input order
    merged: list[np.ndarray] = []
    for i in order:
        a = pool[i]
        for j, m in enumerate(merged):
            if point_iou(a, m) > iou_threshold:
                merged[j] = np.union1d(m, a)
                break
        else:
            merged.append(a)
    return merged


def resolve_labels(merged: Sequence[np.ndarray], n_points: int) -> np.ndarray:
    """Per-point labels from possibly overlapping merged groups: later groups overwrite earlier ones.

    Returns (N,) int64, −1 where no group covers a point.
    """
    labels = np.full(n_points, -1, dtype=np.int64)
    for j, g in enumerate(merged):
        labels[g] = j
    return labels


def cleanup_labels(labels: np.ndarray, xyz: np.ndarray, eps: float, min_points: int) -> np.ndarray:
    """Keep each label's largest DBSCAN cluster, send the rest to −1, renumber 0…P−1 by first appearance
    of the old label order (METHOD.md §3.4 step 4).

    Args:
        labels: (N,) int64 per-point labels, −1 = unassigned.
        xyz: (N, 3) float coordinates (unit-sphere normalised).
    """
    out = np.full_like(labels, -1)
    next_id = 0
    for old in np.unique(labels[labels >= 0]):
        idx = np.flatnonzero(labels == old)
        keep = largest_cluster(idx, xyz, eps, min_points)
        if len(keep):
            out[keep] = next_id
            next_id += 1
    return out
