"""The table of pipeline switches: it matches the parser, the config, the registries and build_config."""
from __future__ import annotations

import inspect
import subprocess
import sys
from dataclasses import fields

import pytest

from zerops.cli import build_parser
from zerops.config import PRESETS, ZeroPSConfig
from zerops.errors import ZeropsError
from zerops.options import SWITCH, SWITCHES, build_config, cli_switches, option_names, split_options


def _subparser(name: str):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices[name]


@pytest.mark.parametrize("command", ["segment", "eval"])
def test_pipeline_groups_are_the_table(command):
    p = _subparser(command)
    for group in ("pipeline", "labeling"):
        g = next(g for g in p._action_groups if g.title == group)
        assert [a.option_strings[0] for a in g._group_actions] == [s.flag for s in cli_switches(group)]
        for action, switch in zip(g._group_actions, cli_switches(group)):
            assert action.dest == switch.attr and action.help == switch.help
            if switch.choices is not None:
                assert list(action.choices) == list(switch.choices)
    defaults = {s.attr: s.default for s in cli_switches() if not s.is_flag}
    ns = p.parse_args(["x", "--out", "o"])
    assert all(getattr(ns, k) == (v if command == "segment" else None) for k, v in defaults.items())


def test_choices_are_the_registries_names():
    from zerops.detectors import PROMPT_STYLES
    from zerops.render.shading import SHADINGS
    from zerops.render.views import LAYOUT_NAMES
    from zerops.stages.labeling import CONFIDENCE_RULES

    assert tuple(SWITCH["preset"].choices) == PRESETS
    assert tuple(SWITCH["shading"].choices) == SHADINGS
    assert tuple(SWITCH["views"].choices) == LAYOUT_NAMES
    assert tuple(SWITCH["prompt_style"].choices) == PROMPT_STYLES
    assert tuple(SWITCH["confidence"].choices) == CONFIDENCE_RULES
    render_views = next(a for a in _subparser("render")._actions if "--views" in a.option_strings)
    assert tuple(render_views.choices) == LAYOUT_NAMES          # a literal there, kept equal here


def test_fields_exist_and_build_config_takes_every_switch():
    cfg = ZeroPSConfig()
    for s in SWITCHES:
        for dotted in ([s.field] if s.field else []) + list(s.also):
            section, _, name = dotted.rpartition(".")
            owner = getattr(cfg, section) if section else cfg
            assert name in {f.name for f in fields(owner)}, dotted
    params = list(inspect.signature(build_config).parameters)
    assert sorted(params) == sorted(s.keyword for s in SWITCHES if not s.runtime)
    assert params[:8] == ["preset_name", "no_extension", "passes", "merge_threshold", "views", "n_prompts",
                          "fill_unassigned", "seed"]                # positional callers rely on this order


def test_each_switch_sets_its_field():
    cfg = build_config("graph", no_extension=True, passes=1, merge_threshold=0.5, views="partslip10", n_prompts=8,
                       fill_unassigned=True, seed=3, no_penalty=True, no_check=True, prompt_style="of-category",
                       confidence="votes", max_points=500, granularity=0.4, n_parts=6, shading="none")
    assert (cfg.extension.enabled, cfg.extension.passes, cfg.merging.iou_threshold) == (False, 1, 0.5)
    got = (cfg.render.views, cfg.grouping.n_prompts, cfg.merging.fill_unassigned, cfg.seed)
    assert got == ("partslip10", 8, True, 3)
    assert (cfg.labeling.penalty, cfg.labeling.check, cfg.labeling.prompt_style) == (False, False, "of-category")
    assert (cfg.labeling.confidence, cfg.max_points, cfg.render.shading) == ("votes", 500, "none")
    assert (cfg.graph.threshold, cfg.graph.cut, cfg.graph.n_parts) == (0.4, "threshold", 6)
    with pytest.raises(ZeropsError, match="unknown shading 'x': use none or lambert"):
        build_config(shading="x")
    with pytest.raises(ZeropsError, match=r"--merge-threshold must be in \[0, 1\), got 1.0"):
        build_config(merge_threshold=1.0)
    with pytest.raises(ZeropsError, match="--max-points must be >= 100, got 99"):
        build_config(max_points=99)
    with pytest.raises(ZeropsError, match="graph preset, not 'fast'"):
        build_config("fast", n_parts=3)


def test_split_options_and_option_names():
    config, rest = split_options({"preset": "fast", "n_prompts": 8, "segmenter": "embedded", "device": "cpu",
                                  "detector": "oracle:perfect", "cache": None, "overrides": ["graph.prior=0"]})
    assert config == {"preset_name": "fast", "n_prompts": 8, "overrides": ["graph.prior=0"]}
    assert rest == {"segmenter": "embedded", "device": "cpu", "detector": "oracle:perfect", "cache": None}
    assert build_config(**config).grouping.n_prompts == 8
    assert set(option_names(labeling=True)) == {"detector", "no_penalty", "no_check", "prompt_style", "confidence",
                                                "views", "device"}
    assert "fill_unassigned" not in option_names() and "seed" not in option_names()


def test_the_parser_does_not_import_numpy():
    code = ("import sys; from zerops.cli import build_parser; "
            "build_parser().parse_args(['segment', 'x', '--out', 'o']); print('numpy' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr
