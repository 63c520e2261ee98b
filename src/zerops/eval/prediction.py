"""One method's output for one shape (:class:`Prediction`), checked, and cached per shape on disk.

Every shape an evaluation computes goes through :func:`compute_prediction` (the sequential harness and the
parallel/Ray workers alike): run the method, check its labels, time it, save it atomically with the run's key.
"""
from __future__ import annotations

import hashlib
import json
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from zerops.errors import ZeropsError
from zerops.eval.partnete import PartNetEShape
from zerops.io.files import json_dumps, write_npz

CACHE_VERSION = 1
# options that change where or how fast a method runs, never its output: not part of the cache key
RUNTIME_OPTIONS = frozenset({"cache"})


@dataclass
class Prediction:
    """One method's output for one shape (N points).

    Attributes:
        part: (N,) int64 class-agnostic part id per point, -1 = no part.
        semantic: (N,) int64 index into the shape's part names, -1 = none; None if the method has no labels.
        instance: (N,) int64 instance id per point, -1 = none; None if the method has no labels.
        instance_scores: confidence per instance id (missing ids count 1.0), or None.
        seconds: wall time of the method on this shape (filled in by the harness when left at 0).
        extra: free-form JSON-serialisable details (cached with the shape).
    """

    part: np.ndarray
    semantic: np.ndarray | None = None
    instance: np.ndarray | None = None
    instance_scores: dict[int, float] | None = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


Method = Callable[[PartNetEShape], Prediction]


def method_key(method: str, options: Mapping[str, Any]) -> str:
    """Short hash identifying a method and its options (what a cached prediction was made with)."""
    opts = {k: v for k, v in options.items() if k not in RUNTIME_OPTIONS}
    text = json_dumps({"method": method, "options": opts, "v": CACHE_VERSION}, sort_keys=True, indent=None)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def shape_fingerprint(shape: PartNetEShape) -> str:
    """Short hash of the shape's points (detects a dataset that changed under a cached result)."""
    h = hashlib.sha256(np.ascontiguousarray(shape.cloud.xyz, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def cache_path(out_dir: Path, shape: PartNetEShape) -> Path:
    """Where a run in ``out_dir`` keeps the prediction of ``shape``."""
    return out_dir / "shapes" / f"{shape.category}__{shape.shape_id}.npz"


def save_prediction(path: Path, pred: Prediction, key: str, fingerprint: str) -> None:
    """Atomically write a prediction (arrays, scores, seconds, extra) with its cache key."""
    arrays: dict[str, np.ndarray] = {
        "part": np.asarray(pred.part, dtype=np.int64),
        "seconds": np.float64(pred.seconds),
        "key": np.array(key),
        "fingerprint": np.array(fingerprint),
        "extra": np.array(json_dumps(pred.extra, sort_keys=True, indent=None)),
    }
    if pred.semantic is not None:
        arrays["semantic"] = np.asarray(pred.semantic, dtype=np.int64)
    if pred.instance is not None:
        arrays["instance"] = np.asarray(pred.instance, dtype=np.int64)
    if pred.instance_scores:
        ids = sorted(pred.instance_scores)
        arrays["score_ids"] = np.asarray(ids, dtype=np.int64)
        arrays["score_values"] = np.asarray([pred.instance_scores[i] for i in ids], dtype=np.float64)
    write_npz(path, **arrays)


def _check_cached(path: Path, n_points: int | None) -> None:
    """From the headers alone (ValueError when not): labels of ``n_points`` rows, small other arrays."""
    from zerops.io.readers import check_npy_file, check_rows

    try:
        headers = check_npy_file(path)
        check_rows(headers, path, dict.fromkeys(("part", "semantic", "instance"), n_points))
    except ZeropsError as exc:
        raise ValueError(str(exc)) from None
    rest = sum(int(np.prod(s, dtype=np.float64)) * d.itemsize for k, (s, d) in headers.items()
               if k not in ("part", "semantic", "instance"))
    if rest > MAX_CACHED_EXTRA:
        raise ValueError(f"{path}: {rest:,} bytes besides the labels")


#: Most bytes a cached prediction may hold besides its labels (scores, key, fingerprint, the JSON 'extra').
MAX_CACHED_EXTRA = 64 << 20


def load_prediction(path: Path, n_points: int | None = None) -> tuple[Prediction, str, str]:
    """Read a cached prediction; returns (prediction, method key, shape fingerprint). Its headers are checked
    first (labels of ``n_points`` rows when given); ValueError for a file that is not a sane prediction."""
    from zerops.io.files import MAX_JSON_DEPTH, json_depth

    _check_cached(path, n_points)
    with np.load(path, allow_pickle=False) as z:
        extra = str(z["extra"])
        if json_depth(extra.encode("utf-8", "replace")) > MAX_JSON_DEPTH:
            raise ValueError(f"{path}: its 'extra' JSON is nested too deeply")
        scores = None
        if "score_ids" in z:
            scores = {int(i): float(s) for i, s in zip(z["score_ids"], z["score_values"])}
        pred = Prediction(
            part=z["part"],
            semantic=z["semantic"] if "semantic" in z else None,
            instance=z["instance"] if "instance" in z else None,
            instance_scores=scores,
            seconds=float(z["seconds"]),
            extra=json.loads(extra),
        )
        return pred, str(z["key"]), str(z["fingerprint"])


def check_prediction(pred: Any, shape: PartNetEShape, method: str) -> Prediction:
    """``pred`` with (N,) int64 labels in range, or a one-line error naming ``method``."""
    if not isinstance(pred, Prediction):
        raise ZeropsError(f"method '{method}' returned {type(pred).__name__}, expected a Prediction")
    n = shape.n_points
    for name in ("part", "semantic", "instance"):
        arr = getattr(pred, name)
        if arr is None:
            if name == "part":
                raise ZeropsError(f"method '{method}' returned no part labels for {shape.path}")
            continue
        arr = np.asarray(arr)
        if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
            raise ZeropsError(f"method '{method}' returned {name} labels of shape {arr.shape} ({arr.dtype}) "
                              f"for {shape.path}; expected ({n},) integers")
        top = len(shape.part_names) if name == "semantic" else n
        if n and (int(arr.min()) < -1 or int(arr.max()) >= top):
            raise ZeropsError(f"method '{method}' returned {name} labels in [{int(arr.min())}, {int(arr.max())}] "
                              f"for {shape.path}; they must lie in [-1, {top - 1}]")
        setattr(pred, name, arr.astype(np.int64, copy=False))
    if (pred.semantic is None) != (pred.instance is None):
        raise ZeropsError(f"method '{method}' must return both semantic and instance labels, or neither")
    return pred


def sane_labels(pred: Prediction, shape: PartNetEShape) -> bool:
    """Whether a cached prediction's labels fit the shape: (N,) integers in [-1, N) (semantic: below the
    number of part names)."""
    n = shape.n_points
    for name in ("part", "semantic", "instance"):
        arr = getattr(pred, name)
        if arr is None:
            if name == "part":
                return False
            continue
        top = len(shape.part_names) if name == "semantic" else n
        if (arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer)
                or (n and (int(arr.min()) < -1 or int(arr.max()) >= top))):
            return False
    return (pred.semantic is None) == (pred.instance is None)


def cached_prediction(path: Path, shape: PartNetEShape, key: str, resume: bool) -> Prediction | None:
    """The cached prediction of ``shape`` if it may be reused (same key, same cloud), else None.
    A cache made with other options raises (see the module's cache policy)."""
    if not resume or not path.is_file():
        return None
    try:
        cached, cached_key, cached_fp = load_prediction(path, shape.n_points)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error):
        return None  # unreadable (empty, truncated, corrupt): recompute
    if cached_key != key:
        raise ZeropsError(f"{path} was made with other method options; choose another output "
                          "folder or rerun without resuming")
    if cached_fp == shape_fingerprint(shape) and sane_labels(cached, shape):
        return cached
    return None


def compute_prediction(run: Method, shape: PartNetEShape, method: str, path: Path, key: str) -> Prediction:
    """Run ``run`` on ``shape``, check and time its prediction, save it to ``path`` with the run's ``key``."""
    t0 = time.perf_counter()
    pred = check_prediction(run(shape), shape, method)
    if not pred.seconds:
        pred.seconds = time.perf_counter() - t0
    save_prediction(path, pred, key, shape_fingerprint(shape))
    return pred
