"""Evidence benchmark: how good SAM's masks are on a render variant, measured apart from any merging
(`make bench-evidence`).

For each shape, render with the default preset's camera and a variant (fixed camera: the spec's; framed:
each view zoomed so the object fills 90 % of the image), encode a few views with a segmenter, prompt a
G × G grid of single points over the object's pixels, and for every ground-truth part instance that a view
shows on at least ``--min-pixels`` pixels take the best IoU of any candidate of any prompt with the part's
pixels (pixels whose front-most point belongs to the instance). Reported per data set and variant: the mean
of that best IoU over the visible parts and the share of parts found at IoU ≥ 0.5, plus seconds.

    python bench/bench_evidence.py [--out bench/evidence.json] [--sets real=../shared/data/real,...]
           [--views 4] [--grid 10] [--limit 12] [--segmenter embedded]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from zerops.config import preset
from zerops.eval.partnete import list_partnete_shapes, load_partnete_shape
from zerops.io.load import as_cloud
from zerops.render.renderer import Renderer, normalize
from zerops.segmenters import PromptSet, get_segmenter

VARIANTS = {"fixed": 0.0, "framed": 0.9}


def grid_prompts(index_map: np.ndarray, grid: int) -> list[PromptSet]:
    """Single-point prompts at the centres of a ``grid`` × ``grid`` lattice over the object's pixel box, kept
    where they land on the object."""
    rows, cols = np.nonzero(index_map >= 0)
    if not len(rows):
        return []
    ys = np.linspace(rows.min(), rows.max(), grid + 2)[1:-1]
    xs = np.linspace(cols.min(), cols.max(), grid + 2)[1:-1]
    out = []
    for y in ys:
        for x in xs:
            if index_map[int(y), int(x)] >= 0:
                out.append(PromptSet.positive([[x + 0.5, y + 0.5]]))
    return out


def best_part_ious(view, instance: np.ndarray, masks: np.ndarray, min_pixels: int) -> list[float]:
    """Best IoU over all candidates ((M, H, W) bool) for each instance the view shows on >= min_pixels."""
    fg = view.index_map >= 0
    pix = np.full(view.index_map.shape, -1, dtype=np.int64)
    pix[fg] = instance[view.index_map[fg]]
    flat = masks.reshape(len(masks), -1)
    area = flat.sum(axis=1)
    out = []
    for inst in np.unique(instance[instance >= 0]):
        gt = (pix == inst).reshape(-1)
        n = int(gt.sum())
        if n < min_pixels:
            continue
        inter = flat[:, gt].sum(axis=1)
        out.append(float((inter / np.maximum(area + n - inter, 1)).max()) if len(flat) else 0.0)
    return out


def measure(shape_dirs: list[Path], variant: float, seg, n_views: int, grid: int, min_pixels: int) -> dict:
    cfg = preset("graph").render
    renderer = Renderer(replace(cfg, framing=variant))
    ious: list[float] = []
    t0 = time.perf_counter()
    decodes = 0
    for d in shape_dirs:
        shape = load_partnete_shape(d)
        pc = as_cloud(shape.cloud)
        xyz, _, _ = normalize(pc.xyz)
        views = renderer.render(xyz, pc.rgb, pc.normals, layout=cfg.views)
        step = max(len(views) // n_views, 1)
        chosen = views[::step][:n_views]
        seg.set_images([v.image for v in chosen])
        for k, v in enumerate(chosen):
            prompts = grid_prompts(v.index_map, grid)
            masks, _ = seg.predict(k, prompts) if prompts else (np.zeros((0, 3) + v.index_map.shape, bool), None)
            decodes += len(prompts)
            ious.extend(best_part_ious(v, shape.instance, masks.reshape(-1, *v.index_map.shape), min_pixels))
    arr = np.asarray(ious)
    return {"parts": int(len(arr)), "mean_best_iou": round(float(arr.mean()), 3) if len(arr) else None,
            "found_at_0.5": round(float((arr >= 0.5).mean()), 3) if len(arr) else None,
            "decodes": decodes, "seconds": round(time.perf_counter() - t0, 1), "shapes": len(shape_dirs)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/evidence.json")
    ap.add_argument("--sets", default="real=../shared/data/real,realdev=data/realdev",
                    help="name=folder pairs (PartNetE layout), comma-separated; missing folders are skipped")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--grid", type=int, default=10)
    ap.add_argument("--limit", type=int, default=12, help="at most this many shapes per set")
    ap.add_argument("--min-pixels", type=int, default=200)
    ap.add_argument("--segmenter", default="embedded")
    args = ap.parse_args(argv)
    seg = get_segmenter(args.segmenter)
    report = {"views": args.views, "grid": args.grid, "segmenter": args.segmenter, "sets": {}}
    for item in args.sets.split(","):
        name, _, folder = item.partition("=")
        if not Path(folder).is_dir():
            print(f"skipping {name}: {folder} does not exist", file=sys.stderr)
            continue
        dirs = list_partnete_shapes(folder)[: args.limit]
        report["sets"][name] = {var: measure(dirs, fill, seg, args.views, args.grid, args.min_pixels)
                                for var, fill in VARIANTS.items()}
        for var, row in report["sets"][name].items():
            print(f"{name:8s} {var:7s} parts {row['parts']:4d}  mean best IoU {row['mean_best_iou']}  "
                  f"found@0.5 {row['found_at_0.5']}  {row['seconds']} s")
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
