"""The evaluation harness: registry, caching/resume, reports, reference methods."""
import json

import numpy as np
import pytest

from zerops.errors import ZeropsError
from zerops.eval.harness import run_eval
from zerops.eval.methods import get_method, register_method
from zerops.eval.partnete import write_partnete_shape
from zerops.eval.prediction import Prediction, load_prediction


def square(center, n_side=12, size=1.0):
    """(n_side^2, 3) grid points of a flat square in the z = center[2] plane."""
    u = np.linspace(-size / 2, size / 2, n_side)
    gx, gy = np.meshgrid(u, u)
    return np.c_[gx.ravel(), gy.ravel(), np.zeros(gx.size)] + np.asarray(center, dtype=float)


def write_shape(root, category, shape_id, names=("a", "b"), offset=0.0, swap=False):
    """Two flat squares far apart: instance 0 (class names[0]) and instance 1 (class names[1])."""
    xyz = np.concatenate([square([offset, 0, 0]), square([offset + 5, 0, 0])]).astype(np.float32)
    n = len(xyz) // 2
    sem = np.r_[np.zeros(n, int), np.ones(n, int)]
    if swap:  # same geometry, part names listed in the other order
        names, sem = names[::-1], 1 - sem
    ins = np.r_[np.zeros(n, int), np.ones(n, int)]
    write_partnete_shape(root / category / shape_id, xyz, None, sem, ins,
                         {"category": category, "part_names": list(names)})


@pytest.fixture()
def dataset(tmp_path):
    root = tmp_path / "data"
    for i in range(3):
        write_shape(root, "Widget", f"w{i}", offset=0.1 * i, swap=(i == 1))
    for i in range(2):
        write_shape(root, "Gadget", f"g{i}", names=("knob", "lid"))
    return root


def test_oracle_scores_100_and_writes_reports(dataset, tmp_path):
    out = tmp_path / "out"
    report = run_eval(dataset, out, method="oracle", progress=False)
    assert report["overall"]["avg_iou"] == 100.0
    assert report["overall"]["miou"] == 100.0
    assert report["overall"]["map50"] == 100.0
    assert report["overall"]["shapes"] == 5
    assert set(report["per_category"]) == {"Gadget", "Widget"}
    assert report["per_category"]["Widget"]["shapes"] == 3
    assert report["per_category"]["Widget"]["instances"] == 6
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["overall"]["map50"] == 100.0 and on_disk["method"] == "oracle"
    md = (out / "report.md").read_text()
    assert "| Average IoU | **100.0** |" in md and "Widget" in md
    assert sorted(p.name for p in (out / "shapes").iterdir()) == [
        "Gadget__g0.npz", "Gadget__g1.npz", "Widget__w0.npz", "Widget__w1.npz", "Widget__w2.npz"]


def test_components_baseline_is_class_agnostic(dataset, tmp_path):
    report = run_eval(dataset, tmp_path / "out", method="components", progress=False)
    assert report["overall"]["avg_iou"] == 100.0  # two separated flat squares per shape
    assert report["overall"]["miou"] is None and report["overall"]["map50"] is None
    on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
    assert on_disk["per_category"]["Widget"]["miou"] is None  # null, not 0
    assert "| Semantic mIoU | **–** |" in (tmp_path / "out" / "report.md").read_text()


def test_class_names_matched_across_shapes(dataset, tmp_path):
    """A method that predicts everything as the shape's first listed class: names decide, not indices."""
    def first_class():
        def run(shape):
            return Prediction(part=shape.instance.copy(), semantic=np.zeros(shape.n_points, np.int64),
                              instance=shape.instance.copy())
        return run

    register_method("test_first_class", first_class)
    report = run_eval(dataset, tmp_path / "out", method="test_first_class", categories=["Widget"],
                      progress=False)
    per_class = report["per_class"]["Widget"]
    # w0, w2 list (a, b): predicted 'a' everywhere -> IoU(a) = 1/2; w1 lists (b, a): predicted 'b' -> IoU(a) 0
    assert per_class["a"]["iou"] == pytest.approx(100 * (0.5 + 0 + 0.5) / 3)
    assert per_class["b"]["iou"] == pytest.approx(100 * (0 + 0.5 + 0) / 3)


def test_interrupted_run_resumes_without_recomputing(dataset, tmp_path):
    out = tmp_path / "out"
    calls = []

    def flaky():
        def run(shape):
            if len(calls) == 2:
                raise KeyboardInterrupt
            calls.append(shape.shape_id)
            return Prediction(part=shape.instance.copy())
        return run

    register_method("test_flaky", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_eval(dataset, out, method="test_flaky", progress=False)
    assert calls == ["g0", "g1"]
    assert sorted(p.name for p in (out / "shapes").iterdir()) == ["Gadget__g0.npz", "Gadget__g1.npz"]
    assert not (out / "report.json").exists()

    def counting():
        def run(shape):
            calls.append(shape.shape_id)
            return Prediction(part=shape.instance.copy())
        return run

    register_method("test_flaky", counting)  # same name and options: the cache is valid
    report = run_eval(dataset, out, method="test_flaky", progress=False)
    assert calls == ["g0", "g1", "w0", "w1", "w2"]  # g0, g1 not recomputed
    assert report["run"] == {"computed": 3, "reused": 2}
    assert report["overall"]["avg_iou"] == 100.0

    report = run_eval(dataset, out, method="test_flaky", progress=False)
    assert report["run"] == {"computed": 0, "reused": 5} and len(calls) == 5


def test_other_method_or_options_refuse_the_cache(dataset, tmp_path):
    out = tmp_path / "out"
    run_eval(dataset, out, method="oracle", progress=False)
    with pytest.raises(ZeropsError, match="oracle"):
        run_eval(dataset, out, method="components", progress=False)
    run_eval(dataset, out, method="components", method_options={"angle_deg": 25.0}, progress=False, resume=False)
    with pytest.raises(ZeropsError):
        run_eval(dataset, out, method="components", progress=False)  # default options differ
    report = run_eval(dataset, out, method="components", method_options={"angle_deg": 25.0}, progress=False)
    assert report["run"]["reused"] == 5


def test_changed_shape_is_recomputed(dataset, tmp_path):
    out = tmp_path / "out"
    run_eval(dataset, out, method="oracle", progress=False)
    write_shape(dataset, "Widget", "w0", offset=1.0)  # new points under the same id
    report = run_eval(dataset, out, method="oracle", progress=False)
    assert report["run"] == {"computed": 1, "reused": 4}


def test_cached_prediction_round_trip(dataset, tmp_path):
    def scored():
        def run(shape):
            return Prediction(part=shape.instance.copy(), semantic=shape.semantic.copy(),
                              instance=shape.instance.copy(), instance_scores={0: 0.25, 1: 0.75},
                              extra={"note": "x"})
        return run

    register_method("test_scored", scored)
    out = tmp_path / "out"
    run_eval(dataset, out, method="test_scored", categories=["Gadget"], limit=1, progress=False)
    pred, key, fp = load_prediction(out / "shapes" / "Gadget__g0.npz")
    assert pred.instance_scores == {0: 0.25, 1: 0.75} and pred.extra == {"note": "x"}
    assert pred.part.dtype == np.int64 and pred.seconds > 0 and len(key) == 16 and len(fp) == 16


def test_registry_and_bad_input(dataset, tmp_path):
    assert callable(get_method("oracle")) and callable(get_method("components", angle_deg=30.0))
    with pytest.raises(ZeropsError, match="unknown method"):
        get_method("no_such_method")
    with pytest.raises(ZeropsError, match="accepts"):
        get_method("components", no_such_option=1)
    with pytest.raises(ZeropsError):
        run_eval(tmp_path / "missing", tmp_path / "out", method="oracle", progress=False)

    def broken():
        return lambda shape: Prediction(part=np.zeros(3, np.int64))

    register_method("test_broken", broken)
    with pytest.raises(ZeropsError, match="expected"):
        run_eval(dataset, tmp_path / "out2", method="test_broken", progress=False)


def test_components_separates_touching_planes_at_a_crease():
    from zerops.eval.metrics import average_iou
    from zerops.geometry.components import segment_components

    u = np.linspace(0, 1, 30)
    a, b = np.meshgrid(u, u)
    floor = np.c_[a.ravel(), b.ravel(), np.zeros(a.size)]
    wall = np.c_[np.zeros(a.size), a.ravel(), b.ravel() + u[1]]  # touches the floor's x = 0 edge
    xyz = np.concatenate([floor, wall])
    gt = np.r_[np.zeros(len(floor), int), np.ones(len(wall), int)]
    one = segment_components(xyz, angle_deg=None, color_dist=None)
    assert one.max() == 0 and (one == 0).all()  # connected: one component
    # PCA normals bend smoothly across the crease: angle-only growing leaks from floor to wall ...
    assert average_iou([gt], [segment_components(xyz)]) == 50.0
    # ... the surface-variation gate stops it (the crease strip itself becomes a small third part)
    parts = segment_components(xyz, max_variation=0.05)
    assert parts.max() == 2
    assert average_iou([gt], [parts]) > 95.0
    # color edges split a flat plane painted in two colors
    rgb = np.where(floor[:, :1] < 0.5, [[1.0, 0, 0]], [[0, 0, 1.0]])
    halves = segment_components(floor, rgb)
    assert average_iou([(floor[:, 0] >= 0.5).astype(int)], [halves]) == 100.0


def test_eval_zerops_with_oracle_detector_reports_labels(tmp_path, capsys):
    """`zerops eval --method zerops --detector oracle:perfect` scores mIoU and mAP50; the ablation
    switches are part of the run's key; a rerun from the stage cache gives the same report."""
    from fakes import ColorRegionSegmenter  # noqa: F401  (importable as fakes:ColorRegionSegmenter)
    from zerops.cli import main
    from zerops.eval.synthetic import generate_shape
    from zerops.io.palette import part_palette

    s = generate_shape("Table", 1, n_points=3000)
    pal = part_palette(s.instance.max() + 2).astype(np.float32) / 255
    rgb = np.where(s.instance[:, None] >= 0, pal[np.maximum(s.instance, 0) + 1], 0.5)
    write_partnete_shape(tmp_path / "data" / "Table" / "0000", s.xyz, rgb, s.semantic, s.instance,
                         {"category": "Table", "part_names": s.part_names})
    args = ["eval", str(tmp_path / "data"), "--method", "zerops", "--segmenter", "fakes:ColorRegionSegmenter",
            "--preset", "fast", "--prompts", "32", "--detector", "oracle:perfect", "--quiet",
            "--cache", str(tmp_path / "stages")]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert rep["overall"]["miou"] > 80 and rep["overall"]["map50"] > 80, rep["overall"]
    assert rep["options"]["detector"] == "oracle:perfect"
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"report: {tmp_path / 'a' / 'report.md'}"
    overall = lines[-2].split()
    assert overall[:2] == ["Overall", "1"] and overall[3:5] == [f"{rep['overall'][m]:.1f}" for m in ("miou", "map50")]
    assert main([*args, "--no-penalty", "--out", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"report: {tmp_path / 'b' / 'report.md'}"
    rep_b = json.loads((tmp_path / "b" / "report.json").read_text())
    assert rep_b["options"]["no_penalty"] is True and rep_b["overall"]["avg_iou"] == rep["overall"]["avg_iou"]
    # the second run read the extended groups from the stage cache
    z = np.load(next((tmp_path / "b" / "shapes").glob("*.npz")))
    assert "extended" in json.loads(str(z["extra"]))["cached"]
