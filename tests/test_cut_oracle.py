"""`--method cut-oracle`: the pipeline's merge tree cut where the ground truth scores best (a bound)."""
import json

import numpy as np
import pytest

from zerops.errors import ZeropsError
from zerops.eval.methods import get_method
from zerops.eval.metrics import best_instance_ious, best_partition
from zerops.eval.partnete import load_partnete_shape, write_partnete_shape


def test_best_partition_picks_the_highest_sum_of_best_ious():
    gt = np.array([0, 0, 0, 1, 1, 1, -1, -1])
    whole = np.zeros(8, int)                      # 0: IoU 3/8 and 3/8
    exact = np.array([0, 0, 0, 1, 1, 1, 2, 2])   # 1: 100 and 100
    split = np.array([0, 0, 1, 2, 2, 2, 3, 3])   # 2: 2/3 and 100
    assert best_partition(gt, [whole, exact, split]) == 1
    assert best_partition(gt, [whole, split]) == 1
    assert best_partition(gt, [exact, exact.copy()]) == 0             # ties: the first
    with pytest.raises(ZeropsError, match="at least one"):
        best_partition(gt, [])


@pytest.fixture()
def table(tmp_path):
    from zerops.eval.synthetic import generate_shape
    from zerops.io.palette import part_palette

    s = generate_shape("Table", 1, n_points=2500)
    pal = part_palette(s.instance.max() + 2).astype(np.float32) / 255
    rgb = np.where(s.instance[:, None] >= 0, pal[np.maximum(s.instance, 0) + 1], 0.5)
    folder = tmp_path / "data" / "Table" / "0000"
    write_partnete_shape(folder, s.xyz, rgb, s.semantic, s.instance, {"category": "Table", "part_names": s.part_names})
    return folder


def test_cut_oracle_is_the_best_cut_of_the_same_tree(table, tmp_path):
    """Its parts are the default cut or an n-part cut of the tree `zerops` builds, whichever scores best; so it
    is never below `zerops` on a shape, and no cut of the tree beats it."""
    from fakes import ColorRegionSegmenter  # noqa: F401  (importable as fakes:ColorRegionSegmenter)
    from zerops.pipeline import ZeroPS

    shape = load_partnete_shape(table)
    opts = {"segmenter": "fakes:ColorRegionSegmenter", "n_prompts": 24, "cache": None}
    got = get_method("cut-oracle", **opts)(shape)
    plain = get_method("zerops", **opts)(shape)
    r = ZeroPS(segmenter="fakes:ColorRegionSegmenter", progress=False,
               config=ZeroPS().config.with_overrides(**{"grouping.n_prompts": 24})).segment(shape.cloud)
    counts = range(1, r.graph.superpoints.count + 1)
    sums = [best_instance_ious(shape.instance, r.regroup(n_parts=k)).sum() for k in counts]
    mine = best_instance_ious(shape.instance, got.part).sum()
    assert np.array_equal(plain.part, r.part)
    assert mine >= best_instance_ious(shape.instance, plain.part).sum()
    assert mine == pytest.approx(max(max(sums[:64]), best_instance_ious(shape.instance, r.part).sum()))
    assert got.extra["n_parts"] == len(np.unique(got.part)) and got.extra["default_parts"] == r.part.max() + 1


def test_cut_oracle_cli_and_bad_options(table, tmp_path, capsys):
    from fakes import ColorRegionSegmenter  # noqa: F401
    from zerops.cli import main

    data = str(table.parent.parent)
    assert main(["eval", data, "--method", "cut-oracle", "--segmenter", "fakes:ColorRegionSegmenter",
                 "--prompts", "24", "--quiet", "--no-cache", "--out", str(tmp_path / "a")]) == 0
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert rep["method"] == "cut-oracle" and rep["overall"]["avg_iou"] > 0
    with pytest.raises(ZeropsError, match="merge tree"):
        get_method("cut-oracle", preset="fast")
    with pytest.raises(ZeropsError, match="no detector"):
        get_method("cut-oracle", detector="oracle:perfect")
