"""Part names: the PartNetE category -> part-names table bundled with zerops, and the names a labeling run uses."""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Sequence

from zerops.detectors.base import check_part_names
from zerops.errors import ZeropsError

__all__ = ["load_partnete_meta", "resolve_part_names"]


def load_partnete_meta(path: str | os.PathLike | None = None) -> dict[str, list[str]]:
    """Category -> part names table; the bundled ``PartNetE_meta.json`` when ``path`` is None."""
    try:
        if path is None:
            text = resources.files("zerops").joinpath("data/PartNetE_meta.json").read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        table = json.loads(text)
    except FileNotFoundError:
        raise ZeropsError(f"{path}: part-name table not found") from None
    except (OSError, ValueError) as exc:
        raise ZeropsError(f"{path or 'PartNetE_meta.json'}: cannot read part-name table ({exc})") from None
    if not isinstance(table, dict) or not all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in table.values()
    ):
        raise ZeropsError(f"{path or 'PartNetE_meta.json'}: expected a JSON object category -> list of part names")
    return {str(k): list(v) for k, v in table.items()}


def resolve_part_names(part_names: Sequence[str] | str | None, category: str | None) -> list[str] | None:
    """The part names to label with: the given list (or comma-separated string), else the PartNetE names of
    ``category``; None when neither is given."""
    if part_names is not None:
        return check_part_names(part_names)
    if category is None:
        return None
    table = load_partnete_meta()
    match = {k.lower(): k for k in table}.get(str(category).strip().lower())
    if match is None:
        raise ZeropsError(f"unknown PartNetE category '{category}': give --parts, or one of "
                          f"{', '.join(sorted(table))}")
    return list(table[match])
