"""Writing PartNetE-layout shape folders (``pc.ply``, ``label.npy``, ``meta.json``); reading them, with the safe
unpickler, is :mod:`zerops.eval.partnete`. Here, below ``eval``, so that ``io.convert`` can write shapes."""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

from zerops.errors import ZeropsError
from zerops.io.files import atomic_path, json_dumps
from zerops.io.ply import ply_bytes

PICKLE_PROTOCOL = 4


def label_npy_bytes(semantic: np.ndarray, instance: np.ndarray) -> bytes:
    """PartNetE ``label.npy`` bytes: a .npy holding a pickled dict (fixed pickle protocol, deterministic)."""
    obj = np.empty((), dtype=object)
    obj[()] = {
        "semantic_seg": np.ascontiguousarray(semantic, dtype=np.int64),
        "instance_seg": np.ascontiguousarray(instance, dtype=np.int64),
    }
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(obj))
    pickle.dump(obj, buf, protocol=PICKLE_PROTOCOL)
    return buf.getvalue()


def write_partnete_shape(
    folder: str | os.PathLike,
    xyz: np.ndarray,
    rgb: np.ndarray | None,
    semantic: np.ndarray,
    instance: np.ndarray,
    meta: dict,
) -> None:
    """Write a PartNetE shape folder: ``pc.ply`` (binary, xyz float + rgb uchar), ``label.npy``
    (pickled dict, PartNetE-compatible) and ``meta.json`` (sorted keys). Identical inputs give
    byte-identical files; each file is written atomically."""
    xyz = np.asarray(xyz)
    n = xyz.shape[0] if xyz.ndim == 2 else -1
    semantic, instance = np.asarray(semantic), np.asarray(instance)
    for name, arr in (("semantic", semantic), ("instance", instance)):
        if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
            raise ZeropsError(f"{folder}: {name} labels must be an ({n},) integer array, got {arr.shape} {arr.dtype}")
    ply = ply_bytes(xyz, rgb, binary=True)
    labels = label_npy_bytes(semantic, instance)
    text = json_dumps(meta, sort_keys=True, indent=1)
    folder = Path(folder)
    # meta.json first: a folder an interrupted synth left is still recognisably its own (see synth)
    for name, data in (("meta.json", text.encode("utf-8")), ("pc.ply", ply), ("label.npy", labels)):
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)
