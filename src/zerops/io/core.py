"""Point-cloud input and output: the :class:`PointCloud` container, validation, loading and atomic writers.

Format readers live in :mod:`zerops.io.readers` (PLY, PCD, NPY/NPZ, XYZ/TXT) and :mod:`zerops.io.mesh`
(meshes sampled to points). Every writer here is atomic: it writes a temporary file in the target's
directory and renames it onto the target, so an interrupted run never leaves a truncated output.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

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
    xyz = np.asarray(xyz)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ZeropsError(f"{where}point coordinates must have shape (N, 3), got {xyz.shape}")
    if not (np.issubdtype(xyz.dtype, np.floating) or np.issubdtype(xyz.dtype, np.integer)):
        raise ZeropsError(f"{where}point coordinates must be numbers, got dtype {xyz.dtype}")
    n = xyz.shape[0]
    if n == 0:
        raise ZeropsError(f"{where}the point cloud is empty (0 points)")
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
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ZeropsError(f"{_where(source)}expected a numeric array, got dtype {arr.dtype}")
    xyz = arr[:, :3]
    rgb = colors_to_unit(arr[:, 3:6], source) if arr.shape[1] >= 6 else None
    normals = arr[:, 6:9] if arr.shape[1] == 9 else None
    return make_cloud(xyz, rgb, normals, source=source)


# ----------------------------------------------------------------------------------------------- loading


def load_cloud(path: str | os.PathLike, n_points: int = 10000, seed: int = 0) -> PointCloud:
    """Load a point cloud or mesh file as a :class:`PointCloud`.

    Point clouds (.ply without faces, .pcd, .npy, .npz, .xyz, .txt, .csv, .pts) are returned as stored.
    Meshes (.obj, .glb, .gltf, .stl, .off, .ply with faces, ...) are sampled area-uniformly to
    ``n_points`` points (deterministic for ``seed``). A PartNetE shape folder loads its ``pc.ply``.
    """
    from zerops.io import mesh as meshio, readers

    p = Path(path)
    if p.is_dir() and (p / "pc.ply").is_file():
        p = p / "pc.ply"
    if not p.exists():
        raise ZeropsError(f"{p}: file not found")
    if p.is_dir():
        raise ZeropsError(f"{p}: is a folder, expected a point cloud or mesh file")
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
        from zerops.io import mesh as meshio

        return meshio.cloud_from_trimesh(obj, n_points=n_points, seed=seed)
    raise ZeropsError(
        f"cannot make a point cloud from {type(obj).__name__}; pass a PointCloud, an (N, 3) array, "
        "a trimesh object or a file path"
    )


# ----------------------------------------------------------------------------------------------- writing


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``, on error remove it.

    The parent folder is created if needed. The temporary file is not created in advance; its name
    keeps the target's suffix (``.out.png`` -> ``.out.<pid>.<random>.tmp.png``) so writers that pick
    a format from the extension (PIL, ``np.save``) work on it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{target.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise ZeropsError(f"{target}: nothing was written")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def json_dumps(obj: Any, sort_keys: bool = False, indent: int | None = 2) -> str:
    """JSON text for ``obj`` (numpy arrays/scalars and paths converted), ending in a newline."""
    try:
        return json.dumps(obj, sort_keys=sort_keys, indent=indent, default=_json_default, allow_nan=True) + "\n"
    except TypeError as exc:
        raise ZeropsError(f"cannot write JSON: {exc}") from None


def write_json(path: str | os.PathLike, obj: Any, sort_keys: bool = False, indent: int | None = 2) -> None:
    """Atomically write ``obj`` as JSON (numpy values converted to Python)."""
    text = json_dumps(obj, sort_keys=sort_keys, indent=indent)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_npz(path: str | os.PathLike, compressed: bool = True, **arrays: np.ndarray) -> None:
    """Atomically write named arrays to an .npz file (no pickled objects)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            (np.savez_compressed if compressed else np.savez)(f, **{k: np.asarray(v) for k, v in arrays.items()})


def _rgb_uint8(rgb: np.ndarray, n: int) -> np.ndarray:
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


def ply_bytes(
    xyz: np.ndarray,
    rgb: np.ndarray | None = None,
    normals: np.ndarray | None = None,
    binary: bool = True,
    **int_props: np.ndarray,
) -> bytes:
    """Serialize a cloud as PLY (x y z float, [nx ny nz float], [red green blue uchar], int props)."""
    xyz = np.asarray(xyz)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ZeropsError(f"point coordinates must have shape (N, 3), got {xyz.shape}")
    n = xyz.shape[0]
    fields: list[tuple[str, str, str, np.ndarray]] = [
        (c, "float", "<f4", xyz[:, i]) for i, c in enumerate("xyz")
    ]
    if normals is not None:
        normals = np.asarray(normals)
        if normals.shape != (n, 3):
            raise ZeropsError(f"normals must have shape ({n}, 3), got {normals.shape}")
        fields += [(c, "float", "<f4", normals[:, i]) for i, c in enumerate(("nx", "ny", "nz"))]
    if rgb is not None:
        rgb8 = _rgb_uint8(rgb, n)
        fields += [(c, "uchar", "u1", rgb8[:, i]) for i, c in enumerate(("red", "green", "blue"))]
    for name, values in int_props.items():
        if not name.isidentifier() or name in {f[0] for f in fields}:
            raise ZeropsError(f"PLY property name '{name}' is invalid or clashes with a coordinate/color property")
        values = np.asarray(values)
        if values.shape != (n,) or not np.issubdtype(values.dtype, np.integer):
            raise ZeropsError(f"PLY property '{name}' must be an (N,) integer array with N={n}, got {values.shape}")
        if n and (values.min() < -(2**31) or values.max() >= 2**31):
            raise ZeropsError(f"PLY property '{name}' does not fit in 32-bit integers")
        fields.append((name, "int", "<i4", values))
    fmt = "binary_little_endian" if binary else "ascii"
    header = [
        "ply",
        f"format {fmt} 1.0",
        "comment written by zerops",
        f"element vertex {n}",
        *[f"property {ply_type} {name}" for name, ply_type, _, _ in fields],
        "end_header",
    ]
    head = ("\n".join(header) + "\n").encode("ascii")
    table = np.empty(n, dtype=[(name, dt) for name, _, dt, _ in fields])
    for name, _, _, values in fields:
        table[name] = values
    if binary:
        return head + table.tobytes()
    cols = []
    for name, ply_type, _, values in fields:
        if ply_type == "float":
            cols.append(np.char.mod("%.9g", table[name].astype(np.float64)))
        else:
            cols.append(table[name].astype(np.int64).astype(str))
    lines = [" ".join(row) for row in zip(*cols)] if n else []
    return head + ("\n".join(lines) + ("\n" if lines else "")).encode("ascii")


def write_cloud_ply(
    path: str | os.PathLike,
    xyz: np.ndarray,
    rgb: np.ndarray | None = None,
    binary: bool = True,
    normals: np.ndarray | None = None,
    **int_props: np.ndarray,
) -> None:
    """Atomically write a PLY point cloud.

    Args:
        xyz: (N,3) float coordinates (stored float32).
        rgb: (N,3) float in [0,1] or uint8 colors, stored as uchar red/green/blue; None = no colors.
        binary: binary little-endian (default) or ascii.
        normals: optional (N,3) normals stored as nx/ny/nz.
        int_props: extra per-vertex int32 properties, name -> (N,) integer array.
    """
    data = ply_bytes(xyz, rgb, normals=normals, binary=binary, **int_props)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_result_ply(
    path: str | os.PathLike,
    xyz: np.ndarray,
    part: np.ndarray,
    semantic: np.ndarray | None = None,
    instance: np.ndarray | None = None,
) -> None:
    """Atomically write a segmentation result: points colored by ``part`` (-1 gray) with int properties
    ``part`` and, when given, ``semantic`` and ``instance`` (all (N,) integer arrays)."""
    part = np.asarray(part)
    props = {"part": part}
    if semantic is not None:
        props["semantic"] = np.asarray(semantic)
    if instance is not None:
        props["instance"] = np.asarray(instance)
    for name, values in props.items():
        if values.shape != (len(np.asarray(xyz)),):
            raise ZeropsError(f"'{name}' labels must have shape ({len(np.asarray(xyz))},), got {values.shape}")
    write_cloud_ply(path, xyz, part_colors(part), binary=True, **props)


# ----------------------------------------------------------------------------------------------- colors


UNLABELED_GRAY = np.array([160, 160, 160], dtype=np.uint8)


def part_palette(n: int) -> np.ndarray:
    """(n,3) uint8 distinct colors: golden-ratio hue steps with alternating saturation and value."""
    if n < 0:
        raise ZeropsError(f"palette size must be >= 0, got {n}")
    i = np.arange(n, dtype=np.float64)
    h = (i * 0.618033988749895 + 0.05) % 1.0
    s = np.array([0.80, 0.55, 0.95])[np.arange(n) % 3]
    v = np.array([0.95, 0.80, 0.65, 0.88])[np.arange(n) % 4]
    k = np.array([5.0, 3.0, 1.0])
    f = (k[None, :] + h[:, None] * 6.0) % 6.0
    rgb = v[:, None] - v[:, None] * s[:, None] * np.clip(np.minimum(f, 4.0 - f), 0.0, 1.0)
    return np.round(rgb * 255.0).astype(np.uint8)


def part_colors(labels: np.ndarray) -> np.ndarray:
    """(N,) int labels -> (N,3) uint8 colors from :func:`part_palette`; negative labels are gray."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ZeropsError(f"labels must be an (N,) integer array, got shape {labels.shape} dtype {labels.dtype}")
    out = np.tile(UNLABELED_GRAY, (labels.shape[0], 1))
    valid = labels >= 0
    if valid.any():
        out[valid] = part_palette(int(labels.max()) + 1)[labels[valid]]
    return out
