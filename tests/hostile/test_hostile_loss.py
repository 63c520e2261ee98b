"""Issue #20, silent loss: a PLY header past 64 KiB still has its rows counted; URDF numbers that make infinite
or absurd coordinates are one line (no numpy warnings); text clouds are counted before they are read."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_error, cloud_xyz
from zerops.errors import ZeropsError
from zerops.io.load import load_cloud

COMMENTS = "".join(f"comment {'padding ' * 8}{i}\n" for i in range(1100))      # ~86 KB of header


def _long_header_ply(xyz, declared, fmt):
    head = (f"ply\nformat {fmt} 1.0\n{COMMENTS}element vertex {declared}\nproperty float x\nproperty float y\n"
            "property float z\nend_header\n").encode()
    assert len(head) > 75_000
    body = ("".join(f"{a:.6g} {b:.6g} {c:.6g}\n" for a, b, c in xyz).encode() if fmt == "ascii"
            else np.ascontiguousarray(xyz, "<f4").tobytes())
    return head + body


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian"])
def test_ply_header_over_64_kib_still_has_its_rows_counted(cli, tmp_path, fmt):
    path = tmp_path / "f.ply"
    path.write_bytes(_long_header_ply(cloud_xyz(2000), 100, fmt))
    out = tmp_path / "o"
    rc, _, err = cli("render", path, "--out", out, "--image-size", "16", "--views", "partslip10")
    assert_error(rc, err, "f.ply", "declares 100 rows", "holds 2000")
    assert not out.exists()
    path.write_bytes(_long_header_ply(cloud_xyz(2000), 2000, fmt))       # an honest long header is read whole
    cloud = load_cloud(path)
    np.testing.assert_allclose(cloud.xyz, cloud_xyz(2000), rtol=1e-5, atol=1e-6)


def test_ply_header_without_end_is_bounded(tmp_path, timed):
    path = tmp_path / "h.ply"
    path.write_bytes(b"ply\nformat ascii 1.0\n" + b"comment " + b"x" * 60 + b"\n" * 1 + b"comment y\n" * 1_800_000)
    with timed(5), pytest.raises(ZeropsError, match="no end_header in the first 16,777,216 bytes"):
        load_cloud(path)


def test_text_cloud_is_counted_before_it_is_read(tmp_path, monkeypatch):
    import zerops.io.text as text

    monkeypatch.setattr(text, "MAX_POINTS", 1000)
    path = tmp_path / "many.xyz"
    np.savetxt(path, cloud_xyz(12_000))
    monkeypatch.setattr(type(path), "read_text", lambda *a, **k: pytest.fail("read before counting"))
    with pytest.raises(ZeropsError, match="holds more than 11,000 lines; zerops reads at most 1,000 points"):
        text.read_columns(path)


def test_a_text_line_over_a_megabyte_is_refused(tmp_path):
    path = tmp_path / "line.xyz"
    path.write_bytes(b"1 2 3 " * 300_000)
    with pytest.raises(ZeropsError, match="a line longer than 1,048,576 bytes"):
        load_cloud(path)


def _robot(folder, origin="0 0 0", scale="1 1 1", size="0.5 0.5 0.5"):
    import trimesh

    folder.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box(extents=(1.0, 1.0, 1.0)).export(folder / "box.stl")
    path = folder / "r.urdf"
    path.write_text(
        '<robot name="r"><link name="base"><visual><geometry><box size="' + size + '"/></geometry></visual></link>'
        '<link name="arm"><visual><geometry><mesh filename="box.stl" scale="' + scale + '"/></geometry></visual>'
        '</link><joint name="j" type="fixed"><parent link="base"/><child link="arm"/>'
        '<origin xyz="' + origin + '" rpy="0 0 0"/></joint></robot>')
    return path


@pytest.mark.parametrize("kw, needle", [
    ({"origin": "1e308 0 0"}, "origin xyz: '1e308 0 0' is out of range"),
    ({"origin": "inf 0 0"}, "expected 3 finite numbers"),
    ({"scale": "1e300 1 1"}, "mesh scale: '1e300 1 1' is out of range"),
    ({"size": "1e9 1 1"}, "box size: '1e9 1 1' is out of range"),
])
def test_hostile_urdf_numbers_are_one_line_without_warnings(cli, tmp_path, kw, needle):
    urdf = _robot(tmp_path / "asset", **kw)
    out = tmp_path / "out"
    rc, _, err = cli("convert", urdf, "--out", out, "--points", "500")
    assert_error(rc, err, "r.urdf", needle, "at most 1e+06" if "range" in needle else "")
    assert "Warning" not in err and not out.exists()


def test_urdf_numbers_at_the_bound_convert_to_finite_points(cli, tmp_path):
    from zerops.eval.partnete import load_partnete_shape

    urdf = _robot(tmp_path / "asset", origin="1000000 0 0", scale="1000 1000 1000")
    rc, _, err = cli("convert", urdf, "--out", tmp_path / "out", "--points", "500")
    assert rc == 0 and "Warning" not in err, err
    shape = load_partnete_shape(tmp_path / "out")
    xyz = shape.cloud.xyz
    assert len(xyz) == 500 and np.isfinite(xyz).all()
    assert 0.99e6 < np.abs(xyz).max() < 1.01e6


def test_a_mesh_with_huge_vertices_is_refused_after_sampling_in_one_line(cli, tmp_path):
    stl = tmp_path / "asset" / "box.stl"
    urdf = _robot(tmp_path / "asset", scale="1000000 1000000 1000000")
    tri = np.array([[0, 0, 0], [3e38, 0, 0], [0, 3e38, 0]], "<f4")
    stl.write_bytes(b"\0" * 80 + (1).to_bytes(4, "little") + np.zeros(3, "<f4").tobytes() + tri.tobytes() + b"\0\0")
    rc, _, err = cli("convert", urdf, "--out", tmp_path / "out", "--points", "500")
    assert_error(rc, err, "sampled points have infinite, NaN or absurd coordinates")
    assert "Warning" not in err and not (tmp_path / "out").exists()


def test_text_cloud_parsed_in_blocks_gives_the_same_cloud(tmp_path, monkeypatch):
    import zerops.io.text as text

    xyz = cloud_xyz(5000, 3)
    rows = ["x,y,z"] + [f"{a:.7g},{b:.7g},{c:.7g}" + ("\n# a comment\n" if i % 700 == 0 else "")
                        for i, (a, b, c) in enumerate(xyz)]
    path = tmp_path / "c.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    whole = text.read_columns(path)
    monkeypatch.setattr(text, "_BLOCK", 1000)                      # ~30 rows a block
    blocks = text.read_columns(path)
    assert len(blocks) == len(whole) == 5000
    np.testing.assert_array_equal(blocks.xyz, whole.xyz)
    np.testing.assert_allclose(whole.xyz, xyz, rtol=1e-6)
    path.write_text("\n".join(["1 2 3"] * 100 + ["1 2 3 4"] * 100) + "\n")
    with pytest.raises(ZeropsError, match="not numeric columns"):
        text.read_columns(path)
