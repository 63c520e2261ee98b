"""transformers open-vocabulary detectors behind the detector protocol: ``hf:<hub id or local folder>``.

Supports ``GroundingDinoForObjectDetection`` (``grounding-dino``, e.g. ``IDEA-Research/grounding-dino-base``),
``MMGroundingDinoForObjectDetection`` (``mm-grounding-dino``, the MM-Grounding-DINO checkpoints),
``Owlv2ForObjectDetection`` (``owlv2``) and ``OwlViTForObjectDetection`` (``owlvit``), chosen by the config's
``model_type``.

* Grounding DINO: one text prompt ``"p1 . p2 . p3 ."``. Every prompt token is assigned to the phrase whose
  characters it covers (the tokenizer's offset mapping; specials and the ``.`` separators belong to no phrase),
  and each predicted box is labelled with the phrase holding its highest token logit; its score is that
  token's probability. Prompts longer than the model's ``max_text_len`` are split into several passes.
* OWLv2 / OWL-ViT: one text query per phrase; the label is the best query, the score its probability.

Preprocessing uses the checkpoint's image processor (the PIL backend works without torchvision); without
one a numpy/PIL equivalent of the family's defaults is used. Boxes come back as xyxy view pixels, clipped.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from zerops.detectors.base import PROMPT_STYLES, Detections, Detector, build_prompt, check_part_names
from zerops.errors import ZeropsError
from zerops.torchcheck import check_torch_device, import_torch_transformers, load_hf_config
from zerops.torchcheck import first_line as _first_line

__all__ = ["HFDetector", "SUPPORTED", "join_phrases", "token_phrase_index", "phrase_logits", "pack_phrases",
           "normalized_to_pixels"]

SUPPORTED = {"grounding-dino": "GroundingDinoForObjectDetection",
             "mm-grounding-dino": "MMGroundingDinoForObjectDetection",
             "owlv2": "Owlv2ForObjectDetection",
             "owlvit": "OwlViTForObjectDetection"}
_GROUNDING = ("grounding-dino", "mm-grounding-dino")
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
SEPARATOR = " . "



def _looks_like_path(model: str) -> bool:
    return (model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1
            or Path(model).expanduser().exists())


# ---- prompt / label helpers (pure numpy, tested directly) ----------------------------------------------
def join_phrases(phrases: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Grounding DINO prompt ``"p1 . p2 ."`` and each phrase's character span ``[start, end)`` in it."""
    text, spans = "", []
    for p in phrases:
        p = str(p).strip().lower()
        spans.append((len(text), len(text) + len(p)))
        text += p + SEPARATOR
    return text.rstrip(), spans


def token_phrase_index(offsets: Sequence[Sequence[int]], spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Phrase index of each token from its character offsets (``-1``: special token, separator, padding)."""
    out = np.full(len(offsets), -1, dtype=np.int64)
    for t, (s, e) in enumerate(offsets):
        if e <= s:
            continue
        for j, (a, b) in enumerate(spans):
            if s >= a and e <= b:
                out[t] = j
                break
    return out


def phrase_logits(logits: np.ndarray, token_phrase: np.ndarray, n_phrases: int) -> np.ndarray:
    """(Q, T) token logits -> (Q, n_phrases): the highest logit among each phrase's tokens (-inf if none)."""
    logits = np.asarray(logits, dtype=np.float32)
    t = min(logits.shape[1], len(token_phrase))
    out = np.full((logits.shape[0], n_phrases), -np.inf, dtype=np.float32)
    for j in range(n_phrases):
        cols = np.flatnonzero(token_phrase[:t] == j)
        if len(cols):
            out[:, j] = logits[:, cols].max(axis=1)
    return out


def pack_phrases(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Greedily group phrase indices so each group's token count (phrase + separator) fits ``budget``."""
    groups: list[list[int]] = []
    used = 0
    for j, n in enumerate(lengths):
        cost = int(n) + 1
        if groups and used + cost <= budget:
            groups[-1].append(j)
            used += cost
        else:
            groups.append([j])
            used = cost
    return groups


def normalized_to_pixels(boxes: np.ndarray, width: int, height: int, square: bool = False) -> np.ndarray:
    """(N, 4) normalized cx, cy, w, h -> (N, 4) float32 xyxy pixels clipped to the ``width`` x ``height`` view.

    ``square``: the boxes are relative to the view zero-padded bottom/right to a square (OWLv2), so both
    axes scale by ``max(width, height)``; otherwise x scales by the width and y by the height.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sx, sy = (max(width, height),) * 2 if square else (width, height)
    cx, cy, w, h = b[:, 0] * sx, b[:, 1] * sy, b[:, 2] * sx, b[:, 3] * sy
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    xyxy[:, 0::2] = np.clip(xyxy[:, 0::2], 0, width)
    xyxy[:, 1::2] = np.clip(xyxy[:, 1::2], 0, height)
    return xyxy.astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))).astype(np.float32)


# ---- the detector ---------------------------------------------------------------------------------------
class HFDetector(Detector):
    """A transformers Grounding DINO / MM-Grounding-DINO / OWLv2 / OWL-ViT detector.

    ``model``: hub id or local folder (``save_pretrained`` of the model and its processor).
    ``device``: cpu or cuda[:n]; ``dtype``: float32 (default), or float16 / bfloat16 on cuda.
    ``prompt_style``: ``names`` ("arm") or ``of-category`` ("arm of a chair").
    ``min_score``: raw detections below this probability are dropped (the pipeline applies its own,
    higher threshold later). ``text_threshold`` (Grounding DINO only): a box is kept only when its best
    phrase token reaches it, as in the reference post-processing where weaker boxes get no label.
    ``load_options`` go to ``from_pretrained`` (e.g. ``revision``, ``cache_dir``).
    """

    def __init__(self, model: str, device: str = "cpu", *, prompt_style: str = "names", min_score: float = 0.05,
                 text_threshold: float = 0.25, dtype: str = "float32", local_files_only: bool = False,
                 **load_options: Any) -> None:
        torch, transformers = import_torch_transformers("hf: detectors")
        if not model or not isinstance(model, str):
            raise ZeropsError("hf: needs a model id or folder, e.g. hf:IDEA-Research/grounding-dino-base")
        if prompt_style not in PROMPT_STYLES:
            raise ZeropsError(f"unknown prompt style '{prompt_style}': use {' or '.join(PROMPT_STYLES)}")
        device = str(device)
        check_torch_device(torch, device, dtype)
        for key, val in (("min_score", min_score), ("text_threshold", text_threshold)):
            if not isinstance(val, (int, float)) or not 0.0 <= float(val) <= 1.0:
                raise ZeropsError(f"{key} must be a number in [0, 1], got {val!r}")
        if _looks_like_path(model):
            folder = Path(model).expanduser()
            if not folder.is_dir():
                raise ZeropsError(f"model folder '{model}' does not exist: give a folder saved with "
                                  "save_pretrained or a hub id such as IDEA-Research/grounding-dino-base")
            model_path = str(folder)
        else:
            model_path = model
        self.name = f"hf:{model}"
        self.device = device
        self.prompt_style = prompt_style
        self.min_score = float(min_score)
        self.text_threshold = float(text_threshold)
        self._torch = torch
        self._dtype = getattr(torch, dtype)
        config = load_hf_config(transformers, model_path, model, local_files_only, SUPPORTED, "detector")
        family = config.model_type
        self.family = family
        self.config = config
        cls = getattr(transformers, SUPPORTED[family], None)
        if cls is None:
            raise ZeropsError(f"this transformers ({transformers.__version__}) has no {SUPPORTED[family]}: "
                              "upgrade transformers")
        try:
            net = cls.from_pretrained(model_path, local_files_only=local_files_only, **load_options)
        except Exception as err:
            raise ZeropsError(f"cannot load the {cls.__name__} weights of '{model}' ({_first_line(err)})") from None
        self.model = net.to(device=device, dtype=self._dtype).eval()
        self.tokenizer, self.image_processor = self._load_processor(transformers, model_path, local_files_only)
        if family in _GROUNDING:
            self.max_text_len = int(getattr(config, "max_text_len", 256))
        else:
            self.max_text_len = int(getattr(config.text_config, "max_position_embeddings", 16))
        self._pre = _fallback_preprocessing(family, model_path) if self.image_processor is None else None

    def _load_processor(self, transformers, model_path: str, local_files_only: bool):
        """(tokenizer, image processor or None) from the checkpoint's processor, else its tokenizer alone."""
        tokenizer = image_processor = None
        try:
            proc = transformers.AutoProcessor.from_pretrained(model_path, local_files_only=local_files_only)
        except Exception:
            proc = None
        if proc is not None:
            tokenizer = getattr(proc, "tokenizer", None)
            image_processor = getattr(proc, "image_processor", None)
            if tokenizer is None and callable(getattr(proc, "tokenize", None)):
                tokenizer = proc                 # AutoProcessor fell back to a bare tokenizer
        if tokenizer is None:
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(model_path, local_files_only=local_files_only)
            except Exception as err:
                raise ZeropsError(f"cannot load the tokenizer of '{model_path}' ({_first_line(err)}): the folder "
                                  "needs the processor saved with save_pretrained") from None
        return tokenizer, image_processor

    # ---- inputs --------------------------------------------------------------------------------------
    def phrases(self, part_names: Sequence[str], category: str | None = None) -> list[str]:
        """The text phrase for each part under this detector's prompt style."""
        return build_prompt(part_names, self.prompt_style, category)

    def pixel_inputs(self, image: np.ndarray) -> dict[str, Any]:
        """(H, W, 3) uint8 -> model image inputs (``pixel_values`` and, for Grounding DINO, ``pixel_mask``)."""
        torch = self._torch
        if self.image_processor is not None:
            try:
                feats = self.image_processor(images=Image.fromarray(image), return_tensors="pt")
            except Exception as err:
                raise ZeropsError(f"{self.name}: the image processor failed ({_first_line(err)})") from None
            pv = feats["pixel_values"]
            mask = feats.get("pixel_mask") if hasattr(feats, "get") else None
        else:
            pv = torch.from_numpy(_preprocess(image, self.family, self._pre))
            mask = None
        out = {"pixel_values": pv.to(self.device, self._dtype)}
        if self.family in _GROUNDING:
            if mask is None:
                mask = torch.ones((pv.shape[0], pv.shape[-2], pv.shape[-1]), dtype=torch.long)
            out["pixel_mask"] = mask.to(self.device)
        return out

    def grounding_text(self, phrases: Sequence[str]) -> list[tuple[dict[str, Any], np.ndarray]]:
        """Text inputs for Grounding DINO, one per pass: (model kwargs, phrase index of each token).

        The phrase indices are global (into ``phrases``); a pass holds as many phrases as fit ``max_text_len``.
        """
        text, spans = join_phrases(phrases)
        ids, tp = self._tokenize_grounding(text, spans)
        if len(ids) <= self.max_text_len:
            return [(self._text_kwargs(ids), tp)]
        lengths = [int(np.count_nonzero(tp == j)) for j in range(len(phrases))]
        out = []
        for group in pack_phrases(lengths, self.max_text_len - 2):
            text, spans = join_phrases([phrases[j] for j in group])
            ids, local = self._tokenize_grounding(text, spans)
            glob = np.where(local >= 0, np.asarray(group)[np.maximum(local, 0)], -1)
            out.append((self._text_kwargs(ids[: self.max_text_len]), glob[: self.max_text_len]))
        return out

    def _tokenize_grounding(self, text: str, spans: list[tuple[int, int]]) -> tuple[list[int], np.ndarray]:
        tok = self.tokenizer
        try:
            enc = tok(text, return_offsets_mapping=True)
            ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
            return ids, token_phrase_index(offsets, spans)
        except (NotImplementedError, KeyError, TypeError, ValueError):
            pass
        # Tokenizers without offsets: tokenize phrase by phrase (BERT never merges across " . ").
        sep = tok(".", add_special_tokens=False)["input_ids"]
        ids, tp = [tok.cls_token_id], [-1]
        for j, (a, b) in enumerate(spans):
            piece = tok(text[a:b], add_special_tokens=False)["input_ids"]
            ids += list(piece) + list(sep)
            tp += [j] * len(piece) + [-1] * len(sep)
        ids.append(tok.sep_token_id)
        tp.append(-1)
        return ids, np.asarray(tp, dtype=np.int64)

    def _text_kwargs(self, ids: list[int]) -> dict[str, Any]:
        torch = self._torch
        t = torch.tensor([ids], dtype=torch.long, device=self.device)
        return {"input_ids": t, "attention_mask": torch.ones_like(t), "token_type_ids": torch.zeros_like(t)}

    def owl_text(self, phrases: Sequence[str]) -> dict[str, Any]:
        """Text inputs for OWL: one padded query per phrase."""
        try:
            enc = self.tokenizer(list(phrases), padding="max_length", truncation=True,
                                 max_length=self.max_text_len, return_tensors="pt")
        except Exception as err:
            raise ZeropsError(f"{self.name}: cannot tokenize the part names ({_first_line(err)})") from None
        return {"input_ids": enc["input_ids"].to(self.device), "attention_mask": enc["attention_mask"].to(self.device)}

    # ---- protocol ------------------------------------------------------------------------------------
    def detect(self, image: np.ndarray, part_names: Sequence[str], category: str | None = None) -> Detections:
        image = _check_image(image)
        names = check_part_names(part_names)
        phrases = self.phrases(names, category)
        h, w = image.shape[:2]
        pixels = self.pixel_inputs(image)
        if self.family in _GROUNDING:
            scores, labels, boxes = [], [], []
            for text, tp in self.grounding_text(phrases):
                out = self._forward(**pixels, **text)
                logits = out["logits"][0].float().cpu().numpy()
                per_phrase = phrase_logits(logits, tp, len(phrases))
                best = per_phrase.max(axis=1)
                ok = np.isfinite(best)
                s = np.where(ok, _sigmoid(np.where(ok, best, 0.0)), 0.0)
                keep = (s >= self.min_score) & (s >= self.text_threshold) & ok
                scores.append(s[keep])
                labels.append(per_phrase.argmax(axis=1)[keep])
                boxes.append(out["pred_boxes"][0].float().cpu().numpy()[keep])
            scores_a, labels_a, boxes_a = np.concatenate(scores), np.concatenate(labels), np.concatenate(boxes)
            square = False
        else:
            out = self._forward(**pixels, **self.owl_text(phrases))
            logits = out["logits"][0].float().cpu().numpy()              # (patches, queries)
            s = _sigmoid(logits.max(axis=1))
            keep = s >= self.min_score
            scores_a, labels_a = s[keep], logits.argmax(axis=1)[keep]
            boxes_a = out["pred_boxes"][0].float().cpu().numpy()[keep]
            square = self.family == "owlv2"
        order = np.argsort(-scores_a, kind="stable")
        px = normalized_to_pixels(boxes_a[order], w, h, square=square)
        return Detections(px, scores_a[order], labels_a[order])

    def _forward(self, **inputs: Any) -> Any:
        torch = self._torch
        try:
            with torch.inference_mode():
                out = self.model(**inputs)
        except torch.cuda.OutOfMemoryError:
            raise ZeropsError(f"{self.name} ran out of GPU memory: use a smaller view size or device='cpu'") from None
        except RuntimeError as err:
            raise ZeropsError(f"{self.name} failed on a view ({_first_line(err)})") from None
        if isinstance(out, dict) or hasattr(out, "keys"):
            return out
        return {"logits": out.logits, "pred_boxes": out.pred_boxes}


def _check_image(image: Any) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise ZeropsError(f"a view must be an (H, W, 3) image, got shape {tuple(img.shape)}")
    if img.dtype != np.uint8:
        raise ZeropsError(f"a view must be uint8, got {img.dtype}")
    return np.ascontiguousarray(img)


# ---- numpy/PIL preprocessing when the checkpoint ships no image processor -----------------------------------
def _fallback_preprocessing(family: str, model_path: str) -> dict[str, Any]:
    """Resize/normalize settings: the family's defaults, overridden by a ``preprocessor_config.json``."""
    if family in _GROUNDING:
        cfg: dict[str, Any] = {"size": {"shortest_edge": 800, "longest_edge": 1333},
                               "image_mean": _IMAGENET[0], "image_std": _IMAGENET[1]}
    elif family == "owlv2":
        cfg = {"size": {"height": 960, "width": 960}, "image_mean": _CLIP[0], "image_std": _CLIP[1]}
    else:
        cfg = {"size": {"height": 768, "width": 768}, "image_mean": _CLIP[0], "image_std": _CLIP[1]}
    for name in ("processor_config.json", "preprocessor_config.json"):
        path = Path(model_path) / name
        try:
            saved = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError):
            saved = {}
        saved = saved.get("image_processor", saved) if isinstance(saved, dict) else {}
        if isinstance(saved, dict):
            cfg.update({k: saved[k] for k in ("size", "image_mean", "image_std") if k in saved})
    return cfg


def _preprocess(image: np.ndarray, family: str, cfg: dict[str, Any]) -> np.ndarray:
    """(H, W, 3) uint8 -> (1, 3, h, w) float32 as the family's image processor does (PIL bilinear resize)."""
    h, w = image.shape[:2]
    size = cfg["size"]
    x = image.astype(np.float32) / 255.0
    if family == "owlv2":                  # zero-pad bottom/right to a square first
        s = max(h, w)
        sq = np.zeros((s, s, 3), np.float32)
        sq[:h, :w] = x
        x = sq
    if "shortest_edge" in size:
        short, long_ = float(size["shortest_edge"]), float(size.get("longest_edge") or size["shortest_edge"])
        lo, hi = min(h, w), max(h, w)
        target = long_ * lo / hi if hi / lo * short > long_ else short     # shortest edge, longest capped
        a, b = max(1, int(round(target))), max(1, int(target * hi / lo))
        th, tw = (a, b) if h <= w else (b, a)
    else:
        th, tw = int(size["height"]), int(size["width"])
    if (th, tw) != x.shape[:2]:
        x = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(x[..., c])).resize((tw, th), Image.BILINEAR))
                      for c in range(3)], axis=-1)
    x = (x - np.asarray(cfg["image_mean"], np.float32)) / np.asarray(cfg["image_std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)
