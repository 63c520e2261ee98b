"""Where ``zerops convert`` may write: never over what it reads, and ``--overwrite`` only over its own folders."""
from __future__ import annotations

import os
from pathlib import Path

from zerops.errors import ZeropsError
from zerops.io.files import load_json
from zerops.io.outdir import foreign_entries

__all__ = ["CONVERT_NAMES", "check_apart", "check_convert_out"]

#: What ``convert`` writes into its shape folder; ``--overwrite`` replaces only a folder holding nothing else.
CONVERT_NAMES = ("pc.ply", "label.npy", "meta.json")


def check_convert_out(out: Path, overwrite: bool) -> None:
    """OUT must be new, empty, or (with ``overwrite``) a shape folder convert wrote: nothing but
    :data:`CONVERT_NAMES` (and atomic_path's temporaries of them) and a ``meta.json`` naming zerops's converter.
    Anything else is refused before any work, so ``--overwrite`` never deletes a file zerops did not write."""
    if out.exists() and not out.is_dir():
        raise ZeropsError(f"{out}: exists and is not a folder")
    if not out.is_dir():
        return
    try:
        names = os.listdir(out)
        foreign = foreign_entries(out, CONVERT_NAMES)
    except OSError as exc:
        raise ZeropsError(f"--out {out}: cannot list the folder ({exc.strerror or exc})") from None
    if not names:
        return
    if not overwrite:
        raise ZeropsError(f"{out}: output folder exists and is not empty; use --overwrite to replace it")
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise ZeropsError(f"--out {out} holds files zerops convert did not write ({shown}); --overwrite replaces "
                          f"only a shape folder holding nothing but {', '.join(CONVERT_NAMES)}; nothing was touched")
    try:
        meta = load_json(out / "meta.json")
    except (OSError, ValueError, ZeropsError):
        meta = None
    if not isinstance(meta, dict) or meta.get("converter") != "zerops.io.convert":
        raise ZeropsError(f"--out {out} is a shape folder zerops convert did not write (its meta.json does not "
                          "name the converter zerops.io.convert); --overwrite replaces only convert's own folders; "
                          "nothing was touched")


def check_apart(out: Path, inputs: list[Path]) -> None:
    """OUT may not be an input, hold one, or lie inside an input folder (``--overwrite`` would delete it)."""
    target = Path(os.path.realpath(out))
    for given in inputs:
        src = Path(os.path.realpath(given))
        if target == src or target in src.parents or src in target.parents:
            how = "is" if target == src else "holds" if target in src.parents else "lies inside"
            raise ZeropsError(f"--out {out} {how} the input {given}; convert never writes over what it reads: give "
                              "an output folder apart from the asset")
