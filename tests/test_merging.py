"""Merging (METHOD.md §3.4): threshold strictness, largest-first order, shared-point resolution, cleanup."""
from __future__ import annotations

import numpy as np

from zerops.stages.merging import cleanup_labels, merge_groups, point_iou, resolve_labels


def _g(*ranges):
    return np.concatenate([np.arange(a, b) for a, b in ranges]).astype(np.int64)


def test_iou_exactly_threshold_does_not_merge_and_above_does():
    a = _g((0, 100))
    b30 = _g((0, 30))                     # IoU = 30 / 100 = 0.30 exactly
    assert point_iou(a, b30) == 0.3
    assert len(merge_groups([a, b30], 0.3)) == 2
    b31 = _g((0, 31))                     # IoU = 0.31
    merged = merge_groups([a, b31], 0.3)
    assert len(merged) == 1 and np.array_equal(merged[0], a)


def test_largest_first_and_first_match_wins():
    small = _g((0, 10))
    big1 = _g((0, 20))                    # IoU(small, big1) = 0.5
    big2 = _g((0, 25))                    # IoU(small, big2) = 0.4, IoU(big1, big2) = 0.8
    merged = merge_groups([small, big1, big2], 0.3)
    # big2 comes first (largest), big1 merges into it, small merges into the same one
    assert len(merged) == 1 and np.array_equal(merged[0], big2)
    # a group that overlaps two merged groups joins only the FIRST one above the threshold
    m1, m2 = _g((0, 50)), _g((100, 145))
    bridge = _g((45, 50), (110, 140))     # IoU with m1 = 5/80 (no), with m2 = 30/50 = 0.6 (yes)
    merged = merge_groups([m1, m2, bridge], 0.3)
    assert len(merged) == 2
    assert np.array_equal(merged[0], m1) and np.array_equal(merged[1], np.union1d(m2, bridge))
    bridge2 = _g((28, 50), (123, 145))    # IoU with m1 = 22/72 = 0.306, with m2 = 22/67 = 0.328 (better)
    assert 0.3 < point_iou(m1, bridge2) < point_iou(m2, bridge2)
    merged = merge_groups([m1, m2, bridge2], 0.3)
    assert np.array_equal(merged[0], np.union1d(m1, bridge2)) and np.array_equal(merged[1], m2)


def test_merged_groups_are_never_remerged():
    a, b = _g((0, 40)), _g((40, 80))
    c = _g((30, 50))                      # overlaps both a little: IoU 10/50 = 0.2 with each
    merged = merge_groups([a, b, c], 0.3)
    assert len(merged) == 3


def test_shared_points_go_to_the_last_group():
    merged = [_g((0, 10)), _g((5, 15))]
    labels = resolve_labels(merged, 20)
    assert labels[:5].tolist() == [0] * 5
    assert labels[5:15].tolist() == [1] * 10
    assert labels[15:].tolist() == [-1] * 5


def test_cleanup_keeps_largest_cluster_and_renumbers():
    # two labels; label 7 has a far-away island of 3 points that cleanup removes
    line = np.stack([np.linspace(0, 1, 101), np.zeros(101), np.zeros(101)], axis=1)
    island = np.array([[5.0, 5, 5], [5.005, 5, 5], [5.01, 5, 5]])
    xyz = np.concatenate([line, island])
    labels = np.full(len(xyz), -1)
    labels[:50] = 7
    labels[50:101] = 3
    labels[101:] = 7
    out = cleanup_labels(labels, xyz, eps=0.015, min_points=3)
    assert out[:50].tolist() == [1] * 50        # old 7 -> 1 (old 3 -> 0: ids follow old label order)
    assert out[50:101].tolist() == [0] * 51
    assert out[101:].tolist() == [-1] * 3


def test_merge_resolve_cleanup_end_to_end():
    xyz = np.stack([np.linspace(0, 1, 200), np.zeros(200), np.zeros(200)], axis=1)
    groups = [_g((0, 100)), _g((0, 90)), _g((100, 200)), _g((95, 200))]
    part = cleanup_labels(resolve_labels(merge_groups(groups, 0.3), len(xyz)), xyz, 0.011, 3)   # as the pipeline
    assert part[:95].tolist() == [0] * 95 or part[:95].tolist() == [1] * 95
    assert len(np.unique(part)) == 2 and (part >= 0).all()
