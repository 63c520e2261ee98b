"""Atomic file writes: every writer here writes a temporary file in the target's folder and renames it onto
the target, so an interrupted run never leaves a truncated output. The one helper for this is
:func:`atomic_path`; :func:`write_bytes`, :func:`write_json` and :func:`write_npz` are built on it."""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from zerops.errors import ZeropsError


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


def _kind(mode: int) -> str:
    return ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a folder" if stat.S_ISDIR(mode) else "not a regular file")


def check_regular(path: str | os.PathLike, what: str = "") -> None:
    """ZeropsError unless ``path`` is a regular file (symbolic links followed): a named pipe, a device or a
    socket would block the read or never end. ``what`` says where the name came from (e.g. "named in x.obj")."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return                                  # missing: the reader says so in its own words
    if not stat.S_ISREG(mode):
        raise ZeropsError(f"{path}{f' ({what})' if what else ''} is {_kind(mode)}; zerops reads only regular files")


def read_regular(path: str | os.PathLike, what: str = "") -> bytes:
    """The bytes of ``path``, refused before reading (and without blocking on a FIFO: it is opened
    non-blocking and checked with fstat) unless it is a regular file; see :func:`check_regular`."""
    check_regular(path, what)                   # a socket cannot even be opened: said in the same words
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ZeropsError(f"{path}{f' ({what})' if what else ''} is {_kind(mode)}; zerops reads only regular "
                              "files")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return fh.read()
    finally:
        if fd >= 0:
            os.close(fd)


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


#: Deepest nesting of arrays / objects a JSON file zerops reads may have (its own files use 4 levels).
MAX_JSON_DEPTH = 64
#: Largest JSON file zerops reads (manifests, summaries, names, glTF documents; glTF buffers are separate).
MAX_JSON_BYTES = 256 << 20
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)


def json_depth(data: bytes) -> int:
    """How deeply ``data``'s arrays and objects nest (brackets inside strings do not count), without parsing."""
    bare = np.frombuffer(_JSON_STRING.sub(b"", data), dtype=np.uint8)
    if bare.size == 0:
        return 0
    step = np.isin(bare, (ord("["), ord("{"))).astype(np.int64) - np.isin(bare, (ord("]"), ord("}")))
    return int(max(np.cumsum(step).max(), 0))


def load_json(path: str | os.PathLike, encoding: str = "utf-8", max_bytes: int = MAX_JSON_BYTES) -> Any:
    """``json.loads`` of a file, bounded: at most ``max_bytes`` and :data:`MAX_JSON_DEPTH` levels of nesting,
    checked before parsing (a ValueError saying so, as for bad JSON; OSError as ``open``)."""
    check_regular(path)
    size = os.stat(path).st_size
    if size > max_bytes:
        raise ValueError(f"the file is {size:,} bytes; zerops reads JSON files of at most {max_bytes:,}")
    data = Path(path).read_bytes()
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested {depth:,} levels deep; zerops reads at most {MAX_JSON_DEPTH}")
    try:
        return json.loads(data.decode(encoding))
    except RecursionError:                          # not reached after the depth check; kept as a guard
        raise ValueError(f"JSON nested too deeply; zerops reads at most {MAX_JSON_DEPTH} levels") from None


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


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
