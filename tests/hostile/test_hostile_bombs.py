"""Issue #20, memory bombs: a few-megabyte file may not take gigabytes. Compressed .npz members (clouds,
label.npz, parts.npz, cached predictions) are judged from their zip entry and array header before anything is
inflated; texture images from their header before a pixel is decoded; a result declaring more than 50 million
points is refused."""
from __future__ import annotations

import json
import struct
import zipfile
import zlib

import numpy as np
import pytest

from conftest import assert_error, cloud_xyz, one_shape_dataset, run_subprocess
from zerops.errors import ZeropsError
from zerops.io.load import load_cloud


def zip_bomb(path, members: dict[str, tuple[tuple, str]], real: dict[str, np.ndarray] | None = None,
             header_only: bool = False):
    """An .npz whose members are zero-filled arrays of the given (shape, dtype), deflated as they stream (the
    file stays small, the declared arrays huge), plus ``real`` arrays as they are. ``header_only``: the
    members hold their array header alone (a lying archive; quick to make for arrays of billions of bytes)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in (real or {}).items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(arr), allow_pickle=False)
        for name, (shape, dtype) in members.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(f, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                         "shape": shape})
                left = 0 if header_only else int(np.prod(shape)) * np.dtype(dtype).itemsize
                block = bytes(1 << 24)
                while left > 0:
                    f.write(block[:min(left, len(block))])
                    left -= len(block)
    return path


def test_cloud_npz_bomb_is_refused_from_its_header(cli, tmp_path, timed):
    path = zip_bomb(tmp_path / "b.npz", {"xyz": ((60_000_000, 3), "<f4")}, header_only=True)
    with timed(3):
        rc, _, err = cli("render", path, "--out", tmp_path / "o", "--image-size", "16")
    assert_error(rc, err, "b.npz", "'xyz' declares the shape (60000000, 3)", "nothing was unpacked")
    assert not (tmp_path / "o").exists()


def test_cloud_npz_array_with_huge_items_is_refused(tmp_path):
    path = tmp_path / "v.npz"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("xyz.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|V100000000", "fortran_order": False, "shape": (40,)})
    with pytest.raises(ZeropsError, match="declares an array of shape"):
        load_cloud(path)


def test_label_npz_bomb_is_refused_before_unpacking(cli, tmp_path, timed):
    shape = one_shape_dataset(tmp_path / "data", n=300)
    (shape / "label.npy").unlink()
    zip_bomb(shape / "label.npz", {"semantic_seg": ((4_000_000,), "<i8"), "instance_seg": ((4_000_000,), "<i8")})
    assert (shape / "label.npz").stat().st_size < 200_000          # 64 MB when unpacked
    with timed(5):
        rc, _, err = cli("eval", tmp_path / "data", "--out", tmp_path / "ev", "--method", "oracle", "--quiet")
    assert_error(rc, err, "label.npz", "4000000 labels for 300 points", "nothing was unpacked")


def test_label_npz_extra_members_are_never_unpacked(tmp_path):
    from zerops.eval.partnete import load_labels

    sem = np.arange(300) % 3
    path = zip_bomb(tmp_path / "label.npz", {"junk": ((4_000_000,), "<i8")},
                    real={"semantic_seg": sem, "instance_seg": sem})
    s, i = load_labels(path, n_points=300)
    np.testing.assert_array_equal(s, sem)
    np.testing.assert_array_equal(i, sem)


def _result(tmp_path, n=100):
    from fakes import make_result

    xyz = cloud_xyz(n)
    return make_result(tmp_path / "r", xyz, (xyz[:, 0] > 0).astype(np.int64)), xyz


@pytest.mark.parametrize("command", [["view"], ["export", "--format", "ply"]])
def test_parts_npz_bomb_is_refused_before_unpacking(cli, tmp_path, timed, command):
    folder, xyz = _result(tmp_path)
    zip_bomb(folder / "parts.npz", {"part": ((6_000_000,), "<i8")}, real={"xyz": xyz})
    with timed(5):
        rc, _, err = cli(command[0], folder, *command[1:])
    assert_error(rc, err, "parts.npz", "'part' must be an (100,) integer array", "got shape (6000000,)",
                 "nothing was unpacked")
    assert not (folder / "viewer.html").exists() and not (folder / "export").exists()


@pytest.mark.parametrize("command", [["view"], ["export", "--format", "ply"]])
def test_a_result_declaring_150_million_points_is_refused(cli, tmp_path, timed, command):
    folder, _ = _result(tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    summary["points"] = 150_000_000
    (folder / "summary.json").write_text(json.dumps(summary))
    zip_bomb(folder / "parts.npz", {"xyz": ((150_000_000, 3), "<f4"), "part": ((150_000_000,), "<i8")},
             header_only=True)
    with timed(5):
        rc, _, err = cli(command[0], folder, *command[1:])
    assert_error(rc, err, "summary.json", "150,000,000 points", "1 to 50,000,000")
    summary["points"] = 100                        # a summary that does not say: the header does
    (folder / "summary.json").write_text(json.dumps(summary))
    rc, _, err = cli(command[0], folder, *command[1:])
    assert_error(rc, err, "parts.npz", "(150000000, 3)", "at most 50,000,000 rows")


def test_a_bombed_cached_prediction_is_recomputed(cli, tmp_path):
    one_shape_dataset(tmp_path / "data", n=300)
    args = ("eval", tmp_path / "data", "--out", tmp_path / "ev", "--method", "oracle", "--quiet")
    assert cli(*args)[0] == 0
    cached = next((tmp_path / "ev" / "shapes").glob("*.npz"))
    zip_bomb(cached, {"part": ((4_000_000,), "<i8"), "extra": ((), "<U1000000")})
    rc, out, err = cli(*args)
    assert rc == 0, err
    with np.load(cached) as z:                     # recomputed and saved again
        assert z["part"].shape == (300,)


def _png_bomb(path, side):
    """A PNG of side × side gray pixels: a few hundred kB on disk, 3 × side² bytes decoded."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    deflate = zlib.compressobj(9)
    row = b"\x00" + b"\x80" * (3 * side)
    idat = b"".join(deflate.compress(row) for _ in range(side)) + deflate.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def _textured_obj(folder, texture="tex.png"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.mtl").write_text(f"newmtl a\nKd 1 1 1\nmap_Kd {texture}\n")
    (folder / "m.obj").write_text("mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nvt 0 0\nvt 1 0\nvt 0 1\n"
                                  "vt 1 1\nusemtl a\nf 1/1 2/2 3/3\nf 1/1 2/2 4/4\nf 1/1 3/3 4/4\nf 2/2 3/3 4/4\n")
    return folder / "m.obj"


@pytest.mark.parametrize("command", ["render", "convert"])
def test_texture_bomb_is_refused_from_its_header_in_a_subprocess(tmp_path, command):
    obj = _textured_obj(tmp_path / "asset")
    _png_bomb(tmp_path / "asset" / "tex.png", 8200)              # 67.2 M pixels: just over the cap
    assert (tmp_path / "asset" / "tex.png").stat().st_size < 500_000
    extra = ["--image-size", "16", "--views", "partslip10"] if command == "render" else ["--points", "100"]
    proc = run_subprocess([command, obj, "--out", tmp_path / "o", *extra], timeout=20)
    assert_error(proc.returncode, proc.stderr, "m.obj", "8,200 × 8,200 pixels", "at most 67,108,864 pixels")
    assert not (tmp_path / "o").exists()


def test_a_small_texture_still_colors_the_cloud(tmp_path):
    from PIL import Image

    obj = _textured_obj(tmp_path / "asset")
    Image.new("RGB", (64, 64), (255, 0, 0)).save(tmp_path / "asset" / "tex.png")
    cloud = load_cloud(obj, n_points=500)
    assert cloud.rgb is not None
    np.testing.assert_allclose(cloud.rgb.mean(axis=0), [1.0, 0.0, 0.0], atol=1e-6)
