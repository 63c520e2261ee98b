"""Renderer benchmark: all views of synthetic 10k / 100k clouds, colored and uncolored.

Usage: python bench/bench_render.py [--sizes 10000 100000] [--repeats 3] [--layout zerops20]
       [--device cpu] [--backend numpy|torch] [--out bench/render.json]

The time of a run covers everything ``Renderer.render`` does: checks, spacing and (uncolored) normal
estimation once per cloud, then every view (projection, splatting, shading, image). The best of
``--repeats`` runs is reported. Target: 20 views of 100k points at 800x800 in under 1.5 s on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from zerops.config import RenderConfig
from zerops.render.renderer import Renderer, normalize


def synthetic_cloud(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points on the surfaces of two boxes and a sphere, area-uniform: xyz (n, 3) float32, rgb (n, 3)."""
    rng = np.random.default_rng(seed)
    shapes = [("box", np.array([0.0, -0.3, 0.0]), np.array([0.8, 0.1, 0.5])),
              ("box", np.array([0.0, -0.8, 0.0]), np.array([0.15, 0.4, 0.15])),
              ("sphere", np.array([0.0, 0.35, 0.0]), np.array([0.35, 0.35, 0.35]))]
    areas = []
    for kind, _, h in shapes:
        areas.append(8 * (h[0] * h[1] + h[1] * h[2] + h[0] * h[2]) if kind == "box" else 4 * np.pi * h[0] ** 2)
    counts = rng.multinomial(n, np.array(areas) / sum(areas))
    xyz, rgb = [], []
    for (kind, c, h), m, col in zip(shapes, counts, ([0.8, 0.3, 0.2], [0.2, 0.5, 0.8], [0.3, 0.7, 0.3])):
        if kind == "sphere":
            p = rng.normal(size=(m, 3))
            p = p / np.linalg.norm(p, axis=1, keepdims=True) * h
        else:
            face_area = np.array([h[1] * h[2], h[0] * h[2], h[0] * h[1]] * 2)
            face = rng.choice(6, size=m, p=face_area / face_area.sum())
            p = rng.uniform(-1, 1, size=(m, 3)) * h
            axis = face % 3
            p[np.arange(m), axis] = np.where(face < 3, 1.0, -1.0) * h[axis]
        xyz.append(p + c)
        rgb.append(np.tile(col, (m, 1)))
    return np.concatenate(xyz).astype(np.float32), np.concatenate(rgb).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layout", default="zerops20")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backend", default=None)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "render.json"))
    args = ap.parse_args(argv)

    renderer = Renderer(RenderConfig(), device=args.device, backend=args.backend)
    rows = []
    for n in args.sizes:
        xyz, rgb = synthetic_cloud(n)
        xyz, _, _ = normalize(xyz)
        for colored in (True, False):
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                views = renderer.render(xyz, rgb if colored else None, layout=args.layout)
                times.append(time.perf_counter() - t0)
            fg = float(np.mean([v.foreground.mean() for v in views]))
            vis = float(np.mean([v.visible.mean() for v in views]))
            rows.append({"points": n, "colored": colored, "views": len(views), "seconds": round(min(times), 4),
                         "seconds_all": [round(t, 4) for t in times],
                         "ms_per_view": round(1000 * min(times) / len(views), 2),
                         "foreground_fraction": round(fg, 4), "visible_fraction": round(vis, 4),
                         "radius_px_median": round(float(np.median(views[0].radius)), 3)})
    report = {
        "benchmark": "render", "layout": args.layout, "image_size": renderer.size,
        "device": args.device, "backend": renderer.backend, "cpu_count": os.cpu_count(),
        "machine": platform.machine(), "python": sys.version.split()[0], "numpy": np.__version__,
        "target": "20 views x 100k points at 800x800 < 1.5 s", "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"{'points':>8} {'colored':>8} {'views':>6} {'seconds':>8} {'ms/view':>8} {'fg frac':>8} {'r px':>6}")
    for r in rows:
        print(f"{r['points']:>8} {str(r['colored']):>8} {r['views']:>6} {r['seconds']:>8.3f} {r['ms_per_view']:>8.1f}"
              f" {r['foreground_fraction']:>8.3f} {r['radius_px_median']:>6.2f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
