"""transformers SAM family adapter (hf:<path>) on tiny randomly initialized models, offline."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from zerops.errors import ZeropsError  # noqa: E402
from zerops.segmenters import PromptSet, get_segmenter  # noqa: E402
from zerops.segmenters.hf import HFSam  # noqa: E402

S = 64   # tiny model input size; low-res masks are 16 x 16


def tiny_sam(hq: bool = False):
    t = transformers
    pre = "SamHQ" if hq else "Sam"
    vision = getattr(t, f"{pre}VisionConfig")(hidden_size=32, output_channels=32, num_hidden_layers=2,
                                             num_attention_heads=2, image_size=S, patch_size=8, mlp_dim=64,
                                             window_size=4, global_attn_indexes=[1], num_pos_feats=16)
    prompt = getattr(t, f"{pre}PromptEncoderConfig")(hidden_size=32, image_size=S, patch_size=8,
                                                     image_embedding_size=S // 8, mask_input_channels=4)
    dec = dict(hidden_size=32, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32)
    if hq:
        dec["vit_dim"] = 32
    decoder = getattr(t, f"{pre}MaskDecoderConfig")(**dec)
    cfg = getattr(t, f"{pre}Config")(vision_config=vision.to_dict(), prompt_encoder_config=prompt.to_dict(),
                                     mask_decoder_config=decoder.to_dict())
    torch.manual_seed(0)
    return getattr(t, f"{pre}Model")(cfg).eval()


def tiny_sam2():
    t = transformers
    hiera = t.Sam2HieraDetConfig(hidden_size=16, num_attention_heads=1, blocks_per_stage=[1, 1, 2, 1],
                                 embed_dim_per_stage=[16, 32, 64, 128], num_attention_heads_per_stage=[1, 1, 1, 1],
                                 window_size_per_stage=[2, 2, 2, 2], global_attention_blocks=[3], image_size=[S, S],
                                 patch_kernel_size=[7, 7], patch_stride=[4, 4], patch_padding=[3, 3],
                                 window_positional_embedding_background_size=[2, 2])
    vision = t.Sam2VisionConfig(backbone_config=hiera, backbone_channel_list=[128, 64, 32, 16],
                                backbone_feature_sizes=[[16, 16], [8, 8], [4, 4]], fpn_hidden_size=32)
    prompt = t.Sam2PromptEncoderConfig(hidden_size=32, image_size=S, patch_size=16, mask_input_channels=4)
    decoder = t.Sam2MaskDecoderConfig(hidden_size=32, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32)
    cfg = t.Sam2Config(vision_config=vision.to_dict(), prompt_encoder_config=prompt.to_dict(),
                       mask_decoder_config=decoder.to_dict())
    torch.manual_seed(0)
    return t.Sam2Model(cfg).eval()


@pytest.fixture(scope="module", params=["sam", "sam_hq", "sam2"])
def family_dir(request, tmp_path_factory):
    model = {"sam": tiny_sam, "sam_hq": lambda: tiny_sam(hq=True), "sam2": tiny_sam2}[request.param]()
    folder = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(folder)
    return request.param, folder


def image(h: int, w: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_shapes_dtypes_and_family(family_dir):
    family, folder = family_dir
    seg = get_segmenter(f"hf:{folder}")
    assert isinstance(seg, HFSam) and seg.family == family and seg.input_size == S
    seg.set_images([image(800, 800)])
    prompts = [PromptSet.positive([[100.5, 200.5], [300, 400], [10, 790], [799.5, 0.5]]),
               PromptSet.positive([[400, 400]]), PromptSet([[5, 5], [700, 700]], [1, 0])]
    masks, scores = seg.predict(0, prompts)
    assert masks.shape == (3, 3, 800, 800) and masks.dtype == bool
    assert scores.shape == (3, 3) and scores.dtype == np.float32 and np.isfinite(scores).all()
    assert seg.n_decodes == 3


def test_prompt_coordinates_reach_the_model(family_dir):
    family, folder = family_dir
    seg = HFSam(str(folder))
    h, w = 800, 600
    seg.set_images([image(h, w)])
    seen = {}

    def hook(module, args, kwargs):
        seen["points"] = kwargs["input_points"].detach().clone()
        seen["labels"] = kwargs["input_labels"].detach().clone()

    handle = seg.model.prompt_encoder.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        seg.predict(0, [PromptSet([[300.0, 400.0], [12.5, 790.5]], [1, 0])])
    finally:
        handle.remove()
    if family == "sam2":      # square resize, per-axis scale
        sx, sy = S / w, S / h
    else:                     # longest side -> S, aspect kept: 800 x 600 -> 64 x 48
        sx = sy = 48 / 600
    expect = np.array([[300.0 * sx - 0.5, 400.0 * sy - 0.5], [12.5 * sx - 0.5, 790.5 * sy - 0.5]])
    got = seen["points"].cpu().numpy()
    assert got.shape == (1, 1, 2, 2)
    assert np.abs(got[0, 0] - expect).max() < 1e-5
    assert seen["labels"].cpu().numpy().tolist() == [[[1, 0]]]


def test_preprocess_resize_pad_normalize(family_dir):
    family, folder = family_dir
    seg = HFSam(str(folder))
    img = np.full((800, 600, 3), 200, np.uint8)
    x = seg.preprocess(img)
    assert x.shape == (1, 3, S, S) and x.dtype == np.float32
    value = (200 / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    if family == "sam2":
        assert np.allclose(x[0], value[:, None, None], atol=1e-5)
    else:
        assert np.allclose(x[0, :, :, :48], value[:, None, None], atol=1e-5)
        assert np.all(x[0, :, :, 48:] == 0)        # zero padding right of the 48 resized columns


def test_low_res_logits_map_back_to_the_view(family_dir, monkeypatch):
    """Logits positive on the left part of the model input must cover the matching left part of the view."""
    family, folder = family_dir
    seg = HFSam(str(folder))
    h, w = 800, 600
    seg.set_images([image(h, w)])
    low = torch.full((1, 1, 3, 16, 16), -5.0)
    low[..., :6] = 5.0          # input columns < 24 (of 64)

    def fake_forward(**kw):
        return {"pred_masks": low.expand(1, kw["input_points"].shape[1], 3, 16, 16),
                "iou_scores": torch.full((1, kw["input_points"].shape[1], 3), 0.5)}

    monkeypatch.setattr(seg, "model", type("M", (), {"__call__": lambda self, **kw: fake_forward(**kw)})())
    masks, scores = seg.predict(0, [PromptSet.positive([[10, 10]])])
    # SAM: 24 input columns = 24 / (48 / 600) = 300 view columns; SAM 2: 24 / (64 / 600) = 225.
    edge = 300 if family != "sam2" else 225
    cols = masks[0, 0].mean(0)
    assert cols[: edge - 3].min() == 1.0 and cols[edge + 3:].max() == 0.0
    assert np.allclose(scores, 0.5)


def test_hf_errors(tmp_path, family_dir):
    _, folder = family_dir
    with pytest.raises(ZeropsError, match="cannot load"):
        get_segmenter(f"hf:{tmp_path / 'missing'}", local_files_only=True)
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ZeropsError, match="supports"):
        get_segmenter(f"hf:{bert}")
    with pytest.raises(ZeropsError, match="cuda only"):
        HFSam(str(folder), dtype="float16")
    seg = HFSam(str(folder))
    with pytest.raises(ZeropsError, match="set_images"):
        seg.predict(0, [PromptSet.positive([[1, 1]])])
