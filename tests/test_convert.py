"""zerops convert: URDF kinematics, GLB scenes, mesh folders, the outer-surface rule, labels and bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from zerops.cli import main
from zerops.errors import ZeropsError
from zerops.eval.partnete import load_partnete_shape
from zerops.io.convert import Z_UP_TO_Y_UP, convert_asset, parse_names

REPO = Path(__file__).resolve().parents[1]
PYBULLET_DATA = REPO / "data" / ".pybullet" / "pybullet_data"


def _pose(xyz, rpy) -> np.ndarray:
    """(4, 4) transform; scipy's extrinsic 'xyz' Euler angles are URDF's Rz(yaw) Ry(pitch) Rx(roll)."""
    m = np.eye(4)
    m[:3, :3] = Rotation.from_euler("xyz", rpy).as_matrix()
    m[:3, 3] = xyz
    return m


def _box_distance(points: np.ndarray, pose: np.ndarray, half: np.ndarray) -> np.ndarray:
    """|signed distance| of world points to the surface of a box of half extents ``half`` placed at ``pose``."""
    local = (points - pose[:3, 3]) @ pose[:3, :3]
    q = np.abs(local) - half
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
    return np.abs(outside + np.minimum(q.max(axis=1), 0.0))


def _box_area(size) -> float:
    x, y, z = size
    return 2.0 * (x * y + y * z + x * z)


# the robot: base (inline gray-blue color) + inner (a box inside base) + arm (an STL unit box scaled by the
# visual, with its own origin; no color) + hand (named robot-level material "red"); joints with non-zero rpy
J_ARM = ((1.2, 0.0, 0.2), (0.3, -0.4, 0.7))
J_HAND = ((0.0, 1.0, 0.3), (-0.6, 0.2, 1.1))
J_INNER = ((0.05, 0.0, 0.0), (0.1, 0.2, 0.3))
V_ARM = ((0.1, 0.0, 0.0), (0.0, 0.5, 0.0))
SIZES = {"base": (0.6, 0.4, 0.3), "inner": (0.1, 0.1, 0.1), "arm": (0.3, 0.2, 0.5), "hand": (0.25, 0.25, 0.25)}


def _origin(xyz_rpy) -> str:
    (x, y, z), (r, p, w) = xyz_rpy
    return f'<origin xyz="{x} {y} {z}" rpy="{r} {p} {w}"/>'


def _joint(name, parent, child, xyz_rpy, kind="revolute") -> str:
    return (f'<joint name="{name}" type="{kind}"><parent link="{parent}"/><child link="{child}"/>'
            f'{_origin(xyz_rpy)}<axis xyz="0 0 1"/></joint>')


def write_robot(folder: Path, joints: list[str] | None = None, arm_mesh: str = "meshes/unit_box.stl") -> Path:
    import trimesh

    (folder / "meshes").mkdir(parents=True, exist_ok=True)
    trimesh.creation.box(extents=(1.0, 1.0, 1.0)).export(folder / "meshes" / "unit_box.stl")
    sx, sy, sz = SIZES["arm"]
    links = {
        "base": '<visual><geometry><box size="0.6 0.4 0.3"/></geometry>'
                '<material name="slate"><color rgba="0.2 0.4 0.6 1"/></material></visual>',
        "inner": '<visual><geometry><box size="0.1 0.1 0.1"/></geometry></visual>',
        "arm": f'<visual>{_origin(V_ARM)}<geometry><mesh filename="{arm_mesh}" scale="{sx} {sy} {sz}"/>'
               f'</geometry></visual>',
        "hand": '<visual><geometry><box size="0.25 0.25 0.25"/></geometry><material name="red"/></visual>',
    }
    if joints is None:
        joints = [_joint("j_inner", "base", "inner", J_INNER, "fixed"), _joint("j_arm", "base", "arm", J_ARM),
                  _joint("j_hand", "arm", "hand", J_HAND)]
    body = "".join(f'<link name="{n}"><inertial><mass value="1"/></inertial>{v}</link>' for n, v in links.items())
    text = (f'<?xml version="1.0"?><robot name="toy"><material name="red"><color rgba="1 0 0 1"/></material>'
            f'{body}{"".join(joints)}</robot>')
    path = folder / "toy.urdf"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def robot_shape(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("robot")
    urdf = write_robot(tmp / "asset")
    out = tmp / "data" / "Toy" / "r0"
    result = convert_asset(urdf, out, n_points=40000, seed=3, up="y", names="base=body,arm=limb,h*=limb")
    return urdf, out, result, load_partnete_shape(out)


def test_urdf_points_lie_on_the_posed_links(robot_shape):
    _, _, result, shape = robot_shape
    assert result.n_parts == 4 and result.parts_with_points == 3
    names = shape.meta["instance_names"]
    assert names == ["base", "inner", "arm", "hand"]
    arm = _pose(*J_ARM)
    poses = {"base": np.eye(4), "arm": arm @ _pose(*V_ARM), "hand": arm @ _pose(*J_HAND)}
    xyz = shape.cloud.xyz.astype(np.float64)
    for name, pose in poses.items():
        pts = xyz[shape.instance == names.index(name)]
        assert len(pts) > 1000
        assert _box_distance(pts, pose, 0.5 * np.asarray(SIZES[name])).max() <= 1e-5, name


def test_urdf_point_counts_are_area_proportional_and_inner_box_is_empty(robot_shape):
    _, _, _, shape = robot_shape
    names = shape.meta["instance_names"]
    counts = np.bincount(shape.instance, minlength=4)
    assert counts[names.index("inner")] == 0
    visible = ["base", "arm", "hand"]
    areas = np.array([_box_area(SIZES[n]) for n in visible])
    expected = len(shape.instance) * areas / areas.sum()
    got = np.array([counts[names.index(n)] for n in visible])
    np.testing.assert_allclose(got, expected, rtol=0.03)
    assert shape.meta["instance_points"] == counts.tolist()


def test_urdf_colors_labels_and_meta(robot_shape):
    urdf, _, _, shape = robot_shape
    names = shape.meta["instance_names"]
    rgb = np.round(shape.cloud.rgb * 255).astype(int)
    for name, color in (("base", (51, 102, 153)), ("arm", (128, 128, 128)), ("hand", (255, 0, 0))):
        sel = shape.instance == names.index(name)
        assert (rgb[sel] == color).all(), name          # flat colors: no shading, no noise
    assert shape.part_names == ["body", "limb"] and shape.category == "Toy"
    np.testing.assert_array_equal(shape.semantic, np.array([0, -1, 1, 1])[shape.instance])
    meta = shape.meta
    assert meta["instance_classes"] == ["body", None, "limb", "limb"]
    assert meta["source"] == str(urdf) and meta["license"] == "unknown" and meta["source_format"] == "urdf"
    assert meta["n_points"] == 40000 and meta["seed"] == 3 and meta["up"] == "y"


def test_same_seed_same_bytes_and_z_up_rotation(tmp_path):
    urdf = write_robot(tmp_path / "asset")
    outs = []
    for name, up in (("a", "auto"), ("b", "auto"), ("c", "y")):
        outs.append(tmp_path / name / "x")
        convert_asset(urdf, outs[-1], n_points=3000, seed=1, category="Toy", up=up)
    for f in ("pc.ply", "label.npy", "meta.json"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes()
    z_up, y_up = load_partnete_shape(outs[0]), load_partnete_shape(outs[2])
    assert z_up.meta["up"] == "z"
    np.testing.assert_allclose(z_up.cloud.xyz, y_up.cloud.xyz @ Z_UP_TO_Y_UP.T, atol=1e-6)
    np.testing.assert_array_equal(z_up.instance, y_up.instance)


def test_by_visual_splits_links(tmp_path):
    urdf = tmp_path / "two.urdf"
    urdf.write_text('<robot name="t"><link name="table">'
                    '<visual name="top"><origin xyz="0 0 1"/><geometry><box size="1 1 0.1"/></geometry></visual>'
                    '<visual><origin xyz="0 0 0.5"/><geometry><cylinder radius="0.05" length="0.9"/></geometry>'
                    '</visual></link></robot>')
    one = convert_asset(urdf, tmp_path / "a" / "t", n_points=2000)
    two = convert_asset(urdf, tmp_path / "b" / "t", n_points=2000, by="visual")
    assert one.n_parts == 1 and two.n_parts == 2
    assert load_partnete_shape(tmp_path / "b" / "t").meta["instance_names"] == ["table:top", "table:1"]


def test_glb_scene_nodes_are_parts_with_their_transforms(tmp_path):
    import trimesh

    scene = trimesh.Scene()
    boxes = {"lid": ((0.5, 0.1, 0.5), _pose((0.0, 1.0, 0.0), (0.2, 0.0, 0.3))),
             "body": ((0.6, 0.6, 0.6), _pose((0.0, 0.0, 0.0), (0.0, 0.4, 0.0))),
             "knob": ((0.1, 0.2, 0.1), _pose((1.0, 0.2, -0.3), (0.5, 0.5, 0.5)))}
    for name, (size, pose) in boxes.items():
        mesh = trimesh.creation.box(extents=size)
        mesh.visual.face_colors = [200, 30, 30, 255] if name == "knob" else [20, 20, 200, 255]
        scene.add_geometry(mesh, node_name=name, geom_name=f"g_{name}", transform=pose)
    path = tmp_path / "thing.glb"
    scene.export(path)
    r = convert_asset(path, tmp_path / "Thing" / "t", n_points=6000, seed=2)
    shape = load_partnete_shape(tmp_path / "Thing" / "t")
    assert r.n_parts == 3 and shape.meta["instance_names"] == ["body", "knob", "lid"]
    assert shape.meta["up"] == "y" and shape.category == "Thing"
    xyz = shape.cloud.xyz.astype(np.float64)
    for k, name in enumerate(shape.meta["instance_names"]):
        size, pose = boxes[name]
        pts = xyz[shape.instance == k]
        assert len(pts) > 100
        assert _box_distance(pts, pose, 0.5 * np.asarray(size)).max() <= 1e-5
    knob = np.round(shape.cloud.rgb[shape.instance == 1] * 255).astype(int)
    assert (knob == (200, 30, 30)).all()
    assert (shape.semantic == -1).all() and shape.part_names == []


def test_folder_of_meshes_one_part_per_file(tmp_path):
    import trimesh

    parts = tmp_path / "parts"
    parts.mkdir()
    trimesh.creation.box(extents=(1, 1, 1)).export(parts / "seat.stl")
    trimesh.creation.box(extents=(0.2, 2, 0.2), transform=_pose((2, 0, 0), (0, 0, 0))).export(parts / "leg.obj")
    (parts / "notes.txt").write_text("not a mesh")
    convert_asset(parts, tmp_path / "Chair" / "c", n_points=3000, names="seat=seat,leg=leg")
    shape = load_partnete_shape(tmp_path / "Chair" / "c")
    assert shape.meta["instance_names"] == ["leg", "seat"] and shape.part_names == ["leg", "seat"]
    np.testing.assert_array_equal(shape.semantic, shape.instance)
    assert set(np.unique(shape.instance)) == {0, 1}


def test_names_parsing(tmp_path):
    assert parse_names("a=x, b = y") == [("a", "x"), ("b", "y")]
    f = tmp_path / "names.json"
    f.write_text(json.dumps({"*_calf": "leg", "trunk": "body"}))
    assert parse_names(f) == [("*_calf", "leg"), ("trunk", "body")]
    for bad in ("a", "=x", "a=", ","):
        with pytest.raises(ZeropsError):
            parse_names(bad)


def _cycle(folder: Path) -> Path:
    return write_robot(folder, joints=[_joint("j2", "arm", "hand", J_HAND), _joint("j3", "hand", "arm", J_HAND),
                                       _joint("j4", "base", "inner", J_INNER)])


def _two_parents(folder: Path) -> Path:
    return write_robot(folder, joints=[_joint("j1", "base", "arm", J_ARM), _joint("j2", "arm", "hand", J_HAND),
                                       _joint("j3", "base", "hand", J_HAND), _joint("j4", "base", "inner", J_INNER)])


def _no_visuals(folder: Path) -> Path:
    path = folder / "empty.urdf"
    path.write_text('<robot name="e"><link name="a"><inertial><mass value="1"/></inertial></link>'
                    '<link name="b"/><joint name="j" type="fixed"><parent link="a"/><child link="b"/></joint></robot>')
    return path


def _bad_mesh(folder: Path) -> Path:
    path = write_robot(folder, arm_mesh="meshes/broken.stl")
    (folder / "meshes" / "broken.stl").write_bytes(b"solid x\nfacet normal 0 0 1\nouter loop\nvertex 1 2\n")
    return path


@pytest.mark.parametrize("make, needle", [
    (lambda d: write_robot(d, arm_mesh="meshes/missing.stl"), "not found"),
    (_cycle, "cycle"),
    (_two_parents, "two parents"),
    (_no_visuals, "no link has a visual"),
    (_bad_mesh, "mesh"),
    (lambda d: d / "nothing.urdf", "not found"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, make, needle):
    folder = tmp_path / "asset"
    folder.mkdir()
    asset = make(folder)
    out = tmp_path / "data" / "Cat" / "x"
    code = main(["convert", str(asset), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("zerops: error:"), err
    assert needle in err[0]
    assert not (tmp_path / "data").exists()


def test_existing_output_needs_overwrite(tmp_path, capsys):
    urdf = write_robot(tmp_path / "asset")
    out = tmp_path / "data" / "Toy" / "x"
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("old")
    code = main(["convert", str(urdf), "--out", str(out), "--points", "500"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--overwrite" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    # --overwrite replaces only a folder convert wrote (issue #26): a user's file is never deleted
    assert main(["convert", str(urdf), "--out", str(out), "--points", "500", "--overwrite"]) == 2
    assert "keep.txt" in capsys.readouterr().err and (out / "keep.txt").read_text() == "old"
    (out / "keep.txt").unlink()
    assert main(["convert", str(urdf), "--out", str(out), "--points", "300"]) == 0
    capsys.readouterr()
    assert main(["convert", str(urdf), "--out", str(out), "--points", "500", "--overwrite",
                 "--license", "CC-BY-4.0"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["label.npy", "meta.json", "pc.ply"]
    line = capsys.readouterr().out.strip()
    shape = load_partnete_shape(out)
    with_points = len(np.unique(shape.instance[shape.instance >= 0]))
    assert line.startswith("500 points, ") and f"({with_points} with points)" in line and line.endswith(f"-> {out}")
    assert sorted(p.name for p in out.parent.iterdir()) == ["x"]          # no temporary folders left
    assert load_partnete_shape(out).meta["license"] == "CC-BY-4.0"


def test_names_that_match_no_part_are_an_error(tmp_path, capsys):
    urdf = write_robot(tmp_path / "asset")
    code = main(["convert", str(urdf), "--out", str(tmp_path / "o" / "x"), "--names", "base=body,wheel=wheel"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "'wheel'" in err[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not (PYBULLET_DATA / "r2d2.urdf").is_file(), reason="run `make realdev` to unpack pybullet_data")
def test_pybullet_r2d2(tmp_path):
    r = convert_asset(PYBULLET_DATA / "r2d2.urdf", tmp_path / "Wheeled" / "r2d2", n_points=5000)
    shape = load_partnete_shape(tmp_path / "Wheeled" / "r2d2")
    assert r.n_parts == 16 and len(np.unique(shape.instance)) >= 14
    assert r.n_colors >= 3
    extent = np.ptp(shape.cloud.xyz, axis=0)
    assert 0.3 < extent[1] < 1.5                        # about a metre tall, y-up after the z-up turn
    assert extent[1] > 0.8 * max(extent[0], extent[2])


def test_rpy_matrix_is_fixed_axis_roll_pitch_yaw():
    from zerops.io.urdf import rpy_matrix

    for rpy in ((0.3, -0.4, 0.7), (1.2, 0.1, -2.5), (0.0, 1.5, 0.0)):
        np.testing.assert_allclose(rpy_matrix(rpy), Rotation.from_euler("xyz", rpy).as_matrix(), atol=1e-12)
    # yaw last: roll about x first, then yaw about the fixed z axis
    np.testing.assert_allclose(rpy_matrix((np.pi / 2, 0, np.pi / 2)) @ [0, 1, 0], [0, 0, 1], atol=1e-12)


def test_package_paths_xacro_leftovers_and_trailing_nul(tmp_path):
    import trimesh

    (tmp_path / "my_pkg" / "meshes").mkdir(parents=True)
    trimesh.creation.box(extents=(1, 1, 1)).export(tmp_path / "my_pkg" / "meshes" / "b.stl")
    (tmp_path / "my_pkg" / "robots").mkdir()
    urdf = tmp_path / "my_pkg" / "robots" / "r.urdf"
    urdf.write_bytes(b'<robot name="r"><link name="a"><visual><geometry><box size="0.2 0.2 0.2"/></geometry></visual>'
                     b'</link><link name="b"><visual><geometry><mesh filename="package://my_pkg/meshes/b.stl" '
                     b'scale="0.5"/></geometry></visual></link><joint name="j" type="fixed"><parent link="a"/>'
                     b'<child link="b"/><origin xyz="1 0 0" rpy="$(optenv SOME_RPY 0 0 0.5)"/></joint></robot>\r\n\x00')
    convert_asset(urdf, tmp_path / "out" / "R" / "r", n_points=3000, up="y")
    shape = load_partnete_shape(tmp_path / "out" / "R" / "r")
    pts = shape.cloud.xyz[shape.instance == 1].astype(np.float64)
    assert _box_distance(pts, _pose((1, 0, 0), (0, 0, 0.5)), np.full(3, 0.25)).max() <= 1e-5
