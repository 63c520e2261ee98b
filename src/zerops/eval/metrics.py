"""The three ZeroPS metrics (METHOD.md §5.2), as per-category accumulators over shapes.

All metric values returned are **percent**. Each accumulator covers one category: call ``add`` once per
shape, then ``summary()``; the overall score is the mean over categories (:func:`mean_over_categories`).

* :class:`AverageIoU` — class-agnostic "Average IoU": for every ground-truth instance (``instance >= 0``) the
  best IoU over the predicted parts (``part >= 0``), computed over all points of the shape; pooled over all
  instances of the category. Predicted ``-1`` points belong to no part; GT ``-1`` points are not removed
  (ZeroPS builds no "other" mask), so a predicted part that covers them is penalised through the union.
* :class:`SemanticMIoU` — PartSLIP protocol: per class, IoU(pred == c, gt == c) averaged over the shapes whose
  GT contains c; the category score is the mean over the classes present in at least one shape. A class that
  never occurs in the GT has no score (``nan`` in ``per_class``) and is left out of the mean (the released
  script would produce ``nan`` for the whole category).
* :class:`InstanceMAP` — PartNet protocol, IoU > 0.5: a GT instance's class is the GT semantic label of its
  first point, a predicted instance's class the predicted semantic label of its first point (as the
  released scripts do). Within a shape predictions are taken by descending confidence (stable on ties), each
  matched to the unused GT instance of its class with the highest IoU; TP iff that IoU > 0.5. Per class, all
  predictions of the category are sorted by confidence (stable), and AP is the mean over the 101 recall
  thresholds 0, 0.01, ..., 1 of the best precision at recall >= threshold, with the PartNet starting point
  (recall 0, precision 1) — so any class with predictions scores at least 1/101. A class with GT but no
  prediction scores 0. Shapes without GT instances are skipped. A class with no GT in any shape is
  **skipped** in the category mean by default (``skip_absent_classes=True``, PartNet's own ``mean_ap``); with
  ``False`` it counts as 0, as the ZeroPS script's final average does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from zerops.errors import ZeropsError

N_RECALL_BINS = 100  # 101 recall thresholds 0, 0.01, ..., 1


def _labels(arr: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim != 1:
        raise ZeropsError(f"{name} must be a 1-D label array, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if not np.all(np.mod(a, 1) == 0):
            raise ZeropsError(f"{name} must hold integer labels, got {a.dtype}")
    return a.astype(np.int64, copy=False)


def _same_length(*pairs: tuple[np.ndarray, str]) -> None:
    n = len(pairs[0][0])
    for arr, name in pairs[1:]:
        if len(arr) != n:
            raise ZeropsError(f"{name} has {len(arr)} labels but {pairs[0][1]} has {n}; one per point")


def iou_matrix(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU between every GT segment and every predicted segment of one shape (labels >= 0).

    Args:
        gt: (N,) int GT ids, -1 = none.
        pred: (N,) int predicted ids, -1 = none.
    Returns:
        gt_ids (G,) int64, pred_ids (P,) int64 (sorted), iou (G,P) float64 fractions in [0,1].
    """
    gt = _labels(gt, "ground truth")
    pred = _labels(pred, "prediction")
    _same_length((gt, "ground truth"), (pred, "prediction"))
    gt_ids, g_inv = np.unique(gt, return_inverse=True)
    pred_ids, p_inv = np.unique(pred, return_inverse=True)
    g_off = int(np.searchsorted(gt_ids, 0))
    p_off = int(np.searchsorted(pred_ids, 0))
    gi = g_inv.reshape(-1) - g_off
    pi = p_inv.reshape(-1) - p_off
    n_g, n_p = len(gt_ids) - g_off, len(pred_ids) - p_off
    both = (gi >= 0) & (pi >= 0)
    inter = np.bincount(gi[both] * n_p + pi[both], minlength=n_g * n_p).reshape(n_g, n_p)
    g_size = np.bincount(gi[gi >= 0], minlength=n_g)
    p_size = np.bincount(pi[pi >= 0], minlength=n_p)
    union = g_size[:, None] + p_size[None, :] - inter
    iou = inter / np.maximum(union, 1)
    return gt_ids[g_off:], pred_ids[p_off:], iou.astype(np.float64)


def best_instance_ious(gt_instance: np.ndarray, pred_part: np.ndarray) -> np.ndarray:
    """(G,) float64 percent: for each GT instance id >= 0 (ascending), its best IoU over predicted parts."""
    _, pred_ids, iou = iou_matrix(gt_instance, pred_part)
    if iou.shape[1] == 0:
        return np.zeros(iou.shape[0], dtype=np.float64)
    return 100.0 * iou.max(axis=1)


def best_partition(gt_instance: np.ndarray, candidates: Sequence[np.ndarray]) -> int:
    """Index of the candidate (N,) partition whose best IoUs per ground-truth instance sum highest (the first on
    ties): the one that adds most to its category's Average IoU (a shape's instances count once each)."""
    if not len(candidates):
        raise ZeropsError("best_partition needs at least one candidate partition")
    totals = [float(best_instance_ious(gt_instance, c).sum()) for c in candidates]
    return int(np.argmax(totals))


class AverageIoU:
    """Class-agnostic Average IoU of one category, accumulated shape by shape."""

    def __init__(self) -> None:
        self.best: list[np.ndarray] = []

    def add(self, gt_instance: np.ndarray, pred_part: np.ndarray) -> np.ndarray:
        """Add one shape; returns its (G,) best IoUs in percent."""
        best = best_instance_ious(gt_instance, pred_part)
        self.best.append(best)
        return best

    @property
    def n_instances(self) -> int:
        return int(sum(len(b) for b in self.best))

    def summary(self) -> float | None:
        """Mean best IoU over all GT instances added (percent), or None if there were none."""
        if self.n_instances == 0:
            return None
        return float(np.concatenate(self.best).mean())


def semantic_ious(gt_semantic: np.ndarray, pred_semantic: np.ndarray, n_classes: int) -> np.ndarray:
    """(C,) float64 percent IoU(pred == c, gt == c) per class; nan for classes absent from the GT."""
    gt = _labels(gt_semantic, "ground-truth semantic")
    pred = _labels(pred_semantic, "predicted semantic")
    _same_length((gt, "ground-truth semantic"), (pred, "predicted semantic"))
    out = np.full(n_classes, np.nan, dtype=np.float64)
    g_ok = (gt >= 0) & (gt < n_classes)
    p_ok = (pred >= 0) & (pred < n_classes)
    g_cnt = np.bincount(gt[g_ok], minlength=n_classes)
    p_cnt = np.bincount(pred[p_ok], minlength=n_classes)
    same = g_ok & (gt == pred)
    inter = np.bincount(gt[same], minlength=n_classes)
    present = g_cnt > 0
    out[present] = 100.0 * inter[present] / (g_cnt + p_cnt - inter)[present]
    return out


class SemanticMIoU:
    """Semantic mIoU of one category (PartSLIP protocol), accumulated shape by shape."""

    def __init__(self, n_classes: int) -> None:
        if n_classes < 1:
            raise ZeropsError(f"a category needs at least one part class, got {n_classes}")
        self.n_classes = int(n_classes)
        self.iou_sum = np.zeros(self.n_classes, dtype=np.float64)
        self.count = np.zeros(self.n_classes, dtype=np.int64)

    def add(self, gt_semantic: np.ndarray, pred_semantic: np.ndarray) -> np.ndarray:
        """Add one shape; returns its (C,) per-class IoUs in percent (nan = class absent from the GT)."""
        ious = semantic_ious(gt_semantic, pred_semantic, self.n_classes)
        present = ~np.isnan(ious)
        self.iou_sum[present] += ious[present]
        self.count[present] += 1
        return ious

    def per_class(self) -> np.ndarray:
        """(C,) float64 percent, nan for classes no shape contained."""
        out = np.full(self.n_classes, np.nan)
        ok = self.count > 0
        out[ok] = self.iou_sum[ok] / self.count[ok]
        return out

    def summary(self) -> float | None:
        per = self.per_class()
        if np.all(np.isnan(per)):
            return None
        return float(np.nanmean(per))


def average_precision(tp: np.ndarray, n_gt: int, n_bins: int = N_RECALL_BINS) -> float:
    """PartNet AP (fraction) from TP flags of predictions already sorted by confidence.

    Args:
        tp: (K,) bool, True = true positive, in ranking order.
        n_gt: number of GT instances of the class (> 0).
    Returns:
        Mean over recall thresholds i/n_bins (i = 0..n_bins) of the best precision at recall >= threshold,
        the curve starting at (recall 0, precision 1). 0.0 when there is no prediction.
    """
    tp = np.asarray(tp, dtype=bool)
    if n_gt <= 0:
        raise ZeropsError("average precision needs at least one ground-truth instance")
    if tp.size == 0:
        return 0.0
    ctp = np.cumsum(tp)
    rank = np.arange(1, len(tp) + 1)
    rec = np.concatenate([[0.0], ctp / n_gt])
    prec = np.concatenate([[1.0], ctp / rank])
    # best precision at recall >= r: suffix maximum over the curve
    best_after = np.maximum.accumulate(prec[::-1])[::-1]
    thresholds = np.arange(n_bins + 1) / n_bins
    pos = np.searchsorted(rec, thresholds, side="left")  # rec is non-decreasing
    p = np.where(pos < len(rec), best_after[np.minimum(pos, len(rec) - 1)], 0.0)
    return float(np.mean(p))


@dataclass
class _ClassRecord:
    tp: list[np.ndarray] = field(default_factory=list)
    score: list[np.ndarray] = field(default_factory=list)
    n_gt: int = 0


def _instances(instance: np.ndarray, semantic: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Instance ids >= 0 (ascending), the class at each instance's first point, and the inverse map."""
    ids, first, inv = np.unique(instance, return_index=True, return_inverse=True)
    off = int(np.searchsorted(ids, 0))
    return ids[off:], semantic[first[off:]], inv.reshape(-1) - off


class InstanceMAP:
    """Instance mAP (PartNet protocol) of one category, accumulated shape by shape."""

    def __init__(self, n_classes: int, iou_threshold: float = 0.5, skip_absent_classes: bool = True) -> None:
        if n_classes < 1:
            raise ZeropsError(f"a category needs at least one part class, got {n_classes}")
        self.n_classes = int(n_classes)
        self.iou_threshold = float(iou_threshold)
        self.skip_absent_classes = bool(skip_absent_classes)
        self.records = [_ClassRecord() for _ in range(self.n_classes)]

    def add(
        self,
        gt_semantic: np.ndarray,
        gt_instance: np.ndarray,
        pred_semantic: np.ndarray,
        pred_instance: np.ndarray,
        scores: Mapping[int, float] | None = None,
    ) -> None:
        """Add one shape given per-point predicted labels.

        Args:
            gt_semantic, gt_instance: (N,) int GT labels, -1 = none.
            pred_semantic, pred_instance: (N,) int predicted labels, -1 = none; each predicted instance id
                >= 0 is one prediction, its class the predicted semantic label of its first point.
            scores: confidence per predicted instance id; missing ids (or None) get 1.0.
        """
        ps = _labels(pred_semantic, "predicted semantic")
        pi = _labels(pred_instance, "predicted instance")
        _same_length((ps, "predicted semantic"), (pi, "predicted instance"))
        pred_ids, pred_cls, inv = _instances(pi, ps)
        masks = np.zeros((len(pred_ids), len(pi)), dtype=bool)
        on = inv >= 0
        masks[inv[on], np.flatnonzero(on)] = True
        conf = np.array([float((scores or {}).get(int(k), 1.0)) for k in pred_ids], dtype=np.float64)
        self.add_masks(gt_semantic, gt_instance, masks, pred_cls, conf)

    def add_masks(
        self,
        gt_semantic: np.ndarray,
        gt_instance: np.ndarray,
        pred_masks: np.ndarray,
        pred_classes: np.ndarray,
        scores: np.ndarray | None = None,
    ) -> None:
        """Add one shape given predicted instance masks (which may overlap).

        Args:
            gt_semantic, gt_instance: (N,) int GT labels, -1 = none.
            pred_masks: (K,N) bool, one row per predicted instance, in ranking order for ties.
            pred_classes: (K,) int class of each prediction (others than 0..C-1 are ignored).
            scores: (K,) float confidences; None = all 1.0.
        """
        gs = _labels(gt_semantic, "ground-truth semantic")
        gi = _labels(gt_instance, "ground-truth instance")
        _same_length((gs, "ground-truth semantic"), (gi, "ground-truth instance"))
        masks = np.asarray(pred_masks, dtype=bool).reshape(-1, len(gi))
        cls = _labels(pred_classes, "predicted classes")
        conf = np.ones(len(cls)) if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
        if not (len(masks) == len(cls) == len(conf)):
            raise ZeropsError(f"got {len(masks)} masks, {len(cls)} classes and {len(conf)} scores; "
                              "give one of each per predicted instance")
        gt_ids, gt_cls, g_inv = _instances(gi, gs)
        valid_gt = (gt_cls >= 0) & (gt_cls < self.n_classes)
        if not valid_gt.any():
            return  # shapes without GT instances are skipped
        for c in gt_cls[valid_gt]:
            self.records[c].n_gt += 1
        keep = (cls >= 0) & (cls < self.n_classes)
        masks, cls, conf = masks[keep], cls[keep], conf[keep]
        if len(cls) == 0:
            return
        n_g = len(gt_ids)
        g_size = np.bincount(g_inv[g_inv >= 0], minlength=n_g)
        iou = np.zeros((n_g, len(cls)))
        for j, m in enumerate(masks):
            g = g_inv[m]
            inter = np.bincount(g[g >= 0], minlength=n_g)
            iou[:, j] = inter / np.maximum(g_size + m.sum() - inter, 1)
        used = ~valid_gt  # GT with an unknown class can never be matched
        order = np.argsort(-conf, kind="stable")
        tp = np.zeros(len(cls), dtype=bool)
        for j in order:
            cand = np.flatnonzero((gt_cls == cls[j]) & ~used)
            if len(cand) == 0:
                continue
            ious = iou[cand, j]
            k = int(np.argmax(ious))  # highest IoU, first on ties
            if ious[k] > self.iou_threshold:
                used[cand[k]] = True
                tp[j] = True
        for c in np.unique(cls):
            sel = order[cls[order] == c]
            self.records[c].tp.append(tp[sel])
            self.records[c].score.append(conf[sel])

    def per_class(self) -> np.ndarray:
        """(C,) float64 AP in percent; nan for classes without GT in any shape."""
        out = np.full(self.n_classes, np.nan)
        for c, rec in enumerate(self.records):
            if rec.n_gt == 0:
                continue
            if not rec.tp:
                out[c] = 0.0
                continue
            tp = np.concatenate(rec.tp)
            score = np.concatenate(rec.score)
            order = np.argsort(-score, kind="stable")
            out[c] = 100.0 * average_precision(tp[order], rec.n_gt)
        return out

    def summary(self) -> float | None:
        """Category mAP in percent (see the module docstring for absent classes); None without any GT."""
        per = self.per_class()
        if np.all(np.isnan(per)):
            return None
        if self.skip_absent_classes:
            return float(np.nanmean(per))
        return float(np.nan_to_num(per, nan=0.0).mean())


def mean_over_categories(values: Iterable[float | None]) -> float | None:
    """Overall score: mean of the category scores that exist (None ones are left out)."""
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def average_iou(gt_instances: Sequence[np.ndarray], pred_parts: Sequence[np.ndarray]) -> float | None:
    """Average IoU (percent) of one category given its shapes' GT instance and predicted part arrays."""
    acc = AverageIoU()
    for g, p in zip(gt_instances, pred_parts, strict=True):
        acc.add(g, p)
    return acc.summary()


def semantic_miou(
    gt_semantics: Sequence[np.ndarray], pred_semantics: Sequence[np.ndarray], n_classes: int
) -> float | None:
    """Semantic mIoU (percent) of one category given its shapes' GT and predicted semantic arrays."""
    acc = SemanticMIoU(n_classes)
    for g, p in zip(gt_semantics, pred_semantics, strict=True):
        acc.add(g, p)
    return acc.summary()


def instance_map50(
    gt_semantics: Sequence[np.ndarray],
    gt_instances: Sequence[np.ndarray],
    pred_semantics: Sequence[np.ndarray],
    pred_instances: Sequence[np.ndarray],
    n_classes: int,
    scores: Sequence[Mapping[int, float] | None] | None = None,
    skip_absent_classes: bool = True,
) -> float | None:
    """Instance mAP50 (percent) of one category given its shapes' GT and predicted label arrays."""
    acc = InstanceMAP(n_classes, 0.5, skip_absent_classes)
    scores = scores if scores is not None else [None] * len(gt_semantics)
    for gs, gi, ps, pi, sc in zip(gt_semantics, gt_instances, pred_semantics, pred_instances, scores,
                                  strict=True):
        acc.add(gs, gi, ps, pi, sc)
    return acc.summary()
