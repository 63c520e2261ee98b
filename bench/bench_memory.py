"""Peak memory (RSS) of `ZeroPS.segment` for 10k, 100k and 1M-point clouds, each in a fresh process.

Usage: python bench/bench_memory.py [--sizes 10000 100000 1000000] [--segmenter embedded]
       [--preset fast] [--out bench/memory.json]

Clouds are synthetic shapes (``zerops.eval.synthetic``, Chair seed 0) sampled at the given size. Above
``ZeroPSConfig.max_points`` (100,000) the SAM work runs on a random subset and labels are copied back to
every point by nearest neighbour. Target: a 1M-point cloud within 8 GB on CPU.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
import numpy as np
from zerops.pipeline import ZeroPS
from zerops.options import build_config
from zerops.eval.synthetic import generate_shape
n, segmenter, preset = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = generate_shape("Chair", 0, n_points=n)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
r = ZeroPS(build_config(preset), segmenter=segmenter, progress=False).segment(np.concatenate([s.xyz, s.rgb], 1),
                                                                              keep_views=False)
print(json.dumps({"points": n, "seconds": time.perf_counter() - t, "seconds_by_stage": r.seconds,
                  "parts": int(r.counts["parts"]), "decodes": r.decodes,
                  "subsampled_to": r.counts.get("subsampled_to"),
                  "rss_before_mb": before / 1024,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--segmenter", default="embedded")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--out", default="bench/memory.json")
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(n), args.segmenter, args.preset],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            why = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode
            print(f"{n} points: failed ({why})")
            return 1
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{n:>9,d} points: peak RSS {row['peak_rss_mb']:7.0f} MB, {row['seconds']:6.1f} s, "
              f"{row['parts']} parts"
              + (f" (SAM work on {row['subsampled_to']:,d} points)" if row["subsampled_to"] else ""))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": platform.platform(), "when": time.strftime("%Y-%m-%d %H:%M"),
                                          "preset": args.preset, "segmenter": args.segmenter, "rows": rows},
                                         indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
