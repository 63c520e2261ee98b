"""``zerops`` entry point: parse, run the command, and turn every failure into one line and an exit code.

Every user-caused problem ends in one line on stderr and a non-zero exit code (2); an interrupted run exits 130
(143 when terminated).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Callable, Sequence

from zerops.cli.parser import build_parser
from zerops.errors import ZeropsError


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every cleanup (temporary folders, worker pools) runs."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _cache_in_use(args: argparse.Namespace) -> bool:
    """Whether the run's stage cache holds entries it may resume from (a file, a foreign folder or an empty
    cache does not: the run went on without it, or had stored nothing yet)."""
    try:
        from zerops.cache import StageCache

        cache = StageCache(getattr(args, "cache", None))
        return cache.root.is_dir() and cache.is_marked() and bool(cache.entries())
    except Exception:  # noqa: BLE001 - the note is best effort; never a second error while interrupted
        return False


def _interrupt_note(args: argparse.Namespace) -> str:
    """What an interrupted command leaves behind, for the one line it prints."""
    command = getattr(args, "command", None)
    if command == "segment":
        if args.no_cache or not _cache_in_use(args):
            return "nothing was written"
        return "nothing was written; SAM's finished stages are in the stage cache, so a rerun resumes them"
    if command == "render":
        return "nothing was written"
    if command == "eval":
        return f"finished shapes are kept in {Path(args.out) / 'shapes'}; rerun to resume"
    if command == "synth":
        return "the shapes written so far are complete"
    return ""


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: object = None, line: str | None = None) -> None:
    """A warning as one line on stderr (Python's default adds the source line that issued it)."""
    text = " ".join(str(message).split())
    print(text if text.startswith("zerops:") else f"zerops: warning: {text}", file=sys.stderr)


def _printable_streams() -> None:
    """stdout / stderr write what their encoding cannot hold as escapes (``PYTHONIOENCODING=ascii`` and a
    non-ASCII --out path) instead of raising UnicodeEncodeError in the middle of the one line."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) == "strict":
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError, TypeError):    # a closed or special stream: left as it is
                pass


def _ignore_late_signals() -> None:
    """The process's outcome is decided (its work done or its error found): a SIGINT or SIGTERM from now on
    changes nothing, so it is ignored and the exit code and the one line stand."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    return _main(argv, exiting=False)


def run() -> int:
    """The process entry point (the ``zerops`` script, ``python -m zerops``): :func:`main`, and once the
    command has ended a late SIGINT / SIGTERM is ignored (it would end the process by the signal, without the
    one line, in its last moments)."""
    return _main(None, exiting=True)


def _main(argv: Sequence[str] | None, exiting: bool) -> int:
    _printable_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    in_main = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            try:
                return int(func(args) or 0)
            finally:
                if exiting and in_main:
                    _ignore_late_signals()
    except ZeropsError as exc:
        print(f"zerops: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        note = _interrupt_note(args)
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"zerops: {what}" + (f" ({note})" if note else ""), file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except BrokenPipeError:
        return 1
    except MemoryError:
        print("zerops: error: not enough memory for this input; use fewer points (--points, --max-points) or "
              "a smaller --image-size", file=sys.stderr)
        return 2
    except OSError as exc:      # the file system said no (disk full, permissions, a file vanished)
        if os.environ.get("ZEROPS_DEBUG"):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"zerops: error: {where}{' '.join(str(exc.strerror or exc).split())}", file=sys.stderr)
        return 2
    except Exception as exc:  # an internal error still ends in one line unless debugging
        if os.environ.get("ZEROPS_DEBUG"):
            raise
        print(f"zerops: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
              "(set ZEROPS_DEBUG=1 for the traceback and please report it)", file=sys.stderr)
        return 1
    finally:
        if in_main and old_term is not None and not exiting:
            signal.signal(signal.SIGTERM, old_term)
