"""transformers detector adapter (hf:<path>) on tiny randomly initialized models, fully offline.

Grounding DINO / MM-Grounding-DINO (tiny BERT + tiny ResNet backbone) and OWLv2 / OWL-ViT (tiny CLIP
text/vision towers) are saved with save_pretrained together with a processor whose tokenizer vocabulary
is written here, so ``hf:<folder>`` loads everything without a network.
"""
from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from zerops.detectors import Detections, get_detector  # noqa: E402
from zerops.detectors.hf import (  # noqa: E402
    HFDetector,
    _preprocess,
    join_phrases,
    normalized_to_pixels,
    pack_phrases,
    phrase_logits,
    token_phrase_index,
)
from zerops.errors import ZeropsError  # noqa: E402

WORDS = ["arm", "back", "leg", "seat", "cushion", "wheel", "of", "a", "an", "chair"]
H, W = 48, 80          # a non-square view


def image(h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def pil_image_processor(name: str, **kw):
    cls = getattr(transformers, f"{name}ImageProcessorPil", None) or getattr(transformers, f"{name}ImageProcessor")
    return cls(**kw)


# ---- tiny checkpoints -------------------------------------------------------------------------------
def write_bert_vocab(folder) -> None:
    """The model hard-codes BERT ids [CLS]=101, [SEP]=102, '.'=1012, '?'=1029: keep them, add our words."""
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += [f"[x{i}]" for i in range(len(vocab), 1012)] + ["."]
    vocab += [f"[x{i}]" for i in range(len(vocab), 1029)] + ["?"] + WORDS
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")


def save_grounding(folder, mm: bool) -> None:
    t = transformers
    backbone = t.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1],
                              layer_type="basic", out_features=["stage2", "stage3", "stage4"])
    text = t.BertConfig(vocab_size=1100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    kw = dict(backbone_config=backbone, text_config=text, d_model=32, encoder_layers=1, decoder_layers=2,
              encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
              num_queries=12, num_feature_levels=4, encoder_n_points=2, decoder_n_points=2, max_text_len=32)
    torch.manual_seed(0)
    if mm:
        model = t.MMGroundingDinoForObjectDetection(t.MMGroundingDinoConfig(**kw))
    else:
        model = t.GroundingDinoForObjectDetection(t.GroundingDinoConfig(**kw))
    model.eval().save_pretrained(folder)
    write_bert_vocab(folder)
    tok = t.BertTokenizer.from_pretrained(folder)
    ip = pil_image_processor("GroundingDino", size={"shortest_edge": 64, "longest_edge": 96})
    t.GroundingDinoProcessor(ip, tok).save_pretrained(folder)


def write_clip_vocab(folder) -> dict[str, int]:
    """Byte-level BPE vocabulary that spells each word as one token; <|endoftext|> has the highest id
    (CLIP pools the text at the arg-max id) and the first token (<|startoftext|>) is > 0 (OWL's query mask)."""
    vocab: dict[str, int] = {"!": 0}
    letters = sorted(set("".join(WORDS)))
    for c in letters + [c + "</w>" for c in letters]:
        vocab.setdefault(c, len(vocab))
    merges: list[str] = []
    for word in WORDS:
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        cur = parts[0]
        for nxt in parts[1:]:
            if f"{cur} {nxt}" not in merges:
                merges.append(f"{cur} {nxt}")
            cur += nxt
            vocab.setdefault(cur, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return vocab


def save_owl(folder, v2: bool) -> None:
    t = transformers
    pre = "Owlv2" if v2 else "OwlViT"
    vocab = write_clip_vocab(folder)
    text = getattr(t, f"{pre}TextConfig")(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=16,
                                         pad_token_id=0, bos_token_id=vocab["<|startoftext|>"],
                                         eos_token_id=vocab["<|endoftext|>"])
    vision = getattr(t, f"{pre}VisionConfig")(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                             num_attention_heads=2, image_size=64, patch_size=16)
    cfg = getattr(t, f"{pre}Config")(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=32)
    torch.manual_seed(0)
    getattr(t, f"{pre}ForObjectDetection")(cfg).eval().save_pretrained(folder)
    tok = t.CLIPTokenizer.from_pretrained(folder, pad_token="!", model_max_length=16)
    ip = pil_image_processor(pre, size={"height": 64, "width": 64})
    getattr(t, f"{pre}Processor")(ip, tok).save_pretrained(folder)


@pytest.fixture(scope="module", params=["grounding-dino", "mm-grounding-dino"])
def gd_dir(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    save_grounding(folder, mm=request.param.startswith("mm"))
    return request.param, folder


@pytest.fixture(scope="module", params=["owlvit", "owlv2"])
def owl_dir(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    save_owl(folder, v2=request.param == "owlv2")
    return request.param, folder


class FakeModel:
    """Stands in for the network: records its inputs and returns designed logits / boxes."""

    def __init__(self, make):
        self.make, self.calls = make, []

    def __call__(self, **kw):
        self.calls.append(kw)
        logits, boxes = self.make(kw)
        return {"logits": torch.as_tensor(logits, dtype=torch.float32)[None],
                "pred_boxes": torch.as_tensor(boxes, dtype=torch.float32)[None]}


# ---- pure helpers -----------------------------------------------------------------------------------
def test_helpers_prompt_spans_tokens_and_packing():
    text, spans = join_phrases(["Arm", "seat cushion", "leg"])
    assert text == "arm . seat cushion . leg ."
    assert [text[a:b] for a, b in spans] == ["arm", "seat cushion", "leg"]
    # [CLS] arm . seat cushion . leg . [SEP]
    offsets = [(0, 0), (0, 3), (4, 5), (6, 10), (11, 18), (19, 20), (21, 24), (25, 26), (0, 0)]
    assert token_phrase_index(offsets, spans).tolist() == [-1, 0, -1, 1, 1, -1, 2, -1, -1]
    logits = np.full((2, 12), -np.inf, np.float32)
    logits[:, :9] = -5
    logits[0, 4], logits[1, 0], logits[1, 6] = 2.0, 9.0, 1.0      # [CLS] (col 0) never counts
    pl = phrase_logits(logits, token_phrase_index(offsets, spans), 3)
    assert pl.argmax(1).tolist() == [1, 2] and pl[0, 1] == 2.0 and pl[1, 2] == 1.0
    assert pack_phrases([1, 1, 1, 1, 1], 6) == [[0, 1, 2], [3, 4]]
    assert pack_phrases([4, 9, 1], 6) == [[0], [1], [2]]


def test_normalized_boxes_to_view_pixels():
    boxes = np.array([[0.5, 0.5, 0.5, 0.5], [0.25, 0.75, 0.2, 0.1], [0.95, 0.1, 0.3, 0.4]])
    got = normalized_to_pixels(boxes, width=80, height=48)
    assert got.dtype == np.float32
    assert np.allclose(got[0], [20, 12, 60, 36])
    assert np.allclose(got[1], [12, 33.6, 28, 38.4])
    assert np.allclose(got[2], [64, 0, 80, 14.4])                     # clipped to the view
    sq = normalized_to_pixels(boxes, width=80, height=48, square=True)  # OWLv2: padded to 80 x 80
    assert np.allclose(sq[0], [20, 20, 60, 48])                        # y clipped at the view's 48 rows
    assert np.allclose(sq[1], [12, 48, 28, 48])                       # y 56..64 lies below the view


# ---- Grounding DINO -------------------------------------------------------------------------------------
def test_grounding_runs_end_to_end(gd_dir):
    family, folder = gd_dir
    det = get_detector(f"hf:{folder}", min_score=0.0, text_threshold=0.0)
    assert isinstance(det, HFDetector) and det.family == family and det.name == f"hf:{folder}"
    assert type(det.image_processor).__name__.startswith("GroundingDinoImageProcessor")
    d = det.detect(image(), ["arm", "seat_cushion", "leg"], category="chair")
    assert isinstance(d, Detections) and len(d) == 12               # every query kept at min_score 0
    assert set(d.labels.tolist()) <= {0, 1, 2}
    assert np.all(np.diff(d.scores) <= 0) and np.all((d.scores >= 0) & (d.scores <= 1))
    assert np.all(d.boxes[:, [0, 2]] >= 0) and np.all(d.boxes[:, [0, 2]] <= W)
    assert np.all(d.boxes[:, [1, 3]] >= 0) and np.all(d.boxes[:, [1, 3]] <= H)
    assert np.all(d.boxes[:, 2] >= d.boxes[:, 0]) and np.all(d.boxes[:, 3] >= d.boxes[:, 1])


def test_grounding_pixel_inputs_match_numpy_preprocessing(gd_dir):
    _, folder = gd_dir
    det = HFDetector(str(folder))
    px = det.pixel_inputs(image())
    # 48 x 80: shortest edge -> 64 would make the long edge 106 > 96, so the long edge is capped at 96
    assert tuple(px["pixel_values"].shape) == (1, 3, 58, 96) and px["pixel_mask"].shape == (1, 58, 96)
    ours = _preprocess(image(), "grounding-dino", {"size": {"shortest_edge": 64, "longest_edge": 96},
                                                    "image_mean": (0.485, 0.456, 0.406),
                                                    "image_std": (0.229, 0.224, 0.225)})
    assert ours.shape == (1, 3, 58, 96)
    assert np.abs(ours - px["pixel_values"].numpy()).mean() < 0.05


def test_grounding_token_spans_map_to_part_index(gd_dir):
    """Logits placed on known prompt tokens must come back as the right part index and probability."""
    _, folder = gd_dir
    det = HFDetector(str(folder))
    names = ["arm", "seat cushion", "leg"]
    # tokens: 0 [CLS] 1 arm 2 . 3 seat 4 cushion 5 . 6 leg 7 . 8 [SEP]

    def make(kw):
        logits = np.full((5, 32), -np.inf)
        logits[:, :9] = -10.0
        logits[0, 4] = 3.0                          # "cushion" -> seat cushion (1)
        logits[1, 6], logits[1, 1] = 2.0, 1.0       # "leg" beats "arm" -> 2
        logits[2, [0, 2, 8]] = 9.0                  # [CLS], '.', [SEP] are no part ...
        logits[2, 3] = 0.5                          # ... so "seat" wins -> 1
        logits[4, 1] = 1.5                          # "arm" -> 0; query 3 stays at -10 (dropped)
        boxes = np.tile([0.5, 0.5, 0.25, 0.25], (5, 1))
        boxes[0] = [0.5, 0.5, 0.5, 0.5]
        return logits, boxes

    det.model = FakeModel(make)
    d = det.detect(image(), names)
    ids = det.model.calls[0]["input_ids"][0].tolist()
    assert ids == det.tokenizer("arm . seat cushion . leg .")["input_ids"] and len(ids) == 9
    assert det.model.calls[0]["pixel_values"].shape[-2:] == (58, 96)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    assert d.labels.tolist() == [1, 2, 0, 1]
    assert np.allclose(d.scores, sig(np.array([3.0, 2.0, 1.5, 0.5])), atol=1e-6)
    assert np.allclose(d.boxes[0], [20, 12, 60, 36])          # 0.5 x 0.5 box centred in the 80 x 48 view
    assert np.allclose(d.boxes[1], [30, 18, 50, 30])
    det.text_threshold = 0.7                                  # sigmoid(0.5) = 0.62 now gets no label
    assert det.detect(image(), names).labels.tolist() == [1, 2, 0]


def test_grounding_long_prompts_run_in_passes(gd_dir):
    _, folder = gd_dir
    det = HFDetector(str(folder))
    det.max_text_len = 8           # 3 one-token parts + separators + [CLS]/[SEP] per pass
    names = ["arm", "back", "leg", "seat", "wheel"]

    def make(kw):
        ids = kw["input_ids"][0].tolist()
        logits = np.full((1, 32), -np.inf)
        logits[0, :len(ids)] = -10.0
        logits[0, len(ids) - 3] = 4.0              # the last part of this pass
        return logits, np.array([[0.5, 0.5, 0.2, 0.2]])

    det.model = FakeModel(make)
    d = det.detect(image(), names)
    lens = [len(c["input_ids"][0]) for c in det.model.calls]
    assert lens == [8, 6]
    assert sorted(d.labels.tolist()) == [2, 4]                 # "leg" and "wheel", as global indices


def test_of_category_prompt_text(gd_dir):
    _, folder = gd_dir
    det = HFDetector(str(folder), prompt_style="of-category")
    assert det.phrases(["arm", "seat_cushion"], "Chair") == ["arm of a chair", "seat cushion of a chair"]

    def make(kw):
        logits = np.full((1, 32), -np.inf)
        logits[0, :13] = -10.0
        logits[0, 10] = 2.0                        # "chair" of the second phrase
        return logits, np.array([[0.5, 0.5, 0.2, 0.2]])

    det.model = FakeModel(make)
    d = det.detect(image(), ["arm", "seat_cushion"], category="Chair")
    ids = det.model.calls[0]["input_ids"][0].tolist()
    assert ids == det.tokenizer("arm of a chair . seat cushion of a chair .")["input_ids"]
    assert det.tokenizer.convert_ids_to_tokens(ids[10]) == "chair" and d.labels.tolist() == [1]
    with pytest.raises(ZeropsError, match="category"):
        det.detect(image(), ["arm"])


def test_grounding_without_image_processor_uses_numpy(gd_dir, tmp_path):
    _, folder = gd_dir
    bare = tmp_path / "bare"
    shutil.copytree(folder, bare)
    (bare / "processor_config.json").unlink()
    det = HFDetector(str(bare))
    assert det.image_processor is None and det._pre["size"] == {"shortest_edge": 800, "longest_edge": 1333}
    det._pre["size"] = {"shortest_edge": 64, "longest_edge": 96}
    d = det.detect(image(), ["arm", "leg"])
    assert det.pixel_inputs(image())["pixel_values"].shape == (1, 3, 58, 96)
    assert set(d.labels.tolist()) <= {0, 1}


# ---- OWL ------------------------------------------------------------------------------------------------
def test_owl_runs_end_to_end(owl_dir):
    family, folder = owl_dir
    det = get_detector(f"hf:{folder}", min_score=0.0)
    assert isinstance(det, HFDetector) and det.family == family
    px = det.pixel_inputs(image())["pixel_values"]
    assert tuple(px.shape) == (1, 3, 64, 64)
    if family == "owlv2":           # zero padding below the 48 rows of the 80-wide view: 64 * 48 / 80 = 38.4
        assert torch.allclose(px[0, :, 40:], px[0, :, 63:64].expand(3, 24, 64))
    d = det.detect(image(), ["arm", "seat cushion", "leg"])
    assert len(d) == 16 and set(d.labels.tolist()) <= {0, 1, 2}     # 4 x 4 patches, each a box
    assert np.all(d.boxes[:, [0, 2]] <= W) and np.all(d.boxes[:, [1, 3]] <= H) and np.all(d.boxes >= 0)


def test_owl_query_index_is_the_label(owl_dir):
    family, folder = owl_dir
    det = HFDetector(str(folder), prompt_style="of-category")

    def make(kw):
        assert tuple(kw["input_ids"].shape) == (3, 16)
        logits = np.full((4, 3), -10.0)
        logits[0, 2], logits[1, 0], logits[3, 1], logits[3, 2] = 3.0, 1.0, 2.0, 1.9
        boxes = np.tile([0.5, 0.5, 0.5, 0.5], (4, 1))
        return logits, boxes

    det.model = FakeModel(make)
    d = det.detect(image(), ["arm", "seat cushion", "leg"], category="chair")
    sent = det.model.calls[0]["input_ids"]
    want = det.tokenizer(["arm of a chair", "seat cushion of a chair", "leg of a chair"], padding="max_length",
                         max_length=16, return_tensors="pt")["input_ids"]
    assert torch.equal(sent, want)
    assert d.labels.tolist() == [2, 1, 0]                          # patch 2 (all -10) is dropped
    assert np.allclose(d.scores, 1 / (1 + np.exp(-np.array([3.0, 2.0, 1.0]))), atol=1e-6)
    if family == "owlv2":       # boxes relative to the 80 x 80 padded square
        assert np.allclose(d.boxes[0], [20, 20, 60, 48])
    else:                       # boxes relative to the 80 x 48 view
        assert np.allclose(d.boxes[0], [20, 12, 60, 36])


# ---- errors ---------------------------------------------------------------------------------------------
def test_hf_detector_errors(tmp_path, owl_dir):
    _, folder = owl_dir
    with pytest.raises(ZeropsError, match="does not exist"):
        get_detector(f"hf:{tmp_path / 'missing'}")
    with pytest.raises(ZeropsError, match="cannot load"):
        get_detector("hf:nobody/no-such-detector", local_files_only=True)
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ZeropsError, match="support grounding-dino, mm-grounding-dino, owlv2, owlvit"):
        get_detector(f"hf:{bert}")
    with pytest.raises(ZeropsError, match="prompt style"):
        get_detector(f"hf:{folder}", prompt_style="sentences")
    with pytest.raises(ZeropsError, match="cuda only"):
        HFDetector(str(folder), dtype="float16")
    with pytest.raises(ZeropsError, match="min_score"):
        HFDetector(str(folder), min_score=2)
    with pytest.raises(ZeropsError, match="needs a model"):
        get_detector("hf:")
    if not torch.cuda.is_available():
        with pytest.raises(ZeropsError, match="CUDA"):
            HFDetector(str(folder), device="cuda")
    det = HFDetector(str(folder))
    with pytest.raises(ZeropsError, match="H, W, 3"):
        det.detect(np.zeros((8, 8), np.uint8), ["arm"])
    with pytest.raises(ZeropsError, match="repeat"):
        det.detect(image(), ["arm", "arm"])


def test_real_model_output_object_is_accepted(owl_dir):
    """The adapter reads logits / pred_boxes from a transformers ModelOutput as well as from a dict."""
    _, folder = owl_dir
    det = HFDetector(str(folder))
    real = det.model
    det.model = lambda **kw: SimpleNamespace(logits=real(**kw).logits, pred_boxes=real(**kw).pred_boxes)
    d = det.detect(image(), ["arm", "leg"])
    assert set(d.labels.tolist()) <= {0, 1} and np.all(d.scores >= det.min_score)


def test_segment_cli_with_a_tiny_owl_detector(tmp_path, capsys):
    """`zerops segment --detector hf:<folder>` end to end (random weights: any boxes, but the outputs are
    consistent: every kept box has a score >= 0.5 and a label among the part names)."""
    from fakes import ColorRegionSegmenter  # noqa: F401
    from zerops.cli import main
    from zerops.eval.synthetic import generate_shape
    from zerops.io.ply import write_cloud_ply

    folder = tmp_path / "owl"
    folder.mkdir()
    save_owl(folder, v2=False)
    s = generate_shape("Table", 1, n_points=2000)
    write_cloud_ply(tmp_path / "t.ply", s.xyz, s.rgb)
    out = tmp_path / "out"
    code = main(["segment", str(tmp_path / "t.ply"), "--out", str(out), "--segmenter",
                 "fakes:ColorRegionSegmenter", "--prompts", "16", "--no-extension", "--quiet", "--no-cache",
                 "--parts", "leg,tabletop", "--detector", f"hf:{folder}", "--prompt-style", "of-category",
                 "--category", "Table"])
    assert code == 0
    boxes = json.loads((out / "boxes.json").read_text())
    assert boxes["part_names"] == ["leg", "tabletop"] and len(boxes["views"]) == 20
    assert all(b["score"] >= 0.5 and b["name"] in ("leg", "tabletop") for v in boxes["views"] for b in v["boxes"])
    data = np.load(out / "parts.npz")
    assert set(np.unique(data["semantic"])) <= {-1, 0, 1}
    summary = json.loads((out / "summary.json").read_text())
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{len(summary['parts'])} parts, {len(summary['instances'])} labeled ("), line
    assert line.endswith(f" s -> {out}")
