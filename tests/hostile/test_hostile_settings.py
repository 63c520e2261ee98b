"""Issue #20, settings: every ZeroPSConfig section checks its own ranges, choices and finiteness when it is
built, so a bad `--set`, preset field or Python argument is one `zerops: error:` line before any work; inputs
judged without SAM (too few points, an over-long --out) are judged first."""
from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import ascii_ply, assert_error, cloud_xyz
from zerops.config import (
    PRESETS,
    ExtensionConfig,
    GraphConfig,
    GroupingConfig,
    LabelingConfig,
    MergingConfig,
    RenderConfig,
    SuperpointConfig,
    VoteConfig,
    ZeroPSConfig,
    preset,
)
from zerops.errors import ZeropsError
from zerops.options import build_config


@pytest.fixture
def cloud(tmp_path):
    path = tmp_path / "c.ply"
    path.write_bytes(ascii_ply(cloud_xyz(300)))
    return path


def _segment(cli, cloud, tmp_path, *extra):
    """`zerops segment` with a segmenter that does not exist: reaching SAM would be a different error."""
    out = tmp_path / "out"
    rc, _, err = cli("segment", cloud, "--out", out, "--segmenter", "no_such_module_zerops:Nope", "--no-cache",
                     "--quiet", *extra)
    return rc, err, out


@pytest.mark.parametrize("setting, message", [
    ("graph.size_fraction=1e308", "graph.superpoints.size_fraction must be in (0, 1], got 1e+308"),
    ("graph.superpoints.size_fraction=inf", "graph.superpoints.size_fraction must be a finite number, got inf"),
    ("graph.size_fraction=nan", "graph.superpoints.size_fraction must be a finite number, got nan"),
    ("grouping.batch_size=0", "grouping.batch_size must be in [1, 4096], got 0"),
    ("grouping.batch_size=-1", "grouping.batch_size must be in [1, 4096], got -1"),
    ("grouping.n_prompts=0", "grouping.n_prompts must be in [1, 100000], got 0"),
    ("extension.passes=-3", "extension.passes must be in [0, 100], got -3"),
    ("extension.mask_choice=biggest", "unknown extension.mask_choice 'biggest': use smallest-confident or smallest"),
    ("render.image_size=100000", "render.image_size must be in [16, 4096], got 100000"),
    ("render.image_size=8", "render.image_size must be in [16, 4096], got 8"),
    ("graph.cut=sometimes", "unknown graph.cut 'sometimes': use auto or threshold"),
    ("merging.iou_threshold=1", "merging.iou_threshold must be in [0, 1), got 1.0"),
    ("render.fov_deg=180", "render.fov_deg must be in (0, 180), got 180.0"),
    ("labeling.confidence=most", "unknown labeling.confidence 'most'"),
])
def test_bad_set_is_one_line_before_any_work(cli, cloud, tmp_path, timed, setting, message):
    with timed(5):
        rc, err, out = _segment(cli, cloud, tmp_path, "--set", setting)
    assert_error(rc, err, message)
    assert not out.exists()


def test_each_section_checks_itself_when_built():
    for build, message in [
        (lambda: RenderConfig(image_size=5000), "render.image_size must be in [16, 4096], got 5000"),
        (lambda: RenderConfig(background=(0, 0, 300)), "render.background must be 3 numbers in [0, 255]"),
        (lambda: RenderConfig(light_offset=(math.nan, 0.0)), "render.light_offset must be a finite number"),
        (lambda: RenderConfig(znear=5.0), "render.znear must be in (0, distance - 1), got 5.0"),
        (lambda: GroupingConfig(batch_size=0), "grouping.batch_size must be in [1, 4096], got 0"),
        (lambda: GroupingConfig(n_prompts=2.5), "grouping.n_prompts must be a whole number, got 2.5"),
        (lambda: ExtensionConfig(mask_choice="largest"), "unknown extension.mask_choice 'largest'"),
        (lambda: ExtensionConfig(enabled="yes"), "extension.enabled must be true or false, got 'yes'"),
        (lambda: MergingConfig(iou_threshold=-0.1), "merging.iou_threshold must be in [0, 1), got -0.1"),
        (lambda: SuperpointConfig(size_fraction=float("inf")),
         "graph.superpoints.size_fraction must be a finite number, got inf"),
        (lambda: GraphConfig(n_parts=-1), "graph.n_parts must be in [0, 50000000], got -1"),
        (lambda: VoteConfig(min_error=0.0), "graph.votes.min_error must be in (0, 0.5], got 0.0"),
        (lambda: GraphConfig(votes="strict"), "graph.votes must be a VoteConfig, got 'strict'"),
        (lambda: LabelingConfig(prompt_style="poem"), "unknown labeling.prompt_style 'poem'"),
        (lambda: ZeroPSConfig(seed=-1), "seed must be >= 0, got -1"),
        (lambda: ZeroPSConfig(graph="fast"), "graph must be a GraphConfig, got 'fast'"),
        (lambda: preset("graph").with_overrides(**{"grouping.dbscan_eps": 0.0}),
         "grouping.dbscan_eps must be in (0, 2]"),
        (lambda: build_config(overrides=["graph.prior=-1"]), "graph.support.prior must be in [0, 10], got -1.0"),
    ]:
        with pytest.raises(ZeropsError) as info:
            build()
        assert message in str(info.value), (message, str(info.value))
        assert "\n" not in str(info.value)


def test_presets_build_and_values_are_normalised():
    for name in PRESETS:
        cfg = preset(name)
        assert isinstance(cfg, ZeroPSConfig) and cfg.render.image_size == 800
    assert preset("literal").extension.mask_choice == "smallest"
    cfg = ZeroPSConfig().with_overrides(**{"render.image_size": np.int64(300), "graph.threshold": 1,
                                           "grouping.n_prompts": 32.0, "graph.enabled": np.bool_(True)})
    assert (cfg.render.image_size, type(cfg.render.image_size)) == (300, int)
    assert (cfg.graph.threshold, type(cfg.graph.threshold)) == (1.0, float)
    assert (cfg.grouping.n_prompts, type(cfg.grouping.n_prompts)) == (32, int)
    assert cfg.graph.enabled is True
    # --set still reads each value as its field's type, and the largest image size is allowed
    cfg = build_config(overrides=["render.image_size=4096", "graph.prior=0", "extension.enabled=true"])
    assert (cfg.render.image_size, cfg.graph.support.prior, cfg.extension.enabled) == (4096, 0.0, True)
    assert RenderConfig(point_radius=None).point_radius is None
    assert RenderConfig(point_radius=0.005).point_radius == 0.005
    from zerops.render.views import get_layout

    layout = get_layout("partslip10")                  # the API takes a layout object or a list of views too
    assert RenderConfig(views=layout).views is layout and RenderConfig(views=[(30, 45)]).views == [(30, 45)]
    with pytest.raises(ZeropsError, match="render.views must be a layout name"):
        RenderConfig(views=3)


def test_the_choices_spelled_in_config_are_the_registries():
    from zerops import config
    from zerops.detectors import PROMPT_STYLES
    from zerops.render.shading import SHADINGS
    from zerops.stages.labeling import CONFIDENCE_RULES

    assert config.SHADINGS == SHADINGS and config.PROMPT_STYLES == PROMPT_STYLES
    assert config.CONFIDENCE_RULES == CONFIDENCE_RULES


@pytest.mark.parametrize("n", [2, 3])
def test_too_few_points_are_refused_before_sam(cli, tmp_path, timed, n):
    path = tmp_path / "tiny.xyz"
    np.savetxt(path, cloud_xyz(n))
    with timed(5):
        rc, err, out = _segment(cli, path, tmp_path)
    assert_error(rc, err, "tiny.xyz", f"{n} points; segmenting needs at least 4")
    assert not out.exists()


@pytest.mark.parametrize("command", ["segment", "render"])
def test_an_over_long_out_name_is_refused_before_any_work(cli, cloud, tmp_path, timed, command):
    out = tmp_path / ("r" * 240)
    extra = (["--segmenter", "no_such_module_zerops:Nope", "--no-cache"] if command == "segment"
             else ["--image-size", "16"])
    with timed(5):
        rc, _, err = cli(command, cloud, "--out", out, *extra)
    assert_error(rc, err, "is 240 bytes long", "at most 215")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ply"]
    out = tmp_path / ("r" * 200)                       # a long name that fits is fine
    rc, _, err = cli("render", cloud, "--out", out, "--image-size", "16", "--views", "partslip10")
    assert rc == 0 and (out / "views.png").is_file(), err


def test_bad_set_in_eval_is_one_line_before_any_shape(cli, tmp_path, timed):
    from conftest import one_shape_dataset

    one_shape_dataset(tmp_path / "data", n=300)
    with timed(5):
        rc, _, err = cli("eval", tmp_path / "data", "--out", tmp_path / "ev", "--method", "zerops", "--quiet",
                         "--no-cache", "--set", "grouping.batch_size=0")
    assert_error(rc, err, "grouping.batch_size must be in [1, 4096], got 0")
    assert not (tmp_path / "ev" / "shapes").exists()
