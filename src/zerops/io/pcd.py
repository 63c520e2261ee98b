"""Reading PCD point clouds (PCL's format): ascii, binary and binary_compressed (LZF) data, with the
header's declared sizes checked before anything is allocated."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from zerops.errors import ZeropsError
from zerops.io.cloud import PointCloud, colors_to_unit, make_cloud
from zerops.io.text import parse_rows
from zerops.limits import MAX_POINTS

__all__ = ["read_pcd", "lzf_decompress"]


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


# complexity: a reader: header fields and three DATA encodings checked in order
def read_pcd(path: Path, n_points: int = 10000, seed: int = 0) -> PointCloud:  # noqa: C901
    """PCD v0.7 (DATA ascii, binary or binary_compressed); fields x y z [rgb|rgba] [normal_x normal_y normal_z].

    Long: a reader that checks the header and the three DATA encodings in file order, one error per failure.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ZeropsError(f"{path}: cannot read ({exc.strerror or exc})") from None
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
    if n < 0:
        raise ZeropsError(f"{path}: the PCD header declares {n} points; a point count cannot be negative")
    if "POINTS" in header and "WIDTH" in header:
        try:
            grid = int(header["WIDTH"][0]) * int(header.get("HEIGHT", ["1"])[0])
        except (IndexError, ValueError):
            raise ZeropsError(f"{path}: malformed PCD header (WIDTH / HEIGHT are not numbers)") from None
        if grid != n:
            raise ZeropsError(f"{path}: the PCD header declares {n} points but WIDTH x HEIGHT = {grid}")
    if n > MAX_POINTS:
        raise ZeropsError(f"{path}: the PCD header declares {n:,} points; zerops reads at most {MAX_POINTS:,}")
    if not fields or any(c < 1 for c in counts):
        raise ZeropsError(f"{path}: PCD header has no FIELDS or a COUNT below 1")
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
    try:
        dtype = np.dtype(dtype_fields)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ZeropsError(f"{path}: malformed PCD header (FIELDS / COUNT describe no valid record: "
                          f"{' '.join(str(exc).split())[:120]})") from None
    if dtype.itemsize == 0 or dtype.itemsize > 1 << 16:
        raise ZeropsError(f"{path}: malformed PCD header (a point record of {dtype.itemsize} bytes)")
    if mode == "binary":
        body = len(raw) - start
        if body < n * dtype.itemsize or body - n * dtype.itemsize >= dtype.itemsize:
            rows = body // dtype.itemsize
            raise ZeropsError(f"{path}: the PCD header declares {n} points but the binary data holds {rows}"
                              + (" and a partial one" if body % dtype.itemsize else ""))
        table = np.frombuffer(raw, dtype=dtype, count=n, offset=start)
    elif mode == "ascii":
        lines = [ln for ln in raw[start:].decode("ascii", errors="replace").splitlines() if ln.strip()]
        if len(lines) != n:
            raise ZeropsError(f"{path}: the PCD header declares {n} points but the file holds {len(lines)} rows")
        flat = parse_rows(lines, path, "bad PCD ascii data")
        width = sum(counts)
        if flat.size == 0:
            flat = flat.reshape(0, width)
        if flat.shape[1] != width:
            raise ZeropsError(f"{path}: PCD rows have {flat.shape[1]} values, header announces {width}")
        table = np.empty(flat.shape[0], dtype=dtype)
        col = 0
        for (name, code, *_shape), count in zip(dtype_fields, counts):
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
