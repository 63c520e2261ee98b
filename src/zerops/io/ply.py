"""Writing point clouds and segmentation results as PLY (through plyfile), atomically."""
from __future__ import annotations

import io
import os

import numpy as np
from plyfile import PlyData, PlyElement

from zerops.arrays import check_labels, check_points
from zerops.errors import ZeropsError
from zerops.io.files import write_bytes
from zerops.io.palette import part_colors

__all__ = ["ply_bytes", "write_cloud_ply", "write_result_ply"]


def _rgb_uint8(rgb: np.ndarray, n: int) -> np.ndarray:
    """(n, 3) colors as uint8: uint8 kept, other integers checked to 0-255, floats in [0, 1] scaled."""
    rgb = np.asarray(rgb)
    if rgb.shape != (n, 3):
        raise ZeropsError(f"colors must have shape ({n}, 3), got {rgb.shape}")
    if rgb.dtype == np.uint8:
        return rgb
    if np.issubdtype(rgb.dtype, np.integer):
        if rgb.min() < 0 or rgb.max() > 255:
            raise ZeropsError("integer colors must lie in 0-255")
        return rgb.astype(np.uint8)
    rgb = rgb.astype(np.float64)
    if not np.isfinite(rgb).all() or rgb.min() < 0.0 or rgb.max() > 1.0 + 1e-6:
        raise ZeropsError("float colors must lie in [0, 1]; pass uint8 for 0-255 colors")
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


def _vertex_table(xyz: np.ndarray, rgb: np.ndarray | None, normals: np.ndarray | None,
                  int_props: dict[str, np.ndarray]) -> np.ndarray:
    """The (N,) structured vertex array: x y z float32, [nx ny nz float32], [red green blue uint8], int32 props."""
    xyz = check_points(xyz, finite=False)
    n = xyz.shape[0]
    cols: list[tuple[str, str, np.ndarray]] = [(c, "<f4", xyz[:, i]) for i, c in enumerate("xyz")]
    if normals is not None:
        normals = np.asarray(normals)
        if normals.shape != (n, 3):
            raise ZeropsError(f"normals must have shape ({n}, 3), got {normals.shape}")
        cols += [(c, "<f4", normals[:, i]) for i, c in enumerate(("nx", "ny", "nz"))]
    if rgb is not None:
        rgb8 = _rgb_uint8(rgb, n)
        cols += [(c, "u1", rgb8[:, i]) for i, c in enumerate(("red", "green", "blue"))]
    for name, values in int_props.items():
        if not name.isidentifier() or name in {c[0] for c in cols}:
            raise ZeropsError(f"PLY property name '{name}' is invalid or clashes with a coordinate/color property")
        values = np.asarray(values)
        if values.shape != (n,) or not np.issubdtype(values.dtype, np.integer):
            raise ZeropsError(f"PLY property '{name}' must be an (N,) integer array with N={n}, got {values.shape}")
        if n and (values.min() < -(2**31) or values.max() >= 2**31):
            raise ZeropsError(f"PLY property '{name}' does not fit in 32-bit integers")
        cols.append((name, "<i4", values))
    table = np.empty(n, dtype=[(name, dt) for name, dt, _ in cols])
    for name, _, values in cols:
        table[name] = values
    return table


def ply_bytes(xyz: np.ndarray, rgb: np.ndarray | None = None, normals: np.ndarray | None = None,
              binary: bool = True, **int_props: np.ndarray) -> bytes:
    """A cloud serialized as PLY (x y z float, [nx ny nz float], [red green blue uchar], int props).

    Args:
        xyz: (N, 3) coordinates (stored float32). rgb: (N, 3) floats in [0, 1] or uint8, or None.
        normals: (N, 3) or None. binary: binary little-endian (default) or ascii.
        int_props: extra per-vertex int32 properties, name -> (N,) integer array.
    """
    table = _vertex_table(xyz, rgb, normals, int_props)
    ply = PlyData([PlyElement.describe(table, "vertex")], text=not binary, byte_order="<",
                  comments=["written by zerops"])
    buf = io.BytesIO()
    ply.write(buf)
    return buf.getvalue()


def write_cloud_ply(path: str | os.PathLike, xyz: np.ndarray, rgb: np.ndarray | None = None, binary: bool = True,
                    normals: np.ndarray | None = None, **int_props: np.ndarray) -> None:
    """Atomically write a PLY point cloud (arguments as :func:`ply_bytes`)."""
    write_bytes(path, ply_bytes(xyz, rgb, normals=normals, binary=binary, **int_props))


def write_result_ply(path: str | os.PathLike, xyz: np.ndarray, part: np.ndarray, semantic: np.ndarray | None = None,
                     instance: np.ndarray | None = None) -> None:
    """Atomically write a segmentation result: points colored by ``part`` (-1 gray) with int properties
    ``part`` and, when given, ``semantic`` and ``instance`` (all (N,) integer arrays)."""
    n = len(np.asarray(xyz))
    props = {"part": np.asarray(part)}
    if semantic is not None:
        props["semantic"] = np.asarray(semantic)
    if instance is not None:
        props["instance"] = np.asarray(instance)
    for name, values in props.items():
        if values.shape != (n,):
            raise ZeropsError(f"'{name}' labels must have shape ({n},), got {values.shape}")
    write_cloud_ply(path, xyz, part_colors(check_labels(props["part"], n, what="'part' labels")), binary=True, **props)
