"""Text point clouds: whitespace/comma separated columns ``x y z [r g b] [nx ny nz]``, and the one parser of
numeric text rows (also used for PCD ascii data)."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from zerops.errors import ZeropsError
from zerops.io.cloud import PointCloud, cloud_from_array
from zerops.limits import MAX_POINTS

__all__ = ["parse_rows", "read_columns"]


def parse_rows(lines: Sequence[str], path: Path, what: str) -> np.ndarray:
    """(R, C) float64 from R text rows of numbers, or a one-line error ``"{path}: {what} (...)"``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")           # numpy's "empty input" / "ragged" warnings
            return np.loadtxt(lines, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ZeropsError(f"{path}: {what} ({' '.join(str(exc).split())[:200]})") from None


def read_columns(path: Path, n_points: int = 10000, seed: int = 0) -> PointCloud:
    """Text columns ``x y z [r g b] [nx ny nz]`` separated by spaces, tabs or commas; '#' comments."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")   # a byte-order mark is not data
    except OSError as exc:
        raise ZeropsError(f"{path}: cannot read ({exc})") from None
    lines = [ln for ln in text.replace(",", " ").replace(";", " ").splitlines()
             if ln.strip() and not ln.lstrip().startswith(("#", "//"))]
    if lines and not _is_numeric_row(lines[0]):
        lines = lines[1:]  # a column-name header line
    if len(lines) > MAX_POINTS:
        raise ZeropsError(f"{path}: holds {len(lines):,} rows; zerops reads at most {MAX_POINTS:,} points")
    if not lines:
        raise ZeropsError(f"{path}: the point cloud is empty (0 points)")
    arr = parse_rows(lines, path, "not numeric columns")
    if arr.size == 0:
        raise ZeropsError(f"{path}: the point cloud is empty (0 points)")
    return cloud_from_array(arr, source=path)


def _is_numeric_row(line: str) -> bool:
    try:
        [float(v) for v in line.split()]
    except ValueError:
        return False
    return True
