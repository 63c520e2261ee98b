"""Writing a segmentation result folder: parts.npz, parts.ply, summary.json, views.png (+ debug images).

The folder is written whole or not at all (:func:`zerops.io.outdir.atomic_folder`): every file goes into a
temporary sibling folder that replaces the result folder once complete, so an interrupted or failed run leaves
the previous complete result (or nothing), never a mix of two runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zerops.config import ZeroPSConfig
from zerops.io.files import write_json, write_npz
from zerops.io.palette import UNLABELED_GRAY, part_palette
from zerops.io.ply import write_result_ply
from zerops.result import PartResult
from zerops.version import __version__
from zerops.viz.sheets import contact_sheet, label_overlay, part_overlay, save_png

RESULT_FORMAT = 1


def write_segment_outputs(out_dir: str | Path, result: PartResult, config: ZeroPSConfig | None = None,
                          source: str | None = None, debug: bool = False) -> Path:
    """Write the result folder and return its path.

    Files: ``parts.npz`` (xyz (N,3) float32, part (N,) int64 [+ semantic, instance, part_names]),
    ``parts.ply`` (colored by part, int properties part/semantic/instance), ``summary.json``, ``views.png``
    (parts colored in every view); when parts are named also ``boxes.json`` (the detector's kept boxes per
    view) and ``labels.png`` (classes colored, boxes drawn); with ``debug``: ``debug/initial_<view>.png`` per
    start view (its initial groups),
    ``debug/extended_<start>.png`` (that start view's grown groups seen from every view) and
    ``debug/merged.png``.
    """
    from zerops.io.outdir import atomic_folder

    with atomic_folder(out_dir, "segment") as tmp:
        _write_outputs(tmp, result, config=config, source=source, debug=debug)
    return Path(out_dir)


def _write_outputs(out: Path, result: PartResult, config: ZeroPSConfig | None, source: str | None,
                   debug: bool) -> None:
    arrays: dict[str, np.ndarray] = {"xyz": result.xyz.astype(np.float32), "part": result.part.astype(np.int64)}
    if result.semantic is not None:
        arrays["semantic"] = result.semantic.astype(np.int64)
    if result.instance is not None:
        arrays["instance"] = result.instance.astype(np.int64)
    if result.part_names:
        arrays["part_names"] = np.array(result.part_names, dtype=str)
    if result.graph is not None:                 # the merge tree at several granularities (viewer slider)
        from zerops.stages.partgraph import hierarchy_levels

        levels, chosen = hierarchy_levels(result.graph, result.part if result.sample is None
                                          else result.graph.parts())
        if result.sample is not None:
            levels = levels[:, result._nearest_sample()]
        arrays["levels"] = levels
        arrays["level_chosen"] = np.int64(chosen)
    write_npz(out / "parts.npz", **arrays)
    write_result_ply(out / "parts.ply", result.xyz, result.part, semantic=result.semantic,
                     instance=result.instance)
    summary: dict[str, Any] = {"format": RESULT_FORMAT, "zerops_version": __version__, "source": source}
    summary.update(result.summary())
    if config is not None:
        summary["config"] = config.to_dict()
    write_json(out / "summary.json", summary)
    if result.views:
        n_parts = len(result.parts)
        names = (result.summary().get("part_labels") if result.part_names else None) or [None] * n_parts
        legend = [(f"part {k}" + (f" ({names[k]})" if names[k] else "") + f": {len(result.parts[k])} pts", c)
                  for k, c in enumerate(part_palette(n_parts))]
        sheet = contact_sheet([part_overlay(v, _in_views(result, result.part)) for v in result.views],
                              labels=[v.name for v in result.views],
                              legend=legend + [("unassigned", tuple(UNLABELED_GRAY))])
        save_png(out / "views.png", sheet)
    if result.part_names:
        voted = _voted_per_view(result)
        views_json = []
        for i, d in enumerate(result.detections):
            boxes = d.to_json(result.part_names)
            for b, part in zip(boxes, voted[i]):
                b["voted_part"] = part
            views_json.append({"view": result.views[i].name if result.views else i, "boxes": boxes})
        write_json(out / "boxes.json", {"part_names": list(result.part_names), "views": views_json})
        if result.views:
            legend = [(n, c) for n, c in zip(result.part_names, part_palette(len(result.part_names)))]
            sheet = contact_sheet([label_overlay(v, _in_views(result, result.semantic), result.part_names, d,
                                                 voted=[p >= 0 for p in voted[i]])
                                   for i, (v, d) in enumerate(zip(result.views, result.detections))],
                                  labels=[v.name for v in result.views],
                                  legend=legend + [("unlabeled", tuple(UNLABELED_GRAY))])
            save_png(out / "labels.png", sheet)
    if debug and result.views:
        _write_debug(out / "debug", result)


def _in_views(result: PartResult, labels: np.ndarray) -> np.ndarray:
    """Per-point labels indexed like the views (the sampled points for subsampled clouds)."""
    return labels if result.sample is None else labels[result.sample]


def _voted_per_view(result: PartResult) -> list[list[int]]:
    """For each view's boxes, the part each voted for (−1: it failed the two-dimensional check)."""
    voted: list[list[int]] = [[] for _ in result.detections]
    for rec in result.votes:
        voted[rec.view].append(rec.voted)
    return [v if len(v) == len(d) else [-1] * len(d) for v, d in zip(voted, result.detections)]


def groups_to_labels(groups: list[np.ndarray], n_points: int) -> np.ndarray:
    """(N,) labels from a list of point-index groups; later groups overwrite earlier ones, −1 elsewhere."""
    labels = np.full(n_points, -1, dtype=np.int64)
    for k, g in enumerate(groups):
        labels[g] = k
    return labels


def _write_debug(folder: Path, result: PartResult) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    views = result.views
    by_name = {v.name: v for v in views}
    n = len(result.part) if result.sample is None else len(result.sample)
    for start, groups in result.debug.get("initial", {}).items():
        save_png(folder / f"initial_{start}.png", part_overlay(by_name[start], groups_to_labels(groups, n)))
    for start, groups in result.debug.get("extended", {}).items():
        labels = groups_to_labels(groups, n)
        sheet = contact_sheet([part_overlay(v, labels) for v in views], labels=[v.name for v in views])
        save_png(folder / f"extended_{start}.png", sheet)
    partitions = result.debug.get("partitions", {})       # view index -> labels
    if partitions and views:        # what SAM said in each view, as the view-vote merge reads it
        keys = sorted(partitions)
        save_png(folder / "partitions.png", contact_sheet([part_overlay(views[k], partitions[k]) for k in keys],
                                                          labels=[views[k].name for k in keys]))
    merged = contact_sheet([part_overlay(v, _in_views(result, result.part)) for v in views],
                           labels=[v.name for v in views])
    save_png(folder / "merged.png", merged)
