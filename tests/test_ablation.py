"""Ablation grids (`zerops eval --ablate ... --sweep ...`)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from zerops.errors import ZeropsError
from zerops.eval.ablation import grid_rows, parse_sweep


def test_parse_sweep_and_rows():
    assert parse_sweep("merge-threshold=0.2,0.3") == ("merge_threshold", [0.2, 0.3])
    assert parse_sweep("prompts=64,256") == ("n_prompts", [64, 256])
    assert parse_sweep("views=partslip10,zerops20") == ("views", ["partslip10", "zerops20"])
    for bad in ["merge_threshold", "=1,2", "views="]:
        with pytest.raises(ZeropsError):
            parse_sweep(bad)
    rows = grid_rows([("merge_threshold", [0.2, 0.3])], ["extension", "penalty"], {"detector": "oracle:perfect"})
    assert [r[0] for r in rows] == ["merge_threshold=0.2", "merge_threshold=0.2 w/o extension",
                                    "merge_threshold=0.2 w/o penalty", "merge_threshold=0.3",
                                    "merge_threshold=0.3 w/o extension", "merge_threshold=0.3 w/o penalty"]
    assert rows[1][1] == {"detector": "oracle:perfect", "merge_threshold": 0.2, "no_extension": True}
    assert [r[0] for r in grid_rows([], ["check"])] == ["full", "w/o check"]
    with pytest.raises(ZeropsError):
        grid_rows([], ["colour"])
    with pytest.raises(ZeropsError):
        grid_rows([("views", ["a"]), ("views", ["b"])], [])


def test_eval_grid_writes_tables_and_reuses_the_stage_cache(tmp_path, capsys):
    from fakes import ColorRegionSegmenter  # noqa: F401
    from zerops.cli import main
    from zerops.eval.partnete import write_partnete_shape
    from zerops.eval.synthetic import generate_shape
    from zerops.io.palette import part_palette

    s = generate_shape("Table", 1, n_points=3000)
    pal = part_palette(s.instance.max() + 2).astype(np.float32) / 255
    rgb = np.where(s.instance[:, None] >= 0, pal[np.maximum(s.instance, 0) + 1], 0.5)
    write_partnete_shape(tmp_path / "data" / "Table" / "0000", s.xyz, rgb, s.semantic, s.instance,
                         {"category": "Table", "part_names": s.part_names})
    code = main(["eval", str(tmp_path / "data"), "--out", str(tmp_path / "grid"), "--method", "zerops",
                 "--segmenter", "fakes:ColorRegionSegmenter", "--preset", "fast", "--prompts", "32",
                 "--detector", "oracle:perfect",
                 "--quiet", "--cache", str(tmp_path / "stages"), "--ablate", "extension,penalty",
                 "--sweep", "merge_threshold=0.3,0.5"])
    assert code == 0
    grid = json.loads((tmp_path / "grid" / "ablation.json").read_text())
    assert len(grid["rows"]) == 6 and grid["rows"][2]["options"]["no_penalty"] is True
    md = (tmp_path / "grid" / "ablation.md").read_text()
    assert "## Average IoU" in md and "## mIoU" in md and "## mAP50" in md and "| Table |" in md
    assert md.count("merge_threshold=0.5 w/o extension") == 4          # a row per metric table + seconds
    # rows after the first reuse SAM's work: the 0.5 row read the extended groups from the cache
    shape = next((tmp_path / "grid" / "runs" / "merge_threshold=0.5" / "shapes").glob("*.npz"))
    extra = json.loads(str(np.load(shape)["extra"]))
    assert extra["cached"][:1] == ["extended"] and extra["decodes"] == 0
    assert "tables:" in capsys.readouterr().out
