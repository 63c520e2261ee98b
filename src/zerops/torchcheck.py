"""The one place that imports torch / transformers for a plug-in and checks a device and dtype on them.

Used by the torch render backend and the transformers segmenters and detectors, so each gives the same
one-line :class:`~zerops.errors.ZeropsError` for a missing package, an unknown device or a CUDA-less machine.
"""
from __future__ import annotations

from typing import Any, Collection

from zerops.errors import ZeropsError

__all__ = ["import_torch", "import_torch_transformers", "check_torch_device", "first_line", "load_hf_config"]


def import_torch(what: str) -> Any:
    """The torch module, or a one-line error saying that ``what`` needs it."""
    try:
        import torch
    except ImportError:
        raise ZeropsError(f"{what} needs PyTorch; install it (pip install torch) or use device='cpu'") from None
    return torch


def import_torch_transformers(what: str) -> tuple[Any, Any]:
    """(torch, transformers), or a one-line error saying that ``what`` (e.g. "hf: segmenters") needs them."""
    try:
        import torch
        import transformers
    except ImportError as err:
        raise ZeropsError(f"{what} need torch and transformers ({err}): pip install 'zerops[hf]'") from None
    return torch, transformers


def check_torch_device(torch: Any, device: str, dtype: str = "float32") -> None:
    """cpu or cuda[:n] that torch can use, and a dtype valid on it (half precision on cuda only)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ZeropsError(f"unknown device '{device}': use cpu or cuda") from None
    if dev.type not in ("cpu", "cuda"):
        raise ZeropsError(f"unknown device '{device}': use cpu or cuda")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ZeropsError(f"device '{device}' requested but torch sees no CUDA GPU: use device='cpu'")
    if dtype not in ("float32", "float16", "bfloat16"):
        raise ZeropsError(f"unknown dtype '{dtype}': use float32, float16 or bfloat16")
    if dtype != "float32" and dev.type == "cpu":
        raise ZeropsError(f"dtype {dtype} is for cuda only: use float32 on cpu")


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (at most 160 characters), or its type name."""
    text = str(err).strip()
    return text.splitlines()[0][:160] if text else type(err).__name__


def load_hf_config(transformers: Any, path: str, model: str, local_files_only: bool,
                   families: Collection[str], what: str) -> Any:
    """``AutoConfig.from_pretrained`` of a model whose ``model_type`` is one of ``families``, with a one-line
    error naming ``model`` (``what``: "segmenter", "detector")."""
    try:
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=local_files_only)
    except Exception as err:  # OSError, ValueError, HTTP errors, ...
        raise ZeropsError(f"cannot load the transformers config of '{model}' ({first_line(err)}): give a "
                          "local folder saved with save_pretrained or a hub id (needs internet)") from None
    family = getattr(config, "model_type", None)
    if family not in families:
        raise ZeropsError(f"'{model}' is a '{family}' model, not a {what} zerops supports; "
                          f"hf: {what}s support {', '.join(sorted(families))}")
    return config
