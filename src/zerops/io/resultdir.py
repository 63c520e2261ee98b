"""Reading a result folder written by ``zerops segment`` (:func:`zerops.output.write_segment_outputs`).

``load_result(folder)`` checks the folder and returns a :class:`ResultDir` with the per-point arrays of
``parts.npz`` and the parsed ``summary.json``. Every problem (missing folder or file, corrupt file, wrong array
shapes, a result format this zerops does not read) raises :class:`~zerops.errors.ZeropsError` with one line.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zerops.arrays import check_points
from zerops.errors import ZeropsError
from zerops.io.files import load_json
from zerops.limits import MAX_POINTS

#: The result format this module reads (the same number :mod:`zerops.output` writes; kept here so reading a
#: result does not import the pipeline).
READS_FORMAT = 1

GROUPINGS = ("part", "semantic", "instance")


@dataclass
class Entry:
    """One group of points in a grouping (a part, a class or an instance).

    ``name`` is for people ("leg", "part 3", "leg 5"), ``label`` is file- and node-safe ("leg_3", "part_3",
    "leg"), ``cls`` the class name (None when unnamed), ``points`` its point count.
    """

    id: int
    name: str
    label: str
    points: int
    cls: str | None = None


@dataclass
class ResultDir:
    """A loaded result folder.

    Attributes:
        xyz: (N, 3) float32 point coordinates (the input's frame).
        part: (N,) int64 class-agnostic part id, −1 unassigned.
        semantic / instance: (N,) int64 class index into ``part_names`` / instance id (−1 none), or None when
            the parts were not named.
        part_names: the class names (empty without naming).
        summary: the parsed ``summary.json``.
        path: the folder.
    """

    xyz: np.ndarray
    part: np.ndarray
    semantic: np.ndarray | None
    instance: np.ndarray | None
    part_names: list[str]
    summary: dict[str, Any]
    path: Path
    _part_class: list[str | None] = field(default_factory=list, repr=False)
    levels: np.ndarray | None = None      # (L, N) part labels coarse to fine (graph preset), or None
    level_chosen: int = 0                 # which level is ``part``

    # ------------------------------------------------------------------------------------------ basics
    @property
    def n_points(self) -> int:
        return int(self.xyz.shape[0])

    @property
    def n_parts(self) -> int:
        """Parts listed in summary.json (or the largest part id + 1 when that is larger)."""
        parts = self.summary.get("parts")
        listed = len(parts) if isinstance(parts, list) else 0
        top = int(self.part.max()) + 1 if self.part.size else 0
        return max(listed, top)

    @property
    def named(self) -> bool:
        return self.semantic is not None and bool(self.part_names)

    @property
    def source(self) -> str | None:
        src = self.summary.get("source")
        return str(src) if src else None

    def part_class_name(self, k: int) -> str | None:
        """The class name part ``k`` was labelled with, or None (unnamed result or unlabelled part)."""
        if not self._part_class:
            self._part_class = self._compute_part_classes()
        return self._part_class[k] if 0 <= k < len(self._part_class) else None

    def _compute_part_classes(self) -> list[str | None]:
        labels = self.summary.get("part_labels")
        if isinstance(labels, list) and len(labels) == self.n_parts:
            return [str(x) if x else None for x in labels]
        out: list[str | None] = [None] * self.n_parts
        if not self.named:
            return out
        for k in range(self.n_parts):       # fallback: the majority class of the part's points
            sem = self.semantic[(self.part == k) & (self.semantic >= 0)]
            if sem.size:
                out[k] = self.part_names[int(np.bincount(sem).argmax())]
        return out

    # ------------------------------------------------------------------------------------------ groupings
    def available_groupings(self) -> list[str]:
        out = ["part"]
        if self.semantic is not None and self.part_names:
            out.append("semantic")
        if self.instance is not None:
            out.append("instance")
        return out

    def labels(self, by: str = "part") -> np.ndarray:
        """(N,) int64 labels of the grouping ``by`` (part, semantic or instance), −1 none."""
        if by not in GROUPINGS:
            raise ZeropsError(f"unknown grouping '{by}'; use one of {', '.join(GROUPINGS)}")
        if by not in self.available_groupings():
            raise ZeropsError(f"the result in {self.path} has no {by} labels (its parts were not named); "
                              "use --by part")
        return {"part": self.part, "semantic": self.semantic, "instance": self.instance}[by]

    def entries(self, by: str = "part") -> list[Entry]:
        """The groups of grouping ``by`` in id order: every part / every class / every instance present."""
        labels = self.labels(by)
        counts = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(0, dtype=np.int64)
        if by == "part":
            ids = range(self.n_parts)
        elif by == "semantic":
            ids = range(len(self.part_names))
        else:
            ids = [int(i) for i in np.flatnonzero(counts)]
        out = []
        for i in ids:
            n = int(counts[i]) if i < len(counts) else 0
            if by == "part":
                cls = self.part_class_name(i)
                name, label = (cls, f"{cls}_{i}") if cls else (f"part {i}", f"part_{i}")
            elif by == "semantic":
                cls = name = label = self.part_names[i]
            else:
                sem = self.semantic[self.instance == i] if self.semantic is not None else np.zeros(0, np.int64)
                sem = sem[sem >= 0]
                cls = self.part_names[int(np.bincount(sem).argmax())] if sem.size and self.part_names else None
                name, label = (f"{cls} {i}", f"{cls}_{i}") if cls else (f"instance {i}", f"instance_{i}")
            out.append(Entry(id=int(i), name=name, label=safe_name(label), points=n, cls=cls))
        return out


def safe_name(text: str) -> str:
    """A file- and node-safe version of ``text``: runs of anything but letters, digits, '-' and '.' become '_'."""
    out = re.sub(r"[^A-Za-z0-9.\-]+", "_", str(text)).strip("_.")
    return out or "unnamed"


# ----------------------------------------------------------------------------------------------- loading
#: The arrays a result's parts.npz holds (others are never unpacked) and the most hierarchy levels it may store.
RESULT_ARRAYS = ("xyz", "part", "semantic", "instance", "part_names", "levels", "level_chosen")
MAX_LEVELS = 64


def _check_declared(headers: dict, path: Path) -> None:
    """From the headers alone: 'xyz' declares at most MAX_POINTS rows and every other array fits it."""
    from zerops.io.readers import check_rows

    check_rows(headers, path, {"xyz": None})
    n = headers["xyz"][0][0] if "xyz" in headers and headers["xyz"][0] else None
    for key in ("part", "semantic", "instance"):
        if key in headers and n is not None and headers[key][0] != (n,):
            raise ZeropsError(f"'{key}' must be an ({n},) integer array to match 'xyz', got shape "
                              f"{headers[key][0]}; nothing was unpacked")
    check_rows(headers, path, {"part_names": None})
    if "levels" in headers:
        shape = headers["levels"][0]
        if len(shape) != 2 or shape[0] > MAX_LEVELS or (n is not None and shape[1] != n) or shape[1] > MAX_POINTS:
            raise ZeropsError(f"{path}: the array 'levels' declares the shape {shape}, not (at most {MAX_LEVELS}, "
                              f"{n}); nothing was unpacked")
    if "part_names" in headers and headers["part_names"][1].itemsize > 4 * 1024:
        raise ZeropsError(f"{path}: 'part_names' declares names of {headers['part_names'][1].itemsize:,} bytes")


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    from zerops.io.readers import NPY_ERRORS, check_npy_file

    try:
        _check_declared(check_npy_file(path), path)
    except OSError as exc:
        raise ZeropsError(f"{path}: cannot read the result arrays ({exc.strerror or exc})") from None
    except ZeropsError as exc:
        why = str(exc).removeprefix(f"{path}: ")
        raise ZeropsError(f"{path}: cannot read the result arrays ({why}); run `zerops segment` again") from None
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):        # a .npy named parts.npz
            raise ValueError("a single array, not an .npz archive")
        with data:
            return {k: np.asarray(data[k]) for k in data.files if k in RESULT_ARRAYS}
    except NPY_ERRORS as exc:
        msg = " ".join(str(exc).split())[:160]
        raise ZeropsError(f"{path}: cannot read the result arrays ({type(exc).__name__}: {msg}); "
                          "run `zerops segment` again") from None


# complexity: a loader: one check per file and field of a result folder
def load_result(folder: str | os.PathLike) -> ResultDir:  # noqa: C901
    """Load and check a result folder (``parts.npz`` + ``summary.json``).

    Long: one check per file and field of a result folder, in order.
    """
    path = Path(folder)
    if not path.exists():
        raise ZeropsError(f"{path}: result folder not found")
    if not path.is_dir():
        raise ZeropsError(f"{path}: is not a folder; give the --out folder of `zerops segment`")
    for name in ("summary.json", "parts.npz"):
        if not (path / name).is_file():
            raise ZeropsError(f"{path}: not a zerops result folder ({name} is missing); "
                              "give the --out folder of `zerops segment`")
    try:
        summary = load_json(path / "summary.json")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ZeropsError(f"{path / 'summary.json'}: cannot read it ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:160]})") from None
    if not isinstance(summary, dict):
        raise ZeropsError(f"{path / 'summary.json'}: expected a JSON object, got {type(summary).__name__}")
    fmt = summary.get("format")
    if type(fmt) is not int or fmt != READS_FORMAT:
        made = summary.get("zerops_version") or "unknown"
        raise ZeropsError(f"{path}: made by zerops {made} with result format {fmt}; "
                          f"this zerops reads format {READS_FORMAT}")
    points = summary.get("points")
    if isinstance(points, int) and not 0 < points <= MAX_POINTS:
        raise ZeropsError(f"{path / 'summary.json'}: says {points:,} points; zerops reads results of 1 to "
                          f"{MAX_POINTS:,} points")
    arrays = _npz_arrays(path / "parts.npz")
    where = path / "parts.npz"
    for key in ("xyz", "part"):
        if key not in arrays:
            raise ZeropsError(f"{where}: the array '{key}' is missing; run `zerops segment` again")
    xyz = check_points(arrays["xyz"], what="'xyz'", where=f"{where}: ")
    n = xyz.shape[0]
    if n == 0:
        raise ZeropsError(f"{where}: the result has no points")

    def labels(key: str) -> np.ndarray | None:
        if key not in arrays:
            return None
        arr = arrays[key]
        if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
            raise ZeropsError(f"{where}: '{key}' must be an ({n},) integer array to match 'xyz', got shape "
                              f"{arr.shape} dtype {arr.dtype}")
        if arr.size and int(arr.min()) < -1:
            raise ZeropsError(f"{where}: '{key}' has ids below -1")
        if arr.size and int(arr.max()) >= n:      # every id names a group of points: fewer groups than points
            raise ZeropsError(f"{where}: '{key}' has the id {int(arr.max())}, but ids must be below the number "
                              f"of points ({n}); the file is corrupt")
        return arr.astype(np.int64)

    part_arr = labels("part")
    semantic, instance = labels("semantic"), labels("instance")
    names: list[str] = []
    if "part_names" in arrays:
        pn = arrays["part_names"]
        if pn.ndim != 1 or pn.dtype.kind not in "US":
            raise ZeropsError(f"{where}: 'part_names' must be a 1-D string array, got shape {pn.shape} "
                              f"dtype {pn.dtype}")
        names = [str(x) for x in pn.tolist()]
    if semantic is not None and semantic.size and int(semantic.max()) >= len(names):
        raise ZeropsError(f"{where}: 'semantic' refers to class {int(semantic.max())} but only {len(names)} "
                          "part names are stored")
    listed = summary.get("parts")
    if isinstance(listed, list) and len(listed) > n:
        raise ZeropsError(f"{path / 'summary.json'}: lists {len(listed)} parts for {n} points; the file is corrupt")
    labels_list = summary.get("part_labels")
    if isinstance(labels_list, list) and len(labels_list) > n:
        raise ZeropsError(f"{path / 'summary.json'}: lists {len(labels_list)} part labels for {n} points")
    if len(names) > n:
        raise ZeropsError(f"{where}: stores {len(names)} part names for {n} points; the file is corrupt")
    points = summary.get("points")
    if isinstance(points, int) and points != n:
        raise ZeropsError(f"{path}: summary.json says {points} points but parts.npz holds {n}; "
                          "the folder mixes two runs")
    assert part_arr is not None
    levels, chosen = None, 0
    if "levels" in arrays:
        lv = arrays["levels"]
        if (lv.ndim != 2 or lv.shape[1] != n or not np.issubdtype(lv.dtype, np.integer)
                or (lv.size and (int(lv.min()) < 0 or int(lv.max()) >= n))):
            raise ZeropsError(f"{where}: 'levels' must be an (L, {n}) integer array of part ids in [0, {n}); "
                              "the file is corrupt")
        chosen = int(np.asarray(arrays.get("level_chosen", 0)))
        if not 0 <= chosen < len(lv):
            raise ZeropsError(f"{where}: 'level_chosen' {chosen} is not one of the {len(lv)} levels")
        levels = lv.astype(np.int32)
    return ResultDir(xyz=np.ascontiguousarray(xyz, dtype=np.float32), part=part_arr, semantic=semantic,
                     instance=instance, part_names=names, summary=summary, path=path, levels=levels,
                     level_chosen=chosen)
