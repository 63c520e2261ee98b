"""Evidence benchmark: what the merge consumes, scored against the ground truth (`make bench-evidence`).

For each shape: render with the default preset's camera (``--variants fixed,framed`` compares the spec's
fixed camera with the framed one), encode ``--views`` of the 20 views (embeddings cached in ``--cache``,
shared with ``zerops eval --cache``), prompt a G × G grid of single points over the object's pixels, lift
every candidate to the points it covers as the pipeline does, and score with :mod:`zerops.eval.evidence`:
recall (best candidate point IoU per visible part, share ≥ 0.5), per prompt the default rule's candidate
beside the best of the three, the view partitions' pair precision / recall, and the true view error rate
on k-NN point pairs beside the one the disagreement between views estimates. ``--choice`` scores the
candidates an ``oracle:choice-<rule>`` would keep instead (e.g. ``middle``; ``best`` needs no flag: it is
the best-of-three column).

    python bench/bench_evidence.py [--out bench/evidence.json] [--sets real=../shared/data/real,...]
           [--views 4] [--grid 16] [--limit N per category] [--segmenter embedded] [--cache DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from zerops.cache import StageCache, array_digest, stage_key
from zerops.config import preset
from zerops.eval.evidence import EvidenceScores, decode_shape, knn_pairs, score_evidence
from zerops.eval.partnete import list_partnete_shapes, load_partnete_shape
from zerops.io.load import as_cloud
from zerops.render.renderer import Renderer, normalize
from zerops.segmenters import get_segmenter
from zerops.stages.evidence import pack_evidence

VARIANTS = {"fixed": 0.0, "framed": 0.9}


def set_images(seg, images, cache: StageCache | None) -> None:
    """Encode with the stage cache's embeddings where the segmenter can use them."""
    if cache is None or not getattr(seg, "supports_embedding_cache", False):
        seg.set_images(images)
        return
    name = getattr(seg, "encoder_name", None) or seg.name
    keys = [stage_key("embeddings", array_digest(im), name) for im in images]
    hits = [cache.get("embeddings", k) for k in keys]
    seg.set_images(images, embeddings=[h["embedding"] if h is not None else None for h in hits])
    for k, (key, hit) in enumerate(zip(keys, hits)):
        if hit is None:
            cache.put("embeddings", key, {"embedding": seg.embedding(k)})


def measure(shape_dirs: list[Path], framing: float | None, seg, n_views: int, grid: int,
            cache: StageCache | None, choice: str | None, dump: Path | None = None) -> dict:
    cfg = preset("graph")
    g = cfg.graph
    renderer = Renderer(cfg.render if framing is None else replace(cfg.render, framing=framing))
    scores = EvidenceScores()
    t0 = time.perf_counter()
    decodes = 0
    for d in shape_dirs:
        shape = load_partnete_shape(d)
        pc = as_cloud(shape.cloud)
        xyz, _, _ = normalize(pc.xyz)
        views = renderer.render(xyz, pc.rgb, pc.normals, layout=cfg.render.views)
        step = max(len(views) // n_views, 1)
        chosen = views[::step][:n_views]
        if hasattr(seg, "set_ground_truth"):
            seg.set_ground_truth(chosen, shape.instance)
        set_images(seg, [v.image for v in chosen], cache)
        got = decode_shape(seg, chosen, shape.instance, grid, g.lift_won_pixels, choice)
        score_evidence(got["evidence"], got["prompt_part"], got["prompt_view"], shape.instance, got["shown"],
                       knn_pairs(xyz, 8), scores, g)
        decodes += got["decodes"]
        if dump is not None:          # everything to score other candidate choices offline
            dump.mkdir(parents=True, exist_ok=True)
            keys = sorted(got["shown"])
            np.savez_compressed(dump / f"{d.parent.name}-{d.name}.npz", **pack_evidence(got["evidence"]),
                                candidate=got["candidate"], prompt_part=got["prompt_part"],
                                prompt_view=got["prompt_view"], instance=shape.instance, xyz=xyz,
                                shown_views=np.asarray(keys), shown=np.stack([got["shown"][k] for k in keys]))
    return {**scores.summary(), "decodes": decodes, "seconds": round(time.perf_counter() - t0, 1),
            "shapes": len(shape_dirs)}


def first_per_category(dirs: list[Path], limit: int) -> list[Path]:
    """At most ``limit`` shape folders of every category (folder ``<Category>/<id>``), in order."""
    seen: dict[str, int] = {}
    out = []
    for d in dirs:
        seen[d.parent.name] = seen.get(d.parent.name, 0) + 1
        if seen[d.parent.name] <= limit:
            out.append(d)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/evidence.json")
    ap.add_argument("--sets", default="real=../shared/data/real,realdev=data/realdev,synthetic=data/synth",
                    help="name=folder pairs (PartNetE layout), comma-separated; missing folders are skipped")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--grid", type=int, default=16)
    ap.add_argument("--limit", type=int, default=100, help="at most this many shapes per category")
    ap.add_argument("--segmenter", default="embedded")
    ap.add_argument("--variants", default="default", help="default (the preset's camera) and/or fixed, framed")
    ap.add_argument("--choice", default=None, help="score a fixed candidate rule: small, middle, large, score")
    ap.add_argument("--cache", default=None, help="stage-cache folder for the image embeddings")
    ap.add_argument("--dump", default=None, help="also save every shape's lifted candidates here (npz)")
    args = ap.parse_args(argv)
    seg = get_segmenter(args.segmenter)
    cache = StageCache(args.cache) if args.cache else None
    report = {"views": args.views, "grid": args.grid, "segmenter": args.segmenter, "choice": args.choice,
              "sets": {}}
    for item in args.sets.split(","):
        name, _, folder = item.partition("=")
        if not Path(folder).is_dir():
            print(f"skipping {name}: {folder} does not exist", file=sys.stderr)
            continue
        dirs = first_per_category(list_partnete_shapes(folder), args.limit)
        report["sets"][name] = {}
        for var in args.variants.split(","):
            row = measure(dirs, None if var == "default" else VARIANTS[var], seg, args.views, args.grid, cache,
                          args.choice, Path(args.dump) / name / var if args.dump else None)
            report["sets"][name][var] = row
            print(f"{name:9s} {var:8s} " + "  ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
