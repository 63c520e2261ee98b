"""Part colors: a deterministic palette of distinct colors and the gray of unassigned points."""
from __future__ import annotations

import numpy as np

from zerops.arrays import check_labels
from zerops.errors import ZeropsError

UNLABELED_GRAY = np.array([160, 160, 160], dtype=np.uint8)


def part_palette(n: int) -> np.ndarray:
    """(n,3) uint8 distinct colors: golden-ratio hue steps with alternating saturation and value."""
    if n < 0:
        raise ZeropsError(f"palette size must be >= 0, got {n}")
    i = np.arange(n, dtype=np.float64)
    h = (i * 0.618033988749895 + 0.05) % 1.0
    s = np.array([0.80, 0.55, 0.95])[np.arange(n) % 3]
    v = np.array([0.95, 0.80, 0.65, 0.88])[np.arange(n) % 4]
    k = np.array([5.0, 3.0, 1.0])
    f = (k[None, :] + h[:, None] * 6.0) % 6.0
    rgb = v[:, None] - v[:, None] * s[:, None] * np.clip(np.minimum(f, 4.0 - f), 0.0, 1.0)
    return np.round(rgb * 255.0).astype(np.uint8)


def part_colors(labels: np.ndarray) -> np.ndarray:
    """(N,) int labels -> (N,3) uint8 colors from :func:`part_palette`; negative labels are gray."""
    labels = check_labels(labels)
    out = np.tile(UNLABELED_GRAY, (labels.shape[0], 1))
    valid = labels >= 0
    if valid.any():
        out[valid] = part_palette(int(labels.max()) + 1)[labels[valid]]
    return out
