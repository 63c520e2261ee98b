"""Test doubles: a segmenter that answers from image colors, usable as a `module:Class` plug-in."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from zerops.render.renderer import normalize
from zerops.segmenters import Segmenter
from zerops.stages.evidence import MaskEvidence


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


class LeftHalfDetector:
    """A plug-in detector (``fakes:LeftHalfDetector``): one box over the left half of the object's pixels,
    labeled with the first part name, score 0.9; plus a 0.3-score box the threshold must drop."""

    def __init__(self, device: str = "cpu") -> None:
        self.name = "left-half"

    def detect(self, image, part_names, category=None):
        fg = np.any(image != 255, axis=2)
        rows, cols = np.nonzero(fg)
        if not len(rows):
            return np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64)
        mid = (cols.min() + cols.max()) / 2
        boxes = [[cols.min(), rows.min(), mid, rows.max() + 1], [mid, rows.min(), cols.max() + 1, rows.max() + 1]]
        return np.array(boxes, np.float32), np.array([0.9, 0.3], np.float32), np.array([0, len(part_names) - 1])


def dying_components(die_marker: str = "", **options):
    """An eval method (``fakes:dying_components``): the components baseline, except that the first call on
    a shape whose id is 0001 kills its worker process (the marker file records that it already died)."""
    import os
    from pathlib import Path

    from zerops.eval.methods import get_method

    inner = get_method("components", **options)

    def run(shape):
        if die_marker and shape.shape_id == "0001" and not Path(die_marker).exists():
            Path(die_marker).write_text("died")
            os._exit(3)
        return inner(shape)
    return run


def make_result(folder, xyz: np.ndarray, part: np.ndarray, names: list[str] | None = None,
                part_class: list[int] | None = None, source: str | None = None):
    """A result folder as `zerops segment` writes it (no views), parts named when ``names`` is given."""
    from zerops.output import write_segment_outputs
    from zerops.result import PartResult

    part = np.asarray(part, dtype=np.int64)
    n_parts = int(part.max()) + 1
    kw = {}
    if names:
        pc = np.asarray(part_class, dtype=np.int64)
        semantic = np.where(part >= 0, pc[np.maximum(part, 0)], -1)
        instance = np.where(semantic >= 0, part, -1)
        kw = dict(semantic=semantic, instance=instance, part_names=list(names), part_class=pc,
                  instance_scores={int(i): 0.5 for i in np.unique(instance[instance >= 0])},
                  vote_matrix=np.zeros((len(names), n_parts), dtype=np.int64))
    result = PartResult(xyz=xyz, part=part, parts=[np.flatnonzero(part == k) for k in range(n_parts)],
                        seconds={"total": 1.0}, decodes=3, counts={}, **kw)
    return write_segment_outputs(folder, result, source=source)


def halves_sheet_evidence(half_score: float) -> tuple[np.ndarray, np.ndarray, MaskEvidence]:
    """A flat 3,000-point sheet seen whole by 4 views; per view two prompts, each with two candidates: its
    half of the sheet (``half_score``) and the whole sheet (0.95). Returns (N, 3) points, (N,) bool "in the
    left half", and the evidence."""
    from types import SimpleNamespace

    xyz, _, _ = normalize(np.random.default_rng(5).uniform([0, 0, 0], [2, 1, 0], size=(3000, 3)))
    pix = np.stack([(xyz[:, 0] + 1) * 50, (xyz[:, 1] + 1) * 50], axis=1)
    ev = MaskEvidence(len(xyz))
    for v in range(4):
        m = np.zeros((2, 2, 100, 100), bool)
        m[0, 0, :, :50] = m[1, 0, :, 50:] = True        # each prompt: its half …
        m[:, 1] = True                                  # … or the whole object
        ev.add_view_masks(v, m, np.array([[half_score, 0.95]] * 2),
                          SimpleNamespace(seen=np.ones(len(xyz), bool), pixels=pix), "groups", min_score=0.5,
                          won_pixels=True)
    return xyz, xyz[:, 0] < 0, ev
