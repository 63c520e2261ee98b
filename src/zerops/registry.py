"""Shared plumbing of the model registries: plug-in classes named ``module:Class`` and torch device checks."""
from __future__ import annotations

import importlib
from typing import Any

from zerops.errors import ZeropsError

__all__ = ["load_plugin_class", "check_torch_device"]


def load_plugin_class(spec: str, kind: str) -> Any:
    """The class named by ``package.module:ClassName`` (``kind``, e.g. "segmenter", is used in errors)."""
    mod_name, _, cls_name = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as err:
        raise ZeropsError(f"cannot import {kind} module '{mod_name}' ({err})") from None
    cls = getattr(mod, cls_name, None)
    if cls is None:
        raise ZeropsError(f"module '{mod_name}' has no '{cls_name}'")
    return cls


def check_torch_device(torch: Any, device: str, dtype: str) -> None:
    """cpu or cuda[:n] that torch can use, and a dtype valid on it (half precision on cuda only)."""
    if not (device == "cpu" or device.startswith("cuda")):
        raise ZeropsError(f"unknown device '{device}': use cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ZeropsError("device 'cuda' requested but torch sees no CUDA GPU: use device='cpu'")
    if dtype not in ("float32", "float16", "bfloat16"):
        raise ZeropsError(f"unknown dtype '{dtype}': use float32, float16 or bfloat16")
    if dtype != "float32" and device == "cpu":
        raise ZeropsError(f"dtype {dtype} is for cuda only: use float32 on cpu")


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (at most 160 characters), or its type name."""
    text = str(err).strip()
    return text.splitlines()[0][:160] if text else type(err).__name__


def load_hf_config(transformers: Any, path: str, model: str, local_files_only: bool) -> Any:
    """``AutoConfig.from_pretrained`` with a one-line error naming ``model``."""
    try:
        return transformers.AutoConfig.from_pretrained(path, local_files_only=local_files_only)
    except Exception as err:  # OSError, ValueError, HTTP errors, ...
        raise ZeropsError(f"cannot load the transformers config of '{model}' ({first_line(err)}): give a "
                          "local folder saved with save_pretrained or a hub id (needs internet)") from None
