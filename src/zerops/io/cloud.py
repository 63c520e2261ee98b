"""The :class:`PointCloud` container and its validation (shapes, finiteness, extent, color range)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from zerops.arrays import check_points
from zerops.errors import ZeropsError

if TYPE_CHECKING:  # pragma: no cover
    import trimesh


@dataclass
class PointCloud:
    """A point cloud, optionally sampled from a mesh.

    Attributes:
        xyz: (N, 3) float32 coordinates.
        rgb: (N, 3) float32 colors in [0, 1], or None when the input has no color information.
        normals: (N, 3) float32 unit normals, or None.
        face_index: (N,) int64 index of the mesh face each point was sampled from (mesh input only).
        mesh: the source mesh (mesh input only; scenes are flattened into one mesh in world frame).
        source: where the cloud came from (a file path), for messages.
    """

    xyz: np.ndarray
    rgb: np.ndarray | None
    normals: np.ndarray | None
    face_index: np.ndarray | None = None
    mesh: "trimesh.Trimesh | None" = None
    source: str | None = None

    def __len__(self) -> int:
        return int(self.xyz.shape[0])

    @property
    def has_colors(self) -> bool:
        return self.rgb is not None


# ----------------------------------------------------------------------------------------------- validation


def _where(source: str | os.PathLike | None) -> str:
    return f"{source}: " if source is not None else ""


def validate_cloud(
    xyz: np.ndarray,
    rgb: np.ndarray | None = None,
    normals: np.ndarray | None = None,
    source: str | os.PathLike | None = None,
) -> None:
    """Raise :class:`ZeropsError` unless ``xyz`` (N,3) is a usable cloud and rgb/normals match it.

    Checks: array shapes, empty cloud, NaN/inf coordinates, a single point, all points identical,
    colors outside [0, 1], non-finite normals.
    """
    where = _where(source)
    xyz = check_points(xyz, min_points=1, finite=False, where=where)
    n = xyz.shape[0]
    bad = ~np.isfinite(xyz).all(axis=1)
    if bad.any():
        raise ZeropsError(
            f"{where}{int(bad.sum())} of {n} points have NaN or infinite coordinates; remove them first"
        )
    if float(np.abs(xyz).max()) > float(np.finfo(np.float32).max):
        raise ZeropsError(f"{where}coordinates exceed the float32 range; rescale the cloud")
    if n == 1:
        raise ZeropsError(f"{where}the point cloud has a single point; at least 2 distinct points are needed")
    if float(np.ptp(xyz, axis=0).max()) == 0.0:
        raise ZeropsError(f"{where}all {n} points are identical; the cloud has no extent")
    for name, arr in (("colors", rgb), ("normals", normals)):
        if arr is None:
            continue
        arr = np.asarray(arr)
        if arr.shape != (n, 3):
            raise ZeropsError(f"{where}{name} must have shape ({n}, 3) to match the points, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ZeropsError(f"{where}{name} contain NaN or infinite values")
    if rgb is not None:
        lo, hi = float(np.min(rgb)), float(np.max(rgb))
        if lo < 0.0 or hi > 1.0 + 1e-6:
            raise ZeropsError(
                f"{where}colors out of range [{lo:g}, {hi:g}]; expected 0-1 floats or 0-255 integers"
            )


def colors_to_unit(values: np.ndarray, source: str | os.PathLike | None = None) -> np.ndarray:
    """Convert (N,3) colors to float32 in [0,1].

    uint8 -> /255, uint16 -> /65535; floats whose maximum exceeds 1 are read as 0-255 values.
    Anything negative or above 255 raises :class:`ZeropsError`.
    """
    values = np.asarray(values)
    where = _where(source)
    if values.size == 0:
        return values.astype(np.float32)
    if values.dtype == np.uint8:
        return values.astype(np.float32) / 255.0
    if values.dtype == np.uint16:
        return values.astype(np.float32) / 65535.0
    vals = values.astype(np.float64)
    if not np.isfinite(vals).all():
        raise ZeropsError(f"{where}colors contain NaN or infinite values")
    lo, hi = float(vals.min()), float(vals.max())
    if lo < 0.0 or hi > 255.0:
        raise ZeropsError(
            f"{where}colors out of range [{lo:g}, {hi:g}]; expected 0-1 floats or 0-255 integers"
        )
    if hi > 1.0:
        vals = vals / 255.0
    return vals.astype(np.float32)


def unit_normals(normals: np.ndarray) -> np.ndarray:
    """(N,3) -> float32 unit vectors; zero vectors stay zero."""
    normals = np.asarray(normals, dtype=np.float64)
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def make_cloud(
    xyz: np.ndarray,
    rgb: np.ndarray | None = None,
    normals: np.ndarray | None = None,
    source: str | os.PathLike | None = None,
    **extra: Any,
) -> PointCloud:
    """Validate and build a :class:`PointCloud` (xyz float32, colors already in [0,1], normals made unit)."""
    xyz = np.asarray(xyz)
    validate_cloud(xyz, rgb, normals, source=source)
    return PointCloud(
        xyz=np.ascontiguousarray(xyz, dtype=np.float32),
        rgb=None if rgb is None else np.ascontiguousarray(rgb, dtype=np.float32),
        normals=None if normals is None else unit_normals(normals),
        source=None if source is None else str(source),
        **extra,
    )


def cloud_from_array(arr: np.ndarray, source: str | os.PathLike | None = None) -> PointCloud:
    """(N,3) xyz, (N,6) xyz+rgb or (N,9) xyz+rgb+normals -> :class:`PointCloud` (0-255 colors detected)."""
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[1] not in (3, 6, 9):
        raise ZeropsError(
            f"{_where(source)}expected an array of shape (N, 3) xyz, (N, 6) xyz+rgb or (N, 9) "
            f"xyz+rgb+normals, got {arr.shape}"
        )
    if arr.dtype.kind not in "iuf":        # not bool, complex, dates or time spans (numpy counts those numbers)
        raise ZeropsError(f"{_where(source)}expected a numeric array, got dtype {arr.dtype}")
    xyz = arr[:, :3]
    rgb = colors_to_unit(arr[:, 3:6], source) if arr.shape[1] >= 6 else None
    normals = arr[:, 6:9] if arr.shape[1] == 9 else None
    return make_cloud(xyz, rgb, normals, source=source)
