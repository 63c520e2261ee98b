"""Point-cloud file readers: PLY, PCD, NPY/NPZ and XYZ/TXT columns.

Each reader returns a validated :class:`zerops.io.PointCloud`. A PLY file with faces is a mesh and is
handed to :mod:`zerops.meshio` for surface sampling.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from zerops.errors import ZeropsError
from zerops.io import PointCloud, cloud_from_array, colors_to_unit, make_cloud

_COLOR_NAMES = (("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue"))
_NORMAL_NAMES = (("nx", "ny", "nz"), ("normal_x", "normal_y", "normal_z"))


def _first_present(names: set[str], options: tuple[tuple[str, str, str], ...]) -> tuple[str, str, str] | None:
    for triple in options:
        if all(n in names for n in triple):
            return triple
    return None


# ----------------------------------------------------------------------------------------------- PLY


def read_ply(path: Path, n_points: int = 10000, seed: int = 0) -> PointCloud:
    """PLY (ascii / binary little or big endian, any property order). Faces -> sampled mesh."""
    from plyfile import PlyData

    try:
        ply = PlyData.read(str(path))
    except Exception as exc:  # noqa: BLE001 - plyfile raises many types for malformed files
        raise ZeropsError(f"{path}: cannot read PLY ({type(exc).__name__}: {exc})") from None
    elements = {e.name: e for e in ply.elements}
    if "face" in elements and elements["face"].count > 0:
        from zerops.meshio import load_mesh_cloud

        return load_mesh_cloud(path, n_points=n_points, seed=seed)
    if "vertex" not in elements:
        raise ZeropsError(f"{path}: PLY has no 'vertex' element")
    data = elements["vertex"].data
    names = set(data.dtype.names or ())
    if not {"x", "y", "z"} <= names:
        raise ZeropsError(f"{path}: PLY vertices lack x, y, z properties (found: {', '.join(sorted(names))})")
    xyz = np.stack([np.asarray(data[c], dtype=np.float64) for c in "xyz"], axis=1)
    rgb = None
    color = _first_present(names, _COLOR_NAMES)
    if color is not None and len(xyz):
        cols = [np.asarray(data[c]) for c in color]
        dtype = np.result_type(*cols)
        rgb = colors_to_unit(np.stack(cols, axis=1).astype(dtype), path)
    normal = _first_present(names, _NORMAL_NAMES)
    normals = None
    if normal is not None:
        normals = np.stack([np.asarray(data[c], dtype=np.float64) for c in normal], axis=1)
    return make_cloud(xyz, rgb, normals, source=path)


# ----------------------------------------------------------------------------------------------- PCD

_PCD_TYPES = {("F", 4): "f4", ("F", 8): "f8", ("I", 1): "i1", ("I", 2): "i2", ("I", 4): "i4", ("I", 8): "i8",
              ("U", 1): "u1", ("U", 2): "u2", ("U", 4): "u4", ("U", 8): "u8"}


def _pcd_header(raw: bytes, path: Path) -> tuple[dict[str, list[str]], int]:
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        end = raw.find(b"\n", pos)
        if end < 0:
            raise ZeropsError(f"{path}: PCD header has no DATA line")
        line = raw[pos:end].decode("ascii", errors="replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        header[key.upper()] = values
        if key.upper() == "DATA":
            return header, pos


def read_pcd(path: Path, n_points: int = 10000, seed: int = 0) -> PointCloud:
    """PCD v0.7 (DATA ascii, binary or binary_compressed); fields x y z [rgb|rgba] [normal_x normal_y normal_z]."""
    raw = path.read_bytes()
    header, start = _pcd_header(raw, path)
    try:
        fields = header["FIELDS"]
        sizes = [int(s) for s in header.get("SIZE", ["4"] * len(fields))]
        types = header.get("TYPE", ["F"] * len(fields))
        counts = [int(c) for c in header.get("COUNT", ["1"] * len(fields))]
        n = int(header["POINTS"][0]) if "POINTS" in header else int(header["WIDTH"][0]) * int(
            header.get("HEIGHT", ["1"])[0])
        mode = header["DATA"][0].lower()
    except (KeyError, IndexError, ValueError):
        raise ZeropsError(f"{path}: malformed PCD header (need FIELDS, SIZE, TYPE, POINTS/WIDTH, DATA)") from None
    if not (len(fields) == len(sizes) == len(types) == len(counts)):
        raise ZeropsError(f"{path}: PCD header FIELDS/SIZE/TYPE/COUNT have different lengths")
    dtype_fields = []
    for name, size, typ, count in zip(fields, sizes, types, counts):
        code = _PCD_TYPES.get((typ.upper(), size))
        if code is None:
            raise ZeropsError(f"{path}: unsupported PCD field type {typ}{size} for '{name}'")
        dtype_fields.append((name, "<" + code, (count,)) if count > 1 else (name, "<" + code))
    names = [f[0] for f in dtype_fields]
    if len(set(names)) != len(names):  # e.g. several '_' padding fields
        dtype_fields = [(f"{f[0]}__{i}",) + tuple(f[1:]) for i, f in enumerate(dtype_fields)]
        names = [f[0] for f in dtype_fields]
        lookup = {f.split("__")[0]: f for f in reversed(names)}
    else:
        lookup = {f: f for f in names}
    dtype = np.dtype(dtype_fields)
    if mode == "binary":
        if len(raw) - start < n * dtype.itemsize:
            raise ZeropsError(f"{path}: PCD binary data is truncated ({n} points announced)")
        table = np.frombuffer(raw, dtype=dtype, count=n, offset=start)
    elif mode == "ascii":
        try:
            flat = np.loadtxt(raw[start:].decode("ascii").splitlines(), dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise ZeropsError(f"{path}: bad PCD ascii data ({exc})") from None
        width = sum(counts)
        if flat.size == 0:
            flat = flat.reshape(0, width)
        if flat.shape[1] != width:
            raise ZeropsError(f"{path}: PCD rows have {flat.shape[1]} values, header announces {width}")
        table = np.empty(flat.shape[0], dtype=dtype)
        col = 0
        for (name, code, *shape), count in zip(dtype_fields, counts):
            values = flat[:, col:col + count]
            if name.split("__")[0] in ("rgb", "rgba") and np.dtype(code).kind == "f":
                table[name] = values.astype(np.float32).reshape(table[name].shape)
            else:
                table[name] = values.astype(code).reshape(table[name].shape)
            col += count
    elif mode == "binary_compressed":
        table = _pcd_compressed_table(raw[start:], dtype, n, path)
    else:
        raise ZeropsError(f"{path}: unknown PCD DATA mode '{mode}'")
    if not all(c in lookup for c in "xyz"):
        raise ZeropsError(f"{path}: PCD has no x, y, z fields (found: {' '.join(fields)})")
    xyz = np.stack([table[lookup[c]].astype(np.float64) for c in "xyz"], axis=1)
    rgb = None
    key = lookup.get("rgb") or lookup.get("rgba")
    if key is not None and len(xyz):
        packed = np.ascontiguousarray(table[key])
        bits = packed.view(np.uint32) if packed.dtype.itemsize == 4 else packed.astype(np.uint32)
        rgb = np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], axis=1).astype(np.uint8)
        rgb = colors_to_unit(rgb, path)
    normals = None
    if all(f"normal_{c}" in lookup for c in "xyz"):
        normals = np.stack([table[lookup[f"normal_{c}"]].astype(np.float64) for c in "xyz"], axis=1)
    return make_cloud(xyz, rgb, normals, source=path)


def lzf_decompress(data: bytes, size: int) -> bytes:
    """Decompress LZF ``data`` (the codec of PCD ``binary_compressed``) into ``size`` bytes."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:  # literal run of ctrl + 1 bytes
            out += data[i:i + ctrl + 1]
            i += ctrl + 1
            continue
        length = ctrl >> 5
        if length == 7:
            length += data[i]
            i += 1
        start = len(out) - ((ctrl & 31) << 8) - data[i] - 1
        i += 1
        length += 2
        if start < 0:
            raise ValueError("back-reference before the start of the data")
        if start + length <= len(out):
            out += out[start:start + length]
        else:  # overlapping copy repeats the pattern
            for k in range(length):
                out.append(out[start + k])
    if len(out) != size:
        raise ValueError(f"decompressed {len(out)} bytes, expected {size}")
    return bytes(out)


def _pcd_compressed_table(body: bytes, dtype: np.dtype, n: int, path: Path) -> np.ndarray:
    """PCD binary_compressed: uint32 compressed size, uint32 raw size, LZF data stored field by field."""
    if len(body) < 8:
        raise ZeropsError(f"{path}: PCD binary_compressed data is truncated")
    csize, usize = (int(v) for v in np.frombuffer(body[:8], dtype="<u4"))
    if usize != n * dtype.itemsize or len(body) < 8 + csize:
        raise ZeropsError(f"{path}: PCD binary_compressed sizes do not match {n} points")
    try:
        flat = lzf_decompress(body[8:8 + csize], usize)
    except (ValueError, IndexError) as exc:
        raise ZeropsError(f"{path}: corrupt PCD binary_compressed data ({exc})") from None
    table = np.empty(n, dtype=dtype)
    offset = 0
    for name in dtype.names:
        field_dtype = dtype.fields[name][0]
        nbytes = n * field_dtype.itemsize
        table[name] = np.frombuffer(flat, dtype=field_dtype, count=n, offset=offset)
        offset += nbytes
    return table


# ----------------------------------------------------------------------------------------------- NPY / NPZ

_NPZ_KEYS = {"xyz": ("xyz", "points", "pos", "coords"), "rgb": ("rgb", "colors", "color"),
             "normals": ("normals", "normal")}


def read_npy(path: Path, n_points: int = 10000, seed: int = 0) -> PointCloud:
    """.npy array (N,3|6|9) or .npz with keys xyz/points, rgb/colors, normals (or a single array)."""
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ZeropsError(f"{path}: cannot read ({exc}); pickled arrays are not loaded") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ZeropsError(f"{path}: cannot read ({exc})") from None
    if isinstance(data, np.ndarray):
        return cloud_from_array(data, source=path)
    with data:
        files = list(data.files)
        found = {k: next((name for name in names if name in files), None) for k, names in _NPZ_KEYS.items()}
        if found["xyz"] is None:
            if len(files) == 1:
                return cloud_from_array(data[files[0]], source=path)
            raise ZeropsError(f"{path}: no 'xyz' or 'points' array in the archive (found: {', '.join(files)})")
        xyz = data[found["xyz"]]
        if xyz.ndim == 2 and xyz.shape[1] in (6, 9) and found["rgb"] is None:
            return cloud_from_array(xyz, source=path)
        rgb = colors_to_unit(data[found["rgb"]], path) if found["rgb"] else None
        normals = data[found["normals"]] if found["normals"] else None
    return make_cloud(xyz, rgb, normals, source=path)


# ----------------------------------------------------------------------------------------------- XYZ / TXT


def read_columns(path: Path, n_points: int = 10000, seed: int = 0) -> PointCloud:
    """Text columns ``x y z [r g b] [nx ny nz]`` separated by spaces, tabs or commas; '#' comments."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ZeropsError(f"{path}: cannot read ({exc})") from None
    lines = [ln for ln in text.replace(",", " ").replace(";", " ").splitlines()
             if ln.strip() and not ln.lstrip().startswith(("#", "//"))]
    if lines and not _is_numeric_row(lines[0]):
        lines = lines[1:]  # a column-name header line
    try:
        arr = np.loadtxt(lines, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ZeropsError(f"{path}: not numeric columns ({exc})") from None
    if arr.size == 0:
        raise ZeropsError(f"{path}: the point cloud is empty (0 points)")
    return cloud_from_array(arr, source=path)


def _is_numeric_row(line: str) -> bool:
    try:
        [float(v) for v in line.split()]
    except ValueError:
        return False
    return True


_READERS = {".ply": read_ply, ".pcd": read_pcd, ".npy": read_npy, ".npz": read_npy,
            ".xyz": read_columns, ".txt": read_columns, ".csv": read_columns, ".pts": read_columns}
CLOUD_EXTENSIONS = tuple(_READERS)


def read_cloud_file(path: str | os.PathLike, n_points: int = 10000, seed: int = 0) -> PointCloud:
    """Dispatch on the extension (one of :data:`CLOUD_EXTENSIONS`)."""
    p = Path(path)
    reader = _READERS.get(p.suffix.lower())
    if reader is None:
        raise ZeropsError(f"{p}: not a point-cloud extension; expected one of {' '.join(CLOUD_EXTENSIONS)}")
    return reader(p, n_points=n_points, seed=seed)
