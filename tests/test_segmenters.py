"""Segmenter protocol, mask upscaling, errors, and the embedded MobileSAM decoder's equivalence with the
shipped single-mask graph (model tests)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from zerops.errors import ZeropsError
from zerops.segmenters import PromptSet, Segmenter, get_segmenter, select_masks
from zerops.segmenters.upscale import LogitUpscaler, linear_resize_matrix


# ---------------------------------------------------------------------------------------------- helpers
class FakeSegmenter(Segmenter):
    """Mask = the pixels within 10 px of the prompt set's first point; scores = (K, K + 1, K + 2)."""

    name = "fake"

    def __init__(self, device: str = "cpu", **kw) -> None:
        super().__init__()
        self.calls: list[tuple[int, int]] = []

    def _encode(self, images, progress):
        self.n_images = len(images)

    def _decode(self, view, points, labels):
        b, k = points.shape[:2]
        self.calls.append((b, k))
        h, w = self._sizes[view]
        yy, xx = np.mgrid[0:h, 0:w] + 0.5
        d = np.hypot(xx[None] - points[:, 0, 0, None, None], yy[None] - points[:, 0, 1, None, None])
        m = d[:, None] <= np.array([5.0, 10.0, 20.0])[None, :, None, None]
        return m, np.tile(np.array([k, k + 1, k + 2], np.float32), (b, 1))


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a & b).sum((-2, -1)) / np.maximum((a | b).sum((-2, -1)), 1)


# ---------------------------------------------------------------------------------------------- prompts
def test_prompt_set_validation():
    p = PromptSet([[1.5, 2.5], [3, 4]], [1, 0])
    assert p.points.dtype == np.float32 and p.labels.dtype == np.int64 and len(p) == 2
    for bad in [dict(points=np.zeros((0, 2)), labels=np.zeros(0)),          # empty
                dict(points=np.zeros((2, 3)), labels=[1, 1]),               # not (K, 2)
                dict(points=[[1, 2]], labels=[1, 1]),                       # label count
                dict(points=[[np.nan, 2]], labels=[1]),
                dict(points=[[1, 2]], labels=[2])]:
        with pytest.raises(ZeropsError):
            PromptSet(**bad)


def test_select_masks_rules():
    masks = np.zeros((3, 3, 4, 4), bool)
    masks[:, 0, :1] = True      # area 4
    masks[:, 1, :2] = True      # area 8
    masks[:, 2, :] = True       # area 16
    scores = np.array([[0.9, 0.95, 0.7], [0.5, 0.85, 0.99], [0.1, 0.2, 0.3]], np.float32)
    idx, sc = select_masks(masks, scores, "smallest", 0.8)
    assert idx.tolist() == [0, -1, -1] and np.allclose(sc, [0.9, 0.5, 0.1])
    idx, _ = select_masks(masks, scores, "smallest-confident", 0.8)
    assert idx.tolist() == [0, 1, -1]
    idx, _ = select_masks(masks, scores, "best", -np.inf)
    assert idx.tolist() == [1, 2, 2]
    with pytest.raises(ZeropsError):
        select_masks(masks, scores, "largest")


# ---------------------------------------------------------------------------------------------- upscaling
def test_linear_resize_matrix_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    for n_in, n_out in [(256, 1024), (1024, 800), (768, 600), (256, 100)]:
        m = linear_resize_matrix(n_in, n_out)
        assert np.allclose(m.sum(1), 1.0)
        v = rng.standard_normal(n_in).astype(np.float32)
        ref = torch.nn.functional.interpolate(torch.from_numpy(v)[None, None], size=n_out, mode="linear",
                                              align_corners=False)[0, 0].numpy()
        assert np.abs(m @ v - ref).max() < 1e-3          # torch computes source coordinates in float32


@pytest.mark.parametrize("hw", [(800, 800), (600, 800), (800, 450), (90, 130)])
def test_upscaler_matches_two_stage_resize(hw):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    coarse = torch.from_numpy(rng.standard_normal((6, 1, 12, 12)).astype(np.float32))
    low = (F.interpolate(coarse, (256, 256), mode="bicubic", align_corners=False)[:, 0] * 5).numpy()
    s = 1024 / max(hw)
    crop = (int(hw[0] * s + 0.5), int(hw[1] * s + 0.5))
    got = LogitUpscaler((256, 256), hw, (1024, 1024), crop)(low)
    x = F.interpolate(torch.from_numpy(low)[:, None], (1024, 1024), mode="bilinear", align_corners=False)
    x = F.interpolate(x[..., :crop[0], :crop[1]], hw, mode="bilinear", align_corners=False)[:, 0]
    ref = x.numpy() > 0
    assert got.shape == (6, *hw) and got.dtype == bool
    assert 0.2 < ref.mean() < 0.8                         # a real boundary to get right
    assert (got != ref).sum() <= 10                       # float rounding at |logit| ~ 1e-6 only
    direct = LogitUpscaler((256, 256), hw)(low)           # single resize (SAM 2 style)
    ref2 = F.interpolate(torch.from_numpy(low)[:, None], hw, mode="bilinear", align_corners=False)[:, 0].numpy() > 0
    assert (direct != ref2).sum() <= 10


@pytest.mark.parametrize("hw", [(800, 800), (600, 800), (90, 130)])
def test_upscaler_at_pixels_and_areas_equal_the_full_upscale(hw):
    rng = np.random.default_rng(2)
    coarse = rng.standard_normal((5, 16, 16)).astype(np.float32)
    low = np.kron(coarse, np.ones((16, 16), np.float32)) + rng.normal(0, 0.3, (5, 256, 256)).astype(np.float32)
    s = 1024 / max(hw)
    up = LogitUpscaler((256, 256), hw, (1024, 1024), (int(hw[0] * s + 0.5), int(hw[1] * s + 0.5)))
    rows, cols = rng.integers(0, hw[0], 5000), rng.integers(0, hw[1], 5000)
    for threshold in (0.0, 1.0, -1.0):
        full = up(low, threshold)
        got = up.at(low, rows, cols, threshold)
        assert got.shape == (5, 5000) and 0.1 < got.mean() < 0.9
        assert np.array_equal(got, full[:, rows, cols])         # the same decision per pixel, at any threshold
        assert np.array_equal(up.areas(low, threshold), full.reshape(5, -1).sum(axis=1))
    assert up.at(low, rows[:0], cols[:0]).shape == (5, 0)
    flat = np.stack([np.full((256, 256), 2.0, np.float32), np.full((256, 256), -2.0, np.float32)])
    assert up.areas(flat).tolist() == [hw[0] * hw[1], 0]        # one-signed everywhere: counted at low resolution


# ---------------------------------------------------------------------------------------------- protocol
def test_protocol_validation_and_grouping():
    seg = FakeSegmenter()
    with pytest.raises(ZeropsError, match="set_images"):
        seg.predict(0, [PromptSet.positive([[1, 1]])])
    with pytest.raises(ZeropsError, match="uint8"):
        seg.set_images([np.zeros((40, 50, 3), np.float32)])
    with pytest.raises(ZeropsError, match="shape"):
        seg.set_images([np.zeros((40, 50), np.uint8)])
    with pytest.raises(ZeropsError):
        seg.set_images([])
    seg.set_images([np.zeros((40, 50, 3), np.uint8), np.zeros((30, 20, 3), np.uint8)])
    assert seg.n_views == 2 and seg.image_size(1) == (30, 20)
    with pytest.raises(ZeropsError, match="outside"):
        seg.predict(1, [PromptSet.positive([[25.0, 5.0]])])          # x > W = 20
    with pytest.raises(ZeropsError, match="outside"):
        seg.predict(0, [PromptSet.positive([[5.0, -0.1]])])
    with pytest.raises(ZeropsError, match="does not exist"):
        seg.predict(2, [PromptSet.positive([[1, 1]])])
    masks, scores = seg.predict(0, [])
    assert masks.shape == (0, 3, 40, 50) and scores.shape == (0, 3)
    # Mixed K: grouped by size, results back in input order.
    prompts = [PromptSet.positive([[10, 10]]), PromptSet.positive([[40, 30], [1, 1]]),
               PromptSet([[25.5, 20.5]], [1]), (np.array([[5.0, 35.0], [6, 6]]), np.array([1, 0]))]
    masks, scores = seg.predict(0, prompts)
    assert sorted(seg.calls) == [(2, 1), (2, 2)]
    assert scores[:, 0].tolist() == [1, 2, 1, 2]
    assert masks.shape == (4, 3, 40, 50) and masks.dtype == bool and scores.dtype == np.float32
    assert [bool(masks[i, 0, int(y), int(x)]) for i, (x, y) in enumerate([(10, 10), (40, 30), (25, 20), (5, 35)])] \
        == [True] * 4
    assert seg.n_decodes == 4 and seg.n_encodes == 2


def test_registry():
    seg = get_segmenter(f"{__name__}:FakeSegmenter")
    assert isinstance(seg, FakeSegmenter)
    with pytest.raises(ZeropsError, match="unknown segmenter"):
        get_segmenter("nope")
    with pytest.raises(ZeropsError, match="cannot import"):
        get_segmenter("no_such_module_xyz:Seg")
    with pytest.raises(ZeropsError, match="has no"):
        get_segmenter(f"{__name__}:NoSuchClass")


# ---------------------------------------------------------------------------------------------- weights errors
def test_missing_weights_say_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROPS_HOME", str(tmp_path))
    with pytest.raises(ZeropsError, match="zerops models fetch"):
        get_segmenter("embedded")


def test_corrupt_weights_raise_zeropserror(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("ZEROPS_HOME", str(tmp_path))
    (tmp_path / "encoder.onnx").write_bytes(b"not an onnx file" * 100)
    (tmp_path / "sam.onnx").write_bytes(b"\x08\x07garbage" * 50)
    with pytest.raises(ZeropsError, match="fetch"):                  # size / checksum check
        get_segmenter("embedded")
    with pytest.raises(ZeropsError, match="corrupt"):                # the loaders themselves
        get_segmenter("embedded", verify=False)


def test_truncated_decoder_raises(tmp_path, embedded_model):
    cut = tmp_path / "sam.onnx"
    cut.write_bytes(embedded_model["decoder"].read_bytes()[:1_000_000])
    with pytest.raises(ZeropsError, match="corrupt"):
        get_segmenter("embedded", encoder_path=embedded_model["encoder"], decoder_path=cut, cache_dir=tmp_path)


def test_non_sam_onnx_rejected(tmp_path):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from zerops.segmenters.export import multimask_graph

    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    with pytest.raises(ZeropsError, match="not the SAM decoder"):
        multimask_graph(helper.make_model(g))


# ---------------------------------------------------------------------------------------------- the real model
@pytest.fixture(scope="module")
def scene():
    """Two synthetic renders (800x800 and a 600x800 crop) and prompts on their parts."""
    from zerops.eval.synthetic import generate_shape
    from zerops.geometry.pointops import farthest_point_sampling
    from zerops.render.renderer import render_cloud

    shape = generate_shape("Chair", seed=0, n_points=6000)
    view = render_cloud(shape, layout=[(35.0, -35.0)])[0]
    prompts = []
    for inst in np.unique(shape.instance[shape.instance >= 0]):
        vis = np.flatnonzero(view.visible & (shape.instance == inst))
        if len(vis) < 30:
            continue
        pts = shape.xyz[vis]
        centre = vis[np.argmin(((pts - pts.mean(0)) ** 2).sum(1))]
        fps = vis[farthest_point_sampling(pts, 3)]
        prompts.append(PromptSet.positive(view.pixels[np.concatenate([fps, [centre]])]))
        prompts.append(PromptSet.positive(view.pixels[[centre]]))
    prompts = prompts[:8]
    neg = PromptSet(np.concatenate([prompts[0].points[:2], prompts[2].points[:1]]), [1, 1, 0])
    return {"image": view.image, "crop": np.ascontiguousarray(view.image[100:700]), "prompts": prompts + [neg]}


@pytest.fixture(scope="module")
def embedded(embedded_model, scene, tmp_path_factory):
    from zerops.segmenters.embedded import EmbeddedSam

    seg = EmbeddedSam(cache_dir=tmp_path_factory.mktemp("decoders"))
    seg.set_images([scene["image"], scene["crop"]])
    return seg


@pytest.mark.model
@pytest.mark.parametrize("view", [0, 1])
def test_batched_candidates_match_shipped_graph(embedded, scene, view):
    assert embedded.decoder_kind == "batched"
    prompts = scene["prompts"]
    if view == 1:      # the crop: keep prompts inside it, shifted
        prompts = [PromptSet(np.clip(p.points - [0, 100], 1, 599), p.labels) for p in prompts[:5]]
    masks, scores = embedded.predict(view, prompts)
    ref = embedded.predict_reference(view, prompts)
    h, w = embedded.image_size(view)
    assert masks.shape == (len(prompts), 3, h, w) and scores.dtype == np.float32
    assert iou(masks, ref["masks"]).min() >= 0.999
    assert np.abs(scores - ref["scores"]).max() <= 1e-3
    # This package's upscaling of the graph's selected token = the graph's own single-mask output.
    for i, p in enumerate(prompts):
        pts, lab = p.points[None], p.labels[None]
        low, lo_iou = embedded.decode_lowres(view, pts, lab)
        tok = 0 if len(p) >= 2 else 1 + int(lo_iou[0, 1:].argmax())
        mine = embedded._upscaler(view)(low[:, tok])[0]
        assert iou(mine, ref["single_masks"][i]) >= 0.999
        assert abs(lo_iou[0, tok] - ref["single_scores"][i]) <= 1e-3
    assert masks.sum() > 0 and (masks.reshape(len(prompts), -1).mean(1) < 0.9).all()


@pytest.mark.model
def test_batch_equals_single_and_contains_click(embedded, scene):
    prompts = scene["prompts"][:4]
    masks, scores = embedded.predict(0, prompts)
    for i, p in enumerate(prompts):
        m1, s1 = embedded.predict(0, [p])
        assert iou(m1[0], masks[i]).min() >= 0.999 and np.abs(s1[0] - scores[i]).max() <= 1e-4
    # The best candidate contains the clicked pixel for (nearly) every prompt.
    best = masks[np.arange(len(prompts)), scores.argmax(1)]
    hits = [best[i, int(p.points[-1, 1]), int(p.points[-1, 0])] for i, p in enumerate(prompts)]
    assert sum(hits) >= len(prompts) - 1


@pytest.mark.model
def test_export_cached_and_shipped_fallback(embedded, scene, tmp_path, monkeypatch):
    from zerops.segmenters import embedded as emb_mod
    from zerops.segmenters.embedded import EmbeddedSam

    # The fixture built the batched decoder once into its cache folder; a new object reuses it.
    files = list(embedded._cache_dir.glob("sam-multimask-v*.onnx"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns

    def no_torch(*a, **k):
        raise ImportError("No module named 'torch'")

    monkeypatch.setattr(emb_mod, "build_batched_decoder", no_torch)
    assert EmbeddedSam(cache_dir=embedded._cache_dir, verify=False).decoder_kind == "batched"
    assert files[0].stat().st_mtime_ns == stamp
    with pytest.raises(ZeropsError, match="torch"):
        EmbeddedSam(cache_dir=tmp_path, decoder="batched", verify=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fallback = EmbeddedSam(cache_dir=tmp_path, verify=False)
    assert fallback.decoder_kind == "shipped" and any("shipped" in str(w.message) for w in caught)
    assert not list(tmp_path.glob("*.onnx"))
    # Same results from the batched-by-surgery shipped graph (reusing the fixture's embedding).
    fallback._sizes, fallback._embeddings, fallback._resized = embedded._sizes, embedded._embeddings, embedded._resized
    prompts = scene["prompts"][:3]
    (m_a, s_a), (m_b, s_b) = fallback.predict(0, prompts), embedded.predict(0, prompts)
    assert iou(m_a, m_b).min() >= 0.999 and np.abs(s_a - s_b).max() <= 1e-3


@pytest.mark.model
def test_point_pixel_decodes_equal_full_masks_at_the_pixels(embedded, scene):
    prompts = scene["prompts"]
    masks, scores = embedded.predict(0, prompts)
    rng = np.random.default_rng(0)
    h, w = embedded.image_size(0)
    rows, cols = rng.integers(0, h, 20000), rng.integers(0, w, 20000)
    before = embedded.n_decodes
    at, at_scores = embedded.predict_at(0, prompts, rows, cols)
    assert embedded.n_decodes == before + len(prompts)
    assert at.shape == (len(prompts), 3, 20000) and np.array_equal(at_scores, scores)
    assert np.array_equal(at, masks[:, :, rows, cols]) and at.any()
    with pytest.raises(ZeropsError, match="outside"):
        embedded.predict_at(0, prompts, np.array([h]), np.array([0]))


@pytest.mark.model
def test_point_pixel_stability_and_areas_equal_the_full_masks(embedded, scene):
    prompts = scene["prompts"]
    full_m, full_s, full_st = embedded.predict_with_stability(0, prompts)
    h, w = embedded.image_size(0)
    rng = np.random.default_rng(1)
    rows, cols = rng.integers(0, h, 30000), rng.integers(0, w, 30000)
    lo = float(np.median(full_s))
    at, s, st, areas = embedded.predict_at_with_stability(0, prompts, rows, cols, min_score=lo, min_stability=0.9)
    assert np.array_equal(at, full_m[:, :, rows, cols]) and np.array_equal(s, full_s)
    passed = full_s > lo
    kept = passed & (full_st >= 0.9)
    assert 0 < kept.sum() < passed.sum() < passed.size
    assert np.array_equal(st[passed], full_st[passed]) and not st[~passed].any()
    full_areas = full_m.reshape(*full_m.shape[:2], -1).sum(axis=2)
    assert np.array_equal(areas[kept], full_areas[kept]) and not areas[~kept].any()
    # with ``needed`` pixels, only the candidates holding one of them get stability and area
    needed = np.zeros(len(rows), dtype=bool)
    needed[:50] = True
    _, _, st2, _ = embedded.predict_at_with_stability(0, prompts, rows, cols, min_score=lo, needed=needed)
    holds = at[:, :, :50].any(axis=2) & passed
    assert 0 < holds.sum() < passed.sum()
    assert np.array_equal(st2[holds], full_st[holds]) and not st2[~holds].any()


@pytest.mark.model
def test_cached_embeddings_give_the_masks_of_a_fresh_encode(embedded, scene):
    from zerops.segmenters.embedded import EmbeddedSam

    again = EmbeddedSam(cache_dir=embedded._cache_dir, verify=False)
    again.set_images([scene["image"]], embeddings=[embedded.embedding(0)])
    assert again.n_encodes == 1
    (m_a, s_a), (m_b, s_b) = again.predict(0, scene["prompts"]), embedded.predict(0, scene["prompts"])
    assert np.array_equal(m_a, m_b) and np.array_equal(s_a, s_b)


@pytest.mark.model
def test_stability_scores_match_their_definition(embedded, scene):
    prompts = scene["prompts"][:3]
    masks, scores, stability = embedded.predict_with_stability(0, prompts, offset=1.0)
    m2, s2 = embedded.predict(0, prompts)
    assert np.array_equal(masks, m2) and np.array_equal(scores, s2)
    assert stability.shape == (3, 3) and ((stability >= 0) & (stability <= 1)).all()
    # recompute one by hand: area(logits > +1) / area(logits > -1) of the upscaled candidate
    low, _ = embedded.decode_lowres(0, prompts[0].points[None], prompts[0].labels[None])
    up = embedded._upscaler(0)
    inner, outer = up(low[:, 1], 1.0).sum(), up(low[:, 1], -1.0).sum()
    assert abs(stability[0, 0] - inner / max(outer, 1)) < 1e-6


@pytest.mark.model
def test_stability_thresholds_skip_only_dropped_candidates(embedded, scene):
    prompts = scene["prompts"][:6]
    full_m, full_s, full_st = embedded.predict_with_stability(0, prompts)
    lo = float(np.median(full_s))                       # about half of the candidates fail the score filter
    m, s, st = embedded.predict_with_stability(0, prompts, min_score=lo, min_stability=0.9)
    assert np.array_equal(s, full_s)
    kept = (full_s > lo) & (full_st >= 0.9)
    assert 0 < kept.sum() < kept.size
    assert np.array_equal(m[kept], full_m[kept])          # kept candidates: identical masks
    assert not m[~kept].any()                             # dropped ones were not computed
    passed = full_s > lo
    assert np.allclose(st[passed], full_st[passed]) and not st[~passed].any()


@pytest.mark.model
def test_embeddings_given_back_are_not_encoded_again(embedded, scene, tmp_path):
    from zerops.segmenters.embedded import EmbeddedSam

    prompts = scene["prompts"][:4]
    ref_m, ref_s = embedded.predict(0, prompts)
    emb0 = embedded.embedding(0)
    assert emb0.shape == (1, 256, 64, 64) and emb0.dtype == np.float32
    other = EmbeddedSam(cache_dir=tmp_path)
    calls = []
    run = other._encoder.run
    other._encoder.run = lambda *a, **k: calls.append(1) or run(*a, **k)
    other.set_images([scene["image"], scene["crop"]], embeddings=[emb0, None])
    assert len(calls) == 1                                   # only the crop was encoded
    m, s = other.predict(0, prompts)
    assert np.array_equal(m, ref_m) and np.array_equal(s, ref_s)
    with pytest.raises(ZeropsError):
        other.set_images([scene["image"]], embeddings=[emb0, None])
