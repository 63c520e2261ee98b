"""A content-keyed on-disk cache for the expensive stages of a run (initial groups, extended groups,
detector boxes), so that a sweep which only changes later settings does not re-run SAM or the detector.

Every entry is one ``.npz`` file under ``root/<stage>/<key[:2]>/<key>.npz``, written atomically. The root
holds a marker file (:data:`MARKER`) written with the first entry; maintenance (``clear``, eviction) only
ever deletes files named like entries (``<stage>/<hh>/<64 hex digits>.npz``, ``hh`` = the key's first two
digits) under a root with the marker, so a cache folder given by mistake (a dataset) loses nothing. A key is
the SHA-256 of everything the stage's output depends on (see :func:`stage_key`): the cloud's bytes, the
settings of this stage and of every stage before it, and the identity of the models involved. When the
cache grows past ``max_bytes`` the least recently used entries are deleted.

    cache = StageCache("~/.cache/zerops/stages", max_gb=4)
    key = stage_key("groups", cloud_digest, config.render, config.grouping, "embedded")
    arrays = cache.get("groups", key)            # dict of arrays, or None
    cache.put("groups", key, {"points": ...})
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from zerops.errors import ZeropsError
from zerops.io.files import write_npz

__all__ = ["StageCache", "stage_key", "array_digest", "pack_groups", "unpack_groups", "default_cache_dir",
           "CACHE_FORMAT"]

CACHE_FORMAT = 1   # bump when what a stage stores, or how it is computed, changes
MARKER = ".zerops-stage-cache"     # in the root of every folder the stage cache writes to
_STAGE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_KEY = re.compile(r"[0-9a-f]{64}")
_TMP = re.compile(r"\.([0-9a-f]{64})\.\d+\.[0-9a-f]{8}\.tmp\.npz")   # zerops.io.files.atomic_path's temporaries


def default_cache_dir() -> Path:
    """``$ZEROPS_CACHE`` if set, else ``<ZEROPS_HOME>/stages`` (``~/.cache/zerops/stages``)."""
    env = os.environ.get("ZEROPS_CACHE")
    if env:
        return Path(env).expanduser()
    from zerops.segmenters.weights import zerops_home
    return zerops_home() / "stages"


def array_digest(*arrays: np.ndarray | None) -> str:
    """SHA-256 over the dtype, shape and bytes of each array (None counts as absent)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none;")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _jsonable(x: Any) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {"__type__": type(x).__name__, **{k: _jsonable(v) for k, v in dataclasses.asdict(x).items()}}
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return array_digest(x)
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    return x


def stage_key(stage: str, *parts: Any) -> str:
    """Key of a stage's output: SHA-256 of the stage name, the cache format and ``parts``
    (strings, numbers, dataclass configs, dicts, lists, arrays)."""
    text = json.dumps({"stage": stage, "format": CACHE_FORMAT, "parts": _jsonable(list(parts))},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def pack_groups(groups: Mapping[str, Sequence[np.ndarray]]) -> dict[str, np.ndarray]:
    """{start view: [point-index arrays]} -> flat arrays for an npz."""
    views, sizes, chunks = [], [], []
    for name, gs in groups.items():
        for g in gs:
            views.append(name)
            sizes.append(len(g))
            chunks.append(np.asarray(g, dtype=np.int64))
    return {"names": np.array(list(groups), dtype=str), "group_view": np.array(views, dtype=str),
            "sizes": np.array(sizes, dtype=np.int64),
            "points": np.concatenate(chunks) if chunks else np.zeros(0, np.int64)}


def unpack_groups(arrays: Mapping[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Inverse of :func:`pack_groups` (start views without groups are kept, with an empty list)."""
    out: dict[str, list[np.ndarray]] = {str(n): [] for n in arrays["names"]}
    offsets = np.concatenate([[0], np.cumsum(arrays["sizes"])])
    for i, name in enumerate(arrays["group_view"]):
        out.setdefault(str(name), []).append(arrays["points"][offsets[i]:offsets[i + 1]].copy())
    return out


#: Largest stage cache size limit (``--cache-gb``), in GB: a petabyte (a larger one overflows the byte count).
MAX_CACHE_GB = 1_000_000


class StageCache:
    """Stage outputs on disk. ``root``: folder (created on first write); ``max_gb``: size limit (LRU)."""

    def __init__(self, root: str | Path | None = None, max_gb: float = 4.0) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        if isinstance(max_gb, bool) or not isinstance(max_gb, numbers.Real) or not 0 < max_gb <= MAX_CACHE_GB:
            raise ZeropsError(f"the cache size limit (--cache-gb) must be a number in (0, {MAX_CACHE_GB:,}] GB, "
                              f"got {max_gb!r}")
        self.max_bytes = int(max_gb * 1e9)
        self.hits = 0
        self.misses = 0
        self._bytes: int | None = None    # running total of the folder's size (scanned on first write)
        self._claimed: bool | None = False   # marker checked (True), refused (None), not yet (False)

    def path(self, stage: str, key: str) -> Path:
        if not _STAGE.fullmatch(stage) or not _KEY.fullmatch(key):
            raise ValueError(f"bad stage cache entry name {stage!r}/{key!r}")
        return self.root / stage / key[:2] / f"{key}.npz"

    # ---- what belongs to the cache ---------------------------------------------------------------------
    def is_marked(self) -> bool:
        return (self.root / MARKER).is_file()

    def _looks_like_old_cache(self) -> bool:
        """A folder written by a zerops from before the marker: nothing in it but entry-named files."""
        try:
            for stage in self.root.iterdir():
                if not (stage.is_dir() and not stage.is_symlink() and _STAGE.fullmatch(stage.name)):
                    return False
                for sub in stage.iterdir():
                    if not (sub.is_dir() and not sub.is_symlink() and re.fullmatch(r"[0-9a-f]{2}", sub.name)):
                        return False
                    for f in sub.iterdir():
                        if not (f.is_file() and self._is_entry_name(f)):
                            return False
        except OSError:
            return False
        return True

    @staticmethod
    def _is_entry_name(f: Path) -> bool:
        m = re.fullmatch(r"([0-9a-f]{64})\.npz", f.name) or _TMP.fullmatch(f.name)
        return bool(m) and m.group(1)[:2] == f.parent.name

    def check_is_cache(self, consequence: str = "") -> None:
        """Raise ZeropsError when ``root`` exists but is not a stage cache (a file, or a folder holding other
        things and no marker). A missing or empty folder is an empty cache."""
        tail = f"; {consequence}" if consequence else ""
        if self.root.exists() and not self.root.is_dir():
            raise ZeropsError(f"{self.root} is a file, not a zerops stage cache{tail}")
        if self.root.is_dir() and not self.is_marked() and not self._looks_like_old_cache():
            raise ZeropsError(f"{self.root} is not a zerops stage cache (no {MARKER} file, and it holds files "
                              f"zerops did not write){tail}")

    def claim(self) -> bool:
        """Make sure ``root`` is a stage cache: write the marker into a new or empty folder (or one written by
        an older zerops). False (nothing written) for a folder that holds anything else."""
        if self.is_marked():
            return True
        try:
            if self.root.exists() and any(self.root.iterdir()) and not self._looks_like_old_cache():
                return False
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / MARKER).write_text(json.dumps({"zerops_stage_cache": CACHE_FORMAT}) + "\n",
                                             encoding="utf-8")
        except OSError:
            return False
        return True

    def get(self, stage: str, key: str) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None (missing or unreadable entries count as misses)."""
        path = self.path(stage, key)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, KeyError):
            self.misses += 1
            return None
        try:
            os.utime(path)          # recently used: evicted last
        except OSError:
            pass
        self.hits += 1
        return arrays

    def put(self, stage: str, key: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Store arrays atomically; a cache that cannot be written is skipped with a warning, never fatal."""
        path = self.path(stage, key)
        if not self._claimed:
            if not self.claim():
                import warnings
                warnings.warn(f"zerops: {self.root} is not a zerops stage cache (it holds other files and no "
                              f"{MARKER}); continuing without the cache", stacklevel=2)
                self._claimed = None
            else:
                self._claimed = True
        if self._claimed is None:
            return
        try:
            old = path.stat().st_size if path.exists() else 0
            write_npz(path, compressed=False, **arrays)
            added = path.stat().st_size - old
        except OSError as err:
            import warnings
            warnings.warn(f"zerops: cannot write the stage cache at {self.root} ({err}); continuing without it",
                          stacklevel=2)
            return
        if self._bytes is None:
            self._bytes = sum(e[1] for e in self.entries())
        else:
            self._bytes += added
        if self._bytes > self.max_bytes:        # only then is the folder scanned and trimmed
            self._evict()

    # ---- maintenance ------------------------------------------------------------------------------
    def entries(self) -> list[tuple[Path, int, float]]:
        """(path, bytes, last use) of every entry: files named like entries, in a folder with the marker (or
        written by an older zerops); none for any other folder."""
        out = []
        if self.root.is_dir() and (self.is_marked() or self._looks_like_old_cache()):
            for p in self.root.glob("*/*/*.npz"):
                if not (_STAGE.fullmatch(p.parent.parent.name) and _KEY.fullmatch(p.stem)
                        and p.stem[:2] == p.parent.name):
                    continue
                try:
                    st = p.stat()
                except OSError:
                    continue
                if not os.path.isfile(p) or any(os.path.islink(q) for q in (p, p.parent, p.parent.parent)):
                    continue                 # never follow a symbolic link out of the cache
                out.append((p, st.st_size, st.st_mtime))
        return out

    def info(self) -> dict[str, Any]:
        """Entries and bytes per stage."""
        stages: dict[str, dict[str, int]] = {}
        for p, size, _ in self.entries():
            s = stages.setdefault(p.parent.parent.name, {"entries": 0, "bytes": 0})
            s["entries"] += 1
            s["bytes"] += size
        return {"root": str(self.root), "max_bytes": self.max_bytes, "stages": stages,
                "entries": sum(s["entries"] for s in stages.values()),
                "bytes": sum(s["bytes"] for s in stages.values())}

    def clear(self, stage: str | None = None) -> int:
        """Delete all entries (of one stage); returns how many were deleted. Only files named like entries
        are deleted, and only in a folder that is a stage cache: any other folder raises ZeropsError."""
        self.check_is_cache("nothing deleted")
        n = 0
        for p, _, _ in self.entries():
            if stage is None or p.parent.parent.name == stage:
                try:
                    p.unlink()
                    n += 1
                except OSError:
                    pass
        self._bytes = None
        return n

    def _evict(self) -> None:
        entries = self.entries()
        total = sum(e[1] for e in entries)
        for p, size, _ in sorted(entries, key=lambda e: e[2]):
            if total <= self.max_bytes:
                break
            try:
                p.unlink()
            except OSError:
                continue
            total -= size
        self._bytes = total
