"""Output folders: checked before any work, written whole or not at all.

``check_out_dir(path)`` runs before a command does any work: ``--out`` must be a folder zerops may write (it
does not exist yet and can be made, or it is empty, or zerops wrote it). ``atomic_folder(path)`` then gives a
temporary sibling folder to write into; when the block ends without an exception the new folder replaces
``path`` (an earlier result is moved aside, the new one renamed in, the old one deleted). SIGINT and SIGTERM
are held back for the two renames, so an interrupted run leaves either the previous complete result or none,
never a mix.

Ownership: a result folder holds the marker file :data:`MARKER`. zerops replaces a folder only when it is empty,
or when everything in it is something zerops writes (its outputs, ``viewer.html``, ``export/``, the marker);
a folder holding any other file is refused before the run starts, so no user file is ever deleted.
"""
from __future__ import annotations

import contextlib
import errno
import fnmatch
import json
import os
import re
import secrets
import shutil
import signal
import threading
from pathlib import Path
from typing import Callable, Iterator

from zerops.errors import ZeropsError

MARKER = ".zerops-result"
#: Everything zerops writes into a result folder (`segment`, `render`, `view`, `export`).
OWN_NAMES = ("parts.npz", "parts.ply", "summary.json", "views.png", "labels.png", "boxes.json", "debug",
             "viewer.html", "export", "view_*.png", MARKER)
#: What zerops writes inside the folders it owns in a result folder (`debug/` by segment --debug, `export/`).
OWN_INSIDE = {"debug": ("initial_*.png", "extended_*.png", "merged.png"),
              "export": ("part_[0-9]*.*", "semantic_[0-9]*.*", "instance_[0-9]*.*", "labelled.*")}
# zerops.io.files.atomic_path's temporaries, exactly: .<stem>.<pid>.<8 hex digits>.tmp<suffix>
_TMP_NAME = re.compile(r"\.(?P<stem>.+)\.\d+\.[0-9a-f]{8}\.tmp(?P<suffix>\.\w+)?")
_SIBLING = re.compile(r"\.(?P<name>.+)\.zerops-(?P<kind>new|old)-(?P<pid>\d+)-[0-9a-f]+")


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    """``name`` is one of ``patterns``, or atomic_path's temporary for one of them."""
    if any(fnmatch.fnmatchcase(name, pat) for pat in patterns):
        return True
    m = _TMP_NAME.fullmatch(name)
    return bool(m) and any(fnmatch.fnmatchcase(m.group("stem") + (m.group("suffix") or ""), p) for p in patterns)


def foreign_entries(folder: Path, patterns: tuple[str, ...]) -> list[str]:
    """What in ``folder`` zerops did not write: names outside ``patterns``, symbolic links and sub-folders
    (and, for ``debug/`` / ``export/``, anything in them that is not zerops's, shown as ``export/name``)."""
    out = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        inside = OWN_INSIDE.get(entry.name) if patterns is OWN_NAMES else None
        if inside is not None and entry.is_symlink():
            out.append(f"{entry.name} (a symbolic link)")
        elif inside is not None and entry.is_dir(follow_symlinks=False):
            out += [f"{entry.name}/{n}" for n in foreign_entries(Path(entry.path), inside)]
        elif inside is not None or entry.is_dir(follow_symlinks=False) or not _matches(entry.name, patterns):
            out.append(entry.name)
    return out


def _target(path: str | os.PathLike) -> Path:
    target = Path(os.path.abspath(os.fspath(path)))
    return target.resolve() if target.is_symlink() else target


def check_writable_parent(target: Path, what: str = "--out") -> None:
    """The nearest existing folder above ``target`` must be a folder zerops can create things in."""
    ancestor = target.parent
    while not ancestor.exists():
        if ancestor.is_symlink():
            raise ZeropsError(f"{what} {target}: {ancestor} is a broken symbolic link")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ZeropsError(f"{what} {target}: {ancestor} is a file, not a folder")
    try:
        probe = ancestor / f".zerops-probe-{os.getpid()}-{secrets.token_hex(4)}"
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as exc:
        raise ZeropsError(f"{what} {target}: cannot write in {ancestor} ({exc.strerror or exc})") from None


def _check_name_lengths(target: Path, what: str, sibling: bool) -> None:
    """Every name zerops would create along ``target`` (and, with ``sibling``, its temporary sibling) fits the
    file system."""
    from zerops.limits import MAX_OUT_NAME

    longest = MAX_OUT_NAME if sibling else 255
    for i, part in enumerate(target.parts[1:], 2):
        size = len(os.fsencode(part))
        last = i == len(target.parts)
        if size > (longest if last else 255) and (last or not Path(*target.parts[:i]).exists()):
            why = " (the file system's 255 less its temporary-name affixes)" if sibling and last else ""
            raise ZeropsError(f"{what}: the name '{part[:40]}…' is {size} bytes long; zerops's folder names may "
                              f"have at most {longest if last else 255}{why}")
    if len(os.fsencode(str(target))) > 4000:
        raise ZeropsError(f"{what}: the path is {len(os.fsencode(str(target)))} bytes long; at most 4000")


def check_out_dir(path: str | os.PathLike, what: str = "--out", own_only: bool = True) -> Path:
    """Check, before any work, that ``path`` can become a result folder; return it as an absolute path.

    ``path`` may not exist yet (its nearest existing parent must be writable), or be an empty folder, or a
    folder zerops wrote (the marker, or an older result) holding nothing but zerops's outputs. With
    ``own_only=False`` (eval and synth folders, which are added to, never replaced) any folder is accepted.
    """
    target = _target(path)
    _check_name_lengths(target, what, sibling=own_only)
    if target.exists() and not target.is_dir():
        kind = "a file" if target.is_file() else "not a folder"
        raise ZeropsError(f"{what} {path} is {kind}; give a folder (it is created when missing)")
    if not target.exists():
        check_writable_parent(target, what)
        return target
    if not os.access(target, os.W_OK | os.X_OK):
        raise ZeropsError(f"{what} {path}: cannot write in this folder (permission denied)")
    check_writable_parent(target, what)          # the new folder is made next to it, then renamed
    if not own_only:
        return target
    try:
        names = sorted(os.listdir(target))
        foreign = foreign_entries(target, OWN_NAMES)
    except OSError as exc:
        raise ZeropsError(f"{what} {path}: cannot list the folder ({exc.strerror or exc})") from None
    if not names:
        return target
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise ZeropsError(f"{what} {path} holds files zerops did not write ({shown}); zerops replaces a result "
                          "folder as a whole, so give an empty or new folder")
    if MARKER not in names and not ({"summary.json", "parts.npz"} <= set(names) or "views.png" in names):
        raise ZeropsError(f"{what} {path} is not a zerops result folder (no {MARKER}); give an empty or new folder")
    return target


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _tidy_siblings(target: Path) -> None:
    """Remove what a killed zerops (SIGKILL, power loss) left next to ``target``: an unfinished new folder is
    deleted; a previous result moved aside is put back when ``target`` is missing, else deleted."""
    try:
        siblings = list(target.parent.iterdir())
    except OSError:
        return
    for s in siblings:
        m = _SIBLING.fullmatch(s.name)
        if not m or m.group("name") != target.name or _pid_alive(int(m.group("pid"))):
            continue
        if m.group("kind") == "old" and not target.exists():
            with contextlib.suppress(OSError):
                os.rename(s, target)
            continue
        shutil.rmtree(s, ignore_errors=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back (delivered when the block ends) where the platform allows it."""
    if hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread():
        sigs = {signal.SIGINT, signal.SIGTERM}
        old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
    else:  # pragma: no cover - non-POSIX
        yield


_RACE_ERRNOS = (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT)


def _swap_in(new: Path, target: Path, recheck: Callable[[], None] | None = None) -> None:
    """Rename ``new`` onto ``target`` (an earlier one moved aside, then deleted). ``recheck`` runs first, with the
    signals held: the caller's ownership check, again, in case another run wrote ``target`` meanwhile. A rename
    that fails because another run moved ``target`` at the same moment is one ZeropsError; ``new`` is then
    discarded by the caller and ``target`` is left as the other run made it."""
    try:
        with _signals_held():
            if recheck is not None:
                recheck()
            if not target.exists():
                os.rename(new, target)
                return
            old = target.with_name(f".{target.name}.zerops-old-{os.getpid()}-{secrets.token_hex(4)}")
            os.rename(target, old)
            try:
                os.rename(new, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.rename(old, target)
                raise
    except OSError as exc:
        if exc.errno not in _RACE_ERRNOS:
            raise
        raise ZeropsError(f"{target}: another run wrote this folder at the same time ({exc.strerror}); this run's "
                          "result was discarded and the other's kept: run one command per output folder") from None
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, kind: str | None,
                  recheck: Callable[[], None] | None = None) -> Iterator[Path]:
    """Yield a new empty folder next to ``path``; when the block succeeds, it becomes ``path`` (replacing an
    earlier result, see :func:`check_out_dir`); when it fails or is interrupted, it is deleted and ``path`` is
    left as it was. ``kind`` names the result in the :data:`MARKER` file; ``kind=None`` writes no marker and
    skips the ownership check (for folders that are not result folders, whose caller checked ``path``; its
    ``recheck`` runs again just before the swap). With ``kind``, :func:`check_out_dir` is that recheck."""
    if recheck is None and kind is not None:
        def recheck() -> None:
            check_out_dir(path)
    target = check_out_dir(path) if kind is not None else _target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _tidy_siblings(target)
    new = target.with_name(f".{target.name}.zerops-new-{os.getpid()}-{secrets.token_hex(4)}")
    os.mkdir(new)                                  # mode 0777 & ~umask, like the files in it
    try:
        yield new
        if kind is not None:
            from zerops.version import __version__

            (new / MARKER).write_text(json.dumps({"zerops_result": kind, "zerops_version": __version__}) + "\n",
                                      encoding="utf-8")
        _swap_in(new, target, recheck)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
