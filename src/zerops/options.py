"""The pipeline switches, spelled once: ``zerops segment`` / ``zerops eval`` flags, eval-method options and
:func:`build_config` keywords all come from :data:`SWITCHES`.

Each :class:`Switch` names its command-line flag, the :class:`~zerops.config.ZeroPSConfig` field it sets
(dotted, e.g. ``extension.passes``), its type, its validation (a range, or the names of the registry that
owns the setting) and its help text. ``zerops.cli`` builds the ``pipeline`` and ``labeling`` argument groups
from the table; :func:`build_config` turns the switches' values into a configuration.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence, overload

from zerops.config import DEFAULT_PRESET, GRAPH_ALIASES, PRESETS, ZeroPSConfig, preset
from zerops.errors import ZeropsError

_MISSING = object()

__all__ = ["Names", "Switch", "SWITCHES", "SWITCH", "build_config", "parse_overrides", "split_options",
           "option_names", "cli_switches"]


class Names(Sequence[str]):
    """The names a registry exports (e.g. ``render.shading.SHADINGS``), imported on first use so that
    building the argument parser does not import numpy and scipy."""

    def __init__(self, module: str, attr: str) -> None:
        self.module, self.attr = module, attr

    def _names(self) -> tuple[str, ...]:
        return tuple(getattr(importlib.import_module(self.module), self.attr))

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, value: object) -> bool:
        return value in self._names()

    def __repr__(self) -> str:
        return f"Names({self.module}.{self.attr})"


def _check_views(name: str) -> None:
    """Views are checked by the layout registry itself (it also reads ``" ZEROPS20"``)."""
    from zerops.render.views import get_layout

    get_layout(name)


@dataclass(frozen=True)
class Switch:
    """One pipeline switch: its flag, the setting it changes, its type, validation and help."""

    key: str                          # eval-method option name and build_config keyword
    flag: str                         # command-line flag
    help: str
    field: str | None = None          # dotted ZeroPSConfig field it sets (None: preset, --set, runtime)
    type: Callable[[Any], Any] = str  # int / float: values are cast; str: kept as given; bool: on/off flag
    on: Any = None                    # on/off flag: the value written to ``field`` when the flag is given
    lo: int | float | None = None     # value range checked by build_config: lo <= v (<= hi, or < hi when
    hi: int | float | None = None     # hi_open)
    hi_open: bool = False
    cli_max: int | None = None        # the CLI reads a whole number in [lo, cli_max] (checked by argparse)
    choices: Sequence[str] | None = None
    noun: str = ""                    # "unknown <noun> 'x': use a or b"
    check: Callable[[Any], Any] | None = None  # validation by the owning registry instead of ``choices``
    graph_only: bool = False          # only the graph preset has a merge tree to cut
    also: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # settings written alongside
    group: str | None = "pipeline"    # CLI argument group; None: the command adds its own flag
    default: Any = None               # `zerops segment`'s default (`zerops eval` has none: None)
    metavar: str | None = None
    dest: str | None = None           # argparse attribute when it differs from ``key``
    runtime: bool = False             # not a ZeroPSConfig setting: where / with what the pipeline runs
    labeling: bool = False            # also an option of `eval --method labeling`
    param: str | None = None          # build_config keyword when it differs from ``key``
    repeat: bool = False              # may be given several times (argparse append)

    @property
    def attr(self) -> str:
        """The argparse attribute holding the value."""
        return self.dest or self.key

    @property
    def keyword(self) -> str:
        """The build_config keyword."""
        return self.param or self.key

    @property
    def is_flag(self) -> bool:
        return self.type is bool

    def validate(self, value: Any) -> None:
        """Raise ZeropsError unless ``value`` is in range / one of the names (messages name the flag)."""
        if self.type in (int, float):          # NaN, infinity, text or a fraction for a count: one line
            kind = "a whole number" if self.type is int else "a finite number"
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or \
                    (self.type is int and value != int(value)):
                raise ZeropsError(f"{self.flag} must be {kind}, got {value!r}")
        if self.lo is not None:
            if self.hi is None:
                if value < self.lo:
                    raise ZeropsError(f"{self.flag} must be >= {self.lo}, got {value}")
            elif not (self.lo <= value < self.hi if self.hi_open else self.lo <= value <= self.hi):
                raise ZeropsError(f"{self.flag} must be in [{self.lo}, {self.hi}{')' if self.hi_open else ']'}, "
                                  f"got {value}")
        if self.check is not None:
            self.check(value)
        elif self.choices is not None and value not in self.choices:
            raise ZeropsError(f"unknown {self.noun} '{value}': use {' or '.join(self.choices)}")

    def settings(self, value: Any) -> dict[str, Any]:
        """``{dotted field: value}`` for a given (non-None, validated) value."""
        if self.is_flag:
            value = self.on
        elif self.type is not str:              # names are kept as given (views may be a layout object)
            value = self.type(value)
        out = {self.field: value} if self.field else {}
        return {**out, **self.also}


_GRAPH_ONLY = "--granularity / --n-parts cut the merge tree of the graph preset, not '{preset}'"

# Table order is the order of `zerops segment --help` and of build_config's checks.
SWITCHES: tuple[Switch, ...] = (
    Switch("preset", "--preset", choices=PRESETS, default=DEFAULT_PRESET, param="preset_name",
           help="graph (default: fast's SAM stages + shaded renders + superpoint graph merging, every "
                "point in a part), fast (the spec's merging, fewer deduplicated decodes), paper (the spec's "
                "schedule) or literal (paper without zerops's small-SAM safeguards)"),
    Switch("granularity", "--granularity", field="graph.threshold", type=float, lo=0, hi=1, graph_only=True,
           also={"graph.cut": "threshold"}, metavar="T",
           help="graph preset: cut the merge tree where the mean affinity falls below T, in [0, 1], instead of "
                "the per-object cut; higher = more, "
                "smaller parts"),
    Switch("n_parts", "--n-parts", field="graph.n_parts", type=int, lo=1, graph_only=True, metavar="K",
           help="graph preset: cut the merge tree at K parts instead"),
    Switch("shading", "--shading", field="render.shading", choices=Names("zerops.render.shading", "SHADINGS"),
           noun="shading",
           help="colored clouds rendered flat (none) or color x Lambert light (lambert; graph default)"),
    Switch("overrides", "--set", repeat=True, metavar="SECTION.KEY=VALUE",
           help="any setting of ZeroPSConfig, e.g. graph.votes.min_score=0.8 or grouping.n_prompts=32 (repeatable)"),
    Switch("no_extension", "--no-extension", field="extension.enabled", type=bool, on=False, default=False,
           help="ablation: skip self-extension"),
    Switch("extension", "--extension", field="extension.enabled", type=bool, on=True,
           help="run self-extension also in the graph preset (off there by default; see README)"),
    Switch("passes", "--passes", field="extension.passes", type=int, lo=0, cli_max=100,
           help="self-extension passes (default 2)"),
    Switch("merge_threshold", "--merge-threshold", field="merging.iou_threshold", type=float, lo=0, hi=1,
           hi_open=True, help="merging point-IoU threshold (default 0.3, strict)"),
    Switch("views", "--views", field="render.views", choices=Names("zerops.render.views", "LAYOUT_NAMES"),
           check=_check_views, labeling=True, help="view preset (default zerops20)"),
    Switch("n_prompts", "--prompts", field="grouping.n_prompts", type=int, lo=1, cli_max=100_000, dest="prompts",
           help="initial prompts per start view (paper 256, fast 64)"),
    Switch("max_points", "--max-points", field="max_points", type=int, lo=100,
           help="larger clouds run SAM on a random subset of this size and copy "
                "labels back by nearest neighbour (default 100000)"),
    Switch("segmenter", "--segmenter", runtime=True, default="embedded",
           help="embedded (default), hf:<id-or-path>, module:Class, or (eval only) "
                "oracle:perfect|oracle:noisy-P (ground-truth masks)"),
    Switch("device", "--device", runtime=True, default="cpu", labeling=True, help="cpu (default) or cuda"),
    Switch("detector", "--detector", runtime=True, group="labeling", labeling=True,
           help="hf:<Grounding DINO / MM-Grounding-DINO / OWLv2 / OWL-ViT id or folder>, "
                "module:Class, or (eval only) oracle:perfect|oracle:glip-like"),
    Switch("no_penalty", "--no-penalty", field="labeling.penalty", type=bool, on=False, group="labeling",
           labeling=True, help="ablation: no CNVP (each part takes argmax of V)"),
    Switch("no_check", "--no-check", field="labeling.check", type=bool, on=False, group="labeling",
           labeling=True, help="ablation: no two-dimensional check (every box votes for its best 3D match)"),
    Switch("prompt_style", "--prompt-style", field="labeling.prompt_style", group="labeling", labeling=True,
           choices=Names("zerops.detectors", "PROMPT_STYLES"), noun="prompt style",
           help="detector text: 'arm . back .' (names, default) or 'arm of a chair . ...' (of-category)"),
    Switch("confidence", "--confidence", field="labeling.confidence", group="labeling", labeling=True,
           choices=Names("zerops.stages.labeling", "CONFIDENCE_RULES"), noun="confidence rule",
           help="instance confidence for mAP50: one (default: 1.0, as the ZeroPS code) or votes (vote share)"),
    # `zerops segment`'s own flags (the command adds them with its other arguments)
    Switch("fill_unassigned", "--fill", field="merging.fill_unassigned", type=bool, on=True, group=None,
           dest="fill", help="give unassigned points their nearest part (display only)"),
    Switch("seed", "--seed", field="seed", type=int, group=None, help="seed for mesh sampling (>= 0)"),
)
SWITCH: dict[str, Switch] = {s.key: s for s in SWITCHES}


def cli_switches(group: str | None = None) -> list[Switch]:
    """The switches of the CLI's pipeline groups (``group``: only that one), in help order."""
    return [s for s in SWITCHES if s.group is not None and (group is None or s.group == group)]


def option_names(labeling: bool = False) -> list[str]:
    """The eval-method options the switches give (``labeling``: only those of ``--method labeling``)."""
    return [s.key for s in cli_switches() if s.labeling or not labeling]


def split_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Eval-method ``**options`` → (build_config keyword arguments, the rest: segmenter, device, detector,
    cache and anything the table does not know). ``preset`` becomes ``preset_name``."""
    config: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in options.items():
        switch = SWITCH.get(key)
        if switch is not None and not switch.runtime:
            config[switch.keyword] = value
        else:
            rest[key] = value
    return config, rest


def build_config(preset_name: str = DEFAULT_PRESET, no_extension: bool = False, passes: int | None = None,
                 merge_threshold: float | None = None, views: str | None = None, n_prompts: int | None = None,
                 fill_unassigned: bool = False, seed: int | None = None, no_penalty: bool = False,
                 no_check: bool = False, prompt_style: str | None = None,
                 confidence: str | None = None, max_points: int | None = None, granularity: float | None = None,
                 n_parts: int | None = None, shading: str | None = None,
                 overrides: Sequence[str] | None = None, extension: bool = False) -> ZeroPSConfig:
    """The configuration behind the CLI/eval switches (``--preset``, ``--no-extension``, ``--passes`` …;
    ``overrides``: ``section.key=value`` strings, applied last). One keyword per :data:`SWITCHES` entry."""
    given = dict(locals())                      # keyword -> value, read through the table below
    cfg = preset(preset_name)
    if extension and no_extension:
        raise ZeropsError("--extension and --no-extension contradict each other")
    over: dict[str, Any] = {}
    for switch in SWITCHES:
        if switch.field is None:                # preset, --set, runtime switches
            continue
        value = given[switch.keyword]
        if value is None or (switch.is_flag and not value):
            continue
        if switch.graph_only and not cfg.graph.enabled:
            raise ZeropsError(_GRAPH_ONLY.format(preset=preset_name))
        switch.validate(value)
        over.update(switch.settings(value))
    cfg = cfg.with_overrides(**over)
    return cfg.with_overrides(**parse_overrides(overrides or [], cfg))


def parse_overrides(items: Sequence[str], cfg: ZeroPSConfig) -> dict[str, Any]:
    """``["graph.votes.min_score=0.8", "grouping.n_prompts=32"]`` → typed ``{dotted name: value}`` for
    :meth:`ZeroPSConfig.with_overrides` (the type of each value is the field's current one)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = str(item).partition("=")
        key = key.strip()
        path = GRAPH_ALIASES.get(key, key).split(".")
        node: Any = cfg
        for name in path:
            fields_ = getattr(node, "__dataclass_fields__", None)
            node = getattr(node, name) if fields_ is not None and name in fields_ else _MISSING
            if node is _MISSING:
                break
        if not sep or len(path) < 2 or node is _MISSING or hasattr(node, "__dataclass_fields__"):
            raise ZeropsError(f"--set takes SECTION.KEY=VALUE with a ZeroPSConfig setting, got '{item}'")
        current = node
        text = text.strip()
        try:
            if isinstance(current, bool):
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                value: Any = text.lower() in ("true", "1", "yes")
            elif isinstance(current, int):
                value = int(text)
            elif isinstance(current, float) or current is None:
                value = float(text) if text.lower() != "none" else None
            elif isinstance(current, str):
                value = text
            else:
                raise ValueError(text)
        except ValueError:
            raise ZeropsError(f"--set {key}: cannot read '{text}' as a {type(current).__name__}") from None
        out[key] = value
    return out
