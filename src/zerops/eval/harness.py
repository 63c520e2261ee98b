"""Evaluation harness: run a segmentation method over a PartNetE-layout folder and score it (METHOD.md §5).

A *method* is a callable ``PartNetEShape -> Prediction`` made by a registered factory
(:mod:`zerops.eval.methods`). A method sees the shape's cloud, category and part names; only
``oracle`` reads the labels. :func:`run_eval` caches each shape's prediction in ``out_dir/shapes/`` as soon
as it is made (atomic write), so an interrupted run resumes where it stopped, then writes
``out_dir/report.json`` and ``out_dir/report.md``.

Cache policy: ``out_dir/run.json`` and every cached shape carry a key made from the method name and its
options. A rerun with a different method or options **refuses** (ZeropsError) unless ``resume=False``, which
recomputes every shape. A cached shape whose point cloud changed, or that cannot be read, is recomputed.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from zerops.errors import ZeropsError
from zerops.eval.methods import get_method
from zerops.eval.partnete import list_partnete_shapes, load_partnete_shape
from zerops.eval.prediction import CACHE_VERSION, cache_path, cached_prediction, compute_prediction, method_key
from zerops.eval.report import CategoryScores, build_report, report_markdown
from zerops.io.files import load_json, write_bytes, write_json


def _check_run_manifest(out_dir: Path, method: str, options: Mapping[str, Any], key: str, resume: bool) -> None:
    manifest = out_dir / "run.json"
    if resume and manifest.is_file():
        try:
            old = load_json(manifest)
        except (ValueError, OSError) as exc:
            raise ZeropsError(f"{manifest}: cannot read this run manifest ({type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:120]}); choose another "
                              "output folder or rerun with --no-resume") from None
        if not isinstance(old, dict):
            raise ZeropsError(f"{manifest}: not a zerops run manifest (a JSON {type(old).__name__}, not an object); "
                              "choose another output folder or rerun with --no-resume")
        if old.get("key") not in (None, key):
            raise ZeropsError(
                f"{out_dir} holds results of method '{old.get('method')}' with options {old.get('options')}, "
                f"not '{method}' with {dict(options)}; choose another output folder or rerun without resuming"
            )
    write_json(manifest, {"method": method, "options": dict(options), "key": key, "cache_version": CACHE_VERSION},
               sort_keys=True)


def run_eval(
    data_dir: str | Path,
    out_dir: str | Path,
    method: str = "components",
    categories: Sequence[str] | None = None,
    limit: int | None = None,
    method_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    resume: bool = True,
    workers: int = 1,
    ray: str | None = None,
) -> dict[str, Any]:
    """Run ``method`` on every shape of a PartNetE-layout folder, score it, write the reports.

    Args:
        data_dir: folder with ``<Category>/<id>/{pc.ply, label.npy, meta.json}``.
        out_dir: output folder: ``report.json``, ``report.md``, ``run.json`` and ``shapes/*.npz``.
        method: registered method name (see :func:`available_methods`).
        categories: only these category folders; None = all.
        limit: at most this many shapes per category.
        method_options: keyword options for the method's factory (JSON-serialisable).
        progress: show a tqdm progress bar with ETA on stderr.
        resume: reuse cached shapes made with the same method and options; False recomputes every shape.
        workers: compute shapes in this many local processes (see :mod:`zerops.eval.parallel`).
        ray: compute shapes as Ray tasks: "" for a local Ray instance, or a cluster address.
    Returns:
        The report dict written to ``report.json`` (metrics in percent, None where not available).
    Long: the evaluation's steps in order (list, resume, compute, report); each step is a call.
    """
    from tqdm.auto import tqdm

    options = dict(method_options or {})
    if not isinstance(workers, int) or workers < 1:
        raise ZeropsError(f"workers must be a positive integer, got {workers!r}")
    out = Path(out_dir)
    folders = list_partnete_shapes(data_dir, categories=categories, limit=limit)
    if not folders:
        raise ZeropsError(f"{data_dir}: no shapes found (expected <Category>/<id>/pc.ply)")
    key = method_key(method, options)
    run = get_method(method, **options)  # validates the name and options before touching out_dir
    out.mkdir(parents=True, exist_ok=True)
    _check_run_manifest(out, method, options, key, resume)

    precomputed: set[str] = set()
    if workers > 1 or ray is not None:
        jobs = []
        for folder in folders:
            shape = load_partnete_shape(folder)
            if cached_prediction(cache_path(out, shape), shape, key, resume) is None:
                jobs.append((str(folder), str(cache_path(out, shape))))
        if jobs:
            from zerops.eval import parallel

            if ray is not None:
                done = parallel.compute_on_ray(method, options, jobs, key, address=ray or None, progress=progress)
            else:
                done = parallel.compute_parallel(method, options, jobs, key, workers, progress=progress)
            precomputed = set(done)

    scores: dict[str, CategoryScores] = {}
    computed = reused = 0
    bar = tqdm(folders, desc=f"eval {method}", unit="shape", disable=not progress or bool(precomputed),
               file=sys.stderr, dynamic_ncols=True)
    try:
        for folder in bar:
            shape = load_partnete_shape(folder)
            bar.set_postfix_str(f"{shape.category}/{shape.shape_id}"[:40], refresh=False)
            path = cache_path(out, shape)
            pred = cached_prediction(path, shape, key, resume or str(folder) in precomputed)
            if pred is not None and str(folder) in precomputed:
                computed += 1
            elif pred is not None:
                reused += 1
            else:
                pred = compute_prediction(run, shape, method, path, key)
                computed += 1
            scores.setdefault(shape.category, CategoryScores(shape.category)).add(shape, pred)
    finally:
        bar.close()

    report = build_report(method, options, scores, str(data_dir))
    report["run"] = {"computed": computed, "reused": reused}
    write_json(out / "report.json", report)
    write_bytes(out / "report.md", report_markdown(report).encode("utf-8"))
    return report
