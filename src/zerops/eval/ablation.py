"""Ablation grids: run ``zerops eval`` over a grid of settings and write one table per metric.

    zerops eval DATA --out DIR --method zerops --detector oracle:glip-like \\
        --ablate extension,penalty,check --sweep merge_threshold=0.2,0.3,0.5 --sweep views=partslip10,zerops20

Rows are the Cartesian product of the sweeps, each with the full method and then with one component
switched off at a time (``--ablate``); columns are the categories and the overall score, as in the paper's
ablation tables. Each row is an ordinary evaluation run in ``DIR/runs/<row>/`` (cached and resumable); with
the stage cache a row that only changes merging or labeling settings reuses SAM's and the detector's work.
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from zerops.errors import ZeropsError
from zerops.io.files import atomic_path, write_json

__all__ = ["ABLATIONS", "parse_sweep", "grid_rows", "run_grid", "grid_tables_markdown"]

# --ablate NAME -> the method option that switches the component off
ABLATIONS = {"extension": "no_extension", "penalty": "no_penalty", "check": "no_check"}
METRICS = ("avg_iou", "miou", "map50")


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_sweep(spec: str) -> tuple[str, list[Any]]:
    """``"merge_threshold=0.2,0.3"`` -> ("merge_threshold", [0.2, 0.3])."""
    name, sep, values = spec.partition("=")
    name = name.strip().replace("-", "_")
    name = {"prompts": "n_prompts"}.get(name, name)
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not name or not items:
        raise ZeropsError(f"--sweep '{spec}' must look like NAME=V1,V2 (e.g. merge_threshold=0.2,0.3,0.5)")
    values = [_value(v) for v in items]
    want = _NUMBERS.get(name)
    if want is not None:
        for text, v in zip(items, values):
            if isinstance(v, str) or (want is int and not isinstance(v, int)):
                kind = "a whole number" if want is int else "a number"
                raise ZeropsError(f"--sweep {name}: '{text}' is not {kind}")
    return name, values


# swept settings that must be numbers (the others are names, checked by the method itself)
_NUMBERS = {"merge_threshold": float, "passes": int, "n_prompts": int, "max_points": int}


def grid_rows(sweeps: Sequence[tuple[str, list[Any]]], ablate: Sequence[str],
              base: Mapping[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(row name, method options) for every row of the grid, in table order."""
    unknown = [a for a in ablate if a not in ABLATIONS]
    if unknown:
        raise ZeropsError(f"unknown --ablate component(s) {', '.join(unknown)}: use {', '.join(ABLATIONS)}")
    names = [n for n, _ in sweeps]
    if len(set(names)) != len(names):
        raise ZeropsError(f"a setting is swept twice: {', '.join(names)}")
    rows = []
    for combo in itertools.product(*[values for _, values in sweeps]) if sweeps else [()]:
        opts = dict(base or {})
        opts.update(zip(names, combo))
        label = ", ".join(f"{n}={v}" for n, v in zip(names, combo)) or "full"
        rows.append((label, dict(opts)))
        for a in ablate:
            rows.append((f"{label} w/o {a}" if names else f"w/o {a}", {**opts, ABLATIONS[a]: True}))
    return rows


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=_-]+", "_", label).strip("_") or "full"


def run_grid(data_dir: str | Path, out_dir: str | Path, method: str, sweeps: Sequence[tuple[str, list[Any]]],
             ablate: Sequence[str], base_options: Mapping[str, Any] | None = None,
             categories: Sequence[str] | None = None, limit: int | None = None, progress: bool = True,
             resume: bool = True, workers: int = 1, ray: str | None = None) -> dict[str, Any]:
    """Evaluate every row of the grid; writes ``ablation.json`` and ``ablation.md`` in ``out_dir``."""
    from zerops.eval.harness import run_eval
    from zerops.eval.methods import get_method

    rows = grid_rows(sweeps, ablate, base_options)
    for _, opts in rows:                       # every row's options are valid before anything runs
        get_method(method, **opts)
    out = Path(out_dir)
    results = []
    for label, opts in rows:
        report = run_eval(data_dir, out / "runs" / _slug(label), method=method, categories=categories,
                          limit=limit, method_options=opts, progress=progress, resume=resume, workers=workers,
                          ray=ray)
        results.append({"row": label, "options": opts, "overall": report["overall"],
                        "per_category": report["per_category"]})
    grid = {"method": method, "data_dir": str(data_dir), "rows": results}
    write_json(out / "ablation.json", grid)
    with atomic_path(out / "ablation.md") as tmp:
        tmp.write_text(grid_tables_markdown(grid), encoding="utf-8")
    return grid


def grid_tables_markdown(grid: Mapping[str, Any]) -> str:
    """One markdown table per metric that has values: rows = settings, columns = categories + Overall."""
    rows = grid["rows"]
    cats = sorted({c for r in rows for c in r["per_category"]})
    parts = [f"# Ablation: {grid['method']} on `{grid['data_dir']}`\n"]
    titles = {"avg_iou": "Average IoU", "miou": "mIoU", "map50": "mAP50"}
    for metric in METRICS:
        if all(r["overall"].get(metric) is None for r in rows):
            continue
        parts.append(f"\n## {titles[metric]} (%)\n")
        parts.append("| setting | Overall | " + " | ".join(cats) + " |")
        parts.append("|---" * (len(cats) + 2) + "|")
        for r in rows:
            vals = [r["overall"].get(metric)] + [r["per_category"].get(c, {}).get(metric) for c in cats]
            parts.append(f"| {r['row']} | " + " | ".join("-" if v is None else f"{v:.1f}" for v in vals) + " |")
    parts.append("\nSeconds per shape: " + ", ".join(
        f"{r['row']} {r['overall'].get('seconds_per_shape') or 0:.1f}" for r in rows))
    return "\n".join(parts) + "\n"
