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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    in_main = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        return int(func(args) or 0)
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
        if in_main and old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
