"""Issue #14, hostile inputs: files that lie about their size, hide a byte-order mark, explode when unpickled,
or hold ids that would make zerops allocate gigabytes. Each ends in one `zerops: error:` line and exit 2."""
from __future__ import annotations

import io
import json
import pickle
import warnings

import numpy as np
import pytest

from conftest import ascii_ply, assert_error, cloud_xyz, one_shape_dataset, pcd, run_subprocess
from zerops.errors import ZeropsError
from zerops.io.load import load_cloud


def _render(cli, path, tmp_path, *extra):
    out = tmp_path / "out"
    rc, _, err = cli("render", path, "--out", out, "--image-size", "16", "--views", "partslip10", *extra)
    return rc, err, out


# ----------------------------------------------------------------------------------------------- row counts
@pytest.mark.parametrize("declared, held", [(50, 100), (200, 100)])
def test_ascii_ply_rows_must_match_the_header(cli, tmp_path, declared, held):
    path = tmp_path / "c.ply"
    path.write_bytes(ascii_ply(cloud_xyz(held), declared=declared))
    rc, err, out = _render(cli, path, tmp_path)
    assert_error(rc, err, "c.ply", f"declares {declared} rows", f"holds {held}")
    assert not out.exists()


@pytest.mark.parametrize("declared, held", [(50, 100), (200, 100)])
def test_binary_ply_rows_must_match_the_header(tmp_path, declared, held):
    xyz = cloud_xyz(held)
    head = (f"ply\nformat binary_little_endian 1.0\nelement vertex {declared}\nproperty float x\n"
            "property float y\nproperty float z\nend_header\n").encode()
    path = tmp_path / "b.ply"
    path.write_bytes(head + xyz.astype("<f4").tobytes())
    with pytest.raises(ZeropsError, match=f"declares {declared} rows .* holds {held} rows"):
        load_cloud(path)


def test_ply_declaring_billions_of_vertices_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.ply"
    path.write_bytes(ascii_ply(cloud_xyz(3), declared=2_000_000_000))
    with pytest.raises(ZeropsError, match="at most 50,000,000 points"):
        load_cloud(path)


def test_xyz_with_a_byte_order_mark_keeps_its_first_point(tmp_path):
    xyz = cloud_xyz(100)
    path = tmp_path / "bom.xyz"
    path.write_text("\n".join(f"{a} {b} {c}" for a, b, c in xyz) + "\n", encoding="utf-8-sig")
    cloud = load_cloud(path)
    assert len(cloud) == 100
    np.testing.assert_allclose(cloud.xyz[0], xyz[0], rtol=1e-6)


@pytest.mark.parametrize("declared, rows, binary", [(100, 2, False), (2, 100, False), (100, 2, True), (2, 100, True)])
def test_pcd_rows_must_match_the_header(cli, tmp_path, declared, rows, binary):
    path = tmp_path / "c.pcd"
    path.write_bytes(pcd(cloud_xyz(rows), declared=declared, binary=binary))
    rc, err, out = _render(cli, path, tmp_path)
    assert_error(rc, err, "c.pcd", f"declares {declared} points", f"holds {rows}")
    assert not out.exists()


def test_pcd_with_negative_points_says_so(cli, tmp_path):
    path = tmp_path / "neg.pcd"
    path.write_bytes(pcd(cloud_xyz(10)).replace(b"POINTS 10", b"POINTS -5").replace(b"WIDTH 10", b"WIDTH -5"))
    rc, err, _ = _render(cli, path, tmp_path)
    line = assert_error(rc, err, "declares -5 points")
    assert "identical" not in line


def test_empty_xyz_is_one_line_without_warnings(cli, tmp_path):
    path = tmp_path / "empty.xyz"
    path.write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # a warning would surface as an internal error
        rc, err, out = _render(cli, path, tmp_path)
    assert_error(rc, err, "empty.xyz", "empty")
    assert not out.exists()


# ----------------------------------------------------------------------------------------------- messages
def test_messages_name_the_real_problem(cli, tmp_path):
    import trimesh

    (tmp_path / "model.gltf").write_text("{not json")
    (tmp_path / "nan.off").write_text("OFF\n3 1 0\nnan 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    box = tmp_path / "box.stl"
    trimesh.creation.box().export(box)
    (tmp_path / "trunc.stl").write_bytes(box.read_bytes()[:400])
    (tmp_path / "garbage.npy").write_bytes(bytes(range(256)) * 2)
    expect = {"model.gltf": ("not a glTF file", "invalid JSON"),
              "nan.off": ("NaN or infinite",),
              "trunc.stl": ("declares 12 triangles", "holds 6"),
              "garbage.npy": ("not a NumPy .npy or .npz file",)}
    for name, needles in expect.items():
        rc, err, _ = _render(cli, tmp_path / name, tmp_path)
        line = assert_error(rc, err, name, *needles)
        assert "FileNotFoundError" not in line and "no faces" not in line and "pickle" not in line, line


def test_object_npy_is_refused_without_pickle_advice(cli, tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    rc, err, _ = _render(cli, path, tmp_path)
    line = assert_error(rc, err, "Python objects")
    assert "allow_pickle" not in line


def test_points_beyond_the_limit_and_negative_seed_are_option_errors(cli, tmp_path):
    mesh = tmp_path / "box.obj"
    import trimesh

    trimesh.creation.box().export(mesh)
    for extra, needle in (("--points=99999999999", "between 1 and 50,000,000"),
                          ("--seed=-1", "at least 0")):
        rc, err, out = _render(cli, mesh, tmp_path, extra)
        line = assert_error(rc, err, needle, usage=True)
        assert "zerops render: error" not in err and line.startswith("zerops: error: argument")
        assert not out.exists()
    rc, _, err = cli("synth", tmp_path / "s", "--points", "2000000000")
    assert_error(rc, err, "50,000,000", usage=True)
    assert not (tmp_path / "s").exists()
    from zerops.eval.synthetic import write_benchmark
    with pytest.raises(ZeropsError, match="at most 50,000,000"):
        write_benchmark(tmp_path / "s", 1, 0, categories=["Chair"], n_points=2_000_000_000, progress=False)


# ----------------------------------------------------------------------------------------------- label.npy
def _nested_label_npy(path, nested: bool) -> None:
    """A tiny label.npy whose lists share references: 2**36 leaves when walked."""
    if nested:
        x: list = []
        for _ in range(36):
            x = [x, x]
        obj = np.empty((), dtype=object)
        obj[()] = {"semantic_seg": x, "instance_seg": x}
        body = pickle.dumps(obj, protocol=4)
    else:   # the same object built without nesting: each level is appended to, one MARK-free step at a time
        ops = [b"\x80\x02]q\x00"]
        for i in range(36):
            ops.append(b"]h" + bytes([i]) + b"ah" + bytes([i]) + b"aq" + bytes([i + 1]))
        ops.append(b"}(X\x0c\x00\x00\x00semantic_segh$X\x0c\x00\x00\x00instance_segh$u.")
        body = b"".join(ops)
        assert len(body) < 400
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
    path.write_bytes(buf.getvalue() + body)


def test_exploding_label_npy_ends_quickly_in_a_subprocess(tmp_path):
    shape = one_shape_dataset(tmp_path / "data", n=300)
    _nested_label_npy(shape / "label.npy", nested=True)
    proc = run_subprocess(["eval", tmp_path / "data", "--out", tmp_path / "ev", "--method", "oracle", "--quiet"],
                          timeout=20)
    assert_error(proc.returncode, proc.stderr, "label.npy", "nested deeper than 16")


def test_exploding_label_npy_without_nesting(cli, tmp_path, timed):
    shape = one_shape_dataset(tmp_path / "data", n=300)
    _nested_label_npy(shape / "label.npy", nested=False)
    with timed(5):
        rc, _, err = cli("eval", tmp_path / "data", "--out", tmp_path / "ev", "--method", "oracle", "--quiet")
    line = assert_error(rc, err, "label.npy", "'semantic_seg' must be an (N,) integer array")
    assert "allow_pickle" not in line


def test_label_errors_do_not_suggest_allow_pickle(cli, tmp_path):
    shape = one_shape_dataset(tmp_path / "data", n=300)
    (shape / "label.npy").write_bytes(b"\x80\x04\x95" + b"\x00" * 40 + b"cos\nsystem\n.")
    rc, _, err = cli("eval", tmp_path / "data", "--out", tmp_path / "ev", "--method", "oracle", "--quiet")
    line = assert_error(rc, err, "label.npy", "label.npz")
    assert "allow_pickle" not in line


def test_part_names_must_be_a_list(cli, tmp_path):
    shape = one_shape_dataset(tmp_path / "data", n=300)
    meta = json.loads((shape / "meta.json").read_text())
    meta["part_names"] = "arm"
    (shape / "meta.json").write_text(json.dumps(meta))
    rc, _, err = cli("eval", tmp_path / "data", "--out", tmp_path / "ev", "--method", "oracle", "--quiet")
    assert_error(rc, err, "meta.json", "'part_names' must be a list of names", '"arm"')


# ----------------------------------------------------------------------------------------------- result ids
@pytest.mark.parametrize("command", [["view"], ["export", "--format", "ply"]])
def test_huge_part_id_ends_quickly_in_a_subprocess(tmp_path, command):
    from fakes import make_result

    xyz = cloud_xyz(100)
    part = (xyz[:, 0] > 0).astype(np.int64)
    folder = make_result(tmp_path / "r", xyz, part)
    part[3] = 2_000_000_000
    np.savez(folder / "parts.npz", xyz=xyz, part=part)
    proc = run_subprocess([command[0], folder, *command[1:]], timeout=20)
    assert_error(proc.returncode, proc.stderr, "parts.npz", "2000000000", "below the number of points (100)")
    assert not (folder / "viewer.html").exists() and not (folder / "export").exists()
