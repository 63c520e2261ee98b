"""The ``zerops`` commands: one ``cmd_<name>(args) -> exit code`` per sub-command (see :mod:`zerops.cli.parser`)."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from zerops.errors import ZeropsError
from zerops.options import SWITCHES, cli_switches, option_names


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
    shading = "colored" if cloud.rgb is not None else "shaded"
    print(f"rendered {len(views)} views of {len(cloud.xyz)} points ({shading}, "
          f"{visible:.0%} of points visible per view on average) -> {out}/views.png")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from zerops.eval.synthetic import write_benchmark
    from zerops.io.outdir import check_out_dir

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
    from zerops.limits import env_threads

    env_threads()

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


_PIPELINE_METHODS = ("zerops", "cut-oracle", "labeling")
_LABELING_OPTIONS = set(option_names(labeling=True))


def _stage_cache(args: argparse.Namespace):
    """The stage cache chosen by --cache / --no-cache (default: $ZEROPS_CACHE or ~/.cache/zerops/stages)."""
    from zerops.cache import StageCache

    if getattr(args, "no_cache", False):
        return None
    gb = getattr(args, "cache_gb", 4.0)
    if not math.isfinite(gb) or gb <= 0:
        raise ZeropsError(f"--cache-gb must be a positive number, got {gb}")
    return StageCache(getattr(args, "cache", None), max_gb=gb)    # which also bounds it


def _pipeline_options(args: argparse.Namespace, only_set: bool = False) -> dict[str, Any]:
    """The pipeline switches shared by `segment` and `eval --method zerops`, as keyword options (given values
    only; ``only_set``: also leave out values equal to `zerops segment`'s defaults)."""
    out = {}
    for switch in cli_switches():
        value = getattr(args, switch.attr)
        if value is None or (switch.is_flag and value is False):
            continue
        if only_set and value == switch.default:
            continue
        out[switch.key] = value
    return out


def _config_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """build_config's keyword arguments from `zerops segment`'s parsed switches."""
    return {s.keyword: getattr(args, s.attr) for s in SWITCHES if not s.runtime}


def cmd_segment(args: argparse.Namespace) -> int:
    from zerops.io.outdir import check_out_dir

    check_out_dir(args.out)                                     # before any work: not after a full run
    from zerops.limits import env_threads

    env_threads()                                               # a bad ZEROPS_THREADS: one line, before SAM
    from zerops.io.load import load_cloud
    from zerops.options import build_config
    from zerops.output import write_segment_outputs
    from zerops.partnames import resolve_part_names
    from zerops.pipeline import ZeroPS, build_detector

    config = build_config(**_config_arguments(args))
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
    from zerops.limits import MIN_SEGMENT_POINTS

    if len(cloud.xyz) < MIN_SEGMENT_POINTS:                   # judged before SAM is loaded
        raise ZeropsError(f"{args.input}: {len(cloud.xyz)} points; segmenting needs at least {MIN_SEGMENT_POINTS}")
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
