"""Issue #20, deep JSON and bad numbers: JSON nested 100k levels deep in run.json, meta.json, summary.json, a
`convert --names` file or a .gltf is one `zerops: error:` line (the nesting is measured before parsing, no
RecursionError); `convert --seed -1` is refused by the parser."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_error, cloud_xyz, one_shape_dataset
from zerops.io.files import MAX_JSON_DEPTH, json_depth

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


def test_json_depth_counts_brackets_outside_strings():
    assert json_depth(b'{"a": [1, {"b": "[[[{{"}], "c": "\\"]"}') == 3
    assert json_depth(DEEP) == 100_000 and json_depth(DEEP_OBJECT) == 100_000
    assert json_depth(b"") == 0 and json_depth(b"]]]") == 0


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
def test_deep_run_json_is_one_line(cli, tmp_path, timed, body):
    one_shape_dataset(tmp_path / "data", n=300)
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "run.json").write_bytes(body)
    with timed(10):
        rc, _, err = cli("eval", tmp_path / "data", "--out", ev, "--method", "oracle", "--quiet")
    assert_error(rc, err, "run.json", "nested 100,000 levels deep", f"at most {MAX_JSON_DEPTH}")
    assert (ev / "run.json").read_bytes() == body


def test_deep_meta_json_is_one_line(cli, tmp_path, timed):
    shape = one_shape_dataset(tmp_path / "data", n=300)
    (shape / "meta.json").write_bytes(DEEP_OBJECT)
    with timed(10):
        rc, _, err = cli("eval", tmp_path / "data", "--out", tmp_path / "ev", "--method", "oracle", "--quiet")
    assert_error(rc, err, "meta.json", "nested 100,000 levels deep")


@pytest.mark.parametrize("command", [["view"], ["export", "--format", "ply"]])
def test_deep_summary_json_is_one_line(cli, tmp_path, timed, command):
    from fakes import make_result

    xyz = cloud_xyz(100)
    folder = make_result(tmp_path / "r", xyz, (xyz[:, 0] > 0).astype(np.int64))
    (folder / "summary.json").write_bytes(DEEP)
    with timed(10):
        rc, _, err = cli(command[0], folder, *command[1:])
    assert_error(rc, err, "summary.json", "nested 100,000 levels deep")
    assert not (folder / "viewer.html").exists() and not (folder / "export").exists()


def test_deep_names_file_and_gltf_are_one_line(cli, tmp_path, timed):
    mesh = tmp_path / "asset" / "box.obj"
    mesh.parent.mkdir()
    mesh.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n")
    names = tmp_path / "names.json"
    names.write_bytes(DEEP_OBJECT)
    with timed(10):
        rc, _, err = cli("convert", mesh.parent, "--out", tmp_path / "out", "--names", names, "--points", "200")
    assert_error(rc, err, "--names", "names.json", "nested 100,000 levels deep")
    assert not (tmp_path / "out").exists()
    gltf = tmp_path / "deep.gltf"
    gltf.write_bytes(DEEP)
    with timed(10):
        rc, _, err = cli("render", gltf, "--out", tmp_path / "r", "--image-size", "16")
    assert_error(rc, err, "deep.gltf", "nested 100,000 levels deep")


def test_convert_seed_must_not_be_negative(cli, tmp_path):
    mesh = tmp_path / "box.obj"
    mesh.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    rc, _, err = cli("convert", mesh, "--out", tmp_path / "out", "--seed", "-1")
    assert_error(rc, err, "--seed", "-1", usage=True)
    assert not (tmp_path / "out").exists()
