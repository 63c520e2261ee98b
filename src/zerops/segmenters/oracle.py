"""``oracle:perfect`` and ``oracle:noisy-P``: a segmenter that answers prompts from the shape's ground truth.

The twin of the ``oracle`` detector, for evaluation only: it measures what the merge makes of masks of a
known quality, apart from what any real SAM sees. The pipeline does not know it talks to an oracle: it
encodes images and decodes prompts as with any segmenter. Before a shape, the evaluation harness calls
:meth:`OracleSegmenter.set_ground_truth` with the views the pipeline will render (the renderer is
deterministic) and the ground-truth instance of every point; ``set_images`` then recognises each image by
its bytes and answers prompts from that view's ground-truth pixels.

For a prompt set the three candidates are (SAM's order, small to large):

0. the 4-connected piece of the ground-truth part under the prompt (score 0.95),
1. every pixel of that part (0.9),
2. the whole object (0.9).

The part under a prompt set is the majority part under its positive points (unlabelled points, −1, form one
"part" of their own). ``noisy-P`` (P in [0, 1]) corrupts each candidate, seeded by (seed, image, prompt),
with strength P: with probability P it is merged with an adjacent part, with probability P split along a
random line (one side kept), its boundary eroded or dilated by up to ``round(6 P)`` pixels, its score
jittered by N(0, 0.1 P), and with probability P / 2 dropped (empty, score 0). ``noisy-0`` equals
``perfect``.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np
from scipy import ndimage

from zerops.errors import ZeropsError
from zerops.segmenters.base import Segmenter

__all__ = ["OracleSegmenter", "parse_oracle_spec", "image_digest", "prompt_part", "truth_pixels"]

SCORES = (0.95, 0.9, 0.9)


def parse_oracle_spec(spec: str | None) -> float:
    """Noise strength P of ``perfect`` (0) or ``noisy-P``; a one-line error for anything else."""
    spec = spec or "perfect"
    if spec == "perfect":
        return 0.0
    if spec.startswith("noisy-"):
        try:
            p = float(spec[len("noisy-"):])
        except ValueError:
            p = float("nan")
        if 0.0 <= p <= 1.0:
            return p
    raise ZeropsError(f"unknown oracle segmenter '{spec}': use oracle:perfect or oracle:noisy-P with P in [0, 1]")


def image_digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes() + str(image.shape).encode()).hexdigest()


def truth_pixels(views: Sequence[Any], instance: np.ndarray) -> dict[str, np.ndarray]:
    """Per view (keyed by its image's digest) the (H, W) int64 ground-truth part of every pixel (−2: background).

    ``views``: each with ``image`` and ``index_map``; ``instance``: (N,) part of every point (−1: unlabelled).
    """
    instance = np.asarray(instance, dtype=np.int64).reshape(-1)
    truth = {}
    for v in views:
        idx = np.asarray(v.index_map)
        if idx.size and idx.max() >= len(instance):
            raise ZeropsError(f"the oracle's ground truth has {len(instance)} points but a view shows point "
                              f"{int(idx.max())}")
        truth[image_digest(v.image)] = np.where(idx >= 0, instance[np.maximum(idx, 0)], -2)
    return truth


def prompt_part(part: np.ndarray, points: np.ndarray, labels: np.ndarray) -> tuple[int, tuple[int, int]] | None:
    """The ground-truth part under a prompt set: the majority part under its positive points (all points when
    none is positive), and the (row, col) of its first positive point on that part; None when every point is
    on the background. part: (H, W) from :func:`truth_pixels`; points (K, 2) (x, y); labels (K,)."""
    h, w = part.shape
    pos = points[labels == 1] if (labels == 1).any() else points
    cols = np.clip(pos[:, 0].astype(np.int64), 0, w - 1)
    rows = np.clip(pos[:, 1].astype(np.int64), 0, h - 1)
    under = part[rows, cols]
    on = under > -2
    if not on.any():
        return None
    ids, counts = np.unique(under[on], return_counts=True)
    p = int(ids[np.argmax(counts)])
    first = np.flatnonzero(on & (under == p))[0]
    return p, (int(rows[first]), int(cols[first]))


class OracleSegmenter(Segmenter):
    """Ground-truth masks with a seeded error model (see the module doc).

    Args:
        preset: ``perfect`` or ``noisy-P``. seed: seed of the error model.
    """

    def __init__(self, preset: str | None = "perfect", device: str = "cpu", *, seed: int = 0) -> None:
        super().__init__()
        self.noise = parse_oracle_spec(preset)
        self.name = f"oracle:{preset or 'perfect'}" + (f"@{seed}" if seed else "")
        self.seed = int(seed)
        self._truth: dict[str, np.ndarray] = {}        # image digest -> (H, W) int64 part per pixel, -2 background
        self._parts: list[np.ndarray] = []
        self._keys: list[str] = []

    def cache_token(self) -> str:
        return f"{self.name}:{self.seed}"

    def set_ground_truth(self, views: Sequence[Any], instance: np.ndarray) -> None:
        """The views the pipeline will render (each with ``image`` and ``index_map``) and the (N,) ground-truth
        instance of every point they index (−1: unlabelled)."""
        self._truth = truth_pixels(views, instance)

    def _encode(self, images: list[np.ndarray], progress: bool) -> None:
        parts, keys = [], []
        for i, im in enumerate(images):
            key = image_digest(im)
            if key not in self._truth:
                raise ZeropsError(f"the oracle segmenter has no ground truth for image {i}: it answers only views "
                                  "rendered from the cloud given to set_ground_truth (zerops eval does this)")
            parts.append(self._truth[key])
            keys.append(key)
        self._parts, self._keys = parts, keys

    def _decode(self, view: int, points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        part = self._parts[view]
        h, w = part.shape
        fg = part > -2
        masks = np.zeros((len(points), 3, h, w), dtype=bool)
        scores = np.zeros((len(points), 3), dtype=np.float32)
        for b, (pts, lab) in enumerate(zip(points, labels)):
            found = prompt_part(part, pts, lab)
            if found is None:
                continue
            p, (r0, c0) = found
            pos = pts[lab == 1] if (lab == 1).any() else pts
            same = part == p
            pieces, _ = ndimage.label(same)
            masks[b, 0] = pieces == pieces[r0, c0]
            masks[b, 1] = same
            masks[b, 2] = fg
            scores[b] = SCORES
            if self.noise > 0:
                rng = np.random.default_rng([self.seed, int(self._keys[view][:12], 16), *np.round(pos * 8).astype(
                    np.int64).ravel().tolist()[:8]])
                for c in range(3):
                    masks[b, c], scores[b, c] = self._corrupt(masks[b, c], scores[b, c], part, fg, rng)
        return masks, scores

    def _corrupt(self, mask: np.ndarray, score: float, part: np.ndarray, fg: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """One candidate corrupted with strength P (see the module doc)."""
        p = self.noise
        if not mask.any():
            return mask, 0.0
        # work inside the object's box, padded by the largest dilation (the result is the same, cheaper)
        rows, cols = np.nonzero(fg)
        pad = int(round(6 * p)) + 4
        r0, r1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, fg.shape[0])
        c0, c1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, fg.shape[1])
        out = np.zeros_like(mask)
        crop, score = self._corrupt_crop(mask[r0:r1, c0:c1], score, part[r0:r1, c0:c1], fg[r0:r1, c0:c1], rng)
        out[r0:r1, c0:c1] = crop
        return out, score

    def _corrupt_crop(self, mask: np.ndarray, score: float, part: np.ndarray, fg: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, float]:
        p = self.noise
        mask = mask.copy()
        if rng.random() < p:                                   # merged with an adjacent part
            ring = ndimage.binary_dilation(mask, iterations=3) & ~mask & fg
            near = np.unique(part[ring])
            near = near[near > -2]
            if len(near):
                mask |= part == rng.choice(near)
        if rng.random() < p:                                   # split along a random line, one side kept
            rows, cols = np.nonzero(mask)
            if len(rows) > 1:
                k = rng.integers(len(rows))
                angle = rng.uniform(0, np.pi)
                rr, cc = np.mgrid[0: mask.shape[0], 0: mask.shape[1]]
                side = (cc - cols[k]) * np.cos(angle) + (rr - rows[k]) * np.sin(angle) >= 0
                mask &= side if rng.random() < 0.5 else ~side
        radius = int(rng.integers(0, int(round(6 * p)) + 1))
        if radius:
            if rng.random() < 0.5:
                mask = ndimage.binary_erosion(mask, iterations=radius)
            else:
                mask = ndimage.binary_dilation(mask, iterations=radius) & fg
        score = float(np.clip(score + rng.normal(0.0, 0.1 * p), 0.0, 1.0))
        if rng.random() < p / 2 or not mask.any():
            return np.zeros_like(mask), 0.0
        return mask, score

