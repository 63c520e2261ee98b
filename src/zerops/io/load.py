"""Loading any supported file (or array, trimesh object, PointCloud) as a validated :class:`PointCloud`.

Format readers live in :mod:`zerops.io.readers` (PLY, PCD, NPY/NPZ, XYZ/TXT) and :mod:`zerops.io.mesh`
(meshes sampled to points); this module dispatches on the file extension.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from zerops.errors import ZeropsError
from zerops.io import mesh as meshio
from zerops.io import readers
from zerops.io.cloud import PointCloud, cloud_from_array, validate_cloud


def load_cloud(path: str | os.PathLike, n_points: int = 10000, seed: int = 0) -> PointCloud:
    """Load a point cloud or mesh file as a :class:`PointCloud`.

    Point clouds (.ply without faces, .pcd, .npy, .npz, .xyz, .txt, .csv, .pts) are returned as stored.
    Meshes (.obj, .glb, .gltf, .stl, .off, .ply with faces, ...) are sampled area-uniformly to
    ``n_points`` points (deterministic for ``seed``). A PartNetE shape folder loads its ``pc.ply``.
    """
    p = Path(path)
    if p.is_dir() and (p / "pc.ply").is_file():
        p = p / "pc.ply"
    if not p.exists():
        raise ZeropsError(f"{p}: file not found")
    if p.is_dir():
        raise ZeropsError(f"{p}: is a folder, expected a point cloud or mesh file")
    from zerops.io.files import check_regular

    check_regular(p)                        # a named pipe or a device would block the read or never end
    ext = p.suffix.lower()
    # a malformed file may hold NaN / huge values: casting them must not print numpy warnings, since
    # validate_cloud turns them into one error line
    with np.errstate(all="ignore"):
        if ext in readers.CLOUD_EXTENSIONS:
            return readers.read_cloud_file(p, n_points=n_points, seed=seed)
        if ext in meshio.MESH_EXTENSIONS:
            return meshio.load_mesh_cloud(p, n_points=n_points, seed=seed)
    supported = sorted(set(readers.CLOUD_EXTENSIONS) | set(meshio.MESH_EXTENSIONS))
    raise ZeropsError(f"{p}: unknown file extension '{p.suffix}'; supported: {' '.join(supported)}")


def as_cloud(obj: Any, n_points: int = 10000, seed: int = 0) -> PointCloud:
    """Coerce ``obj`` (PointCloud, (N,3|6|9) array, trimesh object or path) into a validated PointCloud."""
    if isinstance(obj, PointCloud):
        validate_cloud(obj.xyz, obj.rgb, obj.normals, source=obj.source)
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return load_cloud(obj, n_points=n_points, seed=seed)
    if isinstance(obj, np.ndarray):
        return cloud_from_array(obj)
    if type(obj).__module__.startswith("trimesh"):
        return meshio.cloud_from_trimesh(obj, n_points=n_points, seed=seed)
    raise ZeropsError(
        f"cannot make a point cloud from {type(obj).__name__}; pass a PointCloud, an (N, 3) array, "
        "a trimesh object or a file path"
    )
