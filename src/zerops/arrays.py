"""Validation of the arrays that cross module boundaries: (N, 3) point coordinates and (N,) integer labels.

Every module that takes points from a caller checks them here, so a bad array gives the same one-line
:class:`~zerops.errors.ZeropsError` wherever it enters.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from zerops.errors import ZeropsError

__all__ = ["check_points", "check_labels"]


def check_points(xyz: Any, *, min_points: int = 0, dtype: Any = None, finite: bool = True,
                 what: str = "point coordinates", where: str = "") -> np.ndarray:
    """``xyz`` as an (N, 3) number array, or a one-line error.

    Args:
        xyz: anything ``np.asarray`` takes.
        min_points: the fewest rows allowed (0 = an empty array is fine).
        dtype: cast to this dtype (None = keep the input's).
        finite: also refuse NaN / inf coordinates.
        what, where: how the error names the array and its source (``where`` ends in ": " when given).
    Returns:
        (N, 3) array (a view when no cast is needed).
    """
    try:
        arr = np.asarray(xyz)
    except (TypeError, ValueError) as exc:
        raise ZeropsError(f"{where}{what} must be a numeric (N, 3) array ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ZeropsError(f"{where}{what} must have shape (N, 3), got {arr.shape}")
    if arr.dtype.kind not in "iuf":        # not bool, complex, dates or time spans (numpy counts those numbers)
        raise ZeropsError(f"{where}{what} must be numbers, got dtype {arr.dtype}")
    if arr.shape[0] < min_points:
        if arr.shape[0] == 0:
            raise ZeropsError(f"{where}the point cloud is empty (0 points)")
        raise ZeropsError(f"{where}need at least {min_points} point(s), got {arr.shape[0]}")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    if finite and not np.isfinite(arr).all():
        raise ZeropsError(f"{where}{what} contain NaN or inf; remove those points first")
    return arr


def check_labels(labels: Any, n: int | None = None, *, what: str = "labels", where: str = "") -> np.ndarray:
    """``labels`` as an (N,) integer array (of length ``n`` when given), or a one-line error."""
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":      # a timedelta64 is an integer to numpy
        raise ZeropsError(f"{where}{what} must be an (N,) integer array, got shape {arr.shape} dtype {arr.dtype}")
    if n is not None and arr.shape[0] != n:
        raise ZeropsError(f"{where}{what} must have shape ({n},), got {arr.shape}")
    return arr
