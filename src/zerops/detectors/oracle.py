"""``oracle[:perfect|glip-like]``: boxes from ground truth with a seeded error model. An evaluation tool for
measuring the labeling algorithm without detector weights, never a user default.

A ground-truth instance is *detectable* in a view when at least ``min_pixels`` of the view's pixels show
it; its true box is the pixel extent of those pixels. ``perfect`` returns exactly these boxes (score 1).
``glip-like`` applies the failure modes that PartSLIP and ZeroPS describe for GLIP on PartNetE renders,
with rates chosen here (an approximation, not a fit to GLIP):

===========================  =====================================================================
miss                          a detectable instance gets no box with probability ``miss``; small
                              instances (< ``small_fraction`` of the object's pixels) with ``miss_small``
class confusion               the box carries another class of the same category (``confusion``)
loose / jittered box          every edge moves by N(0, ``jitter`` × box size); with ``loose`` the box
                              grows by 20–60 % on each side
grouped instances             with ``grouped`` one box covers this and another instance of the same
                              class (e.g. all the legs of a chair in one box)
false positives               Poisson(``false_positives``) boxes per view around a random other part or
                              a random patch of the object, with a random class
whole-object boxes            with ``whole_object`` per view a box around the whole object, random class
scores                        true boxes U(0.55, 0.95); erroneous ones U(0.5, 0.8); plus
                              Poisson(``below_threshold``) boxes scored U(0.1, 0.5) that the 0.5
                              threshold must remove
===========================  =====================================================================

The random stream is seeded by (``seed``, a digest of the shape's labels, view index), so a run is
reproducible and different shapes get different errors.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from zerops.detectors.base import Detections, Detector, filter_detections, object_pixels
from zerops.errors import ZeropsError

__all__ = ["OracleDetector", "OracleErrors", "ORACLE_PRESETS", "true_boxes"]


@dataclass(frozen=True)
class OracleErrors:
    """Rates of the error model (see the module docstring)."""

    miss: float = 0.0
    miss_small: float = 0.0
    small_fraction: float = 0.01
    confusion: float = 0.0
    jitter: float = 0.0
    loose: float = 0.0
    grouped: float = 0.0
    false_positives: float = 0.0
    whole_object: float = 0.0
    below_threshold: float = 0.0
    perfect_scores: bool = True


ORACLE_PRESETS: dict[str, OracleErrors] = {
    "perfect": OracleErrors(),
    "glip-like": OracleErrors(miss=0.35, miss_small=0.6, confusion=0.15, jitter=0.06, loose=0.2, grouped=0.15,
                              false_positives=0.6, whole_object=0.2, below_threshold=1.0, perfect_scores=False),
}


def true_boxes(index_map: np.ndarray, semantic: np.ndarray, instance: np.ndarray,
               min_pixels: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ground-truth boxes of one view: (boxes (K, 4) xyxy pixel extents, class (K,), instance id (K,),
    pixel count (K,)) for every instance with ``semantic >= 0`` seen on at least ``min_pixels`` pixels."""
    fg = index_map >= 0
    rows, cols = np.nonzero(fg)
    pts = index_map[rows, cols]
    inst = instance[pts]
    ok = (inst >= 0) & (semantic[pts] >= 0)
    rows, cols, inst, pts = rows[ok], cols[ok], inst[ok], pts[ok]
    out_b, out_c, out_i, out_n = [], [], [], []
    for i in np.unique(inst):
        sel = inst == i
        n = int(sel.sum())
        if n < min_pixels:
            continue
        r, c = rows[sel], cols[sel]
        out_b.append([c.min(), r.min(), c.max() + 1, r.max() + 1])
        classes = semantic[pts[sel]]
        out_c.append(int(np.bincount(classes).argmax()))
        out_i.append(int(i))
        out_n.append(n)
    return (np.asarray(out_b, np.float32).reshape(-1, 4), np.asarray(out_c, np.int64),
            np.asarray(out_i, np.int64), np.asarray(out_n, np.int64))


class OracleDetector(Detector):
    """Ground-truth boxes with errors. Call :meth:`set_ground_truth` before :meth:`detect_views`.

    Args:
        preset: ``perfect`` or ``glip-like`` (see :data:`ORACLE_PRESETS`); ``errors`` overrides it.
        seed: seed of the error model. min_pixels: smallest detectable instance (pixels in a view).
    """

    def __init__(self, preset: str | None = "perfect", device: str = "cpu", *, seed: int = 0,
                 min_pixels: int = 20, errors: OracleErrors | None = None, **rates: float) -> None:
        preset = preset or "perfect"
        if preset not in ORACLE_PRESETS:
            raise ZeropsError(f"unknown oracle preset '{preset}': use oracle:{' or oracle:'.join(ORACLE_PRESETS)}")
        base = errors if errors is not None else ORACLE_PRESETS[preset]
        try:
            self.errors = replace(base, **rates) if rates else base
        except TypeError as err:
            raise ZeropsError(f"unknown oracle error rate ({err})") from None
        self.name = f"oracle:{preset}" + ("" if not rates and errors is None else "+custom")
        self.seed = int(seed)
        self.min_pixels = int(min_pixels)
        self._gt: tuple[np.ndarray, np.ndarray] | None = None
        self._shape_seed = 0
        self._sample: np.ndarray | None = None

    def set_ground_truth(self, semantic: np.ndarray, instance: np.ndarray) -> None:
        """semantic (N,) class index into the part names (−1 none), instance (N,) instance id (−1 none)."""
        semantic = np.asarray(semantic, dtype=np.int64)
        instance = np.asarray(instance, dtype=np.int64)
        if semantic.shape != instance.shape or semantic.ndim != 1:
            raise ZeropsError("oracle ground truth: semantic and instance must be (N,) arrays of equal length")
        self._gt = (semantic, instance)
        self._sample = None
        from zerops.cache import array_digest
        self._shape_seed = int(array_digest(semantic, instance)[:12], 16)   # different errors per shape

    def set_sample(self, sample: np.ndarray | None) -> None:
        """The pipeline works on a subset of the points (large clouds): index the ground truth with it."""
        self._sample = None if sample is None else np.asarray(sample, dtype=np.int64)

    def cache_token(self) -> str:
        """Identity for the stage cache: preset, rates, seed and the ground truth itself."""
        from zerops.cache import array_digest
        gt = array_digest(*self._gt) if self._gt is not None else None
        sample = array_digest(self._sample) if self._sample is not None else None
        return f"{self.name}|{self.errors}|{self.seed}|{self.min_pixels}|{gt}|{sample}"

    def detect(self, image: np.ndarray, part_names: Sequence[str], category: str | None = None) -> Detections:
        raise ZeropsError("the oracle detector boxes ground truth, so it needs the rendered views and labels: "
                          "it runs inside `zerops eval --detector oracle:...`, not on bare images")

    def detect_views(self, views: Sequence[Any], part_names: Sequence[str], category: str | None = None,
                     score_threshold: float = 0.5, max_object_fraction: float = 0.98,
                     progress: bool = False) -> list[Detections]:
        if self._gt is None:
            raise ZeropsError("the oracle detector needs ground-truth labels (set_ground_truth); it is an "
                              "evaluation tool: use it with `zerops eval --detector oracle:perfect|glip-like`")
        semantic, instance = self._gt
        if self._sample is not None:
            semantic, instance = semantic[self._sample], instance[self._sample]
        if len(views) and len(views[0].pixels) != len(semantic):
            raise ZeropsError(f"oracle ground truth has {len(semantic)} points, the views {len(views[0].pixels)}")
        out = []
        for i, view in enumerate(views):
            det = self.view_boxes(i, view, semantic, instance, len(part_names))
            out.append(filter_detections(det, score_threshold, object_pixels(view), max_object_fraction))
        return out

    def view_boxes(self, view_number: int, view: Any, semantic: np.ndarray, instance: np.ndarray,
                   n_classes: int) -> Detections:
        """Raw (unfiltered) boxes of one view.

        Long: the oracle detector's per-view steps in order.
        """
        boxes, classes, inst, npx = true_boxes(view.index_map, semantic, instance, self.min_pixels)
        e = self.errors
        if e == ORACLE_PRESETS["perfect"]:
            return Detections(boxes, np.ones(len(boxes), np.float32), classes)
        rng = np.random.default_rng([self.seed, self._shape_seed, view_number])
        h, w = view.index_map.shape
        object_px = max(int((view.index_map >= 0).sum()), 1)
        out_b, out_s, out_c = [], [], []

        def add(box: np.ndarray, score: float, cls: int) -> None:
            b = np.array(box, dtype=np.float64)
            b[[0, 2]] = np.clip(b[[0, 2]], 0, w)
            b[[1, 3]] = np.clip(b[[1, 3]], 0, h)
            if b[2] - b[0] >= 1 and b[3] - b[1] >= 1:
                out_b.append(b)
                out_s.append(score)
                out_c.append(cls)

        for k in range(len(boxes)):
            small = npx[k] < e.small_fraction * object_px
            if rng.random() < (e.miss_small if small else e.miss):
                continue
            box = boxes[k].astype(np.float64)
            wrong = False
            same = np.flatnonzero((classes == classes[k]) & (np.arange(len(boxes)) != k))
            if len(same) and rng.random() < e.grouped:
                o = boxes[rng.choice(same)]
                box = np.array([min(box[0], o[0]), min(box[1], o[1]), max(box[2], o[2]), max(box[3], o[3])])
                wrong = True
            size = np.array([box[2] - box[0], box[3] - box[1]] * 2)
            box = box + rng.normal(0.0, e.jitter, 4) * size
            if rng.random() < e.loose:
                grow = rng.uniform(0.2, 0.6, 4) * size
                box = box + np.array([-1, -1, 1, 1]) * grow
                wrong = True
            cls = int(classes[k])
            if n_classes > 1 and rng.random() < e.confusion:
                cls = int(rng.choice([c for c in range(n_classes) if c != cls]))
                wrong = True
            score = 1.0 if e.perfect_scores else float(rng.uniform(0.5, 0.8) if wrong else rng.uniform(0.55, 0.95))
            add(box, score, cls)

        fg_rows, fg_cols = np.nonzero(view.index_map >= 0)
        for _ in range(rng.poisson(e.false_positives) if len(fg_rows) else 0):
            if len(boxes) and rng.random() < 0.5:
                box = boxes[rng.integers(len(boxes))].astype(np.float64)        # another part, wrong class
            else:                                                             # a random patch of the object
                j = rng.integers(len(fg_rows))
                half = rng.uniform(0.03, 0.15, 2) * np.array([w, h])
                box = np.array([fg_cols[j] - half[0], fg_rows[j] - half[1], fg_cols[j] + half[0],
                                fg_rows[j] + half[1]])
            add(box, float(rng.uniform(0.5, 0.8)), int(rng.integers(n_classes)))
        if len(fg_rows) and rng.random() < e.whole_object:
            box = np.array([fg_cols.min(), fg_rows.min(), fg_cols.max() + 1, fg_rows.max() + 1], np.float64)
            add(box, float(rng.uniform(0.5, 0.8)), int(rng.integers(n_classes)))
        for _ in range(rng.poisson(e.below_threshold) if len(boxes) else 0):
            box = boxes[rng.integers(len(boxes))].astype(np.float64)
            add(box, float(rng.uniform(0.1, 0.5)), int(rng.integers(n_classes)))
        return Detections(np.asarray(out_b, np.float32).reshape(-1, 4), np.asarray(out_s, np.float32),
                          np.asarray(out_c, np.int64))
