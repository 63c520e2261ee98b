"""A self-contained HTML viewer for a result folder (``zerops view``).

:func:`viewer_html` returns one HTML page with the points and labels embedded (base64 in a JSON block) and a
small vanilla-JavaScript renderer: a ``<canvas>`` with an orthographic camera (drag to rotate, wheel to zoom,
shift/right-drag to pan, double-click to reset), a z-buffer so nearer points hide farther ones, color modes
part / semantic class / instance, a legend with colors, names, point counts and visibility checkboxes, and the
name of the part under the mouse. The page loads nothing from the network.

Machine-checkable hooks: ``<div id="legend" data-count="K" data-mode="...">`` with one ``.legend-item`` per
part (class, instance), ``<canvas id="view" data-points="M">`` and ``document.body.dataset.ready = "1"``
once the first frame is drawn.

The page's markup, style sheet and script are package data (``zerops/viz/static/viewer.{html,css,js}``); the
markup's placeholders ``%TITLE%``, ``%POINTS%``, ``%STYLE%``, ``%SCRIPT%`` and ``%DATA%`` are filled in one pass,
so the written page stays a single file. Opening and serving it live in :mod:`zerops.viz.serve`.
"""
from __future__ import annotations

import base64
import functools
import html
import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from zerops.errors import ZeropsError
from zerops.io.files import atomic_path
from zerops.io.palette import UNLABELED_GRAY, part_palette
from zerops.io.resultdir import ResultDir, load_result
from zerops.viz.serve import has_display, open_in_browser, serve_folder  # noqa: F401 - re-exported

__all__ = ["MODE_TITLES", "PLACEHOLDERS", "viewer_payload", "viewer_html", "write_viewer",
           "has_display", "open_in_browser", "serve_folder"]

MODE_TITLES = {"part": "parts", "semantic": "classes", "instance": "instances"}
PLACEHOLDERS = ("TITLE", "POINTS", "STYLE", "SCRIPT", "DATA")      # %NAME% in static/viewer.html
_PLACEHOLDER = re.compile("%(" + "|".join(PLACEHOLDERS) + ")%")


@functools.lru_cache(maxsize=None)
def _static(name: str) -> str:
    """The text of the package data file ``zerops/viz/static/<name>``."""
    return (resources.files("zerops.viz") / "static" / name).read_text(encoding="utf-8")


def _b64(arr: np.ndarray) -> str:
    """Base64 of ``arr``'s little-endian bytes."""
    return base64.b64encode(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()).decode("ascii")


def viewer_payload(result: ResultDir, max_points: int = 200_000, seed: int = 0) -> dict[str, Any]:
    """The data the page embeds: normalized float32 coordinates (at most ``max_points``, a fixed random
    subset of larger clouds) and, per color mode, entry-index labels (int32, −1 none) and the legend entries
    (id, name, RGB color, point count over all points)."""
    if not isinstance(max_points, (int, np.integer)) or max_points < 1:
        raise ZeropsError(f"max_points must be a positive integer, got {max_points!r}")
    n = result.n_points
    keep = np.arange(n) if n <= max_points else np.sort(
        np.random.default_rng(seed).choice(n, int(max_points), replace=False))
    xyz = result.xyz[keep].astype(np.float64)
    lo, hi = result.xyz.min(axis=0).astype(np.float64), result.xyz.max(axis=0).astype(np.float64)
    center = (lo + hi) / 2.0
    radius = float(np.linalg.norm(result.xyz.astype(np.float64) - center, axis=1).max()) or 1.0
    modes: dict[str, Any] = {}
    for by in result.available_groupings():
        labels = result.labels(by)
        entries = result.entries(by)
        top = max([e.id for e in entries] + [int(labels.max()) if labels.size else -1]) + 1
        palette = part_palette(top)
        index_of = np.full(top + 1, -1, dtype=np.int32)          # label id -> entry index (last slot: −1)
        for j, e in enumerate(entries):
            index_of[e.id] = j
        lab = labels[keep]
        mapped = index_of[np.where(lab >= 0, lab, top)]
        modes[by] = {
            "title": MODE_TITLES[by],
            "labels": _b64(mapped.astype(np.int32)),
            "entries": [{"id": e.id, "name": e.name, "points": e.points,
                         "part": by == "part", "color": [int(c) for c in palette[e.id]]} for e in entries],
            "unassigned": int((labels < 0).sum()),
        }
    levels = []
    if result.levels is not None:
        for lab in result.levels:
            count = int(lab.max()) + 1
            palette = part_palette(count)
            sizes = np.bincount(lab, minlength=count)
            levels.append({"parts": count, "labels": _b64(lab[keep].astype(np.int32)),
                           "entries": [{"id": j, "name": f"part {j}", "points": int(sizes[j]), "part": True,
                                        "color": [int(c) for c in palette[j]]} for j in range(count)]})
    return {
        "levels": levels,
        "level_chosen": int(result.level_chosen),
        "title": result.path.resolve().name,
        "source": result.source,
        "points_total": n,
        "points_shown": int(len(keep)),
        "center": center.tolist(),
        "radius": radius,
        "xyz": _b64(((xyz - center) / radius).astype(np.float32).reshape(-1)),
        "modes": modes,
        "gray": [int(c) for c in UNLABELED_GRAY],
    }


def _script_json(obj: Any) -> str:
    """JSON safe to place inside a <script> element (no '<', '>' or '&' characters)."""
    return (json.dumps(obj, separators=(",", ":"), allow_nan=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def viewer_html(result: ResultDir, max_points: int = 200_000) -> str:
    """One self-contained HTML page showing ``result`` (see the module docstring)."""
    payload = viewer_payload(result, max_points=max_points)
    title = f"zerops · {payload['title']}"
    fill = {"TITLE": html.escape(title), "POINTS": str(payload["points_shown"]), "STYLE": _static("viewer.css"),
            "SCRIPT": _static("viewer.js"), "DATA": _script_json(payload)}
    return _PLACEHOLDER.sub(lambda m: fill[m.group(1)], _static("viewer.html"))


def write_viewer(result_dir: str | os.PathLike, max_points: int = 200_000,
                 out: str | os.PathLike | None = None) -> Path:
    """Write ``<result_dir>/viewer.html`` (or ``out``) atomically and return its path."""
    result = load_result(result_dir)
    text = viewer_html(result, max_points=max_points)
    target = Path(out) if out is not None else result.path / "viewer.html"
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
