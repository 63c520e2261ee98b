"""Hand-computed checks of the three ZeroPS metrics (METHOD.md §5.2)."""
import numpy as np
import pytest

from zerops.errors import ZeropsError
from zerops.eval.metrics import (
    AverageIoU,
    InstanceMAP,
    SemanticMIoU,
    average_iou,
    average_precision,
    instance_map50,
    iou_matrix,
    mean_over_categories,
    semantic_miou,
)

# one shape, 10 points: class 0 ("seat") = instance 0 (4 pts); class 1 ("leg") = instances 1 (3 pts), 2 (2 pts)
GT_INS = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, -1])
GT_SEM = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, -1])
NONE = np.full(10, -1)


def shape_scores(pred_part, pred_sem, pred_ins, n_classes=2):
    return (
        average_iou([GT_INS], [pred_part]),
        semantic_miou([GT_SEM], [pred_sem], n_classes),
        instance_map50([GT_SEM], [GT_INS], [pred_sem], [pred_ins], n_classes),
    )


def test_perfect_is_100():
    assert shape_scores(GT_INS, GT_SEM, GT_INS) == (100.0, 100.0, 100.0)


def test_perfect_with_renumbered_ids():
    part = np.array([7, 7, 7, 7, 3, 3, 3, 5, 5, -1])
    assert shape_scores(part, GT_SEM, part) == (100.0, 100.0, 100.0)


def test_empty_prediction_is_zero():
    # no prediction at all: every best IoU is 0, every class IoU 0, classes with GT but no prediction AP 0
    assert shape_scores(NONE, NONE, NONE) == (0.0, 0.0, 0.0)


def test_split_part():
    # instance 0 predicted as two halves of 2 points each
    part = np.array([0, 0, 1, 1, 2, 2, 2, 3, 3, -1])
    avg, miou, map50 = shape_scores(part, GT_SEM, part)
    assert avg == pytest.approx((50 + 100 + 100) / 3)
    assert miou == 100.0
    # class 0: two predictions with IoU exactly 0.5 (not > 0.5) -> both FP: only the (rec 0, prec 1)
    # start point counts -> AP = 1/101; class 1: AP = 1
    assert map50 == pytest.approx(100 * (1 / 101 + 1) / 2)


def test_merged_parts():
    # the two legs predicted as one part of 5 points
    part = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, -1])
    avg, miou, map50 = shape_scores(part, GT_SEM, part)
    assert avg == pytest.approx((100 + 60 + 40) / 3)  # 3/5 and 2/5
    assert miou == 100.0
    # class 1: one prediction, TP on leg 1 (IoU 0.6), recall 0.5 -> 51 of 101 thresholds at precision 1
    assert map50 == pytest.approx(100 * (1 + 51 / 101) / 2)


def test_swapped_labels():
    sem = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, -1])
    avg, miou, map50 = shape_scores(GT_INS, sem, GT_INS)
    assert avg == 100.0  # class-agnostic: unaffected
    assert miou == 0.0
    # every prediction is a FP of a class that has GT -> AP = 1/101 for both classes
    assert map50 == pytest.approx(100 / 101)


def test_duplicate_prediction_ranked_before_a_true_positive():
    masks = np.stack([GT_INS == 0, GT_INS == 1, GT_INS == 1, GT_INS == 2])
    acc = InstanceMAP(2)
    acc.add_masks(GT_SEM, GT_INS, masks, np.array([0, 1, 1, 1]))  # equal scores: stable order
    # class 1 ranking: TP, FP (duplicate: its GT is used), TP -> rec (0,.5,.5,1), prec (1,1,.5,2/3)
    # thresholds 0..0.5 (51) -> 1; 0.51..1 (50) -> 2/3
    ap1 = (51 + 50 * 2 / 3) / 101
    assert acc.per_class() == pytest.approx([100.0, 100 * ap1])
    assert acc.summary() == pytest.approx(100 * (1 + ap1) / 2)


def test_duplicate_prediction_with_low_confidence_costs_nothing():
    masks = np.stack([GT_INS == 0, GT_INS == 1, GT_INS == 1, GT_INS == 2])
    acc = InstanceMAP(2)
    acc.add_masks(GT_SEM, GT_INS, masks, np.array([0, 1, 1, 1]), np.array([1.0, 1.0, 0.5, 1.0]))
    assert acc.summary() == 100.0


def test_scores_from_dict_reorder_predictions():
    # pred 1 = points 4-7 (IoU .75 with leg 1), pred 2 = point 8 (IoU .5 with leg 2: FP)
    pred_ins = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, -1])
    acc = InstanceMAP(2)
    acc.add(GT_SEM, GT_INS, GT_SEM, pred_ins)  # all 1.0: id order -> TP, FP
    assert acc.per_class()[1] == pytest.approx(100 * 51 / 101)
    acc = InstanceMAP(2)
    acc.add(GT_SEM, GT_INS, GT_SEM, pred_ins, scores={1: 0.2, 2: 0.9})  # FP, TP
    assert acc.per_class()[1] == pytest.approx(100 * (1 + 50 * 0.5) / 101)


def test_minus_one_handling():
    # GT -1 points inside a predicted part enlarge the union (no "other" mask)
    assert average_iou([np.array([0, 0, -1, -1])], [np.array([0, 0, 0, 0])]) == 50.0
    # predicted -1 is no part, even where it would match a GT instance
    assert average_iou([np.array([0, 0, 1, 1])], [np.array([-1, -1, 0, 0])]) == 50.0
    # a shape with no GT instance contributes nothing
    acc = AverageIoU()
    acc.add(np.full(4, -1), np.array([0, 0, 1, 1]))
    assert acc.summary() is None and acc.n_instances == 0
    acc.add(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]))
    assert acc.summary() == 100.0
    # a GT instance with semantic -1 is no mAP ground truth; predictions of class -1 are ignored
    m = InstanceMAP(1)
    m.add(np.array([0, 0, -1, -1]), np.array([0, 0, 1, 1]), np.array([0, 0, -1, -1]), np.array([0, 0, 1, 1]))
    assert m.summary() == 100.0 and m.records[0].n_gt == 1


def test_average_iou_pools_instances_over_shapes():
    acc = AverageIoU()
    acc.add(GT_INS, GT_INS)  # 3 instances at 100
    acc.add(np.array([0, 0, 0]), np.array([-1, -1, -1]))  # 1 instance at 0
    assert acc.summary() == 75.0  # pooled: 300 / 4 (a per-shape mean would give 50)


def test_semantic_counts_only_shapes_containing_the_class():
    m = SemanticMIoU(3)
    m.add(GT_SEM, GT_SEM)  # class 0: 100, class 1: 100
    # shape 2 has no class 1 in its GT; predicting class 1 there is not a false positive for class 1
    m.add(np.array([0, 0, 0, 0]), np.array([0, 0, 1, 1]))  # class 0: 2/4
    per = m.per_class()
    assert per[0] == 75.0 and per[1] == 100.0 and np.isnan(per[2])  # class 2 never present
    assert m.summary() == pytest.approx(87.5)  # mean over the classes present somewhere


def test_semantic_iou_values():
    gt = np.array([0, 0, 0, 1, 1, -1])
    pred = np.array([0, 0, 1, 1, 1, 1])
    m = SemanticMIoU(2)
    ious = m.add(gt, pred)
    assert ious == pytest.approx([100 * 2 / 3, 100 * 2 / 4])


def test_map_pools_predictions_over_shapes_by_confidence():
    acc = InstanceMAP(1)
    g = np.array([0, 0, 0, 0])
    # shape A: a FP (IoU 0.25) with score 0.9; shape B: a TP with score 0.8
    acc.add(np.zeros(4, int), g, np.zeros(4, int), np.array([0, -1, -1, -1]), {0: 0.9})
    acc.add(np.zeros(4, int), g, np.zeros(4, int), g, {0: 0.8})
    # ranking FP, TP; n_gt 2: rec (0,0,.5), prec (1,0,.5) -> t=0: 1; t in .01...5: .5 (50); rest 0
    assert acc.summary() == pytest.approx(100 * (1 + 50 * 0.5) / 101)


def test_absent_class_policy():
    kw = dict(gt_semantics=[GT_SEM], gt_instances=[GT_INS], pred_semantics=[GT_SEM], pred_instances=[GT_INS],
              n_classes=3)
    assert instance_map50(**kw) == 100.0  # class 2 has no GT anywhere: skipped
    assert instance_map50(**kw, skip_absent_classes=False) == pytest.approx(200 / 3)  # ZeroPS script: 0
    acc = InstanceMAP(3)
    acc.add(GT_SEM, GT_INS, GT_SEM, GT_INS)
    assert np.isnan(acc.per_class()[2])


def test_map_none_without_gt():
    acc = InstanceMAP(2)
    acc.add(NONE, NONE, GT_SEM, GT_INS)
    assert acc.summary() is None


def test_average_precision_values():
    assert average_precision(np.array([True, True]), 2) == 1.0
    assert average_precision(np.array([], bool), 3) == 0.0
    assert average_precision(np.array([False]), 1) == pytest.approx(1 / 101)
    # rec exactly 0.07 must count at the 0.07 threshold: 7 TP of 100 GT -> thresholds 0..0.07 (8) at 1
    assert average_precision(np.ones(7, bool), 100) == pytest.approx(8 / 101)
    with pytest.raises(ZeropsError):
        average_precision(np.array([True]), 0)


def test_iou_matrix_values():
    gt_ids, pred_ids, iou = iou_matrix(np.array([0, 0, 1, -1]), np.array([5, 5, 5, 2]))
    assert gt_ids.tolist() == [0, 1] and pred_ids.tolist() == [2, 5]
    assert iou == pytest.approx(np.array([[0.0, 2 / 3], [0.0, 1 / 3]]))


def test_mean_over_categories_skips_none():
    assert mean_over_categories([50.0, None, 100.0]) == 75.0
    assert mean_over_categories([None]) is None


def test_bad_input_raises_zerops_error():
    with pytest.raises(ZeropsError):
        average_iou([np.zeros(3, int)], [np.zeros(4, int)])
    with pytest.raises(ZeropsError):
        average_iou([np.zeros((3, 2), int)], [np.zeros((3, 2), int)])
    with pytest.raises(ZeropsError):
        InstanceMAP(2).add_masks(GT_SEM, GT_INS, np.ones((2, 10), bool), np.array([0]))


def _naive_map(shapes, n_classes):
    """Literal loop version of the PartNet protocol (per-point predictions, all scores 1.0)."""
    tps = [[] for _ in range(n_classes)]
    npos = np.zeros(n_classes, int)
    for gs, gi, ps, pi in shapes:
        gts = [(gi == i, gs[np.flatnonzero(gi == i)[0]]) for i in np.unique(gi) if i >= 0]
        if not gts:
            continue
        for _, c in gts:
            npos[c] += 1
        used = [False] * len(gts)
        for k in np.unique(pi):
            if k < 0:
                continue
            m = pi == k
            c = ps[np.flatnonzero(m)[0]]
            best, arg = 0.0, -1
            for j, (g, gc) in enumerate(gts):
                if gc == c and not used[j]:
                    iou = (g & m).sum() / (g | m).sum()
                    if iou > best:
                        best, arg = iou, j
            if best > 0.5:
                used[arg] = True
            tps[c].append(best > 0.5)
    aps = []
    for c in range(n_classes):
        if npos[c] == 0:
            continue
        if not tps[c]:
            aps.append(0.0)
            continue
        tp = np.cumsum(tps[c])
        rec = np.r_[0, tp / npos[c]]
        prec = np.r_[1, tp / np.arange(1, len(tp) + 1)]
        aps.append(np.mean([prec[rec >= t].max() if (rec >= t).any() else 0 for t in np.arange(101) / 100]))
    return 100 * np.mean(aps)


def test_against_naive_loops_on_random_shapes():
    rng = np.random.default_rng(0)
    shapes = []
    for _ in range(6):
        n = 60
        gi = rng.integers(-1, 6, n)
        gs = np.where(gi >= 0, gi % 3, -1)
        pi = np.where(rng.random(n) < 0.7, gi, rng.integers(-1, 6, n))
        ps = np.where(pi >= 0, (pi + rng.integers(0, 2, n) * (rng.random(n) < 0.2)) % 3, -1)
        shapes.append((gs, gi, ps, pi))
    acc = InstanceMAP(3)
    avg = AverageIoU()
    best = []
    for gs, gi, ps, pi in shapes:
        acc.add(gs, gi, ps, pi)
        avg.add(gi, pi)
        for i in np.unique(gi[gi >= 0]):
            g = gi == i
            best.append(max([(g & (pi == k)).sum() / (g | (pi == k)).sum() for k in np.unique(pi[pi >= 0])]))
    assert acc.summary() == pytest.approx(_naive_map(shapes, 3))
    assert avg.summary() == pytest.approx(100 * np.mean(best))
