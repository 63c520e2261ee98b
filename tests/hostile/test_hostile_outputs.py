"""Issue #14, outputs and user data: --out checked before any work, result folders written whole (an
interrupted run leaves the previous complete result or nothing), `cache clear` deletes only cache entries,
outputs readable by group and others under umask 022."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, ascii_ply, assert_error, cloud_xyz
from zerops.errors import ZeropsError


@pytest.fixture
def cloud(tmp_path) -> Path:
    path = tmp_path / "cloud.ply"
    path.write_bytes(ascii_ply(cloud_xyz(300)))
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if ".zerops-" in p.name)


# ----------------------------------------------------------------------------------------------- --out before work
@pytest.mark.parametrize("command", ["segment", "render", "eval"])
def test_bad_out_fails_before_any_work(cli, tmp_path, cloud, timed, command):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_text("mine")
    cases = [(afile, "is a file"), ("/dev/null", "not a folder"), (afile / "sub", "is a file, not a folder")]
    if command != "eval":      # eval folders are added to (shapes/, reports), never replaced
        cases.append((foreign, "holiday.jpg"))
    for out, needle in cases:
        args = [command, tmp_path if command == "eval" else cloud, "--out", out]
        with timed(1.0):   # no rendering, no model, no dataset scan: the check comes first
            rc, _, err = cli(*args)
        assert_error(rc, err, needle)
    assert afile.read_text() == "mine" and (foreign / "holiday.jpg").read_text() == "mine"
    assert sorted(p.name for p in foreign.iterdir()) == ["holiday.jpg"]


def test_unwritable_out_is_refused_before_work(cli, tmp_path, cloud, monkeypatch):
    import zerops.io.outdir

    def no_mkdir(path, *a, **k):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(zerops.io.outdir.os, "mkdir", no_mkdir)
    rc, _, err = cli("segment", cloud, "--out", tmp_path / "ro" / "out")
    assert_error(rc, err, "cannot write in", "Permission denied")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_refused(cli, tmp_path, cloud):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, _, err = cli("render", cloud, "--out", ro / "out")
        assert_error(rc, err, "cannot write in")
    finally:
        ro.chmod(0o755)


# ----------------------------------------------------------------------------------------------- atomic folders
def _result(tmp_path, seed=0):
    from zerops.result import PartResult

    xyz = cloud_xyz(200, seed)
    part = (xyz[:, 0] > 0).astype(np.int64)
    return PartResult(xyz=xyz, part=part, parts=[np.flatnonzero(part == k) for k in range(2)],
                      seconds={"total": 1.0}, decodes=3, counts={})


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_interrupted_write_keeps_the_previous_result(tmp_path, monkeypatch, exc):
    import zerops.output
    from zerops.output import write_segment_outputs

    out = tmp_path / "out"
    write_segment_outputs(out, _result(tmp_path, 0))
    (out / "viewer.html").write_text("old viewer")
    before = _snapshot(out)

    def boom(*a, **k):
        raise exc("stop")
    monkeypatch.setattr(zerops.output, "write_json", boom)      # parts.npz, parts.ply written, summary not
    with pytest.raises(exc):
        write_segment_outputs(out, _result(tmp_path, 1))
    assert _snapshot(out) == before and _siblings(out) == []
    new = tmp_path / "new"
    with pytest.raises(exc):
        write_segment_outputs(new, _result(tmp_path, 1))
    assert not new.exists() and _siblings(new) == []


def test_rerun_replaces_the_whole_folder(tmp_path):
    from zerops.io.outdir import MARKER
    from zerops.io.resultdir import load_result
    from zerops.output import write_segment_outputs

    out = tmp_path / "out"
    write_segment_outputs(out, _result(tmp_path, 0))
    (out / "viewer.html").write_text("stale viewer of the old parts")
    write_segment_outputs(out, _result(tmp_path, 1))
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "parts.npz", "parts.ply", "summary.json"])
    np.testing.assert_array_equal(load_result(out).xyz, cloud_xyz(200, 1))
    assert _siblings(out) == []


def test_folder_with_user_files_is_never_replaced(tmp_path):
    from zerops.output import write_segment_outputs

    out = tmp_path / "out"
    write_segment_outputs(out, _result(tmp_path, 0))
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ZeropsError, match="notes.txt"):
        write_segment_outputs(out, _result(tmp_path, 1))
    assert (out / "notes.txt").read_text() == "mine"


_SLOW_RENDER = r"""
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import zerops.viz.sheets
from zerops.cli import main
real = zerops.viz.sheets.save_png
def slow(path, image):
    real(path, image)
    open(sys.argv[3], "w").close()          # tell the test we are in the middle of writing
    time.sleep(30)
zerops.viz.sheets.save_png = slow
sys.exit(main(["render", sys.argv[1], "--out", sys.argv[2], "--image-size", "16", "--views", "partslip10",
               "--seed", "1"]))
"""


@pytest.mark.parametrize("sig, code, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_signal_mid_write_leaves_the_old_result(cli, tmp_path, cloud, sig, code, word):
    out = tmp_path / "out"
    rc, stdout, _ = cli("render", cloud, "--out", out, "--image-size", "16", "--views", "partslip10")
    assert rc == 0
    assert stdout.startswith("rendered 10 views of ") and stdout.strip().endswith(f"-> {out}/views.png"), stdout
    from zerops.io.outdir import MARKER
    expected = [MARKER, "views.png"] + [f"view_p{i}.png" for i in range(10)]
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    before = _snapshot(out)
    ready = tmp_path / "ready"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_RENDER, str(cloud), str(out), str(ready)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not ready.exists():
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert err.strip().splitlines() == [f"zerops: {word} (nothing was written)"]
    assert _snapshot(out) == before and _siblings(out) == []


def test_interrupt_note_depends_on_what_is_kept(cli, tmp_path, cloud, monkeypatch):
    import zerops.io.load

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(zerops.io.load, "load_cloud", interrupted)
    rc, _, err = cli("segment", cloud, "--out", tmp_path / "o", "--no-cache")
    assert rc == 130 and err.strip() == "zerops: interrupted (nothing was written)"
    from zerops.cache import StageCache

    cache = tmp_path / "cache"
    StageCache(cache).put("groups", "ab" + "0" * 62, {"a": np.zeros(3)})
    rc, _, err = cli("segment", cloud, "--out", tmp_path / "o", "--cache", cache)
    assert rc == 130 and "stage cache" in err and "resume" in err
    assert not (tmp_path / "o").exists()
    # issue #20: a --cache that is a file (or holds nothing yet) keeps nothing, and the note says so
    (tmp_path / "file").write_text("not a cache")
    for where in (tmp_path / "file", tmp_path / "empty"):
        rc, _, err = cli("segment", cloud, "--out", tmp_path / "o", "--cache", where)
        assert rc == 130 and err.strip() == "zerops: interrupted (nothing was written)", err
    assert (tmp_path / "file").read_text() == "not a cache"


def test_outputs_are_readable_by_others_under_umask_022(cli, tmp_path, cloud):
    old = os.umask(0o022)
    try:
        rc, stdout, _ = cli("render", cloud, "--out", tmp_path / "out", "--image-size", "16", "--views", "partslip10")
    finally:
        os.umask(old)
    assert rc == 0
    assert stdout.strip().splitlines() == [stdout.strip()] and stdout.strip().endswith(
        f"-> {tmp_path / 'out'}/views.png"), stdout
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "out").iterdir()}
    assert "views.png" in modes and "view_p0.png" in modes
    assert set(modes.values()) == {0o644}, modes


# ----------------------------------------------------------------------------------------------- cache clear
def test_cache_clear_never_touches_a_dataset(cli, tmp_path):
    from conftest import one_shape_dataset

    shape = one_shape_dataset(tmp_path / "data", n=300)
    np.savez(shape / "label.npz", semantic_seg=np.zeros(3), instance_seg=np.zeros(3))
    before = _snapshot(tmp_path / "data")
    for action in (["clear"], ["clear", "--stage", "groups"], ["info"]):
        rc, _, err = cli("cache", *action, "--cache", tmp_path / "data")
        assert_error(rc, err, "is not a zerops stage cache")
    assert _snapshot(tmp_path / "data") == before


def test_cache_deletes_only_its_own_entries(cli, tmp_path):
    from zerops.cache import MARKER, StageCache

    cache = StageCache(tmp_path / "c")
    cache.put("groups", "ab" * 32, {"x": np.zeros(4)})
    assert (tmp_path / "c" / MARKER).is_file()
    odd = [tmp_path / "c" / "groups" / "ab" / "notes.npz", tmp_path / "c" / "Chair" / "0000" / ("cd" * 32 + ".npz"),
           tmp_path / "c" / "groups" / "cd" / ("ab" * 32 + ".npz")]        # wrong name, stage, or prefix folder
    for p in odd:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"user data")
    rc, out, _ = cli("cache", "clear", "--cache", tmp_path / "c")
    assert rc == 0 and "deleted 1 entries" in out
    assert all(p.read_bytes() == b"user data" for p in odd)
    # a folder that is not a cache is not written to (a warning, and no entry)
    data = tmp_path / "data"
    data.mkdir()
    (data / "mine.txt").write_text("mine")
    with pytest.warns(UserWarning, match="not a zerops stage cache"):
        StageCache(data).put("groups", "ab" * 32, {"x": np.zeros(4)})
    assert sorted(p.name for p in data.iterdir()) == ["mine.txt"]


# ----------------------------------------------------------------------------------------------- eval folders, models
def test_eval_folder_problems(cli, tmp_path):
    from conftest import one_shape_dataset

    one_shape_dataset(tmp_path / "data", n=300)
    ev = tmp_path / "ev"
    args = ("eval", tmp_path / "data", "--out", ev, "--method", "oracle", "--quiet")
    rc, out, _ = cli(*args)
    assert rc == 0
    lines = out.strip().splitlines()
    assert lines[-1] == f"report: {ev / 'report.md'}" and lines[-2].split()[:2] == ["Overall", "1"], out
    assert json.loads((ev / "report.json").read_text())["run"] == {"computed": 1, "reused": 0}
    shape_file = next((ev / "shapes").glob("*.npz"))
    for damage in (b"", b"PK\x03\x04 truncated zip"):       # unreadable cached shape: recomputed
        shape_file.write_bytes(damage)
        rc, out, err = cli(*args)
        assert rc == 0 and err == "", err
        assert out.strip().splitlines()[-1] == f"report: {ev / 'report.md'}", out
        assert json.loads((ev / "report.json").read_text())["run"] == {"computed": 1, "reused": 0}
    (ev / "run.json").write_text("[1, 2, 3]")
    rc, _, err = cli(*args)
    assert_error(rc, err, "run.json", "not a zerops run manifest")
    rc, _, err = cli("eval", tmp_path / "data", "--out", tmp_path / "ev2", "--method", "zerops", "--quiet",
                     "--sweep", "merge_threshold=abc")
    assert_error(rc, err, "merge_threshold", "'abc' is not a number")
    assert not (tmp_path / "ev2").exists()


def test_models_home_is_a_file_and_corrupt_encoder(cli, tmp_path, monkeypatch):
    from zerops.segmenters.weights import EMBEDDED_FILES

    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("ZEROPS_HOME", str(home))
    rc, _, err = cli("models", "fetch")
    assert_error(rc, err, "ZEROPS_HOME", "is a file")
    home.unlink()
    home.mkdir()
    for spec in EMBEDDED_FILES:                       # the right sizes, the wrong bytes
        with open(home / spec.name, "wb") as fh:
            fh.truncate(spec.size)
    rc, out, _ = cli("models", "list")
    assert rc == 0 and " ok " not in out and out.count("bad sha256") == 2
