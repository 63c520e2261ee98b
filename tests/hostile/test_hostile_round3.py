"""Issue #26, hostile input round three: `convert --overwrite` never deletes what zerops did not write, no hang
on special files named inside other files, no exit 1 for the reported cases, npz members checked whatever
their names, a compression-ratio limit, bounded splat radii and thread counts, and the minor items (a late
signal, one-line warnings, Ctrl-C tests that set their own signal state)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from conftest import REPO, ascii_ply, assert_error, cloud_xyz, one_shape_dataset, run_subprocess

TETRA = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n"


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class Hang(BaseException):
    """Raised by SIGALRM in a case that blocks (a BaseException: zerops cannot turn it into exit 2)."""


@contextlib.contextmanager
def within(seconds: float):
    """Fail with "hang" when the block runs longer than ``seconds`` (a blocked open() of a FIFO is interrupted)."""
    def alarm(signum, frame):
        raise Hang()
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Hang:
        pytest.fail(f"the block did not end within {seconds} s (hang)")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ----------------------------------------------------------------------------------------------- --overwrite
@pytest.fixture
def tetra(tmp_path):
    path = tmp_path / "assets" / "t.obj"
    path.parent.mkdir()
    path.write_text(TETRA)
    return path


def test_convert_overwrite_into_a_users_folder_deletes_nothing(cli, tetra, tmp_path, monkeypatch):
    paper = tmp_path / "paper"
    (paper / "figures").mkdir(parents=True)
    (paper / "thesis.tex").write_text("three years of work")
    (paper / "figures" / "fig1.pdf").write_bytes(b"%PDF figure")
    before = _snapshot(paper)
    monkeypatch.chdir(paper)                                # `cd paper && zerops convert ... --out .`
    rc, _, err = cli("convert", tetra, "--out", ".", "--points", "500", "--overwrite")
    assert_error(rc, err, "--out .", "holds files zerops convert did not write", "figures", "thesis.tex",
                 "nothing was touched")
    assert _snapshot(paper) == before and sorted(os.listdir(paper)) == ["figures", "thesis.tex"]


def test_convert_overwrite_refuses_a_dataset_root_and_a_shape_it_did_not_write(cli, tetra, tmp_path):
    data = tmp_path / "data"
    shape = one_shape_dataset(data, n=300)                  # synth's shape: pc.ply, label.npy, meta.json
    before = _snapshot(data)
    rc, _, err = cli("convert", tetra, "--out", data, "--points", "500", "--overwrite")
    assert_error(rc, err, "holds files zerops convert did not write (Chair)")
    rc, _, err = cli("convert", tetra, "--out", shape, "--points", "500", "--overwrite")
    assert_error(rc, err, "is a shape folder zerops convert did not write", "zerops.io.convert")
    assert _snapshot(data) == before
    (shape / "notes.txt").write_text("mine")
    rc, _, err = cli("convert", tetra, "--out", shape, "--points", "500", "--overwrite")
    assert_error(rc, err, "notes.txt")
    assert (shape / "notes.txt").read_text() == "mine"


def test_convert_overwrite_replaces_its_own_shape_folder(cli, tetra, tmp_path):
    out = tmp_path / "data" / "Thing" / "0000"
    assert cli("convert", tetra, "--out", out, "--points", "300")[0] == 0
    first = _snapshot(out)
    assert sorted(first) == ["label.npy", "meta.json", "pc.ply"]
    rc, _, err = cli("convert", tetra, "--out", out, "--points", "500")
    assert_error(rc, err, "use --overwrite")
    rc, out_text, err = cli("convert", tetra, "--out", out, "--points", "500", "--overwrite")
    assert rc == 0 and out_text.startswith("500 points"), err
    assert sorted(_snapshot(out)) == sorted(first) and _snapshot(out) != first


def test_a_convert_that_finds_its_folder_written_meanwhile_is_one_line(cli, tetra, tmp_path, monkeypatch):
    """The other run finishes while this one samples: this one's result is discarded, the other's kept."""
    import zerops.io.labelfiles as labelfiles
    from zerops.cli import main
    from zerops.eval.partnete import load_partnete_shape

    out = tmp_path / "out"
    real = labelfiles.write_partnete_shape
    calls = []

    def write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:                                 # the other convert, start to end
            assert main(["convert", str(tetra), "--out", str(out), "--points", "300"]) == 0
        return real(*args, **kwargs)
    monkeypatch.setattr(labelfiles, "write_partnete_shape", write)
    rc, _, err = cli("convert", tetra, "--out", out, "--points", "200")
    assert_error(rc, err, "output folder exists and is not empty")
    assert len(load_partnete_shape(out).cloud.xyz) == 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets", "out"]        # no temporary left


def test_two_converts_started_at_once_into_one_folder(tetra, tmp_path):
    from zerops.eval.partnete import load_partnete_shape

    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    for round_ in range(2):
        out = tmp_path / f"race{round_}"
        procs = [subprocess.Popen([sys.executable, "-m", "zerops", "convert", str(tetra), "--out", str(out),
                                   "--points", "400", *(["--overwrite"] if round_ else [])], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
        assert sorted(rc for rc, _ in results)[0] == 0, results
        for rc, err in results:
            assert rc in (0, 2) and "Traceback" not in err, results
            if rc == 2:
                assert_error(rc, err)
        assert len(load_partnete_shape(out).cloud.xyz) == 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets", "race0", "race1"]


# ----------------------------------------------------------------------------------------------- special files
def _gltf(uri: str) -> str:
    return json.dumps({
        "asset": {"version": "2.0"}, "buffers": [{"uri": uri, "byteLength": 36}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 36}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3", "max": [1, 1, 0],
                       "min": [0, 0, 0]}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}], "nodes": [{"mesh": 0}],
        "scenes": [{"nodes": [0]}], "scene": 0})


def _special_asset(folder, how: str):
    """(asset path, the special file's path) for an asset naming a FIFO in the way ``how`` says."""
    os.mkfifo(folder / "pipe")
    if how == "mtllib":
        (folder / "m.obj").write_text("mtllib pipe\n" + TETRA)
        return folder / "m.obj"
    if how == "map_Kd":
        (folder / "m.mtl").write_text("newmtl a\nKd 1 0 0\nmap_Kd pipe\n")
        (folder / "m.obj").write_text("mtllib m.mtl\nusemtl a\nvt 0 0\nvt 1 0\nvt 0 1\n" + TETRA.replace(
            "f 1 2 3", "f 1/1 2/2 3/3"))
        return folder / "m.obj"
    if how == "gltf buffer":
        (folder / "m.gltf").write_text(_gltf("pipe"))
        return folder / "m.gltf"
    return folder / "pipe"                                  # the asset itself


@pytest.mark.parametrize("how", ["mtllib", "map_Kd", "gltf buffer", "the input"])
@pytest.mark.parametrize("command", ["render", "convert"])
def test_a_fifo_named_inside_a_file_is_refused_without_blocking(cli, tmp_path, how, command):
    asset = _special_asset(tmp_path, how)
    with within(10):
        if command == "render":
            rc, _, err = cli("render", asset, "--out", tmp_path / "out", "--image-size", "16", "--views",
                             "partslip10", "--points", "100")
        else:
            rc, _, err = cli("convert", asset, "--out", tmp_path / "out", "--points", "100")
    where = "" if how == "the input" else f"(named in {asset})"
    assert_error(rc, err, f"{tmp_path / 'pipe'}" if how != "the input" else "pipe", where,
                 "is a named pipe (FIFO); zerops reads only regular files")
    assert not (tmp_path / "out").exists()


def test_read_regular_refuses_a_fifo_and_a_device_without_blocking(tmp_path):
    from zerops.errors import ZeropsError
    from zerops.io.files import read_regular

    os.mkfifo(tmp_path / "pipe")
    with within(5):
        with pytest.raises(ZeropsError, match="is a named pipe"):
            read_regular(tmp_path / "pipe")
        with pytest.raises(ZeropsError, match="is a device"):
            read_regular("/dev/zero")
    (tmp_path / "f").write_bytes(b"data")
    assert read_regular(tmp_path / "f") == b"data"


# ----------------------------------------------------------------------------------------------- exit 1 cases
def test_a_plugin_attribute_that_is_not_a_method_factory_is_one_line(cli, tmp_path):
    one_shape_dataset(tmp_path / "data", n=300)
    for spec, what in (("os:getcwd", "it returned a str"), ("os:sep", "it is a str"),
                       ("os:getpid", "it returned a int"), ("builtins:len", "does not accept")):
        rc, _, err = cli("eval", tmp_path / "data", "--out", tmp_path / "ev", "--method", spec, "--quiet")
        assert_error(rc, err, f"'{spec}'", what)


def test_absurd_cache_size_and_sweep_values_are_one_line(cli, tmp_path):
    one_shape_dataset(tmp_path / "data", n=300)
    base = ("eval", tmp_path / "data", "--out", tmp_path / "ev", "--method", "zerops", "--quiet")
    rc, _, err = cli(*base, "--cache-gb", "1e300")
    assert_error(rc, err, "--cache-gb", "(0, 1,000,000] GB", "1e+300")
    for sweep, needle in (("n_parts=2,inf", "--n-parts must be a whole number, got inf"),
                          ("n_parts=2,abc", "got 'abc'"), ("n_parts=2.5", "got 2.5"),
                          ("merge_threshold=nan", "--merge-threshold must be a finite number, got nan"),
                          ("granularity=-inf", "--granularity must be a finite number")):
        rc, _, err = cli(*base, "--no-cache", "--sweep", sweep)
        assert_error(rc, err, needle)
    assert not (tmp_path / "ev" / "runs").exists()


def _cycle_gltf(nodes) -> dict:
    doc = json.loads(_gltf("data:application/octet-stream;base64," + "A" * 48))
    doc["nodes"] = nodes
    return doc


def _glb(doc: dict) -> bytes:
    body = json.dumps(doc).encode()
    body += b" " * (-len(body) % 4)
    return b"glTF" + (2).to_bytes(4, "little") + (12 + 8 + len(body)).to_bytes(4, "little") + \
        len(body).to_bytes(4, "little") + b"JSON" + body


@pytest.mark.parametrize("nodes, needle", [
    ([{"mesh": 0, "children": [1]}, {"mesh": 0, "children": [0]}], "the glTF nodes 1 -> 0 -> 1 form a cycle"),
    ([{"mesh": 0, "children": [0]}], "glTF node 0 is its own child"),
    ([{"mesh": 0, "children": [1]}, {"mesh": 0}, {"children": [1]}], "node 1 is a child of both node 0 and node 2"),
    ([{"mesh": 0, "children": [7]}], "names the child 7, which is not a node index"),
])
@pytest.mark.parametrize("ext", [".gltf", ".glb"])
def test_a_gltf_whose_nodes_are_not_a_tree_is_one_line(cli, tmp_path, nodes, needle, ext):
    path = tmp_path / f"scene{ext}"
    doc = _cycle_gltf(nodes)
    path.write_bytes(_glb(doc) if ext == ".glb" else json.dumps(doc).encode())
    for argv in (("render", path, "--out", tmp_path / "r", "--image-size", "16", "--views", "partslip10"),
                 ("convert", path, "--out", tmp_path / "c", "--points", "100")):
        with within(20):
            rc, _, err = cli(*argv)
        assert_error(rc, err, f"scene{ext}", needle, "glTF nodes must form a tree" if "names" not in needle else "")


@pytest.mark.parametrize("dtype, word", [("m8[s]", "time spans"), ("M8[D]", "dates"), ("c8", "complex numbers"),
                                         ("f4,f4,f4", "structured records")])
def test_date_time_complex_and_structured_arrays_are_one_line(cli, tmp_path, dtype, word):
    path = tmp_path / "c.npy"
    np.save(path, np.zeros((50, 3) if "," not in dtype else 50, dtype=dtype))
    rc, _, err = cli("render", path, "--out", tmp_path / "out", "--image-size", "16")
    assert_error(rc, err, "c.npy", f"holds {word}", "zerops reads arrays of integers or floats")


def test_timedelta_arrays_are_refused_by_the_python_api_too():
    from zerops.arrays import check_labels, check_points
    from zerops.errors import ZeropsError
    from zerops.io.load import as_cloud

    with pytest.raises(ZeropsError, match="timedelta64"):
        as_cloud(np.arange(30).reshape(10, 3).astype("m8[s]"))
    with pytest.raises(ZeropsError, match="timedelta64"):
        check_points(np.zeros((4, 3), "m8[s]"))
    with pytest.raises(ZeropsError, match="integer array"):
        check_labels(np.zeros(4, "m8[s]"))


def test_an_npz_member_without_the_npy_suffix_holding_text_is_one_line(cli, tmp_path):
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("xyz", "hello world\n")
    rc, _, err = cli("render", path, "--out", tmp_path / "out", "--image-size", "16")
    assert_error(rc, err, "the member 'xyz' is not a NumPy array", "arrays only")


def test_float16_and_suffixless_arrays_still_load(cli, tmp_path):
    path = tmp_path / "c.npz"
    buf = io.BytesIO()
    np.save(buf, cloud_xyz(200).astype(np.float16))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("points", buf.getvalue())             # no .npy suffix: numpy loads it as "points"
    rc, out, err = cli("render", path, "--out", tmp_path / "out", "--image-size", "16", "--views", "partslip10")
    assert rc == 0 and "of 200 points" in out, err


@pytest.mark.parametrize("encoding", ["ascii", "ASCII:strict"])
def test_a_non_ascii_out_path_with_an_ascii_terminal_is_printed_with_escapes(tmp_path, encoding):
    cloud = tmp_path / "c.ply"
    cloud.write_bytes(ascii_ply(cloud_xyz(200)))
    out = tmp_path / "résultat_日本"
    proc = run_subprocess(["render", cloud, "--out", out, "--image-size", "16", "--views", "partslip10"],
                          env={"PYTHONIOENCODING": encoding})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "views.png" in proc.stdout and "\\u65e5" in proc.stdout and (out / "views.png").is_file()
    (tmp_path / "fichier_日本").write_text("a file")
    proc = run_subprocess(["render", cloud, "--out", tmp_path / "fichier_日本"], env={"PYTHONIOENCODING": encoding})
    assert_error(proc.returncode, proc.stderr, "is a file", "\\u65e5")


# ----------------------------------------------------------------------------------------------- npz sizes
def _header_only_npz(path, members: dict[str, tuple[tuple, str]]) -> None:
    """An .npz whose members (named exactly as given) declare ``shape`` and hold only their .npy header."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, (shape, dtype) in members.items():
            buf = io.BytesIO()
            np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
            zf.writestr(name, buf.getvalue())


@pytest.mark.parametrize("name", ["xyz", "points", "xyz.npy", "data"])
def test_suffixless_cloud_members_get_the_size_check(cli, tmp_path, timed, name):
    path = tmp_path / "c.npz"
    _header_only_npz(path, {name: ((120_000_000, 3), "<f4")})
    with timed(5):
        rc, _, err = cli("render", path, "--out", tmp_path / "out", "--image-size", "16")
    shown = name[:-4] if name.endswith(".npy") else name
    assert_error(rc, err, f"the array '{shown}' declares the shape (120000000, 3)", "nothing was unpacked")


def test_suffixless_label_members_get_the_size_check(cli, tmp_path, timed):
    shape = one_shape_dataset(tmp_path / "data", n=300)
    (shape / "label.npy").unlink()
    _header_only_npz(shape / "label.npz", {"semantic_seg": ((200_000_000,), "<i8"),
                                           "instance_seg": ((200_000_000,), "<i8")})
    with timed(5):
        rc, _, err = cli("eval", tmp_path / "data", "--out", tmp_path / "ev", "--method", "oracle", "--quiet")
    assert_error(rc, err, "label.npz", "semantic_seg", "(200000000,)")


def test_two_members_for_one_array_name_are_refused(cli, tmp_path):
    path = tmp_path / "c.npz"
    buf = io.BytesIO()
    np.save(buf, cloud_xyz(100))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("xyz", buf.getvalue())
        zf.writestr("xyz.npy", buf.getvalue())
    rc, _, err = cli("render", path, "--out", tmp_path / "out", "--image-size", "16")
    assert_error(rc, err, "holds two arrays named 'xyz'")


@pytest.fixture
def identical_points_npz(tmp_path):
    """6 million identical points: 72 MB unpacked, about 70 kB packed (ratio over 1,000)."""
    path = tmp_path / "same.npz"
    np.savez_compressed(path, xyz=np.ones((6_000_000, 3), np.float32))
    return path


def test_a_cloud_npz_past_the_compression_ratio_is_refused_before_unpacking(cli, tmp_path, timed,
                                                                           identical_points_npz, monkeypatch):
    import resource

    monkeypatch.delenv("ZEROPS_MAX_COMPRESSION_RATIO", raising=False)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with timed(3):
        rc, _, err = cli("render", identical_points_npz, "--out", tmp_path / "out", "--image-size", "16")
    assert_error(rc, err, "same.npz: unpacks to 72,000,128 bytes", "zerops unpacks at most 100 times",
                 "ZEROPS_MAX_COMPRESSION_RATIO")
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024 < 50      # MB: nothing inflated
    monkeypatch.setenv("ZEROPS_MAX_COMPRESSION_RATIO", "1e6")            # a file the user trusts
    rc, _, err = cli("render", identical_points_npz, "--out", tmp_path / "out", "--image-size", "16")
    assert_error(rc, err, "all 6000000 points are identical")
    for bad in ("0.5", "abc", "nan", "-inf"):
        monkeypatch.setenv("ZEROPS_MAX_COMPRESSION_RATIO", bad)
        rc, _, err = cli("render", identical_points_npz, "--out", tmp_path / "out", "--image-size", "16")
        assert_error(rc, err, "ZEROPS_MAX_COMPRESSION_RATIO must be a number >= 1")


def test_small_or_ordinary_npz_files_pass_the_ratio_check(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("ZEROPS_MAX_COMPRESSION_RATIO", raising=False)
    small = tmp_path / "zeros.npz"                          # a tiny, very compressible file: under the floor
    np.savez_compressed(small, xyz=np.tile(np.eye(3, dtype=np.float32), (1000, 1)))
    rc, out, err = cli("render", small, "--out", tmp_path / "o1", "--image-size", "16", "--views", "partslip10")
    assert rc == 0, err
    rng = np.random.default_rng(0)
    big = tmp_path / "gray.npz"                              # 6 M points, a flat color: ratio about 2
    np.savez_compressed(big, xyz=rng.normal(size=(6_000_000, 3)).astype(np.float32),
                        rgb=np.full((6_000_000, 3), 128, np.uint8))
    from zerops.io.readers import check_npy_file
    from zerops.limits import compression_ratio_limit

    assert set(check_npy_file(big, max_ratio=compression_ratio_limit())) == {"xyz", "rgb"}


# ----------------------------------------------------------------------------------------------- run-away settings
@pytest.mark.parametrize("key", ["render.point_radius", "render.min_point_radius"])
def test_splat_radii_are_bounded(key):
    from zerops.errors import ZeropsError
    from zerops.limits import MAX_SPLAT_RADIUS
    from zerops.options import build_config

    assert build_config(overrides=[f"{key}={MAX_SPLAT_RADIUS}"]).render is not None
    for value in ("1", "0.0501", "1e9"):
        with pytest.raises(ZeropsError, match=rf"{key} must be in .0, 0\.05\]"):
            build_config(overrides=[f"{key}={value}"])
    for value in ("inf", "nan"):
        with pytest.raises(ZeropsError, match=key):
            build_config(overrides=[f"{key}={value}"])


def test_a_splat_radius_past_the_bound_is_one_line_before_any_work(cli, tmp_path, timed):
    cloud = tmp_path / "c.ply"
    cloud.write_bytes(ascii_ply(cloud_xyz(300)))
    with timed(5):
        rc, _, err = cli("segment", cloud, "--out", tmp_path / "out", "--set", "render.point_radius=1", "--no-cache")
    assert_error(rc, err, "render.point_radius must be in (0, 0.05], got 1.0")


def test_the_largest_splat_radius_renders_in_seconds(timed):
    from zerops.config import RenderConfig
    from zerops.io.cloud import make_cloud
    from zerops.render.renderer import render_cloud

    cloud = make_cloud(cloud_xyz(2000))
    with timed(20):
        views = render_cloud(cloud, config=RenderConfig(point_radius=0.05, views="partslip10", image_size=400))
    assert len(views) == 10


@pytest.mark.parametrize("value", ["99999", "257", "0", "-1", "abc", "1e3", "4 4"])
def test_zerops_threads_out_of_bounds_is_one_line_before_sam(cli, tmp_path, monkeypatch, timed, value):
    cloud = tmp_path / "c.ply"
    cloud.write_bytes(ascii_ply(cloud_xyz(300)))
    monkeypatch.setenv("ZEROPS_THREADS", value)
    with timed(5):
        rc, _, err = cli("segment", cloud, "--out", tmp_path / "out", "--no-cache")
    assert_error(rc, err, "ZEROPS_THREADS must be a whole number from 1 to 256", repr(value))
    one_shape_dataset(tmp_path / "data", n=300)
    rc, _, err = cli("eval", tmp_path / "data", "--out", tmp_path / "ev", "--method", "oracle", "--quiet")
    assert_error(rc, err, "ZEROPS_THREADS")


def test_zerops_threads_in_bounds_is_read(monkeypatch):
    from zerops.limits import env_threads

    for text, want in (("", None), ("1", 1), ("256", 256), (" 8 ", 8)):
        monkeypatch.setenv("ZEROPS_THREADS", text)
        assert env_threads() == want
    monkeypatch.delenv("ZEROPS_THREADS")
    assert env_threads() is None


# ----------------------------------------------------------------------------------------------- minor
_LATE_SIGNAL = textwrap.dedent('''
    import atexit, os, signal, sys, time
    SIG = getattr(signal, sys.argv[1])
    def late():                                  # after the command has ended, as the process winds down
        os.kill(os.getpid(), SIG)
        time.sleep(0.2)
    atexit.register(late)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from zerops.cli.entry import run
    sys.argv = ["zerops", *sys.argv[2:]]
    sys.exit(run())
''')


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("outcome", ["done", "error"])
def test_a_late_signal_leaves_the_exit_code_and_the_one_line(tmp_path, sig, outcome):
    cloud = tmp_path / "c.ply"
    cloud.write_bytes(ascii_ply(cloud_xyz(200)))
    if outcome == "error":
        cloud.write_bytes(ascii_ply(cloud_xyz(200), declared=201))
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, "-c", _LATE_SIGNAL, sig, "render", str(cloud), "--out",
                           str(tmp_path / "out"), "--image-size", "16", "--views", "partslip10"], env=env,
                          capture_output=True, text=True, timeout=60)
    if outcome == "done":
        assert proc.returncode == 0 and proc.stderr == "", (proc.returncode, proc.stderr)
        assert (tmp_path / "out" / "views.png").is_file()
    else:
        assert_error(proc.returncode, proc.stderr, "declares 201 rows")


def test_main_in_process_keeps_the_callers_signal_handlers(cli, tmp_path):
    cloud = tmp_path / "c.ply"
    cloud.write_bytes(ascii_ply(cloud_xyz(200)))
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert cli("render", cloud, "--out", tmp_path / "out", "--image-size", "16", "--views", "partslip10")[0] == 0
    assert cli("render", tmp_path / "missing.ply", "--out", tmp_path / "o2")[0] == 2
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_warning_during_a_command_is_one_line_without_its_source(cli, monkeypatch):
    """As the corrupt cached decoder's warning: `zerops: …` on one line, no source line under it."""
    import warnings

    import zerops.cli.parser as parser

    def cmd_cache(args):
        warnings.warn("zerops: batched SAM decoder unavailable (the cached decoder is corrupt); using the "
                      "shipped decoder graph (same results, slower)", RuntimeWarning, stacklevel=2)
        warnings.warn("something else", UserWarning, stacklevel=2)
        return 0
    monkeypatch.setattr(parser, "cmd_cache", cmd_cache)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        rc, _, err = cli("cache", "info")
    assert rc == 0
    assert err.splitlines() == ["zerops: batched SAM decoder unavailable (the cached decoder is corrupt); using the "
                                "shipped decoder graph (same results, slower)", "zerops: warning: something else"]


@pytest.mark.model
def test_a_corrupt_cached_decoder_warns_once_and_falls_back(tmp_path):
    from zerops.segmenters import weights

    try:
        weights.embedded_paths(verify=False)
    except Exception:  # noqa: BLE001
        pytest.skip("the embedded model is not fetched")
    from zerops.segmenters.embedded import EmbeddedSam

    digest = weights.sha256_of(weights.embedded_paths(verify=False)["decoder"])
    from zerops.segmenters.embedded import EXPORT_VERSION

    (tmp_path / f"sam-multimask-v{EXPORT_VERSION}-{digest[:16]}.onnx").write_bytes(b"not an onnx file")
    with pytest.warns(RuntimeWarning, match="batched SAM decoder unavailable") as record:
        sam = EmbeddedSam(cache_dir=tmp_path, decoder="auto")
    assert len(record) == 1 and sam.decoder_kind in ("shipped", "batched")
