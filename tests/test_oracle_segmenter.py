"""The oracle segmenters (ground-truth masks, evaluation only), framed views and the view-vote merge."""
from __future__ import annotations

import numpy as np
import pytest

from zerops.config import preset
from zerops.errors import ZeropsError
from zerops.eval.metrics import best_instance_ious
from zerops.io.cloud import PointCloud
from zerops.pipeline import ZeroPS
from zerops.segmenters import PromptSet, get_segmenter
from zerops.segmenters.oracle import OracleSegmenter, parse_oracle_spec


def _box(center, size, n, rng):
    """n points on the surface of an axis-aligned box, area-uniform."""
    center, size = np.asarray(center, float), np.asarray(size, float)
    areas = np.array([size[1] * size[2], size[0] * size[2], size[0] * size[1]] * 2)
    face = rng.choice(6, size=n, p=areas / areas.sum())
    pts = rng.uniform(-0.5, 0.5, size=(n, 3))
    axis = face % 3
    pts[np.arange(n), axis] = np.where(face < 3, -0.5, 0.5)
    return center + pts * size


def _table(rng, n_top=2400, n_leg=400):
    """A table: top and four legs (five instances), uncolored."""
    parts = [_box((0, 0.45, 0), (1.6, 0.1, 1.0), n_top, rng)]
    for x in (-0.7, 0.7):
        for z in (-0.4, 0.4):
            parts.append(_box((x, -0.1, z), (0.1, 1.0, 0.1), n_leg, rng))
    xyz = np.concatenate(parts)
    inst = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    return xyz.astype(np.float32), inst.astype(np.int64)


def _two_boxes(rng):
    a = _box((-0.5, 0, 0), (0.8, 0.8, 0.8), 1500, rng)
    b = _box((0.5, 0, 0), (0.8, 0.8, 0.8), 1500, rng)
    return np.concatenate([a, b]).astype(np.float32), np.repeat([0, 1], 1500)


def _oracle_on(xyz, inst, spec="oracle:perfect", seed=0, config=None):
    model = ZeroPS(config or preset("graph"), segmenter=get_segmenter(spec, seed=seed), progress=False)
    views, sample = model.render_views(PointCloud(xyz, None, None))
    assert sample is None
    model.segmenter.set_ground_truth(views, inst)
    return model, views


def test_perfect_candidates_equal_the_rendered_ground_truth_pixels():
    xyz, inst = _two_boxes(np.random.default_rng(0))
    model, views = _oracle_on(xyz, inst)
    seg = model.segmenter
    v = views[0]
    seg.set_images([v.image])
    truth = np.where(v.index_map >= 0, inst[np.maximum(v.index_map, 0)], -2)
    for part in (0, 1):
        rows, cols = np.nonzero(truth == part)
        k = len(rows) // 2
        masks, scores = seg.predict(0, [PromptSet.positive([[cols[k] + 0.5, rows[k] + 0.5]])])
        assert masks.shape == (1, 3) + truth.shape
        assert np.array_equal(masks[0, 1], truth == part)            # the whole part
        assert np.array_equal(masks[0, 2], truth > -2)               # the whole object
        assert masks[0, 0][rows[k], cols[k]] and not (masks[0, 0] & (truth != part)).any()
        assert scores[0].tolist() == pytest.approx([0.95, 0.9, 0.9])
    # the background gives empty candidates with score 0
    masks, scores = seg.predict(0, [PromptSet.positive([[0.5, 0.5]])])
    assert not masks.any() and not scores.any()


def test_noisy_zero_is_perfect_and_a_seed_fixes_the_noise():
    xyz, inst = _two_boxes(np.random.default_rng(1))
    prompts = [PromptSet.positive([[400.5, 400.5]]), PromptSet.positive([[300.5, 420.5], [310.5, 400.5]])]
    out = {}
    for spec, seed in (("oracle:perfect", 0), ("oracle:noisy-0", 0), ("oracle:noisy-0.6", 3),
                       ("oracle:noisy-0.6", 3), ("oracle:noisy-0.6", 4)):
        model, views = _oracle_on(xyz, inst, spec, seed)
        model.segmenter.set_images([v.image for v in views[:3]])
        out.setdefault((spec, seed), []).append([model.segmenter.predict(i, prompts) for i in range(3)])
    def same(x, y):
        return all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(x, y))
    assert same(out[("oracle:perfect", 0)][0], out[("oracle:noisy-0", 0)][0])
    a, b = out[("oracle:noisy-0.6", 3)]
    assert same(a, b)                                                # same seed, same masks
    assert not same(a, out[("oracle:perfect", 0)][0])               # P = 0.6 changes them
    assert not same(a, out[("oracle:noisy-0.6", 4)][0])             # another seed, other noise


def test_oracle_specs_and_missing_ground_truth_fail_in_one_line():
    assert parse_oracle_spec("perfect") == 0.0 and parse_oracle_spec("noisy-0.25") == 0.25
    for bad in ("noisy-2", "noisy-x", "good"):
        with pytest.raises(ZeropsError, match="oracle:perfect or oracle:noisy-P"):
            get_segmenter(f"oracle:{bad}")
    seg = OracleSegmenter()
    with pytest.raises(ZeropsError, match="no ground truth"):
        seg.set_images([np.zeros((16, 16, 3), np.uint8)])


def test_default_preset_with_perfect_masks_returns_exactly_the_parts():
    xyz, inst = _table(np.random.default_rng(2))
    model, _ = _oracle_on(xyz, inst)
    r = model.segment(PointCloud(xyz, None, None), keep_views=False)
    ious = best_instance_ious(inst, r.part) / 100.0
    assert ious.mean() >= 0.95, ious
    assert r.part.max() + 1 == 5 and (r.part >= 0).all()


def test_default_preset_with_heavy_noise_is_not_below_the_geometric_baseline():
    """With heavily corrupted masks the views disagree, the estimated error rate rises and the parts stay
    at least as good as the weight-free ``components`` regions."""
    from zerops.geometry.components import segment_components

    xyz, inst = _table(np.random.default_rng(3))
    baseline = best_instance_ious(inst, segment_components(xyz.astype(np.float64), None)).mean()
    model, _ = _oracle_on(xyz, inst, "oracle:noisy-0.7", seed=1)
    r = model.segment(PointCloud(xyz, None, None), keep_views=False)
    assert best_instance_ious(inst, r.part).mean() >= baseline
    assert r.counts["view_error"] > 0.1 and (r.part >= 0).all()
    perfect, _ = _oracle_on(xyz, inst)
    assert perfect.segment(PointCloud(xyz, None, None), keep_views=False).counts["view_error"] < 0.1


def test_framed_views_fill_the_image_and_keep_the_pixel_point_maps():
    xyz, _ = _table(np.random.default_rng(4))
    model = ZeroPS(preset("graph"), segmenter=get_segmenter("oracle:perfect"), progress=False)
    fixed = ZeroPS(preset("fast"), segmenter=get_segmenter("oracle:perfect"), progress=False)
    assert model.config.render.framing == 0.9 and fixed.config.render.framing == 0.0
    framed_views, _ = model.render_views(PointCloud(xyz, None, None))
    fixed_views, _ = fixed.render_views(PointCloud(xyz, None, None))
    for v, f in zip(framed_views, fixed_views):
        rows, cols = np.nonzero(v.index_map >= 0)
        extent = max(rows.max() - rows.min(), cols.max() - cols.min()) / v.index_map.shape[0]
        assert 0.88 <= extent <= 0.97
        frows, fcols = np.nonzero(f.index_map >= 0)
        assert len(rows) > 1.2 * len(frows)                         # the object is larger in the image
        # every object pixel shows a point whose splat covers it
        pt = v.index_map[rows, cols]
        d = np.hypot(v.pixels[pt, 0] - (cols + 0.5), v.pixels[pt, 1] - (rows + 0.5))
        assert (d <= v.radius[pt] + 1e-3).all()
        # a visible point's centre pixel lies in the image and shows a point near it
        vis = np.flatnonzero(v.visible)
        c = v.pixels[vis].astype(int)
        assert (c >= 0).all() and (c < v.index_map.shape[0]).all()
        assert (v.index_map[c[:, 1], c[:, 0]] >= 0).all()
