"""Evaluation harness: run a segmentation method over a PartNetE-layout folder and score it (spec §5).

A *method* is a callable ``PartNetEShape -> Prediction`` made by a registered factory
(:func:`register_method`, :func:`get_method`). A method sees the shape's cloud, category and part names; only
``oracle`` reads the labels. :func:`run_eval` caches each shape's prediction in ``out_dir/shapes/`` as soon
as it is made (atomic write), so an interrupted run resumes where it stopped, then writes
``out_dir/report.json`` and ``out_dir/report.md``.

Cache policy: ``out_dir/run.json`` and every cached shape carry a key made from the method name and its
options. A rerun with a different method or options **refuses** (ZeropsError) unless ``resume=False``, which
recomputes every shape. A cached shape whose point cloud changed, or that cannot be read, is recomputed.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import sys
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from zerops.errors import ZeropsError
from zerops.io.files import atomic_path, json_dumps, write_json, write_npz
from zerops.eval.metrics import AverageIoU, InstanceMAP, SemanticMIoU, mean_over_categories
from zerops.eval.partnete import PartNetEShape, list_partnete_shapes, load_partnete_shape

CACHE_VERSION = 1
METRICS = ("avg_iou", "miou", "map50")
METRIC_TITLES = {"avg_iou": "Average IoU", "miou": "Semantic mIoU", "map50": "Instance mAP50"}
# modules that register methods when imported; optional ones are skipped when not installed
_PROVIDERS = ("zerops.eval.baselines", "zerops.pipeline")


@dataclass
class Prediction:
    """One method's output for one shape (N points).

    Attributes:
        part: (N,) int64 class-agnostic part id per point, -1 = no part.
        semantic: (N,) int64 index into the shape's part names, -1 = none; None if the method has no labels.
        instance: (N,) int64 instance id per point, -1 = none; None if the method has no labels.
        instance_scores: confidence per instance id (missing ids count 1.0), or None.
        seconds: wall time of the method on this shape (filled in by the harness when left at 0).
        extra: free-form JSON-serialisable details (cached with the shape).
    """

    part: np.ndarray
    semantic: np.ndarray | None = None
    instance: np.ndarray | None = None
    instance_scores: dict[int, float] | None = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


Method = Callable[[PartNetEShape], Prediction]
MethodFactory = Callable[..., Method]

_registry: dict[str, MethodFactory] = {}


def register_method(name: str, factory: MethodFactory) -> None:
    """Register ``factory(**options) -> method`` under ``name`` (re-registering replaces it)."""
    if not name or not isinstance(name, str):
        raise ZeropsError(f"a method name must be a non-empty string, got {name!r}")
    _registry[name] = factory


def _load_providers(until: str | None = None) -> list[str]:
    """Import the modules that register methods, stopping once ``until`` is registered (so a broken
    optional module cannot break the methods registered before it). Returns import failures of the
    optional modules as messages (``zerops.eval.baselines`` must import)."""
    failures = []
    for module in _PROVIDERS:
        if until is not None and until in _registry:
            break
        if module in sys.modules or importlib.util.find_spec(module) is None:
            continue
        try:
            importlib.import_module(module)
        except ImportError as exc:
            if module == _PROVIDERS[0]:
                raise
            failures.append(f"{module} failed to import ({exc})")
    return failures


def available_methods() -> list[str]:
    """Names of all registered methods, sorted (methods of modules that fail to import are missing)."""
    _load_providers()
    return sorted(_registry)


def get_method(name: str, **options: Any) -> Method:
    """Build the registered method ``name`` (or a plug-in factory ``package.module:function``) with
    ``options`` (ZeropsError for unknown names/options)."""
    failures = _load_providers(until=name)
    if name not in _registry and ":" in name:       # a plug-in factory, "package.module:make_method"
        from zerops.registry import load_plugin_class
        register_method(name, load_plugin_class(name, "method"))
    if name not in _registry:
        note = f" ({'; '.join(failures)})" if failures else ""
        raise ZeropsError(f"unknown method '{name}'; available: {', '.join(sorted(_registry))}{note}")
    factory = _registry[name]
    try:
        inspect.signature(factory).bind(**options)
    except TypeError:
        params = [p for p in inspect.signature(factory).parameters if not p.startswith("_")]
        raise ZeropsError(
            f"method '{name}' does not accept options {sorted(options)}; it accepts: {', '.join(params) or 'none'}"
        ) from None
    return factory(**options)


# ----------------------------------------------------------------------------------------------- cache


# options that change where or how fast a method runs, never its output: not part of the cache key
RUNTIME_OPTIONS = frozenset({"cache"})


def method_key(method: str, options: Mapping[str, Any]) -> str:
    """Short hash identifying a method and its options (what a cached prediction was made with)."""
    opts = {k: v for k, v in options.items() if k not in RUNTIME_OPTIONS}
    text = json_dumps({"method": method, "options": opts, "v": CACHE_VERSION}, sort_keys=True, indent=None)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def shape_fingerprint(shape: PartNetEShape) -> str:
    """Short hash of the shape's points (detects a dataset that changed under a cached result)."""
    h = hashlib.sha256(np.ascontiguousarray(shape.cloud.xyz, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def cache_path(out_dir: Path, shape: PartNetEShape) -> Path:
    return out_dir / "shapes" / f"{shape.category}__{shape.shape_id}.npz"


def save_prediction(path: Path, pred: Prediction, key: str, fingerprint: str) -> None:
    """Atomically write a prediction (arrays, scores, seconds, extra) with its cache key."""
    arrays: dict[str, np.ndarray] = {
        "part": np.asarray(pred.part, dtype=np.int64),
        "seconds": np.float64(pred.seconds),
        "key": np.array(key),
        "fingerprint": np.array(fingerprint),
        "extra": np.array(json_dumps(pred.extra, sort_keys=True, indent=None)),
    }
    if pred.semantic is not None:
        arrays["semantic"] = np.asarray(pred.semantic, dtype=np.int64)
    if pred.instance is not None:
        arrays["instance"] = np.asarray(pred.instance, dtype=np.int64)
    if pred.instance_scores:
        ids = sorted(pred.instance_scores)
        arrays["score_ids"] = np.asarray(ids, dtype=np.int64)
        arrays["score_values"] = np.asarray([pred.instance_scores[i] for i in ids], dtype=np.float64)
    write_npz(path, **arrays)


def load_prediction(path: Path) -> tuple[Prediction, str, str]:
    """Read a cached prediction; returns (prediction, method key, shape fingerprint)."""
    with np.load(path, allow_pickle=False) as z:
        scores = None
        if "score_ids" in z:
            scores = {int(i): float(s) for i, s in zip(z["score_ids"], z["score_values"])}
        pred = Prediction(
            part=z["part"],
            semantic=z["semantic"] if "semantic" in z else None,
            instance=z["instance"] if "instance" in z else None,
            instance_scores=scores,
            seconds=float(z["seconds"]),
            extra=json.loads(str(z["extra"])),
        )
        return pred, str(z["key"]), str(z["fingerprint"])


def _check_prediction(pred: Any, shape: PartNetEShape, method: str) -> Prediction:
    if not isinstance(pred, Prediction):
        raise ZeropsError(f"method '{method}' returned {type(pred).__name__}, expected a Prediction")
    n = shape.n_points
    for name in ("part", "semantic", "instance"):
        arr = getattr(pred, name)
        if arr is None:
            if name == "part":
                raise ZeropsError(f"method '{method}' returned no part labels for {shape.path}")
            continue
        arr = np.asarray(arr)
        if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
            raise ZeropsError(f"method '{method}' returned {name} labels of shape {arr.shape} ({arr.dtype}) "
                              f"for {shape.path}; expected ({n},) integers")
        top = len(shape.part_names) if name == "semantic" else n
        if n and (int(arr.min()) < -1 or int(arr.max()) >= top):
            raise ZeropsError(f"method '{method}' returned {name} labels in [{int(arr.min())}, {int(arr.max())}] "
                              f"for {shape.path}; they must lie in [-1, {top - 1}]")
        setattr(pred, name, arr.astype(np.int64, copy=False))
    if (pred.semantic is None) != (pred.instance is None):
        raise ZeropsError(f"method '{method}' must return both semantic and instance labels, or neither")
    return pred


# ----------------------------------------------------------------------------------------------- scoring


class CategoryScores:
    """Streams shapes of one category into the three metric accumulators.

    Part names may differ between shapes of a category (custom data): classes are matched by name, in
    order of first appearance.
    """

    def __init__(self, category: str) -> None:
        self.category = category
        self.classes: list[str] = []
        self.avg = AverageIoU()
        self.sem: list[tuple[np.ndarray, np.ndarray]] = []
        self.ins: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict | None]] = []
        self.labelled = True
        self.shapes = 0
        self.seconds = 0.0

    def _to_category_classes(self, semantic: np.ndarray, names: Sequence[str]) -> np.ndarray:
        for name in names:
            if name not in self.classes:
                self.classes.append(name)
        table = np.array([self.classes.index(n) for n in names] + [-1], dtype=np.int64)
        ok = (semantic >= 0) & (semantic < len(names))
        return np.where(ok, table[np.where(ok, semantic, len(names))], -1)

    def add(self, shape: PartNetEShape, pred: Prediction) -> None:
        self.shapes += 1
        self.seconds += float(pred.seconds)
        self.avg.add(shape.instance, pred.part)
        gt_sem = self._to_category_classes(shape.semantic, shape.part_names)
        if pred.semantic is None:
            self.labelled = False
            self.sem.append((gt_sem, np.full_like(gt_sem, -1)))
            return
        p_sem = self._to_category_classes(pred.semantic, shape.part_names)
        self.sem.append((gt_sem, p_sem))
        self.ins.append((gt_sem, shape.instance, p_sem, pred.instance, pred.instance_scores))

    def summary(self) -> tuple[dict[str, Any], dict[str, dict[str, float | None]]]:
        """(category row, per-class details {class: {"iou", "ap"}}) in percent; None = not available."""
        row: dict[str, Any] = {"avg_iou": self.avg.summary(), "miou": None, "map50": None,
                               "shapes": self.shapes, "instances": self.avg.n_instances,
                               "seconds_per_shape": self.seconds / self.shapes if self.shapes else None}
        per_class: dict[str, dict[str, float | None]] = {}
        if self.labelled and self.classes:
            miou = SemanticMIoU(len(self.classes))
            for g, p in self.sem:
                miou.add(g, p)
            ap = InstanceMAP(len(self.classes))
            for gs, gi, ps, pi, sc in self.ins:
                ap.add(gs, gi, ps, pi, sc)
            row["miou"], row["map50"] = miou.summary(), ap.summary()
            for name, i, a in zip(self.classes, miou.per_class(), ap.per_class()):
                per_class[name] = {"iou": None if np.isnan(i) else float(i), "ap": None if np.isnan(a) else float(a)}
        return row, per_class


def build_report(method: str, options: Mapping[str, Any], scores: Mapping[str, CategoryScores],
                 data_dir: str) -> dict[str, Any]:
    """The report dict (what report.json holds) from finished category accumulators."""
    per_category, per_class = {}, {}
    for cat in sorted(scores):
        per_category[cat], per_class[cat] = scores[cat].summary()
    n = sum(s.shapes for s in scores.values())
    secs = sum(s.seconds for s in scores.values())
    overall = {m: mean_over_categories(r[m] for r in per_category.values()) for m in METRICS}
    overall.update(shapes=n, instances=sum(r["instances"] for r in per_category.values()),
                   seconds_per_shape=secs / n if n else None, categories=len(per_category))
    return {"method": method, "options": dict(options), "data_dir": data_dir, "overall": overall,
            "per_category": per_category, "per_class": per_class,
            "protocol": "ZeroPS spec §5.2; metrics in percent; overall = mean over categories; null = not "
                        "produced by the method; mAP50 skips classes without GT"}


def _fmt(v: Any, digits: int = 1) -> str:
    return "–" if v is None else f"{float(v):.{digits}f}"


def report_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown tables: a paper-style table (rows = metrics) and one row per category."""
    cats = list(report["per_category"])
    ov = report["overall"]
    opts = ", ".join(f"{k}={v}" for k, v in sorted(report["options"].items())) or "defaults"
    lines = [f"# zerops eval: `{report['method']}`", "",
             f"Data: `{report['data_dir']}` · options: {opts} · {ov['shapes']} shapes, {ov['categories']} categories, "
             f"{_fmt(ov['seconds_per_shape'], 2)} s/shape", "",
             "Metrics in percent (spec §5.2); Overall = mean over categories; – = not produced by the method.", "",
             "## Paper-style table", "",
             f"| Metric | Overall({len(cats)}) | " + " | ".join(cats) + " |",
             "|---|" + "---|" * (len(cats) + 1)]
    for m in METRICS:
        vals = [_fmt(report["per_category"][c][m]) for c in cats]
        lines.append(f"| {METRIC_TITLES[m]} | **{_fmt(ov[m])}** | " + " | ".join(vals) + " |")
    lines += ["", "## Per category", "",
              "| Category | Shapes | GT instances | Average IoU | mIoU | mAP50 | s/shape |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for c in cats + ["Overall"]:
        r = ov if c == "Overall" else report["per_category"][c]
        name = f"**{c}**" if c == "Overall" else c
        lines.append(f"| {name} | {r['shapes']} | {r['instances']} | {_fmt(r['avg_iou'])} | {_fmt(r['miou'])} | "
                     f"{_fmt(r['map50'])} | {_fmt(r['seconds_per_shape'], 2)} |")
    if any(report["per_class"].values()):
        lines += ["", "## Per class (semantic IoU / instance AP50)", "",
                  "| Category | Class | IoU | AP50 |", "|---|---|---:|---:|"]
        for c in cats:
            for name, v in report["per_class"][c].items():
                lines.append(f"| {c} | {name} | {_fmt(v['iou'])} | {_fmt(v['ap'])} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- driver


def _check_run_manifest(out_dir: Path, method: str, options: Mapping[str, Any], key: str, resume: bool) -> None:
    manifest = out_dir / "run.json"
    if resume and manifest.is_file():
        try:
            old = json.loads(manifest.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise ZeropsError(f"{manifest}: cannot read this run manifest ({type(exc).__name__}); choose another "
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


def _cached_prediction(path: Path, shape: PartNetEShape, key: str, resume: bool) -> Prediction | None:
    """The cached prediction of ``shape`` if it may be reused (same key, same cloud), else None.
    A cache made with other options raises (see the module's cache policy)."""
    if not resume or not path.is_file():
        return None
    try:
        cached, cached_key, cached_fp = load_prediction(path)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error):
        return None  # unreadable (empty, truncated, corrupt): recompute
    if cached_key != key:
        raise ZeropsError(f"{path} was made with other method options; choose another output "
                          "folder or rerun without resuming")
    if cached_fp == shape_fingerprint(shape) and _sane_labels(cached, shape):
        return cached
    return None


def _sane_labels(pred: Prediction, shape: PartNetEShape) -> bool:
    """Whether a cached prediction's labels fit the shape: (N,) integers in [-1, N) (semantic: below the
    number of part names)."""
    n = shape.n_points
    for name in ("part", "semantic", "instance"):
        arr = getattr(pred, name)
        if arr is None:
            if name == "part":
                return False
            continue
        top = len(shape.part_names) if name == "semantic" else n
        if (arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer)
                or (n and (int(arr.min()) < -1 or int(arr.max()) >= top))):
            return False
    return (pred.semantic is None) == (pred.instance is None)


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
            if _cached_prediction(cache_path(out, shape), shape, key, resume) is None:
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
            pred = _cached_prediction(path, shape, key, resume or str(folder) in precomputed)
            if pred is not None and str(folder) in precomputed:
                computed += 1
            elif pred is not None:
                reused += 1
            else:
                t0 = time.perf_counter()
                pred = _check_prediction(run(shape), shape, method)
                if not pred.seconds:
                    pred.seconds = time.perf_counter() - t0
                save_prediction(path, pred, key, shape_fingerprint(shape))
                computed += 1
            scores.setdefault(shape.category, CategoryScores(shape.category)).add(shape, pred)
    finally:
        bar.close()

    report = build_report(method, options, scores, str(data_dir))
    report["run"] = {"computed": computed, "reused": reused}
    write_json(out / "report.json", report)
    md = report_markdown(report)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(md, encoding="utf-8")
    return report
