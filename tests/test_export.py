"""`zerops export`: per-part point clouds, mesh face labelling, labelled GLB / OBJ, and clean failures."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import trimesh

from fakes import make_result
from zerops.cli import main
from zerops.errors import ZeropsError
from zerops.io.export import export_parts, label_mesh_faces
from zerops.io.load import load_cloud
from zerops.io.palette import part_palette
from zerops.io.ply import write_cloud_ply


def box_and_post() -> tuple[trimesh.Trimesh, trimesh.Trimesh]:
    """A unit box below z = 0 (the base) and a cylinder above it (the post)."""
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    box.apply_translation((0.0, 0.0, -0.5))
    post = trimesh.creation.cylinder(radius=0.3, height=1.0, sections=24)
    post.apply_translation((0.0, 0.0, 0.5))
    return box, post


def rule(z: np.ndarray) -> np.ndarray:
    return (z >= 0).astype(np.int64)           # 0 = base (z < 0), 1 = post


@pytest.fixture(params=["obj", "glb"])
def mesh_result(request, tmp_path: Path) -> tuple[Path, Path]:
    """(result folder, mesh file): the mesh saved as .obj (one mesh) or .glb (a scene, the post a moved node)."""
    box, post = box_and_post()
    if request.param == "obj":
        path = tmp_path / "object.obj"
        trimesh.util.concatenate([box, post]).export(path)
    else:
        path = tmp_path / "object.glb"
        scene = trimesh.Scene()
        scene.add_geometry(box, node_name="box")
        post.apply_translation((0.0, 0.0, -0.5))             # stored at the origin, moved by the node transform
        scene.add_geometry(post, node_name="post", transform=trimesh.transformations.translation_matrix((0, 0, 0.5)))
        scene.export(path)
    cloud = load_cloud(path, n_points=4000, seed=0)
    result = make_result(tmp_path / "result", cloud.xyz, rule(cloud.xyz[:, 2]), names=["base", "post"],
                         part_class=[0, 1], source=str(path))
    return result, path


# ----------------------------------------------------------------------------------------------- point clouds
def test_ply_export_one_file_per_part(tmp_path: Path):
    from plyfile import PlyData

    rng = np.random.default_rng(0)
    xyz = rng.uniform(-1, 1, size=(2000, 3)).astype(np.float32)
    part = np.digitize(xyz[:, 0], [-0.3, 0.4]).astype(np.int64)
    part[:10] = -1
    d = make_result(tmp_path / "r", xyz, part, names=["leg", "seat"], part_class=[0, 1, -1])
    paths = export_parts(d, "ply")
    assert [p.name for p in paths] == ["part_0_leg.ply", "part_1_seat.ply", "part_2.ply"]
    palette = part_palette(3)
    for k, p in enumerate(paths):
        v = PlyData.read(str(p))["vertex"]
        assert len(v) == int((part == k).sum())
        assert set(np.asarray(v["part"]).tolist()) == {k}
        got = np.column_stack([v["x"], v["y"], v["z"]])
        np.testing.assert_array_equal(got, xyz[part == k])
        assert np.all(np.column_stack([v["red"], v["green"], v["blue"]]) == palette[k])
    # by class: the unlabelled part 2 is in no class file
    sem = export_parts(d, "ply", by="semantic")
    assert [p.name for p in sem] == ["semantic_0_leg.ply", "semantic_1_seat.ply"]
    assert [len(PlyData.read(str(p))["vertex"]) for p in sem] == [int((part == 0).sum()), int((part == 1).sum())]


def test_ply_export_unnamed_and_bad_grouping(tmp_path: Path, capsys):
    xyz = np.random.default_rng(1).normal(size=(300, 3)).astype(np.float32)
    d = make_result(tmp_path / "r", xyz, (xyz[:, 0] > 0).astype(np.int64), source="cloud.ply")
    assert main(["export", str(d), "--format", "ply"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [str(d / "export" / "part_0.ply"), str(d / "export" / "part_1.ply")]
    assert main(["export", str(d), "--format", "ply", "--by", "semantic"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no semantic labels" in err[0]


# ----------------------------------------------------------------------------------------------- meshes
def test_label_mesh_faces_follows_the_nearest_labelled_point():
    box, post = box_and_post()
    mesh = trimesh.util.concatenate([box, post])
    cloud = load_cloud_from(mesh)
    labels = rule(cloud.xyz[:, 2])
    faces = label_mesh_faces(mesh, cloud.xyz, labels)
    z = mesh.triangles_center[:, 2]
    far = np.abs(z) > 0.1
    assert far.sum() > 50
    np.testing.assert_array_equal(faces[far], rule(z[far]))
    # unlabelled points are ignored; nothing labelled -> every face −1
    masked = labels.copy()
    masked[cloud.xyz[:, 2] > 0.5] = -1
    faces2 = label_mesh_faces(mesh, cloud.xyz, masked)
    assert (faces2 >= 0).all() and (faces2[z > 0.6] == 1).all()
    assert (label_mesh_faces(mesh, cloud.xyz, np.full(len(labels), -1)) == -1).all()


def load_cloud_from(mesh: trimesh.Trimesh):
    from zerops.io.mesh import cloud_from_trimesh

    return cloud_from_trimesh(mesh, n_points=4000, seed=0)


def test_glb_export(mesh_result):
    result, mesh_path = mesh_result
    paths = export_parts(result, "glb")
    names = sorted(p.name for p in paths)
    assert names == ["labelled.glb", "part_0_base.glb", "part_1_post.glb"]
    scene = trimesh.load_scene(str(result / "export" / "labelled.glb"))
    assert sorted(scene.geometry) == ["base_0", "post_1"]
    assert sorted(scene.graph.nodes_geometry) == ["base_0", "post_1"]
    box, post = box_and_post()
    assert len(scene.geometry["base_0"].faces) + len(scene.geometry["post_1"].faces) == \
        len(box.faces) + len(post.faces)
    palette = part_palette(2)
    for k, name in enumerate(["base_0", "post_1"]):
        geom = scene.geometry[name]
        np.testing.assert_array_equal(np.asarray(geom.visual.material.baseColorFactor)[:3], palette[k])
        z = geom.triangles_center[:, 2]
        far = np.abs(z) > 0.1
        assert far.any() and (rule(z[far]) == k).all()      # away from the seam every face follows the rule
    single = trimesh.load_scene(str(result / "export" / "part_1_post.glb"))
    assert list(single.geometry) == ["post_1"]
    assert single.bounds[0][2] > -0.05                       # the post only


def test_obj_export(mesh_result, capsys):
    result, _ = mesh_result
    assert main(["export", str(result), "--format", "obj"]) == 0
    out = capsys.readouterr().out
    assert "labelled.obj" in out and "wrote" in out
    folder = result / "export"
    text = (folder / "labelled.obj").read_text()
    assert "mtllib labelled.mtl" in text
    assert [ln for ln in text.splitlines() if ln.startswith("o ")] == ["o base_0", "o post_1"]
    assert [ln for ln in text.splitlines() if ln.startswith("g ")] == ["g base_0", "g post_1"]
    mtl = (folder / "labelled.mtl").read_text()
    palette = part_palette(2) / 255.0
    for k, name in enumerate(["base_0", "post_1"]):
        block = mtl.split(f"newmtl {name}")[1].split("newmtl")[0]
        kd = [float(v) for v in re.search(r"Kd ([^\n]+)", block).group(1).split()]
        np.testing.assert_allclose(kd, palette[k], atol=1e-6)
    scene = trimesh.load_scene(str(folder / "labelled.obj"))
    assert sorted(scene.geometry) == ["base_0", "post_1"]
    np.testing.assert_array_equal(scene.geometry["post_1"].visual.material.diffuse[:3], part_palette(2)[1])
    assert (folder / "part_0_base.obj").is_file() and (folder / "part_0_base.mtl").is_file()
    assert "usemtl post_1" in (folder / "part_1_post.obj").read_text()


def test_mesh_option_overrides_a_moved_source(mesh_result, tmp_path: Path, capsys):
    result, mesh_path = mesh_result
    moved = tmp_path / ("moved" + mesh_path.suffix)
    mesh_path.rename(moved)
    assert main(["export", str(result), "--format", "glb"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was not found" in err[0] and "--mesh" in err[0]
    assert not (result / "export").exists()
    assert main(["export", str(result), "--format", "glb", "--mesh", str(moved), "--by", "semantic"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"wrote {len(lines) - 1} files to {result / 'export'}"
    assert sorted(Path(p).name for p in lines[:-1]) == sorted(p.name for p in (result / "export").iterdir())
    assert str(result / "export" / "labelled.glb") in lines
    scene = trimesh.load_scene(str(result / "export" / "labelled.glb"))
    assert sorted(scene.geometry) == ["base", "post"]


def test_relative_source_resolves_from_the_result_parent(tmp_path: Path, monkeypatch):
    box, post = box_and_post()
    trimesh.util.concatenate([box, post]).export(tmp_path / "m.obj")
    cloud = load_cloud(tmp_path / "m.obj", n_points=2000)
    d = make_result(tmp_path / "res", cloud.xyz, rule(cloud.xyz[:, 2]), source="m.obj")
    monkeypatch.chdir(tmp_path / "res")                      # `segment` ran in tmp_path, we run elsewhere
    names = sorted(p.name for p in export_parts(d, "glb"))
    assert names == ["labelled.glb", "part_0.glb", "part_1.glb"]


def test_wrong_mesh_is_refused(mesh_result, tmp_path: Path):
    result, _ = mesh_result
    far = trimesh.creation.box()
    far.apply_translation((100.0, 0.0, 0.0))
    far.export(tmp_path / "far.obj")
    with pytest.raises(ZeropsError, match="does not line up"):
        export_parts(result, "glb", mesh=tmp_path / "far.obj")
    assert not (result / "export").exists()


# ----------------------------------------------------------------------------------------------- failures
def test_point_cloud_source_needs_ply_or_mesh(tmp_path: Path, capsys):
    xyz = np.random.default_rng(2).normal(size=(500, 3)).astype(np.float32)
    write_cloud_ply(tmp_path / "cloud.ply", xyz)
    d = make_result(tmp_path / "r", xyz, (xyz[:, 2] > 0).astype(np.int64), source=str(tmp_path / "cloud.ply"))
    for fmt in ("glb", "obj"):
        with pytest.raises(ZeropsError, match="the result came from a point cloud; use --format ply or give --mesh"):
            export_parts(d, fmt)
        assert main(["export", str(d), "--format", fmt]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0] == ("zerops: error: the result came from a point cloud; "
                                            "use --format ply or give --mesh")
        assert not (d / "export").exists()
    np.save(tmp_path / "cloud.npy", xyz)
    d2 = make_result(tmp_path / "r2", xyz, (xyz[:, 2] > 0).astype(np.int64), source=str(tmp_path / "cloud.npy"))
    with pytest.raises(ZeropsError, match="came from a point cloud"):
        export_parts(d2, "obj")


def _format_99(d: Path) -> None:
    s = json.loads((d / "summary.json").read_text())
    s["format"] = 99
    (d / "summary.json").write_text(json.dumps(s))


@pytest.mark.parametrize("damage, needle", [
    (lambda d: __import__("shutil").rmtree(d), "result folder not found"),
    (lambda d: (d / "parts.npz").write_bytes(b"garbage"), "cannot read the result arrays"),
    (_format_99, "with result format 99; this zerops reads format 1"),
    (lambda d: (d / "summary.json").unlink(), "summary.json is missing"),
])
@pytest.mark.parametrize("fmt", ["ply", "glb"])
def test_bad_folders_fail_cleanly(tmp_path: Path, capsys, damage, needle, fmt):
    xyz = np.random.default_rng(3).normal(size=(200, 3)).astype(np.float32)
    d = make_result(tmp_path / "r", xyz, (xyz[:, 0] > 0).astype(np.int64))
    damage(d)
    with pytest.raises(ZeropsError, match=re.escape(needle)):
        export_parts(d, fmt)
    assert main(["export", str(d), "--format", fmt]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("zerops: error:") and needle in err[0]
    assert not (d / "export").exists()


def test_failed_write_removes_a_new_export_folder(tmp_path: Path, monkeypatch):
    import zerops.io.export as ex

    xyz = np.random.default_rng(4).normal(size=(200, 3)).astype(np.float32)
    d = make_result(tmp_path / "r", xyz, (xyz[:, 0] > 0).astype(np.int64))
    calls = []

    def failing(path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(path)

    real = ex.atomic_path
    monkeypatch.setattr(ex, "atomic_path", failing)
    with pytest.raises(OSError):
        export_parts(d, "ply")
    assert not (d / "export").exists()


def test_stale_files_of_the_same_kind_are_replaced(tmp_path: Path):
    xyz = np.random.default_rng(5).normal(size=(300, 3)).astype(np.float32)
    d = make_result(tmp_path / "r", xyz, np.digitize(xyz[:, 0], [-0.5, 0.5]).astype(np.int64))
    assert len(export_parts(d, "ply")) == 3
    d2 = make_result(tmp_path / "r", xyz, (xyz[:, 0] > 0).astype(np.int64))   # a rerun with fewer parts
    export_parts(d2, "ply")
    assert sorted(p.name for p in (d / "export").iterdir()) == ["part_0.ply", "part_1.ply"]



def test_nothing_labelled_is_an_error(tmp_path: Path):
    xyz = np.random.default_rng(6).normal(size=(100, 3)).astype(np.float32)
    part = np.full(100, -1, dtype=np.int64)
    part[0] = 0
    d = make_result(tmp_path / "r", xyz, part)
    with np.load(d / "parts.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["part"][:] = -1
    np.savez(d / "parts.npz", **arrays)
    with pytest.raises(ZeropsError, match="no point has a part label"):
        export_parts(d, "ply")
    assert not (d / "export").exists()
