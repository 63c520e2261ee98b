"""Scoring an evaluation: per-category metric accumulators, the report dict and its Markdown table."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from zerops.eval.metrics import AverageIoU, InstanceMAP, SemanticMIoU, mean_over_categories
from zerops.eval.partnete import PartNetEShape
from zerops.eval.prediction import Prediction

METRICS = ("avg_iou", "miou", "map50")
METRIC_TITLES = {"avg_iou": "Average IoU", "miou": "Semantic mIoU", "map50": "Instance mAP50"}


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
            "protocol": "ZeroPS METHOD.md §5.2; metrics in percent; overall = mean over categories; null = not "
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
             "Metrics in percent (METHOD.md §5.2); Overall = mean over categories; – = not produced by the method.", "",
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
