"""The ZeroPS pipeline end to end: with a "perfect SAM" (color regions) and with the real embedded model."""
from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import ColorRegionSegmenter

from zerops.cli import main
from zerops.errors import ZeropsError
from zerops.io import make_cloud, part_palette, write_cloud_ply
from zerops.metrics import best_instance_ious
from zerops.pipeline import ZeroPS, build_config
from zerops.synthetic import generate_shape


def _part_colored(category: str, seed: int, n: int):
    """A synthetic shape whose colors are its instances: the color-region segmenter is then a perfect SAM."""
    s = generate_shape(category, seed, n_points=n)
    pal = part_palette(s.instance.max() + 2).astype(np.float32) / 255
    rgb = np.where(s.instance[:, None] >= 0, pal[np.maximum(s.instance, 0) + 1], 0.5).astype(np.float32)
    return s, make_cloud(s.xyz, rgb)


def _small_config(**over):
    # 320 px views: the spec's 200 px area threshold scales with the image area
    return build_config("fast").with_overrides(**{"render.image_size": 320, "grouping.min_mask_area": 32, **over})


@pytest.fixture(scope="module")
def chair():
    return _part_colored("Chair", 4, 4000)


def test_perfect_masks_give_the_parts_and_self_extension_is_what_completes_them(chair):
    shape, cloud = chair
    full = ZeroPS(_small_config(), segmenter=ColorRegionSegmenter(), progress=False).segment(cloud)
    noext = ZeroPS(_small_config(**{"extension.enabled": False}), segmenter=ColorRegionSegmenter(),
                   progress=False).segment(cloud)
    avg_full = best_instance_ious(shape.instance, full.part).mean()
    avg_noext = best_instance_ious(shape.instance, noext.part).mean()
    # measured 88.1 with and 48.1 without self-extension (8 GT parts)
    assert avg_full > 85.0
    assert avg_noext < avg_full - 30.0
    assert full.counts["parts"] < noext.counts["parts"]        # extension lets views agree, merging unites them
    assert full.decodes > noext.decodes > 0
    assert set(full.seconds) >= {"render", "encode", "groups", "extension", "merging", "total"}
    assert sum(len(p) for p in full.parts) == int((full.part >= 0).sum())


def test_same_input_same_parts(chair):
    _, cloud = chair
    a = ZeroPS(_small_config(), segmenter=ColorRegionSegmenter(), progress=False).segment(cloud)
    b = ZeroPS(_small_config(), segmenter=ColorRegionSegmenter(), progress=False).segment(cloud)
    assert np.array_equal(a.part, b.part) and a.decodes == b.decodes


def test_table_with_perfect_masks():
    shape, cloud = _part_colored("Table", 3, 4000)
    r = ZeroPS(_small_config(), segmenter=ColorRegionSegmenter(), progress=False).segment(cloud)
    assert best_instance_ious(shape.instance, r.part).mean() > 95.0      # measured 97.8 (top + 4 legs)


def test_build_config_switches_and_errors():
    cfg = build_config("paper", no_extension=True, passes=1, merge_threshold=0.5, views="partslip10", n_prompts=32)
    assert not cfg.extension.enabled and cfg.extension.passes == 1
    assert cfg.merging.iou_threshold == 0.5 and cfg.render.views == "partslip10" and cfg.grouping.n_prompts == 32
    assert build_config("paper").grouping.n_prompts == 256 and build_config("fast").grouping.n_prompts == 64
    with pytest.raises(ZeropsError, match="unknown preset"):
        build_config("turbo")
    with pytest.raises(ZeropsError, match="merge-threshold"):
        build_config(merge_threshold=1.5)
    with pytest.raises(ZeropsError):
        build_config(views="nine-views")


def test_segment_cli_writes_every_output(tmp_path, monkeypatch, chair):
    shape, cloud = chair
    src = tmp_path / "chair.ply"
    write_cloud_ply(src, cloud.xyz, cloud.rgb)
    out = tmp_path / "out"
    code = main(["segment", str(src), "--out", str(out), "--segmenter", "fakes:ColorRegionSegmenter",
                 "--quiet", "--debug", "--prompts", "64"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    data = np.load(out / "parts.npz")
    assert data["part"].shape == (4000,) and data["xyz"].shape == (4000, 3)
    assert all(isinstance(k, int) and k > 0 for k in summary["parts"])   # a list of part sizes
    assert sum(summary["parts"]) + summary["unassigned"] == 4000
    assert summary["seconds"]["total"] > 0 and summary["decodes"] > 0
    assert (out / "parts.ply").stat().st_size > 4000 * 12
    assert (out / "views.png").is_file() and (out / "debug" / "merged.png").is_file()
    assert len(list((out / "debug").glob("initial_*.png"))) == 8


def test_segment_cli_bad_part_of_the_input_is_one_line(tmp_path, capsys):
    assert main(["segment", str(tmp_path / "missing.ply"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("zerops: error:")
    assert not (tmp_path / "o").exists()
    assert main(["segment", str(tmp_path / "missing.ply"), "--out", str(tmp_path / "o"),
                 "--segmenter", "nosuchmodule:Nope"]) == 2


@pytest.mark.model
@pytest.mark.slow
def test_embedded_model_end_to_end_clears_the_floor(embedded_model):
    """The real MobileSAM on a synthetic table (10k points, 20 views, fast preset)."""
    shape = generate_shape("Table", 1)
    r = ZeroPS(build_config("fast"), progress=False).segment(make_cloud(shape.xyz, shape.rgb))
    avg = best_instance_ious(shape.instance, r.part).mean()
    # measured 86.6 (fast preset, 20 views); 51.4 without self-extension
    assert avg > 75.0, avg
    assert r.decodes > 100 and r.counts["parts"] >= 3
