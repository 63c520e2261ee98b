"""The SVE operator and schedule with a scripted segmenter (no model needed)."""
from __future__ import annotations

import numpy as np

from zerops.config import ExtensionConfig
from zerops.extension import DecodeMemo, ExtensionStats, choose_smallest_confident, lift_mask, sve, sve_prompt_points


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


def test_smallest_confident_choice():
    masks = np.zeros((3, 1, 20), dtype=bool)
    masks[0, 0, :10] = True
    masks[1, 0, :4] = True
    masks[2, 0, :15] = True
    assert choose_smallest_confident(masks, np.array([0.9, 0.85, 0.95]), 0.8) == 1
    assert choose_smallest_confident(masks, np.array([0.9, 0.79, 0.95]), 0.8) is None  # smallest is not confident


def test_union_only_when_sharing_a_point():
    xyz, index_map, pixels, visible = _scene()
    cfg = ExtensionConfig()
    group = np.arange(0, 5, dtype=np.int64)
    # the smallest candidate covers points 5..9: no shared point -> no union
    decode, _ = _decoder([(5, 10), (0, 15), (0, 20)], [0.9, 0.9, 0.9])
    out, grew = sve([group], 0, decode, xyz, visible, pixels, index_map, cfg, eps=0.015, min_points=1)
    assert not grew and np.array_equal(out[0], group)
    # candidate 4..9 shares point 4 -> union 0..9
    decode, _ = _decoder([(4, 10), (0, 15), (0, 20)], [0.9, 0.9, 0.9])
    out, grew = sve([group], 0, decode, xyz, visible, pixels, index_map, cfg, eps=0.015, min_points=1)
    assert grew and out[0].tolist() == list(range(10))


def test_low_iou_and_invisible_groups_are_skipped():
    xyz, index_map, pixels, visible = _scene()
    cfg = ExtensionConfig()
    group = np.arange(0, 5, dtype=np.int64)
    decode, calls = _decoder([(4, 10), (0, 15), (0, 20)], [0.7, 0.9, 0.9])
    out, grew = sve([group], 0, decode, xyz, visible, pixels, index_map, cfg, eps=0.015, min_points=1)
    assert not grew and calls == [1]
    vis = visible.copy()
    vis[:] = False
    vis[0] = True                       # 1 of 20 points visible: exactly the 5% gate
    big = np.arange(0, 20, dtype=np.int64)
    decode, calls = _decoder([(4, 10), (0, 15), (0, 20)], [0.9, 0.9, 0.9])
    sve([big, big], 0, decode, xyz, vis, pixels, index_map, cfg, eps=0.015, min_points=1)
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
        sve([group, group.copy()], 0, decode, xyz, visible, pixels, index_map, cfg, 0.015, 1, memo, stats)
    assert calls == [2] and stats.decodes == 2 and memo.hits == 4


def test_lift_mask_excludes_background():
    index_map = np.array([[-1, 3, 3], [5, -1, 0]])
    mask = np.array([[True, True, False], [True, True, True]])
    assert lift_mask(mask, index_map).tolist() == [0, 3, 5]
