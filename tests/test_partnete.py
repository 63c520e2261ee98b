"""PartNetE layout: the safe label loader, shape folders on the real data, deterministic writing."""
from __future__ import annotations

import io
import json
import os
import pickle

import numpy as np
import pytest

from zerops.errors import ZeropsError
from zerops.eval.partnete import (
    list_partnete_shapes,
    load_labels,
    load_partnete_meta,
    load_partnete_shape,
    write_partnete_shape,
)

# category/id -> (points, instances >= 0, semantic classes present); read off the data with np.load(allow_pickle=True)
REAL_SHAPES = {
    "Car/pointtree_car": (2048, 6, 4),
    "Chair/pointtree_chair": (2048, 3, 3),
    "Chair/structurenet_example": (18000, 18, 3),
    "Guitar/pointtree_guitar": (2048, 3, 3),
    "Lamp/pointtree_lamp": (2048, 4, 3),
    "Motorbike/pointtree_motorbike": (2048, 6, 6),
    "Pistol/pointtree_pistol": (2048, 3, 3),
    "Skateboard/1ad8d7573dc57ebc247a956ed3779e34": (2598, 1, 1),
    "Skateboard/1c8d5e05c3faa05861be5ced44bc18ac": (2475, 1, 1),
    "Table/1a00aa6b75362cc5b324368d54a7416f": (2751, 4, 2),
    "Table/1a2abbc9712e2fffc3bd24f986301745": (2794, 4, 3),
    "Table/pointtree_table": (2048, 5, 2),
}


def test_bundled_meta_table():
    table = load_partnete_meta()
    assert len(table) == 45
    assert sum(len(v) for v in table.values()) == 103
    assert table["Chair"] == ["arm", "back", "leg", "seat", "wheel"]


def test_list_shapes_sorted_filtered_limited(real_data):
    shapes = list_partnete_shapes(real_data)
    assert [f"{p.parent.name}/{p.name}" for p in shapes] == sorted(REAL_SHAPES)
    assert list_partnete_shapes(real_data) == shapes  # deterministic
    tables = list_partnete_shapes(real_data, categories=["Table"])
    assert [p.name for p in tables] == ["1a00aa6b75362cc5b324368d54a7416f", "1a2abbc9712e2fffc3bd24f986301745",
                                        "pointtree_table"]
    limited = list_partnete_shapes(real_data, categories=["Table", "Chair"], limit=1)
    assert [f"{p.parent.name}/{p.name}" for p in limited] == ["Chair/pointtree_chair",
                                                             "Table/1a00aa6b75362cc5b324368d54a7416f"]
    with pytest.raises(ZeropsError, match="Sofa"):
        list_partnete_shapes(real_data, categories=["Sofa"])


def test_real_shapes_counts_and_safe_loader_matches_numpy(real_data):
    for key, (n_points, n_inst, n_sem) in REAL_SHAPES.items():
        shape = load_partnete_shape(real_data / key)
        assert shape.category == key.split("/")[0] and shape.shape_id == key.split("/")[1]
        assert len(shape.cloud) == n_points and shape.cloud.xyz.dtype == np.float32
        assert shape.cloud.rgb is None  # the real clouds are xyz-only: no invented colors
        assert shape.semantic.dtype == np.int64 and shape.semantic.shape == (n_points,)
        assert len(np.unique(shape.instance[shape.instance >= 0])) == n_inst
        assert len(np.unique(shape.semantic[shape.semantic >= 0])) == n_sem
        assert shape.semantic.max() < len(shape.part_names)
        ref = np.load(real_data / key / "label.npy", allow_pickle=True).item()
        np.testing.assert_array_equal(shape.semantic, ref["semantic_seg"])
        np.testing.assert_array_equal(shape.instance, ref["instance_seg"])
        sem, inst = load_labels(real_data / key / "label.npy", allow_pickle=True)
        np.testing.assert_array_equal(inst, ref["instance_seg"])


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("with_npy_header", [True, False])
def test_malicious_pickle_is_refused(tmp_path, with_npy_header):
    marker = tmp_path / "pwned"
    obj = {"semantic_seg": np.zeros(3, np.int64), "instance_seg": _Payload(str(marker))}
    payload = pickle.dumps(obj, protocol=2)
    path = tmp_path / "label.npy"
    if with_npy_header:
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
        payload = buf.getvalue() + payload
    path.write_bytes(payload)
    with pytest.raises(ZeropsError, match="refusing .*label.npz"):
        load_labels(path)
    assert not marker.exists()


def test_label_npz_and_plain_int_arrays(tmp_path):
    sem = np.array([0, 1, 1, -1], np.int64)
    inst = np.array([0, 1, 2, -1], np.int64)
    np.savez(tmp_path / "label.npz", semantic_seg=sem, instance_seg=inst)
    s, i = load_labels(tmp_path / "label.npz")
    np.testing.assert_array_equal(s, sem)
    np.testing.assert_array_equal(i, inst)
    np.save(tmp_path / "plain.npy", sem)  # an array, not a dict
    with pytest.raises(ZeropsError, match="semantic_seg"):
        load_labels(tmp_path / "plain.npy")
    with pytest.raises(ZeropsError, match="not found"):
        load_labels(tmp_path / "missing.npy")
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ZeropsError, match="junk.npy"):
        load_labels(tmp_path / "junk.npy")


def _shape_arrays(n=500, seed=0):
    rng = np.random.default_rng(seed)
    xyz = rng.normal(size=(n, 3)).astype(np.float32)
    rgb = rng.random((n, 3)).astype(np.float32)
    semantic = rng.integers(-1, 3, n)
    instance = np.where(semantic >= 0, semantic * 10 + rng.integers(0, 2, n), -1)
    return xyz, rgb, semantic, instance


def test_write_partnete_shape_deterministic_and_compatible(tmp_path):
    xyz, rgb, semantic, instance = _shape_arrays()
    meta = {"part_names": ["seat", "back", "leg"], "category": "Chair", "seed": np.int64(3)}
    write_partnete_shape(tmp_path / "a" / "Chair" / "s0", xyz, rgb, semantic, instance, meta)
    write_partnete_shape(tmp_path / "b" / "Chair" / "s0", xyz.copy(), rgb.copy(), semantic.copy(), instance.copy(),
                         dict(reversed(list(meta.items()))))
    for name in ("pc.ply", "label.npy", "meta.json"):
        assert (tmp_path / "a/Chair/s0" / name).read_bytes() == (tmp_path / "b/Chair/s0" / name).read_bytes()
    text = (tmp_path / "a/Chair/s0/meta.json").read_text()
    assert text.index('"category"') < text.index('"part_names"') < text.index('"seed"')
    assert json.loads(text)["seed"] == 3
    # PartNetE readers use np.load(allow_pickle=True).item()
    ref = np.load(tmp_path / "a/Chair/s0/label.npy", allow_pickle=True).item()
    np.testing.assert_array_equal(ref["semantic_seg"], semantic)
    np.testing.assert_array_equal(ref["instance_seg"], instance)
    shape = load_partnete_shape(tmp_path / "a/Chair/s0")
    np.testing.assert_array_equal(shape.cloud.xyz, xyz)
    np.testing.assert_allclose(shape.cloud.rgb, rgb, atol=0.5 / 255 + 1e-6)
    np.testing.assert_array_equal(shape.semantic, semantic)
    np.testing.assert_array_equal(shape.instance, instance)
    assert shape.part_names == ["seat", "back", "leg"] and shape.category == "Chair"
    assert list_partnete_shapes(tmp_path / "a") == [tmp_path / "a/Chair/s0"]
    assert sorted(os.listdir(tmp_path / "a/Chair/s0")) == ["label.npy", "meta.json", "pc.ply"]  # no temp files


def test_part_names_fall_back_to_bundled_table(tmp_path):
    xyz, _, semantic, instance = _shape_arrays(seed=1)
    folder = tmp_path / "Chair" / "x1"
    write_partnete_shape(folder, xyz, None, semantic, instance, {"category": "Chair"})
    shape = load_partnete_shape(folder)
    assert shape.part_names == load_partnete_meta()["Chair"]
    assert shape.cloud.rgb is None


def test_shape_folder_errors(tmp_path):
    xyz, rgb, semantic, instance = _shape_arrays(n=50)
    with pytest.raises(ZeropsError, match="not found"):
        load_partnete_shape(tmp_path / "nope")
    with pytest.raises(ZeropsError, match="semantic labels"):
        write_partnete_shape(tmp_path / "bad", xyz, rgb, semantic[:10], instance, {})
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
    folder = tmp_path / "Chair" / "s"
    write_partnete_shape(folder, xyz, rgb, semantic, instance, {"category": "Chair"})
    (folder / "label.npy").unlink()
    with pytest.raises(ZeropsError, match="no label"):
        load_partnete_shape(folder)
    write_partnete_shape(folder, xyz[:40], rgb[:40], semantic[:40], instance[:40], {"category": "Chair"})
    np.savez(folder / "label.npz", semantic_seg=semantic, instance_seg=instance)  # 50 labels, 40 points
    with pytest.raises(ZeropsError, match="50 labels for 40 points"):
        load_partnete_shape(folder)
    write_partnete_shape(tmp_path / "Nothing" / "s", xyz, rgb, semantic, instance, {})
    with pytest.raises(ZeropsError, match="not in the PartNetE table"):
        load_partnete_shape(tmp_path / "Nothing" / "s")
