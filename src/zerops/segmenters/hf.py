"""transformers Segment Anything family behind the segmenter protocol: ``hf:<hub id or local folder>``.

Supports ``SamModel`` (SAM ViT-B/L/H, e.g. ``facebook/sam-vit-huge``, the paper's model), ``SamHQModel``
and ``Sam2Model`` checkpoints (chosen by the config's ``model_type``). Preprocessing is done here with
numpy/PIL (no torchvision): SAM / SAM-HQ resize the longest side to the model's input size and zero-pad
bottom/right; SAM 2 resizes to a square. Pixel mean/std come from ``preprocessor_config.json`` when the
checkpoint has one (ImageNet statistics otherwise). Prompts are passed in the model frame exactly as
SAM's processor does (scaled pixel coordinates, the model adds 0.5 itself and appends the padding point).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from zerops.errors import ZeropsError
from zerops.segmenters.base import Segmenter
from zerops.segmenters.upscale import LogitUpscaler
from zerops.torchcheck import check_torch_device, import_torch_transformers, load_hf_config

__all__ = ["HFSam", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_FAMILIES = {"sam": "SamModel", "sam_hq": "SamHQModel", "sam2": "Sam2Model"}



class HFSam(Segmenter):
    """A transformers SAM / SAM-HQ / SAM 2 model. ``model``: hub id or local folder (``save_pretrained``).

    ``device``: cpu or cuda[:n]; ``dtype``: float32 (default) or float16 (cuda only).
    ``decode_batch``: prompt sets per decoder call.
    """

    def __init__(self, model: str, device: str = "cpu", *, dtype: str = "float32", decode_batch: int = 32,
                 local_files_only: bool = False, **load_options: Any) -> None:
        super().__init__()
        torch, transformers = import_torch_transformers("hf: segmenters")
        if not model:
            raise ZeropsError("hf: needs a model id or folder, e.g. hf:facebook/sam-vit-huge")
        check_torch_device(torch, device, dtype)
        self.name = f"hf:{model}"
        self.device = device
        self.decode_batch = int(decode_batch)
        self._torch = torch
        self._dtype = getattr(torch, dtype)
        config = load_hf_config(transformers, model, model, local_files_only, _FAMILIES, "segmenter")
        family = config.model_type
        self.family = family
        cls = getattr(transformers, _FAMILIES[family])
        try:
            net = cls.from_pretrained(model, local_files_only=local_files_only, **load_options)
        except Exception as err:
            raise ZeropsError(f"cannot load the {cls.__name__} weights of '{model}' "
                              f"({str(err).splitlines()[0][:160] if str(err) else type(err).__name__})") from None
        self.model = net.to(device=device, dtype=self._dtype).eval()
        self.input_size = int(config.prompt_encoder_config.image_size)
        self.mean, self.std = _norm_stats(model, local_files_only)
        self._states: list[Any] = []
        self._resized: list[tuple[int, int]] = []
        self._upscalers: dict[Any, LogitUpscaler] = {}

    # ---- geometry ----------------------------------------------------------------------------------
    def resized_shape(self, h: int, w: int) -> tuple[int, int]:
        """Size of the view inside the model input (before padding)."""
        if self.family == "sam2":
            return self.input_size, self.input_size
        s = self.input_size / max(h, w)
        return int(h * s + 0.5), int(w * s + 0.5)

    def model_coords(self, points: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        """Pixel points (..., 2) -> the coordinates the model is given (it adds 0.5 itself)."""
        rh, rw = self.resized_shape(*hw)
        scale = np.array([rw / hw[1], rh / hw[0]], dtype=np.float32)
        return np.asarray(points, dtype=np.float32) * scale - 0.5

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 -> (1, 3, S, S) float32 normalized (and zero-padded for SAM / SAM-HQ)."""
        rh, rw = self.resized_shape(image.shape[0], image.shape[1])
        if (rh, rw) != image.shape[:2]:
            image = np.asarray(Image.fromarray(image).resize((rw, rh), Image.BILINEAR))
        x = (image.astype(np.float32) / 255.0 - self.mean) / self.std
        out = np.zeros((1, 3, self.input_size, self.input_size), dtype=np.float32)
        out[0, :, :rh, :rw] = x.transpose(2, 0, 1)
        return out

    # ---- protocol ----------------------------------------------------------------------------------
    def _encode(self, images: list[np.ndarray], progress: bool) -> None:
        from tqdm import tqdm

        torch = self._torch
        states, resized = [], []
        for img in tqdm(images, desc="SAM encode", unit="view", disable=not progress, file=sys.stderr):
            x = torch.from_numpy(self.preprocess(img)).to(self.device, self._dtype)
            with torch.inference_mode():
                states.append(self.model.get_image_embeddings(x))
            resized.append(self.resized_shape(img.shape[0], img.shape[1]))
        self._states, self._resized = states, resized

    def _run_decoder(self, view: int, coords: np.ndarray, labels: np.ndarray):
        """coords (B, K, 2) model frame, labels (B, K) -> low-res logits (B, 3, h, w), iou (B, 3) tensors."""
        torch = self._torch
        pts = torch.from_numpy(coords[None]).to(self.device, self._dtype)           # (1, B, K, 2)
        lab = torch.from_numpy(labels[None].astype(np.int64)).to(self.device)        # (1, B, K)
        state = self._states[view]
        kw: dict[str, Any] = {"input_points": pts, "input_labels": lab, "multimask_output": True}
        if self.family == "sam_hq":
            kw["image_embeddings"], kw["intermediate_embeddings"] = state
        else:
            kw["image_embeddings"] = state
        with torch.inference_mode():
            out = self.model(**kw)
        masks = out["pred_masks"] if isinstance(out, dict) else out.pred_masks
        iou = out["iou_scores"] if isinstance(out, dict) else out.iou_scores
        return masks[0, :, :3].float(), iou[0, :, :3].float()

    def _decode(self, view: int, points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hw = self._sizes[view]
        coords = self.model_coords(points, hw)
        masks = np.empty((len(points), 3, *hw), dtype=bool)
        scores = np.empty((len(points), 3), dtype=np.float32)
        for s in range(0, len(points), self.decode_batch):
            low, iou = self._run_decoder(view, coords[s:s + self.decode_batch], labels[s:s + self.decode_batch])
            n = low.shape[0]
            masks[s:s + n] = self._upscale(view, low)
            scores[s:s + n] = iou.cpu().numpy()
        return masks, scores

    def _upscale(self, view: int, low) -> np.ndarray:
        """(n, 3, h, w) logits tensor -> (n, 3, H, W) bool at the view size, as SAM's post-processing."""
        hw = self._sizes[view]
        n, c, lh, lw = low.shape
        pad = None if self.family == "sam2" else (self.input_size, self.input_size)
        if self.device != "cpu":
            F = self._torch.nn.functional
            x = low
            if pad is not None:
                x = F.interpolate(x, pad, mode="bilinear", align_corners=False)
                x = x[..., :self._resized[view][0], :self._resized[view][1]]
            x = F.interpolate(x, hw, mode="bilinear", align_corners=False)
            return (x > 0).cpu().numpy()
        key = ((lh, lw), hw, self._resized[view])
        up = self._upscalers.get(key)
        if up is None:
            up = LogitUpscaler((lh, lw), hw, pad, self._resized[view] if pad is not None else None)
            self._upscalers[key] = up
        return up(low.cpu().numpy().reshape(n * c, lh, lw)).reshape(n, c, *hw)


def _norm_stats(model: str, local_files_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Pixel mean/std (0-1 scale) from the checkpoint's preprocessor_config.json, ImageNet otherwise."""
    cfg = None
    folder = Path(model)
    if folder.is_dir():
        path = folder / "preprocessor_config.json"
        if path.is_file():
            cfg = json.loads(path.read_text())
    else:
        try:
            from huggingface_hub import hf_hub_download
            cfg = json.loads(Path(hf_hub_download(model, "preprocessor_config.json",
                                                  local_files_only=local_files_only)).read_text())
        except Exception:
            cfg = None
    mean = (cfg or {}).get("image_mean", IMAGENET_MEAN)
    std = (cfg or {}).get("image_std", IMAGENET_STD)
    return np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)
