"""Point-cloud file readers: PLY, NPY/NPZ and XYZ/TXT columns, and the dispatch by extension (PCD:
:mod:`zerops.io.pcd`).

Each reader returns a validated :class:`zerops.io.cloud.PointCloud`. A PLY file with faces is a mesh and is
handed to :mod:`zerops.io.mesh` for surface sampling.
"""
from __future__ import annotations

import os
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from zerops.errors import ZeropsError
from zerops.io.cloud import PointCloud, cloud_from_array, colors_to_unit, make_cloud
from zerops.io.pcd import read_pcd
from zerops.io.text import count_text_rows, read_columns
from zerops.limits import MAX_PLY_HEADER, MAX_PLY_ROWS, MAX_POINTS

_COLOR_NAMES = (("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue"))
_NORMAL_NAMES = (("nx", "ny", "nz"), ("normal_x", "normal_y", "normal_z"))


def _first_present(names: set[str], options: tuple[tuple[str, str, str], ...]) -> tuple[str, str, str] | None:
    for triple in options:
        if all(n in names for n in triple):
            return triple
    return None


# ----------------------------------------------------------------------------------------------- PLY


_PLY_SIZES = {"char": 1, "int8": 1, "uchar": 1, "uint8": 1, "short": 2, "int16": 2, "ushort": 2, "uint16": 2,
              "int": 4, "int32": 4, "uint": 4, "uint32": 4, "float": 4, "float32": 4, "double": 8, "float64": 8}


_END_HEADER = re.compile(rb"end_header[ \t]*\r?\n")


def _ply_layout(path: Path) -> tuple[str, list[tuple[str, int, int, int]], int] | None:
    """(format, [(element, count, fixed bytes per row, list-length bytes per row)], data offset) from the
    header, or None when the header is malformed (plyfile then says what is wrong)."""
    head = b""
    with open(path, "rb") as fh:
        while True:                                  # the whole header, however long, up to MAX_PLY_HEADER
            chunk = fh.read(1 << 16)
            head += chunk
            end = _END_HEADER.search(head, max(0, len(head) - len(chunk) - 64))
            if end is not None or not chunk or not head.startswith(b"ply"):
                break
            if len(head) > MAX_PLY_HEADER:
                raise ZeropsError(f"{path}: no end_header in the first {MAX_PLY_HEADER:,} bytes; zerops reads PLY "
                                  f"headers of at most {MAX_PLY_HEADER:,} bytes")
    if not head.startswith(b"ply") or end is None:
        return None
    fmt = ""
    elements: list[list] = []
    for raw in head[:end.start()].decode("latin-1").splitlines():
        words = raw.split()
        if not words:
            continue
        if words[0] == "format" and len(words) >= 2:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3:
            try:
                elements.append([words[1], int(words[2]), 0, 0])
            except ValueError:
                return None
        elif words[0] == "property" and elements:
            if len(words) == 5 and words[1] == "list" and words[2] in _PLY_SIZES:
                elements[-1][3] += _PLY_SIZES[words[2]]
            elif len(words) == 3 and words[1] in _PLY_SIZES:
                elements[-1][2] += _PLY_SIZES[words[1]]
            else:
                return None
    return fmt, [tuple(e) for e in elements], end.end()


def _check_ply_rows(path: Path) -> None:
    """The rows the header declares must be the rows the file holds (ascii: lines; binary: bytes)."""
    layout = _ply_layout(path)
    if layout is None:
        return
    fmt, elements, offset = layout
    counts = {name: count for name, count, _, _ in elements}
    if any(c < 0 for c in counts.values()):
        raise ZeropsError(f"{path}: the PLY header declares a negative element count "
                          f"({', '.join(f'{k} {v}' for k, v in counts.items())})")
    if counts.get("vertex", 0) > MAX_POINTS or sum(counts.values()) > MAX_PLY_ROWS:
        raise ZeropsError(f"{path}: the PLY header declares {counts.get('vertex', 0):,} vertices and "
                          f"{sum(counts.values()):,} rows; zerops reads at most {MAX_POINTS:,} points")
    declared = sum(counts.values())
    what = ", ".join(f"{v} {k}" for k, v in counts.items())
    if fmt == "ascii":
        with open(path, "rb") as fh:
            fh.seek(offset)
            rows = count_text_rows(fh, path)
        if rows != declared:
            raise ZeropsError(f"{path}: the PLY header declares {declared} rows ({what}) but the file holds {rows}")
        return
    if not fmt.startswith("binary"):
        return
    body = path.stat().st_size - offset
    if all(lst == 0 for _, _, _, lst in elements):
        expected = sum(count * size for _, count, size, _ in elements)
        last = next((size for _, count, size, _ in reversed(elements) if count and size), 1)
        if body < expected or body - expected >= last:
            if len(elements) == 1:
                width = max(elements[0][2], 1)
                rows = f"{body // width} rows" + (" and a partial one" if body % width else "")
            else:
                rows = f"{body} bytes of data, {'fewer' if body < expected else 'more'} than the {expected} declared"
            raise ZeropsError(f"{path}: the PLY header declares {declared} rows ({what}) but the file holds {rows}")
    else:
        least = sum(count * (size + lst) for _, count, size, lst in elements)
        if body < least:
            raise ZeropsError(f"{path}: the PLY header declares {declared} rows ({what}) but the file holds only "
                              f"{body} bytes of data, fewer than those rows need (at least {least}); it is truncated")


def read_ply(path: Path, n_points: int = 10000, seed: int = 0) -> PointCloud:
    """PLY (ascii / binary little or big endian, any property order). Faces -> sampled mesh.

    The rows the header declares must match the data: more or fewer rows is an error naming both counts."""
    from plyfile import PlyData

    try:
        _check_ply_rows(path)
    except OSError as exc:
        raise ZeropsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        ply = PlyData.read(str(path))
    except Exception as exc:  # noqa: BLE001 - plyfile raises many types for malformed files
        raise ZeropsError(f"{path}: cannot read PLY ({type(exc).__name__}: {exc})") from None
    elements = {e.name: e for e in ply.elements}
    if "face" in elements and elements["face"].count > 0:
        from zerops.io.mesh import load_mesh_cloud

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


# ----------------------------------------------------------------------------------------------- NPY / NPZ

_NPZ_KEYS = {"xyz": ("xyz", "points", "pos", "coords"), "rgb": ("rgb", "colors", "color"),
             "normals": ("normals", "normal")}


# what numpy and zipfile raise for a malformed .npy / .npz
NPY_ERRORS = (ValueError, OSError, EOFError, KeyError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
               zipfile.LargeZipFile, zlib.error)


#: dtype kinds no zerops file holds: refused from the header, before the data is read
_REFUSED_KINDS = {"M": "dates", "m": "time spans", "V": "structured records", "c": "complex numbers"}


def check_npy_header(fh, where: str | os.PathLike, max_items: int = 9 * MAX_POINTS) -> tuple[tuple, np.dtype]:
    """Read and check the header of a .npy stream (``fh`` at its start): numeric dtype (no pickled objects)
    and at most ``max_items`` values. Returns (shape, dtype); raises ZeropsError."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise ZeropsError(f"{where}: not a valid NumPy array file ({' '.join(str(exc).split())[:160]})") from None
    if dtype.hasobject:
        raise ZeropsError(f"{where}: holds Python objects (pickled data), which zerops does not load for point "
                          "clouds; save a plain numeric array")
    items = int(np.prod(shape, dtype=np.float64)) if shape else 1
    if items > max_items or items * dtype.itemsize > 8 * max_items:
        raise ZeropsError(f"{where}: declares an array of shape {shape} ({dtype}); zerops reads at most "
                          f"{MAX_POINTS:,} points")
    if dtype.kind in _REFUSED_KINDS:
        raise ZeropsError(f"{where}: holds {_REFUSED_KINDS[dtype.kind]} (dtype {dtype}); zerops reads arrays of "
                          "integers or floats")
    return shape, dtype


def check_rows(headers: dict[str, tuple[tuple, np.dtype]], where: str | os.PathLike, rows: dict[str, int | None],
               max_rows: int = MAX_POINTS) -> None:
    """Before inflating an archive's arrays: each array named in ``rows`` that the archive holds must declare
    ``rows[name]`` rows (None: any number up to ``max_rows``) and at most 9 columns; one line naming both."""
    for name, want in rows.items():
        if name not in headers:
            continue
        shape, _ = headers[name]
        n = shape[0] if shape else 1
        if len(shape) > 2 or (len(shape) == 2 and shape[1] > 9) or n > max_rows or (want is not None and n != want):
            expect = f"({want:,} rows)" if want is not None else f"at most {max_rows:,} rows of at most 9 columns"
            raise ZeropsError(f"{where}: the array '{name}' declares the shape {shape}, not {expect}; nothing was "
                              "unpacked")


def check_npy_file(path: Path, max_ratio: float | None = None) -> dict[str, tuple[tuple, np.dtype]]:
    """Before np.load: the file is a .npy or a .npz (zip) whose arrays are numeric and of a sane size, read
    from the headers alone (each zip member's declared size and its array header; nothing is inflated but
    those headers). Every member must be a NumPy array, whether or not its name ends in ``.npy`` (numpy loads
    both). ``max_ratio``: the archive may not unpack to more than this many times its packed size (once it
    unpacks to over :data:`zerops.limits.RATIO_FLOOR` bytes). Returns ``{array name: (shape, dtype)}`` (name
    ``""`` for a .npy)."""
    from zerops.io.files import check_regular
    from zerops.limits import RATIO_FLOOR

    check_regular(path)
    with open(path, "rb") as fh:
        magic = fh.read(6)
        fh.seek(0)
        if magic == b"\x93NUMPY":
            return {"": check_npy_header(fh, path)}
    if magic[:4] != b"PK\x03\x04" and magic[:4] != b"PK\x05\x06":
        raise ZeropsError(f"{path}: not a NumPy .npy or .npz file (it does not start with the NumPy or zip "
                          "signature)")
    headers: dict[str, tuple[tuple, np.dtype]] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > 1000:
                raise ZeropsError(f"{path}: holds {len(infos):,} arrays; zerops reads archives of at most 1,000")
            total = packed = 0
            for info in infos:
                total += info.file_size
                packed += info.compress_size
                if info.file_size > 8 * 9 * MAX_POINTS + (1 << 20) or total > 2 * 8 * 9 * MAX_POINTS:
                    raise ZeropsError(f"{path}: the member {info.filename} is {info.file_size:,} bytes when "
                                      f"unpacked; zerops reads at most {MAX_POINTS:,} points")
            packed = max(1, min(packed, path.stat().st_size))   # a lying compressed size cannot raise it
            if max_ratio is not None and total > RATIO_FLOOR and total > max_ratio * packed:
                raise ZeropsError(f"{path}: unpacks to {total:,} bytes from {packed:,} ({total / packed:,.0f} times "
                                  f"its packed size); zerops unpacks at most {max_ratio:g} times (set "
                                  "ZEROPS_MAX_COMPRESSION_RATIO to raise the limit for a file you trust)")
            for info in infos:
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if name in headers:
                    raise ZeropsError(f"{path}: holds two arrays named '{name}' ({name} and {name}.npy)")
                with zf.open(info) as member:       # numpy loads a member by either name: both are checked
                    if member.read(6) != b"\x93NUMPY":
                        raise ZeropsError(f"{path}: the member '{info.filename}' is not a NumPy array (no .npy "
                                          "header); zerops reads .npz archives of arrays only")
                with zf.open(info) as member:
                    headers[name] = check_npy_header(member, f"{path}:{info.filename}")
    except NPY_ERRORS as exc:
        raise ZeropsError(f"{path}: not a valid .npz archive ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:160]})") from None
    return headers


def read_npy(path: Path, n_points: int = 10000, seed: int = 0) -> PointCloud:
    """.npy array (N,3|6|9) or .npz with keys xyz/points, rgb/colors, normals (or a single array).

    Headers are checked first: pickled (object) arrays are refused, and no array may declare more values
    than :data:`zerops.limits.MAX_POINTS` points with 9 columns."""
    try:
        from zerops.limits import compression_ratio_limit

        headers = check_npy_file(path, max_ratio=compression_ratio_limit())
        used = {n for names in _NPZ_KEYS.values() for n in names} if len(headers) > 1 else set(headers)
        check_rows(headers, path, {name: None for name in headers if name in used})
        data = np.load(path, allow_pickle=False)
    except NPY_ERRORS as exc:
        raise ZeropsError(f"{path}: cannot read ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    if isinstance(data, np.ndarray):
        return cloud_from_array(data, source=path)
    try:
        return _cloud_from_npz(data, path)
    except NPY_ERRORS as exc:
        raise ZeropsError(f"{path}: cannot read ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None


def _cloud_from_npz(data, path: Path) -> PointCloud:
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
