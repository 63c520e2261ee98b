"""The SVE operator and schedule with a scripted segmenter (no model needed)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from zerops.config import ExtensionConfig
from zerops.geometry.masks import Lifter
from zerops.stages.extension import (
    DecodeMemo,
    ExtensionStats,
    SveTools,
    choose_smallest_confident,
    lift_mask,
    sve,
    sve_prompt_points,
)


def _scene():
    """20 points on a line; point i is drawn at pixel (i, 0) of a 1×20 image."""
    n = 20
    xyz = np.stack([np.arange(n) * 0.01, np.zeros(n), np.zeros(n)], axis=1)
    index_map = np.arange(n)[None, :].astype(np.int32)
    pixels = np.stack([np.arange(n) + 0.5, np.full(n, 0.5)], axis=1)
    visible = np.ones(n, dtype=bool)
    return xyz, index_map, pixels, visible


def _decoder(mask_cols, scores):
    """A decode function that returns the same 3 candidates for every prompt, and counts calls."""
    calls = []

    def decode(view, prompts):
        calls.append(len(prompts))
        masks = np.zeros((len(prompts), 3, 1, 20), dtype=bool)
        for k, (a, b) in enumerate(mask_cols):
            masks[:, k, 0, a:b] = True
        return masks, np.tile(np.asarray(scores, dtype=np.float32), (len(prompts), 1))
    return decode, calls


def _sve(groups, decode, xyz, visible, pixels, cfg, memo=None, stats=None):
    """One SVE step into view 0 (no splat radius, no index map), DBSCAN eps 0.015 and 1 point."""
    view = SimpleNamespace(seen=visible, pixels=pixels, radius=None)
    tools = SveTools(decode, Lifter(xyz, 0.015, 1), memo=memo, stats=stats if stats is not None else ExtensionStats())
    return sve(groups, 0, view, tools, cfg)


def test_smallest_confident_rule_and_whole_object_filter():
    masks = np.zeros((3, 1, 20), dtype=bool)
    masks[0, 0, :4] = True
    masks[1, 0, :10] = True
    masks[2, 0, :19] = True
    scores = np.array([0.7, 0.85, 0.95])
    assert choose_smallest_confident(masks, scores, 0.8, "smallest") is None
    assert choose_smallest_confident(masks, scores, 0.8, "smallest-confident") == 1
    assert choose_smallest_confident(masks, np.array([0.7, 0.7, 0.95]), 0.8, "smallest-confident",
                                     max_area=18) is None          # only the whole-object mask is confident


def test_smallest_confident_choice():
    masks = np.zeros((3, 1, 20), dtype=bool)
    masks[0, 0, :10] = True
    masks[1, 0, :4] = True
    masks[2, 0, :15] = True
    assert choose_smallest_confident(masks, np.array([0.9, 0.85, 0.95]), 0.8) == 1
    assert choose_smallest_confident(masks, np.array([0.9, 0.79, 0.95]), 0.8) is None  # smallest is not confident


def test_union_only_when_sharing_a_point():
    xyz, index_map, pixels, visible = _scene()
    cfg = ExtensionConfig(min_overlap=0.0, interior_prompts=0.0)   # the spec's literal rule
    group = np.arange(0, 5, dtype=np.int64)
    # the smallest candidate covers points 5..9: no shared point -> no union
    decode, _ = _decoder([(5, 10), (0, 15), (0, 20)], [0.9, 0.9, 0.9])
    out, grew = _sve([group], decode, xyz, visible, pixels, cfg)
    assert not grew and np.array_equal(out[0], group)
    # candidate 4..9 shares point 4 -> union 0..9
    decode, _ = _decoder([(4, 10), (0, 15), (0, 20)], [0.9, 0.9, 0.9])
    out, grew = _sve([group], decode, xyz, visible, pixels, cfg)
    assert grew and out[0].tolist() == list(range(10))


def test_min_overlap_rejects_masks_that_miss_the_group():
    xyz, index_map, pixels, visible = _scene()
    group = np.arange(0, 5, dtype=np.int64)
    decode, _ = _decoder([(4, 10), (0, 15), (0, 20)], [0.9, 0.9, 0.9])   # holds 1 of the 5 group points
    out, grew = _sve([group], decode, xyz, visible, pixels, ExtensionConfig(min_overlap=0.5))
    assert not grew
    decode, _ = _decoder([(2, 10), (0, 15), (0, 20)], [0.9, 0.9, 0.9])   # holds 3 of 5 >= 50%
    out, grew = _sve([group], decode, xyz, visible, pixels, ExtensionConfig(min_overlap=0.5))
    assert grew and out[0].tolist() == list(range(10))


def test_interior_prompts_avoid_rim_points():
    xyz, _, _, visible = _scene()
    # neighbours on the line: i-1 and i+1 (clipped)
    n = len(xyz)
    neighbors = np.stack([np.clip(np.arange(n) - 1, 0, n - 1), np.clip(np.arange(n) + 1, 0, n - 1)], axis=1)
    group = np.arange(0, 11, dtype=np.int64)
    p = sve_prompt_points(group, visible, xyz, neighbors=neighbors, interior=1.0)
    assert 10 not in p.tolist()                            # point 10 has neighbour 11 outside the group
    assert p[0] == 0                                       # point 0's neighbours (0, 1) are both inside
    assert sve_prompt_points(np.array([3], dtype=np.int64), visible, xyz, neighbors=neighbors,
                             interior=1.0) is None         # a lone point has no interior: skipped


def test_low_iou_and_invisible_groups_are_skipped():
    xyz, index_map, pixels, visible = _scene()
    cfg = ExtensionConfig()
    group = np.arange(0, 5, dtype=np.int64)
    decode, calls = _decoder([(4, 10), (0, 15), (0, 20)], [0.7, 0.9, 0.9])
    spec = ExtensionConfig(mask_choice="smallest")
    out, grew = _sve([group], decode, xyz, visible, pixels, spec)
    assert not grew and calls == [1]            # the smallest candidate is not confident: skipped
    vis = visible.copy()
    vis[:] = False
    vis[0] = True                       # 1 of 20 points visible: exactly the 5% gate
    big = np.arange(0, 20, dtype=np.int64)
    decode, calls = _decoder([(4, 10), (0, 15), (0, 20)], [0.9, 0.9, 0.9])
    _sve([big, big], decode, xyz, vis, pixels, cfg)
    assert calls == [2]                 # 1/20 = 5% passes the gate; both groups in ONE batch
    assert sve_prompt_points(np.arange(0, 20), vis, xyz, min_visible_fraction=0.06) is None


def test_prompt_points_are_fps_plus_centroid():
    xyz, _, _, visible = _scene()
    p = sve_prompt_points(np.arange(0, 11, dtype=np.int64), visible, xyz)
    assert p[0] == 0 and p[1] == 10 and 4 <= p[2] <= 6    # FPS from index 0: ends, then the middle
    assert len(p) == len(set(p.tolist()))
    assert 5 in p.tolist()                                # the centroid point


def test_memo_answers_repeats_without_decoding():
    xyz, index_map, pixels, visible = _scene()
    cfg = ExtensionConfig()
    group = np.arange(0, 5, dtype=np.int64)
    decode, calls = _decoder([(5, 10), (0, 15), (0, 20)], [0.9, 0.9, 0.9])
    memo, stats = DecodeMemo(), ExtensionStats()
    for _ in range(3):
        _sve([group, group.copy()], decode, xyz, visible, pixels, cfg, memo, stats)
    assert calls == [2] and stats.decodes == 2 and memo.hits == 4


def test_lift_mask_takes_seen_points_inside_the_mask():
    mask = np.array([[True, True, False], [True, True, True]])
    pixels = np.array([[0.5, 0.5], [2.5, 0.5], [1.2, 1.7], [2.9, 1.1], [0.1, 1.9], [1.5, 0.5]])
    seen = np.array([True, True, True, True, False, True])
    # point 1 lies in an unmasked pixel, point 4 is not seen
    assert lift_mask(mask, pixels, seen).tolist() == [0, 2, 3, 5]
