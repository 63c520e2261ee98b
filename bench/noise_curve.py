"""Plot Average IoU against the oracle segmenter's noise P (docs/noise_curve.png), one line per data set, with
the `components` baseline dashed. Reads `zerops eval` report folders:

    python bench/noise_curve.py --out docs/noise_curve.png \\
        --set real:RUNS/real_components:RUNS/real_perfect,RUNS/real_noisy0.1,... [--set ...]

Each ``--set`` is ``name:components_folder:folder_P0,folder_P0.1,...``, the folders in the order of ``--ps``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw

COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]


def overall(folder: str) -> float:
    return float(json.loads((Path(folder) / "report.json").read_text())["overall"]["avg_iou"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/noise_curve.png")
    ap.add_argument("--ps", default="0,0.1,0.2,0.4,0.7")
    ap.add_argument("--set", action="append", required=True)
    args = ap.parse_args()
    ps = [float(p) for p in args.ps.split(",")]
    w, h, left, bottom, top, right = 640, 400, 60, 50, 20, 150
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    lo, hi = 30.0, 100.0

    def xy(p: float, v: float) -> tuple[float, float]:
        return (left + (w - left - right) * p / max(ps[-1], 1e-9),
                h - bottom - (h - top - bottom) * (v - lo) / (hi - lo))

    d.line([xy(0, lo), xy(ps[-1], lo)], fill="black")
    d.line([xy(0, lo), xy(0, hi)], fill="black")
    for v in range(int(lo), int(hi) + 1, 10):
        d.line([xy(0, v), (xy(0, v)[0] - 5, xy(0, v)[1])], fill="black")
        d.text((8, xy(0, v)[1] - 6), f"{v}", fill="black")
    for p in ps:
        d.text((xy(p, lo)[0] - 8, h - bottom + 8), f"{p:g}", fill="black")
    d.text((left + 120, h - 20), "oracle:noisy-P  (P = noise strength)", fill="black")
    d.text((8, 4), "Average IoU", fill="black")
    for k, spec in enumerate(args.set):
        name, base, runs = spec.split(":", 2)
        color = COLORS[k % len(COLORS)]
        values = [overall(r) for r in runs.split(",")]
        pts = [xy(p, v) for p, v in zip(ps, values)]
        d.line(pts, fill=color, width=3)
        for x, y in pts:
            d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
        b = overall(base)
        for x0 in range(0, int(w - left - right), 12):          # dashed: the components baseline
            x = left + x0
            d.line([(x, xy(0, b)[1]), (min(x + 6, w - right), xy(0, b)[1])], fill=color, width=1)
        d.text((w - right + 8, top + 16 * k * 2), f"{name}", fill=color)
        d.text((w - right + 8, top + 16 * k * 2 + 14), f"  components {b:.1f}", fill=color)
    img.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
