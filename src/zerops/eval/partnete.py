"""PartNetE-layout shape folders: ``<root>/<Category>/<id>/{pc.ply, label.npy, meta.json}``.

``label.npy`` in PartNetE is a pickled dict ``{"semantic_seg": (N,) int, "instance_seg": (N,) int}``
(-1 = unlabeled). Unpickling untrusted data can run arbitrary code, so :func:`load_labels` uses a
restricted unpickler that only rebuilds numpy arrays and plain containers; ``allow_pickle=True``
falls back to ``np.load(allow_pickle=True)`` for files you trust. A ``label.npz`` with the arrays
``semantic_seg`` and ``instance_seg`` is read without any pickle.
"""
from __future__ import annotations

import io
import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from zerops.errors import ZeropsError
from zerops.io.cloud import PointCloud
from zerops.io.files import load_json
from zerops.io.labelfiles import PICKLE_PROTOCOL, label_npy_bytes, write_partnete_shape  # noqa: F401 (re-exported)
from zerops.io.load import load_cloud
from zerops.limits import MAX_LABEL_BYTES, MAX_PICKLE_DEPTH, MAX_PICKLE_OPS, MAX_POINTS
from zerops.partnames import load_partnete_meta

LABEL_KEYS = ("semantic_seg", "instance_seg")

# (module, name) pairs the safe unpickler may resolve: numpy's array reconstruction only (plain dicts,
# lists and tuples need no globals; ``_codecs.encode`` rebuilds bytes in protocol-2 pickles).
_SAFE_GLOBALS = frozenset(
    {
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
        ("collections", "OrderedDict"),
    }
)


@dataclass
class PartNetEShape:
    """One labelled shape: the cloud, per-point semantic and instance labels (-1 = unlabeled)."""

    cloud: PointCloud
    semantic: np.ndarray          # (N,) int64 index into part_names, -1 unlabeled
    instance: np.ndarray          # (N,) int64 instance id, -1 unlabeled
    part_names: list[str]
    category: str
    shape_id: str
    path: Path
    meta: dict = field(default_factory=dict)

    @property
    def n_points(self) -> int:
        return len(self.cloud)


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except numpy array reconstruction and plain builtins."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load '{module}.{name}'")
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def _check_pickle_shape(data: bytes) -> None:
    """Refuse a pickle with more than MAX_PICKLE_OPS opcodes or containers nested deeper than
    MAX_PICKLE_DEPTH, before anything is built (a few hundred bytes of shared references can describe an
    object that explodes when it is walked)."""
    import pickletools

    depth = ops = 0
    try:
        for op, _, _ in pickletools.genops(data):
            ops += 1
            if ops > MAX_PICKLE_OPS:
                raise pickle.UnpicklingError(f"more than {MAX_PICKLE_OPS} pickle operations")
            if op.name == "MARK":
                depth += 1
                if depth > MAX_PICKLE_DEPTH:
                    raise pickle.UnpicklingError(f"containers nested deeper than {MAX_PICKLE_DEPTH} levels")
            elif any(getattr(s, "name", "") == "mark" for s in op.stack_before):
                depth -= 1
    except (ValueError, EOFError) as exc:     # genops: unknown opcode, truncated data
        raise pickle.UnpicklingError(str(exc)) from None


def safe_unpickle(data: bytes) -> Any:
    """Unpickle ``data`` allowing only numpy arrays/dtypes and plain containers (no code execution), at most
    :data:`~zerops.limits.MAX_PICKLE_OPS` opcodes and :data:`~zerops.limits.MAX_PICKLE_DEPTH` nested levels."""
    _check_pickle_shape(data)
    return _SafeUnpickler(io.BytesIO(data)).load()



def _label_array(value: Any, key: str, path: Path) -> np.ndarray:
    """A label entry as an array without walking arbitrary objects: a numeric ndarray, or a flat list of ints."""
    if isinstance(value, list):
        if len(value) > MAX_POINTS or not all(type(v) is int for v in value):
            raise ZeropsError(f"{path}: '{key}' must be an (N,) integer array, got a list that is not a flat "
                              "list of integers")
        try:
            return np.array(value, dtype=np.int64)
        except OverflowError:
            raise ZeropsError(f"{path}: '{key}' holds integers too large for labels") from None
    if not isinstance(value, np.ndarray) or value.dtype.hasobject:
        kind = f"an array of {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
        raise ZeropsError(f"{path}: '{key}' must be an (N,) integer array, got {kind}")
    return value


def _labels_from_obj(obj: Any, path: Path) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict) or not all(k in obj for k in LABEL_KEYS):
        raise ZeropsError(f"{path}: expected a dict with keys 'semantic_seg' and 'instance_seg'")
    out = []
    for key in LABEL_KEYS:
        arr = _label_array(obj[key], key, path)
        if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ZeropsError(f"{path}: '{key}' must be an (N,) integer array, got shape {arr.shape} dtype {arr.dtype}")
        if np.issubdtype(arr.dtype, np.floating) and not np.array_equal(arr, np.round(arr)):
            raise ZeropsError(f"{path}: '{key}' holds non-integer values")
        out.append(arr.astype(np.int64))
    if out[0].shape != out[1].shape:
        raise ZeropsError(f"{path}: semantic_seg has {out[0].shape[0]} labels but instance_seg has {out[1].shape[0]}")
    return out[0], out[1]


# complexity: a reader: one check per file format and failure, in order
def load_labels(path: str | os.PathLike, allow_pickle: bool = False,  # noqa: C901
                n_points: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read (semantic, instance) (N,) int64 labels from a PartNetE ``label.npy`` or a ``label.npz``.

    By default pickled ``label.npy`` files go through a restricted unpickler that only rebuilds numpy
    arrays (a malicious file raises :class:`ZeropsError` instead of running code). ``allow_pickle=True``
    uses ``np.load(allow_pickle=True)`` -- only for files you trust. ``n_points``: the cloud's size; a
    ``label.npz`` whose headers declare other row counts is refused before anything is unpacked.
    Long: a reader: one check per label format and failure, in order.
    """
    from zerops.io.readers import NPY_ERRORS, check_npy_file, check_rows

    p = Path(path)
    if not p.is_file():
        raise ZeropsError(f"{p}: label file not found")
    if p.stat().st_size > MAX_LABEL_BYTES:
        raise ZeropsError(f"{p}: {p.stat().st_size:,} bytes is more than a label file for {MAX_POINTS:,} points "
                          "can be")
    if p.suffix.lower() == ".npz":
        try:
            headers = check_npy_file(p)
            for key in LABEL_KEYS:
                shape = headers.get(key, ((n_points,), None))[0]
                if n_points is not None and tuple(shape[:1]) != (n_points,):
                    raise ZeropsError(f"{p}: {shape[0] if shape else 1} labels for {n_points} points ('{key}' "
                                      f"declares the shape {shape}); nothing was unpacked")
            check_rows(headers, p, dict.fromkeys(LABEL_KEYS, None))
            with np.load(p, allow_pickle=False) as z:          # only the two label arrays are unpacked
                return _labels_from_obj({k: z[k] for k in LABEL_KEYS if k in z.files}, p)
        except NPY_ERRORS as exc:
            raise ZeropsError(f"{p}: cannot read label archive ({type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:160]})") from None
    if allow_pickle:
        try:
            obj = np.load(p, allow_pickle=True)
        except Exception as exc:  # noqa: BLE001 - any failure of a trusted unpickle is a bad file
            raise ZeropsError(f"{p}: cannot read labels ({type(exc).__name__}: {exc})") from None
        return _labels_from_obj(obj, p)
    data = p.read_bytes()
    try:
        if data.startswith(b"\x93NUMPY"):
            f = io.BytesIO(data)
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            if int(np.prod(shape, dtype=np.float64)) > 2 * MAX_POINTS:
                raise ZeropsError(f"{p}: declares an array of shape {shape}; zerops reads at most "
                                  f"{MAX_POINTS:,} labels")
            if dtype != np.dtype(object):
                return _labels_from_obj(np.load(io.BytesIO(data), allow_pickle=False), p)
            obj = safe_unpickle(data[f.tell():])
        else:
            obj = safe_unpickle(data)
    except ZeropsError:
        raise
    except pickle.UnpicklingError as exc:
        raise ZeropsError(
            f"{p}: not a label file zerops can read safely ({' '.join(str(exc).split())[:160]}); store the labels "
            "as label.npz with the integer arrays semantic_seg and instance_seg"
        ) from None
    except RecursionError:
        raise ZeropsError(f"{p}: cannot read labels (nested too deeply)") from None
    except Exception as exc:  # noqa: BLE001 - malformed input of any kind
        why = " ".join(str(exc).split())[:160]
        raise ZeropsError(f"{p}: cannot read labels ({type(exc).__name__}: {why})") from None
    if isinstance(obj, np.ndarray) and obj.dtype != object:
        raise ZeropsError(f"{p}: expected a dict with keys 'semantic_seg' and 'instance_seg', got an array")
    return _labels_from_obj(obj, p)


def _find_labels(folder: Path) -> Path:
    for name in ("label.npz", "label.npy"):
        if (folder / name).is_file():
            return folder / name
    raise ZeropsError(f"{folder}: no label.npy or label.npz in the shape folder")


def load_partnete_shape(folder: str | os.PathLike, allow_pickle: bool = False) -> PartNetEShape:
    """Load ``<folder>/{pc.ply, label.npy|label.npz, meta.json}`` as a :class:`PartNetEShape`.

    Part names come from meta.json's ``part_names`` if present, else from the bundled table for the
    category (meta.json's ``category``, or the parent folder's name).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ZeropsError(f"{folder}: shape folder not found")
    if not (folder / "pc.ply").is_file():
        raise ZeropsError(f"{folder}: no pc.ply in the shape folder")
    meta: dict = {}
    if (folder / "meta.json").is_file():
        try:
            meta = load_json(folder / "meta.json")
        except (OSError, ValueError) as exc:
            raise ZeropsError(f"{folder / 'meta.json'}: invalid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise ZeropsError(f"{folder / 'meta.json'}: expected a JSON object")
    category = meta.get("category") or folder.parent.name
    if not isinstance(category, str):
        raise ZeropsError(f"{folder / 'meta.json'}: 'category' must be a string, got {type(category).__name__}")
    part_names = meta.get("part_names")
    if part_names is not None and (not isinstance(part_names, list)
                                   or not all(isinstance(n, str) and n for n in part_names)):
        got = f"the {type(part_names).__name__} {json.dumps(part_names)[:60]}"
        raise ZeropsError(f"{folder / 'meta.json'}: 'part_names' must be a list of names, got {got}")
    if part_names is None:
        table = load_partnete_meta()
        if category not in table:
            raise ZeropsError(
                f"{folder}: category '{category}' is not in the PartNetE table and meta.json has no part_names"
            )
        part_names = table[category]
    cloud = load_cloud(folder / "pc.ply")
    semantic, instance = load_labels(_find_labels(folder), allow_pickle=allow_pickle, n_points=len(cloud))
    if semantic.shape[0] != len(cloud):
        raise ZeropsError(f"{folder}: {semantic.shape[0]} labels for {len(cloud)} points")
    if semantic.max(initial=-1) >= len(part_names) or semantic.min(initial=-1) < -1:
        raise ZeropsError(
            f"{folder}: semantic labels range [{semantic.min()}, {semantic.max()}] but there are "
            f"{len(part_names)} part names"
        )
    if instance.shape[0] and (instance.min() < -1 or instance.max() >= len(cloud)):
        raise ZeropsError(f"{folder}: instance ids range [{instance.min()}, {instance.max()}]; they must lie in "
                          f"[-1, {len(cloud) - 1}] for {len(cloud)} points")
    return PartNetEShape(
        cloud=cloud,
        semantic=semantic,
        instance=instance,
        part_names=[str(s) for s in part_names],
        category=category,
        shape_id=folder.name,
        path=folder,
        meta=meta,
    )


def list_partnete_shapes(
    root: str | os.PathLike, categories: Iterable[str] | None = None, limit: int | None = None
) -> list[Path]:
    """Shape folders ``<root>/<Category>/<id>/`` holding a pc.ply, sorted by (category, id).

    ``categories`` restricts to those category folders (unknown names raise); ``limit`` keeps at most
    that many shapes per category.
    """
    root = Path(root)
    if not root.is_dir():
        raise ZeropsError(f"{root}: dataset folder not found")
    present = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if categories is not None:
        wanted = [categories] if isinstance(categories, str) else list(categories)
        missing = [c for c in wanted if c not in present]
        if missing:
            raise ZeropsError(f"{root}: no category folder(s) {', '.join(missing)}; found: {', '.join(present)}")
        present = sorted(set(wanted))
    if limit is not None and limit < 0:
        raise ZeropsError(f"limit must be >= 0, got {limit}")
    shapes: list[Path] = []
    for cat in present:
        found = sorted(d for d in (root / cat).iterdir() if d.is_dir() and (d / "pc.ply").is_file())
        shapes.extend(found if limit is None else found[:limit])
    return shapes
