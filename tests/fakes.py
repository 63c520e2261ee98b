"""Test doubles: a segmenter that answers from image colors, usable as a `module:Class` plug-in."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from zerops.segmenters import Segmenter


class ColorRegionSegmenter(Segmenter):
    """A "perfect SAM" for clouds colored by part: the 3 candidates for a prompt are the 4-connected region
    of the first point's exact color (score 0.95), every pixel of that color (0.9) and the whole object
    (0.9). Background prompts give empty masks with score 0."""

    name = "color-region"

    def __init__(self, device: str = "cpu", background=(255, 255, 255)) -> None:
        super().__init__()
        self.background = np.asarray(background, dtype=np.uint8)
        self._images: list[np.ndarray] = []

    def _encode(self, images, progress):
        self._images = list(images)

    def _decode(self, view, points, labels):
        img = self._images[view]
        h, w = img.shape[:2]
        fg = np.any(img != self.background, axis=2)
        masks = np.zeros((len(points), 3, h, w), dtype=bool)
        scores = np.zeros((len(points), 3), dtype=np.float32)
        for b, pts in enumerate(points):
            c = min(int(pts[0, 0]), w - 1)
            r = min(int(pts[0, 1]), h - 1)
            if not fg[r, c]:
                continue
            same = np.all(img == img[r, c], axis=2)
            lab, _ = ndimage.label(same)
            masks[b, 0] = lab == lab[r, c]
            masks[b, 1] = same
            masks[b, 2] = fg
            scores[b] = (0.95, 0.9, 0.9)
        return masks, scores
