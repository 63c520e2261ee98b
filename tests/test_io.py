"""zerops.io: round trips for every format, mesh sampling, atomic writers, bad inputs."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import trimesh
from PIL import Image
from plyfile import PlyData, PlyElement

from zerops.errors import ZeropsError
from zerops.io.cloud import PointCloud, validate_cloud
from zerops.io.files import atomic_path, write_json, write_npz
from zerops.io.load import as_cloud, load_cloud
from zerops.io.palette import part_colors, part_palette
from zerops.io.ply import write_cloud_ply, write_result_ply


def _cloud(n=300, seed=0):
    rng = np.random.default_rng(seed)
    xyz = rng.normal(size=(n, 3)).astype(np.float32)
    rgb8 = rng.integers(0, 256, (n, 3)).astype(np.uint8)
    normals = rng.normal(size=(n, 3))
    normals = (normals / np.linalg.norm(normals, axis=1, keepdims=True)).astype(np.float32)
    return xyz, rgb8, normals


# ----------------------------------------------------------------------------------------------- PLY


@pytest.mark.parametrize("binary", [True, False])
def test_ply_round_trip_own_writer(tmp_path, binary):
    xyz, rgb8, normals = _cloud()
    labels = np.arange(len(xyz)) % 7 - 1
    write_cloud_ply(tmp_path / "c.ply", xyz, rgb8, binary=binary, normals=normals, part=labels)
    cloud = load_cloud(tmp_path / "c.ply")
    np.testing.assert_allclose(cloud.xyz, xyz, rtol=0, atol=1e-6)
    np.testing.assert_allclose(cloud.rgb, rgb8 / 255.0, atol=1e-6)
    np.testing.assert_allclose(cloud.normals, normals, atol=1e-6)
    assert cloud.xyz.dtype == np.float32 and cloud.rgb.dtype == np.float32
    np.testing.assert_array_equal(PlyData.read(str(tmp_path / "c.ply"))["vertex"]["part"], labels)


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
@pytest.mark.parametrize("colors", ["uchar", "float01", "float255", "none"])
def test_ply_shuffled_properties(tmp_path, fmt, colors):
    xyz, rgb8, normals = _cloud(n=200, seed=1)
    cols = {"x": ("f4", xyz[:, 0]), "y": ("f4", xyz[:, 1]), "z": ("f8", xyz[:, 2]),
            "nx": ("f4", normals[:, 0]), "ny": ("f4", normals[:, 1]), "nz": ("f4", normals[:, 2]),
            "alpha": ("u1", np.full(len(xyz), 255)), "intensity": ("f4", np.ones(len(xyz)))}
    if colors == "uchar":
        cols.update(red=("u1", rgb8[:, 0]), green=("u1", rgb8[:, 1]), blue=("u1", rgb8[:, 2]))
    elif colors == "float01":
        cols.update(red=("f4", rgb8[:, 0] / 255.0), green=("f4", rgb8[:, 1] / 255.0), blue=("f4", rgb8[:, 2] / 255.0))
    elif colors == "float255":
        cols.update(red=("f4", rgb8[:, 0] * 1.0), green=("f4", rgb8[:, 1] * 1.0), blue=("f4", rgb8[:, 2] * 1.0))
    order = ["blue", "nz", "intensity", "x", "red", "z", "alpha", "ny", "y", "green", "nx"]
    order = [k for k in order if k in cols]
    table = np.empty(len(xyz), dtype=[(k, cols[k][0]) for k in order])
    for k in order:
        table[k] = cols[k][1]
    PlyData([PlyElement.describe(table, "vertex")], text=fmt == "ascii",
            byte_order="<" if fmt != "binary_big_endian" else ">").write(str(tmp_path / "s.ply"))
    cloud = load_cloud(tmp_path / "s.ply")
    np.testing.assert_allclose(cloud.xyz, xyz, atol=1e-6)
    np.testing.assert_allclose(cloud.normals, normals, atol=1e-5)
    if colors == "none":
        assert cloud.rgb is None
    else:
        np.testing.assert_allclose(cloud.rgb, rgb8 / 255.0, atol=1e-6)


# ----------------------------------------------------------------------------------------------- PCD


def _write_pcd(path, xyz, rgb8=None, normals=None, mode="ascii", rgb_type="F"):
    n = len(xyz)
    fields, sizes, types, cols = ["x", "y", "z"], [4, 4, 4], ["F", "F", "F"], [xyz.astype("<f4")]
    if normals is not None:
        fields += ["normal_x", "normal_y", "normal_z"]
        sizes += [4, 4, 4]
        types += ["F", "F", "F"]
        cols.append(normals.astype("<f4"))
    if rgb8 is not None:
        packed = (rgb8[:, 0].astype(np.uint32) << 16) | (rgb8[:, 1].astype(np.uint32) << 8) | rgb8[:, 2]
        fields.append("rgb")
        sizes.append(4)
        types.append(rgb_type)
        cols.append((packed.view("<f4") if rgb_type == "F" else packed.astype("<u4"))[:, None])
    header = (f"# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS {' '.join(fields)}\n"
              f"SIZE {' '.join(map(str, sizes))}\nTYPE {' '.join(types)}\nCOUNT {' '.join(['1'] * len(fields))}\n"
              f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA {mode}\n")
    if mode == "binary":
        table = np.empty(n, dtype=[(f, "<f4" if t == "F" else "<u4") for f, t in zip(fields, types)])
        flat = np.concatenate([c.view(np.uint32) if c.dtype.kind == "f" else c for c in cols], axis=1)
        table = flat.astype("<u4").view(table.dtype).reshape(n)
        path.write_bytes(header.encode() + table.tobytes())
    else:
        rows = []
        for i in range(n):
            vals = [f"{v:.9g}" for c in cols for v in (c[i].astype(np.float64) if c.dtype.kind == "f" else c[i])]
            rows.append(" ".join(vals))
        path.write_text(header + "\n".join(rows) + "\n")


@pytest.mark.parametrize("mode", ["ascii", "binary"])
@pytest.mark.parametrize("rgb_type", ["F", "U"])
def test_pcd_round_trip(tmp_path, mode, rgb_type):
    xyz, rgb8, normals = _cloud(n=150, seed=2)
    _write_pcd(tmp_path / "c.pcd", xyz, rgb8, normals, mode=mode, rgb_type=rgb_type)
    cloud = load_cloud(tmp_path / "c.pcd")
    np.testing.assert_allclose(cloud.xyz, xyz, atol=1e-6)
    np.testing.assert_allclose(cloud.rgb, rgb8 / 255.0, atol=1e-6)
    np.testing.assert_allclose(cloud.normals, normals, atol=1e-5)
    _write_pcd(tmp_path / "plain.pcd", xyz, mode=mode)
    plain = load_cloud(tmp_path / "plain.pcd")
    assert plain.rgb is None and plain.normals is None
    np.testing.assert_allclose(plain.xyz, xyz, atol=1e-6)


def _lzf_compress(data: bytes) -> bytes:
    """Greedy LZF encoder (literal runs + back-references of 3+ bytes), enough to exercise the decoder."""
    out, literal, seen, i = bytearray(), bytearray(), {}, 0

    def flush():
        for k in range(0, len(literal), 32):
            chunk = literal[k:k + 32]
            out.append(len(chunk) - 1)
            out.extend(chunk)
        literal.clear()

    while i < len(data):
        key = data[i:i + 3]
        ref = seen.get(key) if len(key) == 3 else None
        seen[key] = i
        if ref is not None and i - ref - 1 < 8192:
            length = 3
            while i + length < len(data) and length < 264 and data[ref + length] == data[i + length]:
                length += 1
            flush()
            off, ln = i - ref - 1, length - 2
            if ln < 7:
                out.append((ln << 5) | (off >> 8))
            else:
                out.extend([(7 << 5) | (off >> 8), ln - 7])
            out.append(off & 255)
            i += length
        else:
            literal.append(data[i])
            i += 1
    flush()
    return bytes(out)


def test_pcd_binary_compressed(tmp_path):
    xyz, rgb8, _ = _cloud(n=300, seed=8)
    xyz[::2] = xyz[0]  # repeated values give back-references
    xyz[1, 0] += 1.0
    packed = ((rgb8[:, 0].astype(np.uint32) << 16) | (rgb8[:, 1].astype(np.uint32) << 8) | rgb8[:, 2])
    raw = xyz[:, 0].tobytes() + xyz[:, 1].tobytes() + xyz[:, 2].tobytes() + packed.astype("<u4").tobytes()
    comp = _lzf_compress(raw)
    assert len(comp) < len(raw)
    header = ("VERSION 0.7\nFIELDS x y z rgb\nSIZE 4 4 4 4\nTYPE F F F U\nCOUNT 1 1 1 1\nWIDTH 300\nHEIGHT 1\n"
              "POINTS 300\nDATA binary_compressed\n").encode()
    sizes = np.array([len(comp), len(raw)], "<u4").tobytes()
    (tmp_path / "c.pcd").write_bytes(header + sizes + comp)
    cloud = load_cloud(tmp_path / "c.pcd")
    np.testing.assert_array_equal(cloud.xyz, xyz)
    np.testing.assert_allclose(cloud.rgb, rgb8 / 255.0, atol=1e-6)
    (tmp_path / "bad.pcd").write_bytes(header + sizes + comp[: len(comp) // 2])
    with pytest.raises(ZeropsError, match=r"bad\.pcd"):
        load_cloud(tmp_path / "bad.pcd")


# ----------------------------------------------------------------------------------------------- NPY / NPZ / text


def test_npy_npz_round_trips(tmp_path):
    xyz, rgb8, normals = _cloud(n=100, seed=3)
    np.save(tmp_path / "a3.npy", xyz)
    np.save(tmp_path / "a6.npy", np.hstack([xyz, rgb8.astype(np.float32)]))  # 0-255 colors detected
    np.save(tmp_path / "a9.npy", np.hstack([xyz, rgb8 / 255.0, normals]))
    np.savez(tmp_path / "k1.npz", xyz=xyz, rgb=rgb8, normals=normals)
    np.savez(tmp_path / "k2.npz", points=xyz, colors=rgb8 / 255.0)
    write_npz(tmp_path / "k3.npz", points=xyz)
    for name, has_rgb, has_normals in [("a3.npy", False, False), ("a6.npy", True, False), ("a9.npy", True, True),
                                       ("k1.npz", True, True), ("k2.npz", True, False), ("k3.npz", False, False)]:
        cloud = load_cloud(tmp_path / name)
        np.testing.assert_allclose(cloud.xyz, xyz, atol=1e-6)
        assert (cloud.rgb is not None) == has_rgb and (cloud.normals is not None) == has_normals, name
        if has_rgb:
            np.testing.assert_allclose(cloud.rgb, rgb8 / 255.0, atol=1e-6)
        if has_normals:
            np.testing.assert_allclose(cloud.normals, normals, atol=1e-6)


@pytest.mark.parametrize("ext,sep,scale,header", [(".xyz", " ", None, ""), (".txt", " ", 255, ""),
                                                 (".txt", "\t", 1, "# comment\n"), (".csv", ",", 255, "x,y,z,r,g,b\n")])
def test_text_columns(tmp_path, ext, sep, scale, header):
    xyz, rgb8, _ = _cloud(n=80, seed=4)
    arr = xyz.astype(np.float64) if scale is None else np.hstack([xyz, rgb8 / 255.0 * scale])
    if scale is None and header:
        arr = arr[:, :3]
    body = "\n".join(sep.join(f"{v:.9g}" for v in row) for row in arr)
    (tmp_path / f"c{ext}").write_text(header + body + "\n")
    cloud = load_cloud(tmp_path / f"c{ext}")
    np.testing.assert_allclose(cloud.xyz, xyz, atol=1e-6)
    if scale is None:
        assert cloud.rgb is None
    else:
        np.testing.assert_allclose(cloud.rgb, rgb8 / 255.0, atol=1e-6)


# ----------------------------------------------------------------------------------------------- meshes


def _box():
    return trimesh.creation.box(extents=(1.0, 1.0, 1.0))


@pytest.mark.parametrize("ext", [".stl", ".off", ".ply", ".obj", ".glb"])
def test_mesh_sampling_on_surface_deterministic(tmp_path, ext):
    _box().export(tmp_path / f"box{ext}")
    cloud = load_cloud(tmp_path / f"box{ext}", n_points=3000, seed=5)
    assert cloud.xyz.shape == (3000, 3)
    np.testing.assert_allclose(np.abs(cloud.xyz).max(axis=1), 0.5, atol=1e-5)  # on the cube's surface
    # area-uniform: each of the 6 faces gets ~1/6 of the points
    axis = np.abs(cloud.xyz).argmax(axis=1) * 2 + (cloud.xyz[np.arange(3000), np.abs(cloud.xyz).argmax(1)] > 0)
    assert np.bincount(axis, minlength=6).min() > 3000 / 6 * 0.8
    # the normal of each point is the outward axis of its face
    np.testing.assert_allclose(np.abs(cloud.normals[np.arange(3000), np.abs(cloud.xyz).argmax(1)]), 1.0, atol=1e-6)
    assert cloud.face_index.shape == (3000,) and cloud.mesh is not None and len(cloud.mesh.faces) == 12
    again = load_cloud(tmp_path / f"box{ext}", n_points=3000, seed=5)
    np.testing.assert_array_equal(again.xyz, cloud.xyz)
    other = load_cloud(tmp_path / f"box{ext}", n_points=3000, seed=6)
    assert not np.array_equal(other.xyz, cloud.xyz)
    assert cloud.rgb is None  # an uncolored mesh gives no colors


def _quad_textured(material="simple"):
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    img = Image.fromarray(np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8))  # left red, right blue
    if material == "simple":
        mat = trimesh.visual.material.SimpleMaterial(image=img)
    else:
        mat = trimesh.visual.material.PBRMaterial(baseColorTexture=img, baseColorFactor=[255, 255, 255, 255])
    return trimesh.Trimesh(v, [[0, 1, 2], [0, 2, 3]], visual=trimesh.visual.TextureVisuals(uv=v[:, :2], material=mat),
                           process=False)


@pytest.mark.parametrize("ext,material", [(".obj", "simple"), (".glb", "pbr")])
def test_texture_colors_split(tmp_path, ext, material):
    _quad_textured(material).export(tmp_path / f"quad{ext}")
    cloud = load_cloud(tmp_path / f"quad{ext}", n_points=2000)
    left = cloud.xyz[:, 0] < 0.5
    assert 0.4 < left.mean() < 0.6
    np.testing.assert_allclose(cloud.rgb[left], np.tile([1.0, 0.0, 0.0], (left.sum(), 1)), atol=1e-6)
    np.testing.assert_allclose(cloud.rgb[~left], np.tile([0.0, 0.0, 1.0], ((~left).sum(), 1)), atol=1e-6)


def test_vertex_face_and_material_colors(tmp_path):
    box = _box()
    box.visual.vertex_colors = np.where(box.vertices[:, :1] > 0, [[0, 255, 0, 255]], [[255, 0, 0, 255]])
    box.export(tmp_path / "vc.ply")
    cloud = load_cloud(tmp_path / "vc.ply", n_points=2000)
    red_share = (cloud.xyz[:, 0] + 0.5)  # vertex colors interpolate linearly along x
    np.testing.assert_allclose(cloud.rgb[:, 1], red_share, atol=1e-5)
    np.testing.assert_allclose(cloud.rgb[:, 0], 1.0 - red_share, atol=1e-5)
    faces = _box()
    faces.visual.face_colors = [10, 20, 30, 255]
    cloud = as_cloud(faces, n_points=500)
    np.testing.assert_allclose(cloud.rgb, np.tile(np.array([10, 20, 30]) / 255.0, (500, 1)), atol=1e-6)
    mat = _box()
    mat.visual = trimesh.visual.TextureVisuals(material=trimesh.visual.material.SimpleMaterial(diffuse=[0, 0, 255]))
    np.testing.assert_allclose(as_cloud(mat, n_points=100).rgb, np.tile([0, 0, 1.0], (100, 1)), atol=1e-6)


def test_scene_is_flattened_with_transforms(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(_box(), node_name="a", transform=trimesh.transformations.translation_matrix([5, 0, 0]))
    big = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    scene.add_geometry(big, node_name="b", transform=trimesh.transformations.translation_matrix([0, 0, -5]))
    scene.export(tmp_path / "scene.glb")
    cloud = load_cloud(tmp_path / "scene.glb", n_points=5000)
    near_a = np.abs(cloud.xyz - [5, 0, 0]).max(axis=1)
    near_b = np.abs(cloud.xyz - [0, 0, -5]).max(axis=1)
    on_a, on_b = np.isclose(near_a, 0.5, atol=1e-5), np.isclose(near_b, 1.0, atol=1e-5)
    assert (on_a | on_b).all()
    assert abs(on_b.mean() - 0.8) < 0.03  # areas 6 vs 24: 80% on the big box
    assert len(cloud.mesh.faces) == 24 and cloud.face_index.max() < 24
    assert cloud.rgb is None
    colored = _box()
    colored.visual.face_colors = [255, 0, 0, 255]
    mixed = trimesh.Scene()
    mixed.add_geometry(colored, node_name="red", transform=trimesh.transformations.translation_matrix([5, 0, 0]))
    mixed.add_geometry(_box(), node_name="plain")
    cloud = as_cloud(mixed, n_points=1000)
    red = cloud.xyz[:, 0] > 2
    np.testing.assert_allclose(cloud.rgb[red], np.tile([1.0, 0, 0], (red.sum(), 1)))
    np.testing.assert_allclose(cloud.rgb[~red], 0.5)  # the uncolored part of a colored scene is mid-gray


def test_gltf_with_buffers_and_obj_material_color(tmp_path):
    for name, data in _box().export(file_type="gltf").items():
        (tmp_path / name).write_bytes(data)
    cloud = load_cloud(tmp_path / "model.gltf", n_points=400)
    assert cloud.xyz.shape == (400, 3) and cloud.rgb is None
    np.testing.assert_allclose(np.abs(cloud.xyz).max(axis=1), 0.5, atol=1e-5)
    (tmp_path / "kd.mtl").write_text("newmtl m\nKd 1 0.5 0\n")
    (tmp_path / "kd.obj").write_text("mtllib kd.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl m\nf 1 2 3\n")
    cloud = load_cloud(tmp_path / "kd.obj", n_points=50)
    np.testing.assert_allclose(cloud.rgb, np.tile([1.0, 128 / 255, 0.0], (50, 1)), atol=1e-6)
    np.testing.assert_allclose(cloud.xyz[:, 2], 0.0)
    assert (cloud.xyz[:, :2].sum(axis=1) <= 1 + 1e-6).all() and (cloud.xyz >= -1e-7).all()


# ----------------------------------------------------------------------------------------------- writers


def test_atomic_writer_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]
    with atomic_path(tmp_path / "sub" / "img.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path / "sub" and not tmp.exists()
        Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp)
    assert os.listdir(tmp_path / "sub") == ["img.png"]
    assert Image.open(tmp_path / "sub" / "img.png").size == (2, 2)


def test_write_npz_interrupted_midway_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "r.npz"
    write_npz(target, a=np.arange(3))
    old = target.read_bytes()

    def broken(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(KeyboardInterrupt):
        write_npz(target, a=np.arange(10))
    assert target.read_bytes() == old and os.listdir(tmp_path) == ["r.npz"]
    with pytest.raises(ZeropsError):
        write_cloud_ply(tmp_path / "bad.ply", np.zeros((3, 3)), part=np.zeros(2, np.int64))
    with pytest.raises(ZeropsError, match="clashes"):
        write_cloud_ply(tmp_path / "bad.ply", np.zeros((3, 3)), np.zeros((3, 3)), red=np.zeros(3, np.int64))
    assert os.listdir(tmp_path) == ["r.npz"]


def test_write_json_npz_values(tmp_path):
    write_json(tmp_path / "s.json", {"miou": np.float32(0.5), "n": np.int64(3), "a": np.arange(3), "p": tmp_path})
    assert json.loads((tmp_path / "s.json").read_text()) == {"miou": 0.5, "n": 3, "a": [0, 1, 2], "p": str(tmp_path)}
    with pytest.raises(ZeropsError, match="JSON"):
        write_json(tmp_path / "x.json", {"bad": object()})
    assert not (tmp_path / "x.json").exists()
    write_npz(tmp_path / "a.npz", part=np.arange(5), xyz=np.ones((5, 3), np.float32))
    with np.load(tmp_path / "a.npz") as z:
        np.testing.assert_array_equal(z["part"], np.arange(5))
        assert z["xyz"].dtype == np.float32


def test_write_result_ply_and_palette(tmp_path):
    xyz, _, _ = _cloud(n=60, seed=7)
    part = np.arange(60) % 5 - 1
    write_result_ply(tmp_path / "r.ply", xyz, part, semantic=part // 2, instance=part * 3)
    v = PlyData.read(str(tmp_path / "r.ply"))["vertex"]
    np.testing.assert_array_equal(v["part"], part)
    np.testing.assert_array_equal(v["semantic"], part // 2)
    np.testing.assert_array_equal(v["instance"], part * 3)
    colors = np.stack([v["red"], v["green"], v["blue"]], axis=1)
    np.testing.assert_array_equal(colors, part_colors(part))
    assert len({tuple(c) for c in colors[part == -1]}) == 1 and len({tuple(c) for c in colors}) == 5
    pal = part_palette(40)
    assert pal.shape == (40, 3) and pal.dtype == np.uint8 and len({tuple(c) for c in pal}) == 40
    np.testing.assert_array_equal(part_palette(10), pal[:10])


# ----------------------------------------------------------------------------------------------- as_cloud / bad input


def test_as_cloud_variants(tmp_path):
    xyz, rgb8, _ = _cloud(n=50)
    c = as_cloud(np.hstack([xyz, rgb8 / 255.0]))
    np.testing.assert_allclose(c.rgb, rgb8 / 255.0, atol=1e-6)
    assert as_cloud(c) is c
    write_cloud_ply(tmp_path / "Chair" / "s" / "pc.ply", xyz)
    assert len(load_cloud(tmp_path / "Chair" / "s")) == 50  # a PartNetE folder loads its pc.ply
    assert len(as_cloud(str(tmp_path / "Chair" / "s" / "pc.ply"))) == 50
    assert len(as_cloud(_box(), n_points=77)) == 77
    with pytest.raises(ZeropsError, match="dict"):
        as_cloud({"xyz": xyz})


def _bad_files(tmp_path):
    xyz, _, _ = _cloud(n=20)
    nan = xyz.copy()
    nan[3, 1] = np.nan
    inf = xyz.copy()
    inf[0, 0] = np.inf
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "inf.npy", inf)
    np.save(tmp_path / "empty.npy", np.zeros((0, 3), np.float32))
    np.save(tmp_path / "one.npy", xyz[:1])
    np.save(tmp_path / "same.npy", np.ones((10, 3)))
    np.save(tmp_path / "shape4.npy", np.zeros((10, 4)))
    np.save(tmp_path / "flat.npy", np.zeros(10))
    np.save(tmp_path / "neg_rgb.npy", np.hstack([xyz, -np.ones((20, 3))]))
    (tmp_path / "big_rgb.txt").write_text("\n".join(f"{i} {i * 2} 0 300 1 1" for i in range(5)))
    write_cloud_ply(tmp_path / "empty.ply", np.zeros((0, 3)))
    (tmp_path / "verts.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    (tmp_path / "nofaces.off").write_text("OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n")
    (tmp_path / "cloud.xyzw").write_text("1 2 3\n")
    (tmp_path / "garbage.ply").write_bytes(b"not a ply at all")
    return {
        "missing.ply": "file not found", "cloud.xyzw": "unknown file extension", "empty.npy": "empty",
        "empty.ply": "empty", "nan.npy": "NaN or infinite", "inf.npy": "NaN or infinite",
        "one.npy": "single point", "same.npy": "identical", "shape4.npy": r"shape \(N, 3\)",
        "flat.npy": r"shape \(N, 3\)", "neg_rgb.npy": "colors out of range", "big_rgb.txt": "colors out of range",
        "verts.obj": "no faces", "nofaces.off": "no faces", "garbage.ply": "cannot read PLY",
    }


def test_bad_inputs_raise_one_line_errors_naming_the_file(tmp_path):
    for name, pattern in _bad_files(tmp_path).items():
        with pytest.raises(ZeropsError, match=pattern) as info:
            load_cloud(tmp_path / name)
        message = str(info.value)
        assert name in message and "\n" not in message, message


def test_validate_cloud_direct():
    xyz, _, _ = _cloud(n=10)
    validate_cloud(xyz, np.full((10, 3), 0.5), np.ones((10, 3)))
    with pytest.raises(ZeropsError, match=r"\(10, 3\)"):
        validate_cloud(xyz, np.full((9, 3), 0.5))
    with pytest.raises(ZeropsError, match="out of range"):
        validate_cloud(xyz, np.full((10, 3), 2.0))
    with pytest.raises(ZeropsError, match="normals"):
        validate_cloud(xyz, None, np.full((10, 3), np.nan))
    with pytest.raises(ZeropsError, match="float32 range"):
        validate_cloud(np.array([[0.0, 0, 0], [1e39, 0, 0]]))
    with pytest.raises(ZeropsError, match="dtype"):
        validate_cloud(np.array([["a", "b", "c"], ["d", "e", "f"]]))
    with pytest.raises(ZeropsError, match="n_points"):
        as_cloud(_box(), n_points=0)
    assert isinstance(as_cloud(PointCloud(xyz, None, None)), PointCloud)
