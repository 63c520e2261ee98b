"""Issue #20, user files: no command deletes or overwrites a file zerops cannot prove it wrote. synth refuses a
shape folder it did not write, convert's --out stays apart from its inputs, temporary files are recognised only
in atomic_path's exact form, export/ and debug/ are replaced only when they hold zerops's files alone (never
through a symbolic link), and `cache clear` never follows a symlinked stage folder out of the cache."""
from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import ascii_ply, assert_error, cloud_xyz


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _render(cli, cloud, out):
    return cli("render", cloud, "--out", out, "--image-size", "16", "--views", "partslip10")


@pytest.fixture
def cloud(tmp_path):
    path = tmp_path / "c.ply"
    path.write_bytes(ascii_ply(cloud_xyz(300)))
    return path


# ----------------------------------------------------------------------------------------------- synth
def test_synth_refuses_a_shape_folder_it_did_not_write(cli, tmp_path):
    mine = tmp_path / "data" / "Chair" / "0000"
    mine.mkdir(parents=True)
    for name, text in (("pc.ply", "my cloud"), ("label.npy", "my labels"), ("meta.json", '{"mine": true}')):
        (mine / name).write_text(text)
    before = _snapshot(tmp_path / "data")
    rc, _, err = cli("synth", tmp_path / "data", "--per-category", "2", "--categories", "Chair", "--points", "500",
                     "--quiet")
    assert_error(rc, err, "Chair/0000", "synth did not write", "no meta.json of synth's", "nothing written")
    assert _snapshot(tmp_path / "data") == before
    (mine / "notes.txt").write_text("keep me")
    (mine / "meta.json").unlink()
    rc, _, err = cli("synth", tmp_path / "data", "--per-category", "1", "--categories", "Chair", "--quiet")
    assert_error(rc, err, "Chair/0000", "notes.txt")
    assert (mine / "notes.txt").read_text() == "keep me" and (mine / "pc.ply").read_text() == "my cloud"


def test_synth_rewrites_its_own_shapes_and_adds_new_ones(cli, tmp_path):
    args = ("synth", tmp_path / "data", "--categories", "Chair", "--points", "500", "--quiet")
    assert cli(*args, "--per-category", "1")[0] == 0
    first = _snapshot(tmp_path / "data")
    assert sorted(first) == ["Chair/0000/label.npy", "Chair/0000/meta.json", "Chair/0000/pc.ply"]
    (tmp_path / "data" / "Chair" / "0000" / "pc.ply").unlink()      # as an interrupted synth leaves it
    rc, out, err = cli(*args, "--per-category", "2")
    assert rc == 0, err
    second = _snapshot(tmp_path / "data")
    assert {k: second[k] for k in first} == first and len(second) == 6


def test_synth_refuses_a_symlinked_category_folder(cli, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "data").mkdir()
    os.symlink(elsewhere, tmp_path / "data" / "Chair")
    rc, _, err = cli("synth", tmp_path / "data", "--per-category", "1", "--categories", "Chair", "--quiet")
    assert_error(rc, err, "a symbolic link", "nothing written")
    assert list(elsewhere.iterdir()) == []


# ----------------------------------------------------------------------------------------------- convert
def _mesh_folder(folder):
    folder.mkdir(parents=True)
    (folder / "a.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n")
    (folder / "b.obj").write_text("v 2 0 0\nv 3 0 0\nv 2 1 0\nv 2 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n")
    (folder / "notes.txt").write_text("my notes")
    return folder


@pytest.mark.parametrize("where, how", [("same", "is the input"), ("inside", "lies inside the input"),
                                        ("above", "holds the input")])
def test_convert_out_may_not_overlap_the_input(cli, tmp_path, where, how):
    parts = _mesh_folder(tmp_path / "assets" / "parts")
    out = {"same": parts, "inside": parts / "pc", "above": tmp_path / "assets"}[where]
    before = _snapshot(tmp_path)
    rc, _, err = cli("convert", parts, "--out", out, "--overwrite", "--points", "200")
    assert_error(rc, err, how, "convert never writes over what it reads")
    assert _snapshot(tmp_path) == before


def test_convert_out_may_not_hold_a_urdf_mesh(cli, tmp_path):
    robot = tmp_path / "robot"
    _mesh_folder(robot / "meshes")
    urdf = robot / "urdf" / "r.urdf"
    urdf.parent.mkdir()
    urdf.write_text('<robot name="r"><link name="a"><visual><geometry><mesh filename="../meshes/a.obj"/>'
                    '</geometry></visual></link></robot>')
    before = _snapshot(tmp_path)
    rc, _, err = cli("convert", urdf, "--out", robot / "meshes", "--overwrite", "--points", "200")
    assert_error(rc, err, "holds the input", "a.obj")
    assert _snapshot(tmp_path) == before
    rc, _, err = cli("convert", urdf, "--out", tmp_path / "converted", "--points", "200")   # apart: fine
    assert rc == 0 and (tmp_path / "converted" / "pc.ply").is_file(), err


def test_convert_seed_and_bad_gltf_in_convert(cli, tmp_path):
    gltf = tmp_path / "model.gltf"
    gltf.write_text("{not json")
    rc, _, err = cli("convert", gltf, "--out", tmp_path / "o", "--points", "100")
    line = assert_error(rc, err, "model.gltf", "invalid JSON")
    assert "FileNotFoundError" not in line


def test_convert_on_a_lying_stl_says_the_counts(cli, tmp_path):
    stl = tmp_path / "lie.stl"
    tri = np.zeros(12, "<f4").tobytes() + b"\x00\x00"
    stl.write_bytes(b"\x00" * 80 + (10).to_bytes(4, "little") + tri * 3)
    rc, _, err = cli("convert", stl, "--out", tmp_path / "o", "--points", "100")
    assert_error(rc, err, "lie.stl", "declares 10 triangles but the file holds 3")
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------------------------- result folders
def test_a_user_file_named_like_a_temporary_is_not_deleted(cli, cloud, tmp_path):
    out = tmp_path / "out"
    assert _render(cli, cloud, out)[0] == 0
    (out / ".thesis.tmp.docx").write_text("three years of work")
    rc, _, err = _render(cli, cloud, out)
    assert_error(rc, err, ".thesis.tmp.docx", "zerops did not write")
    assert (out / ".thesis.tmp.docx").read_text() == "three years of work"
    (out / ".thesis.tmp.docx").unlink()
    (out / ".views.4242.0123abcd.tmp.png").write_bytes(b"half a png")     # atomic_path's exact form: zerops's
    rc, _, err = _render(cli, cloud, out)
    assert rc == 0 and not (out / ".views.4242.0123abcd.tmp.png").exists(), err


@pytest.mark.parametrize("sub, name", [("export", "notes.txt"), ("debug", "my_plot.png"), ("export", "part_mine")])
def test_user_files_in_export_or_debug_block_a_rerun(cli, cloud, tmp_path, sub, name):
    out = tmp_path / "out"
    assert _render(cli, cloud, out)[0] == 0
    (out / sub).mkdir()
    (out / sub / name).write_text("mine")
    rc, _, err = _render(cli, cloud, out)
    assert_error(rc, err, f"{sub}/{name}", "zerops did not write")
    assert (out / sub / name).read_text() == "mine"


def test_symlinked_export_or_debug_block_a_rerun_and_export(cli, cloud, tmp_path):
    from fakes import make_result

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "part_0.ply").write_text("my own part_0.ply")
    (mine / "part_7.ply").write_text("my own part_7.ply")
    xyz = cloud_xyz(200)
    folder = make_result(tmp_path / "r", xyz, (xyz[:, 0] > 0).astype(np.int64))
    os.symlink(mine, folder / "export")
    rc, _, err = cli("export", folder, "--format", "ply")
    assert_error(rc, err, "export is a symbolic link", "move it away")
    assert _snapshot(mine) == {"part_0.ply": b"my own part_0.ply", "part_7.ply": b"my own part_7.ply"}
    out = tmp_path / "out"
    assert _render(cli, cloud, out)[0] == 0
    os.symlink(mine, out / "debug")
    rc, _, err = _render(cli, cloud, out)
    assert_error(rc, err, "debug (a symbolic link)")
    assert len(_snapshot(mine)) == 2


def test_export_keeps_user_files_in_export(cli, tmp_path):
    from fakes import make_result

    xyz = cloud_xyz(200)
    folder = make_result(tmp_path / "r", xyz, (xyz[:, 0] > 0).astype(np.int64))
    assert cli("export", folder, "--format", "ply")[0] == 0
    assert sorted(p.name for p in (folder / "export").iterdir()) == ["part_0.ply", "part_1.ply"]
    (folder / "export" / "part_9_arm.ply").write_text("a stale export of an earlier result")
    rc, _, err = cli("export", folder, "--format", "ply")
    assert rc == 0, err                         # zerops's own stale export is removed
    assert sorted(p.name for p in (folder / "export").iterdir()) == ["part_0.ply", "part_1.ply"]
    for name in ("part_notes.ply", "readme.md"):
        (folder / "export" / name).write_text("mine")
        rc, _, err = cli("export", folder, "--format", "ply")
        assert_error(rc, err, name, "nothing exported")
        assert (folder / "export" / name).read_text() == "mine"
        (folder / "export" / name).unlink()


# ----------------------------------------------------------------------------------------------- stage cache
def test_cache_clear_does_not_follow_a_symlinked_stage_folder(cli, tmp_path):
    from zerops.cache import StageCache

    cache = StageCache(tmp_path / "cache")
    cache.put("groups", "ab" + "0" * 62, {"a": np.zeros(3)})
    outside = tmp_path / "outside" / "cd"
    outside.mkdir(parents=True)
    victim = outside / ("cd" + "1" * 62 + ".npz")
    victim.write_bytes(b"user data")
    os.symlink(tmp_path / "outside", tmp_path / "cache" / "extended")
    rc, out, err = cli("cache", "clear", "--cache", tmp_path / "cache")
    assert rc == 0, err
    assert "deleted 1 entries" in out
    assert victim.read_bytes() == b"user data"


def test_replacing_a_result_never_follows_its_symbolic_links(cli, cloud, tmp_path):
    out = tmp_path / "out"
    assert _render(cli, cloud, out)[0] == 0
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"my picture")
    (out / "view_p0.png").unlink()
    os.symlink(mine, out / "view_p0.png")            # a link named like zerops's own output
    rc, _, err = _render(cli, cloud, out)
    assert rc == 0, err
    assert mine.read_bytes() == b"my picture"         # the link was replaced, not written through
    assert not (out / "view_p0.png").is_symlink() and (out / "view_p0.png").read_bytes()[:4] == b"\x89PNG"
