"""Text point clouds: whitespace/comma separated columns ``x y z [r g b] [nx ny nz]``, and the one parser of
numeric text rows (also used for PCD ascii data)."""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import BinaryIO, Sequence

import numpy as np

from zerops.errors import ZeropsError
from zerops.io.cloud import PointCloud, cloud_from_array
from zerops.limits import MAX_POINTS, MAX_TEXT_LINE

__all__ = ["count_text_rows", "parse_rows", "read_columns"]
_SLACK_LINES = 10_000            # comment and header lines a text cloud may hold besides its points
_BLOCK = 1 << 24                 # bytes of text parsed at a time


def _rows_in(body: bytes) -> int:
    """Lines of ``body`` holding something other than whitespace."""
    lines = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
    blank = len(re.findall(rb"(?m)^[ \t\r\f\v]*(?:\n|\Z)", body))
    if body.endswith(b"\n") or not body:
        blank -= 1          # the empty "line" after the final newline
    return lines - blank


def count_text_rows(fh: BinaryIO, path: Path, stop_after: int | None = None) -> int:
    """Non-blank lines from ``fh``'s position to its end, read 16 MiB at a time (memory stays bounded);
    stops counting once past ``stop_after``. A line longer than MAX_TEXT_LINE is an error."""
    rows, carry = 0, b""
    while True:
        chunk = fh.read(1 << 24)
        data = carry + chunk
        cut = data.rfind(b"\n") + 1 if chunk else len(data)
        rows += _rows_in(data[:cut])
        carry = data[cut:]
        if len(carry) > MAX_TEXT_LINE:
            raise ZeropsError(f"{path}: a line longer than {MAX_TEXT_LINE:,} bytes; not a point cloud of text rows")
        if not chunk or (stop_after is not None and rows > stop_after):
            return rows


def parse_rows(lines: Sequence[str], path: Path, what: str) -> np.ndarray:
    """(R, C) float64 from R text rows of numbers, or a one-line error ``"{path}: {what} (...)"``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")           # numpy's "empty input" / "ragged" warnings
            return np.loadtxt(lines, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ZeropsError(f"{path}: {what} ({' '.join(str(exc).split())[:200]})") from None


def read_columns(path: Path, n_points: int = 10000, seed: int = 0) -> PointCloud:
    """Text columns ``x y z [r g b] [nx ny nz]`` separated by spaces, tabs or commas; '#' comments.

    The lines are counted (16 MiB at a time) before the file is read: more than MAX_POINTS rows (and a few
    comment lines) is refused without reading the text into memory. The rows are then parsed 16 MiB of text
    at a time, so the peak is the numbers plus one block of text."""
    blocks: list[np.ndarray] = []
    rows, header_seen = 0, False
    try:
        with open(path, "rb") as fh:
            counted = count_text_rows(fh, path, stop_after=MAX_POINTS + _SLACK_LINES)
        if counted > MAX_POINTS + _SLACK_LINES:
            raise ZeropsError(f"{path}: holds more than {MAX_POINTS + _SLACK_LINES:,} lines; zerops reads at most "
                              f"{MAX_POINTS:,} points")
        with open(path, encoding="utf-8-sig", errors="replace") as fh:      # a byte-order mark is not data
            while block := fh.readlines(_BLOCK):
                lines = [ln for ln in "".join(block).replace(",", " ").replace(";", " ").splitlines()
                         if ln.strip() and not ln.lstrip().startswith(("#", "//"))]
                if lines and not header_seen:
                    header_seen = True
                    if not _is_numeric_row(lines[0]):
                        lines = lines[1:]  # a column-name header line
                rows += len(lines)
                if rows > MAX_POINTS:
                    raise ZeropsError(f"{path}: holds more than {MAX_POINTS:,} rows; zerops reads at most "
                                      f"{MAX_POINTS:,} points")
                if lines:
                    blocks.append(parse_rows(lines, path, "not numeric columns"))
    except OSError as exc:
        raise ZeropsError(f"{path}: cannot read ({exc})") from None
    if not blocks:
        raise ZeropsError(f"{path}: the point cloud is empty (0 points)")
    widths = sorted({b.shape[1] for b in blocks})
    if len(widths) > 1:
        raise ZeropsError(f"{path}: not numeric columns (rows of {' and '.join(map(str, widths))} columns)")
    arr = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    del blocks
    if arr.size == 0:
        raise ZeropsError(f"{path}: the point cloud is empty (0 points)")
    return cloud_from_array(arr, source=path)


def _is_numeric_row(line: str) -> bool:
    try:
        [float(v) for v in line.split()]
    except ValueError:
        return False
    return True
