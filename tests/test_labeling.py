"""Labeling (METHOD.md §4): CNVP, two-dimensional checking, Vote Matrix, label assignment, oracle detector."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from zerops.detectors import Detections, filter_detections, get_detector
from zerops.detectors.oracle import OracleDetector, true_boxes
from zerops.errors import ZeropsError
from zerops.stages.labeling import assign_labels, box_points, cnvp, part_boxes, tdcm_vote, vote_matrix


# ---- CNVP ---------------------------------------------------------------------------------------
def test_cnvp_reproduces_the_papers_rows():
    V = np.array([[16, 13, 0, 7, 0, 9, 0, 0, 6, 0], [0, 0, 0, 1, 0, 2, 0, 4, 5, 0]])
    D = cnvp(V)
    assert D[0].tolist() == [16, 6.5, 0, 0, 0, 4.5, 0, 0, 0, 0]
    assert D[1].tolist() == [0, 0, 0, 0, 0, 0, 0, 2, 5, 0]


def test_cnvp_ties_boundaries_and_zero_rows():
    D = cnvp(np.array([[5, 5, 2, 0], [4, 2, 1, 3], [0, 0, 0, 0]]))
    assert D[0].tolist() == [5, 5, 0, 0]            # tied maxima both keep their votes
    assert D[1].tolist() == [4, 1, 0, 1.5]          # r = 0.5 exactly is halved, r = 0.25 is dropped
    assert D[2].tolist() == [0, 0, 0, 0]            # all-zero row: no division by zero, stays zero
    assert cnvp(np.zeros((0, 3))).shape == (0, 3)


def test_assign_labels_argmax_ties_unlabeled_and_confidence():
    part = np.array([0, 0, 1, 1, 2, -1])
    D = np.array([[3.0, 2.0, 0.0], [3.0, 4.0, 0.0]])
    lab = assign_labels(D, part, confidence="votes")
    assert lab.part_class.tolist() == [0, 1, -1]    # tie -> lowest class; an all-zero column stays unlabeled
    assert lab.semantic.tolist() == [0, 0, 1, 1, -1, -1]
    assert lab.instance.tolist() == [0, 0, 1, 1, -1, -1]
    # votes: share of the part's votes x value / the class's best value
    assert lab.instance_scores[0] == pytest.approx(3 / 6 * 3 / 3)
    assert lab.instance_scores[1] == pytest.approx(4 / 6 * 4 / 4)
    assert assign_labels(D, part, confidence="one").instance_scores == {0: 1.0, 1: 1.0}
    with pytest.raises(ZeropsError):
        assign_labels(D, part, confidence="best")


# ---- TDCM ---------------------------------------------------------------------------------------
def tdcm_scene():
    """A 100x100 view. Part 0: 100 points spread over the whole view (bbox = the view) but only 10 visible;
    part 1: 50 points in the block [40, 60)^2, all visible."""
    rng = np.random.default_rng(0)
    p0 = np.column_stack([rng.uniform(1, 99, 100), rng.uniform(1, 99, 100)])
    p0[:4] = [[0.5, 0.5], [99.5, 0.5], [0.5, 99.5], [99.5, 99.5]]       # the corners fix its bbox
    p1 = np.column_stack([rng.uniform(40, 60, 50), rng.uniform(40, 60, 50)])
    pixels = np.concatenate([p0, p1]).astype(np.float32)
    part = np.array([0] * 100 + [1] * 50)
    index_map = np.full((100, 100), -1, np.int32)
    for i in range(100, 150):                                            # part 1 drawn in full
        index_map[int(pixels[i, 1]), int(pixels[i, 0])] = i
    for i in range(4, 14):                                               # 10 visible points of part 0
        index_map[int(pixels[i, 1]) // 4, int(pixels[i, 0]) // 4] = i   # (top-left corner, away from part 1)
    return SimpleNamespace(pixels=pixels, index_map=index_map), part


def test_tdcm_disagreement_casts_no_vote_agreement_votes():
    view, part = tdcm_scene()
    sizes = np.bincount(part).astype(float)
    boxes2d = part_boxes(view.pixels, part, 2)
    assert np.allclose(boxes2d[0], [0.5, 0.5, 99.5, 99.5])
    big = np.array([0, 0, 100, 100], np.float32)
    voted, p2, p3 = tdcm_vote(big, view.index_map, part, sizes, boxes2d)
    assert (p2, p3) == (0, 1) and voted == -1           # 2D says part 0, 3D says part 1: no vote
    voted, _, _ = tdcm_vote(big, view.index_map, part, sizes, boxes2d, check=False)
    assert voted == 1                                   # --no-check: the 3D argmax gets the vote
    tight = boxes2d[1].astype(np.float32)
    voted, p2, p3 = tdcm_vote(tight, view.index_map, part, sizes, boxes2d)
    assert (voted, p2, p3) == (1, 1, 1)
    empty = np.array([90, 90, 99, 99], np.float32)      # over no visible point: no vote
    assert tdcm_vote(empty, view.index_map, part, sizes, boxes2d)[0] == -1


def test_vote_matrix_counts_votes_per_class():
    view, part = tdcm_scene()
    tight = part_boxes(view.pixels, part, 2)[1]
    dets = [Detections([tight, tight, [0, 0, 100, 100]], [0.9, 0.8, 0.9], [2, 0, 1]),
            Detections([tight], [0.9], [2])]
    V = vote_matrix(dets, [view, view], part, n_classes=3)
    assert V.tolist() == [[0, 1], [0, 0], [0, 2]]
    V = vote_matrix(dets, [view, view], part, n_classes=3, check=False)
    assert V.tolist() == [[0, 1], [0, 1], [0, 2]]


def test_box_points_uses_pixel_centres():
    index_map = np.arange(16, dtype=np.int32).reshape(4, 4)
    assert box_points(index_map, np.array([1.0, 1.0, 3.0, 2.0])).tolist() == [5, 6]
    assert box_points(index_map, np.array([1.2, 0.0, 1.6, 4.0])).tolist() == [1, 5, 9, 13]


# ---- detector filters and oracle -----------------------------------------------------------------
def test_filter_detections_threshold_and_whole_object():
    pts = np.array([[x + 0.5, y + 0.5] for x in range(10) for y in range(10)], np.float32)
    det = Detections([[0, 0, 10, 10], [0, 0, 5, 10], [0, 0, 5, 10], [-1, -1, 11, 11]], [0.9, 0.9, 0.49, 0.9],
                     [0, 1, 1, 0])
    kept = filter_detections(det, 0.5, pts, 0.98)
    assert kept.boxes.tolist() == [[0, 0, 5, 10]]      # whole-object boxes and the 0.49 box are dropped
    assert len(filter_detections(det, 0.5, pts, 1.0)) == 3


@pytest.fixture(scope="module")
def chair_views():
    from zerops.config import RenderConfig
    from zerops.eval.synthetic import generate_shape
    from zerops.render.renderer import Renderer, normalize
    from zerops.render.views import get_layout

    shape = generate_shape("Chair", seed=2, n_points=4000)
    xyz, _, _ = normalize(shape.xyz)
    views = Renderer(RenderConfig(image_size=300)).render(xyz, shape.rgb, None, layout=get_layout("zerops20"))
    return shape, views


def test_oracle_perfect_boxes_are_ground_truth_extents(chair_views):
    shape, views = chair_views
    det = get_detector("oracle:perfect")
    det.set_ground_truth(shape.semantic, shape.instance)
    out = det.detect_views(views, shape.part_names)
    v = views[0]
    boxes, classes, inst, _ = true_boxes(v.index_map, shape.semantic, shape.instance)
    assert len(boxes) >= 3 and np.array_equal(out[0].boxes, boxes) and np.array_equal(out[0].labels, classes)
    k = 0
    rows, cols = np.nonzero(np.isin(v.index_map, np.flatnonzero(shape.instance == inst[k])))
    assert boxes[k].tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    assert all((d.scores == 1).all() for d in out)


def test_oracle_glip_like_is_seeded_and_noisier(chair_views):
    shape, views = chair_views

    def run(seed):
        det = OracleDetector("glip-like", seed=seed)
        det.set_ground_truth(shape.semantic, shape.instance)
        return det.detect_views(views, shape.part_names)

    a, b, c = run(0), run(0), run(1)
    assert all(np.array_equal(x.boxes, y.boxes) for x, y in zip(a, b))
    assert any(len(x) != len(y) or not np.array_equal(x.boxes, y.boxes) for x, y in zip(a, c))
    perfect = OracleDetector("perfect")
    perfect.set_ground_truth(shape.semantic, shape.instance)
    ref = perfect.detect_views(views, shape.part_names)
    assert all(s >= 0.5 for d in a for s in d.scores)             # below-threshold boxes were filtered
    exact = sum(int(any(np.allclose(bx, rb) for rb in r.boxes)) for d, r in zip(a, ref) for bx in d.boxes)
    assert exact < 0.5 * sum(len(d) for d in a)                   # most boxes are off (jitter, loose, FP)
    with pytest.raises(ZeropsError):
        OracleDetector("glip-like").detect_views(views, shape.part_names)   # no ground truth set
    with pytest.raises(ZeropsError):
        OracleDetector("glip-like").detect(views[0].image, shape.part_names)
    with pytest.raises(ZeropsError):
        OracleDetector("glip-like", misses=0.5)


def test_part_names_from_category_and_errors():
    from zerops.partnames import resolve_part_names
    from zerops.pipeline import ZeroPS

    assert resolve_part_names(None, "chair") == ["arm", "back", "leg", "seat", "wheel"]
    assert resolve_part_names("leg, seat", None) == ["leg", "seat"]
    assert resolve_part_names(None, None) is None
    for bad in [("leg,leg", None), (" , ", None), (None, "Spaceship")]:
        with pytest.raises(ZeropsError):
            resolve_part_names(*bad)
    with pytest.raises(ZeropsError, match="detector"):
        ZeroPS(segmenter=object()).segment(np.zeros((10, 3)), part_names=["leg"])


def test_label_given_parts_with_perfect_boxes(chair_views):
    """ZeroPS.label names ground-truth parts: with perfect boxes every part visible enough gets its class."""
    from zerops.config import preset
    from zerops.eval.metrics import semantic_miou
    from zerops.pipeline import ZeroPS

    shape, _ = chair_views
    det = get_detector("oracle:perfect")
    det.set_ground_truth(shape.semantic, shape.instance)
    cfg = preset("fast").with_overrides(**{"render.image_size": 300})
    r = ZeroPS(cfg, segmenter=object(), progress=False, detector=det).label(
        np.concatenate([shape.xyz, shape.rgb], 1), np.where(shape.instance >= 0, shape.instance + 5, -1),
        part_names=shape.part_names)
    assert r.part.max() + 1 == len(np.unique(shape.instance[shape.instance >= 0]))   # renumbered from 0
    assert np.array_equal(r.part >= 0, shape.instance >= 0)
    miou = semantic_miou([shape.semantic], [r.semantic], len(shape.part_names))
    assert miou > 90, miou
    with pytest.raises(ZeropsError):
        ZeroPS(cfg, segmenter=object(), progress=False, detector=det).label(shape.xyz, shape.instance[:10],
                                                                            part_names=shape.part_names)


def test_eval_labeling_method_and_its_option_check(tmp_path, capsys):
    from zerops.cli import main
    from zerops.eval.synthetic import write_benchmark

    write_benchmark(tmp_path / "data", per_category=1, seed=3, categories=["Table"], n_points=2000, progress=False)
    assert main(["eval", str(tmp_path / "data"), "--method", "labeling", "--detector", "oracle:perfect",
                 "--out", str(tmp_path / "o"), "--quiet", "--no-cache"]) == 0
    import json
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["overall"]["avg_iou"] == 100.0 and rep["overall"]["miou"] > 80
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"report: {tmp_path / 'o' / 'report.md'}"
    assert lines[-2].split()[:3] == ["Overall", "1", "100.0"] and lines[-3].split()[:2] == ["Table", "1"]
    assert main(["eval", str(tmp_path / "data"), "--method", "labeling", "--detector", "oracle:perfect",
                 "--out", str(tmp_path / "p"), "--quiet", "--no-extension"]) == 2
    assert "labeling options" in capsys.readouterr().err
