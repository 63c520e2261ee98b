"""``oracle:choice``: a real segmenter's candidates with the choice among them made from the truth or a rule."""
from __future__ import annotations

import numpy as np
import pytest

from fakes import ColorRegionSegmenter
from zerops.config import preset
from zerops.errors import ZeropsError
from zerops.eval.metrics import best_instance_ious
from zerops.eval.synthetic import generate_shape
from zerops.io.cloud import make_cloud
from zerops.pipeline import ZeroPS
from zerops.segmenters import PromptSet, get_segmenter
from zerops.segmenters.choice import ChoiceSegmenter, choose_candidates
from zerops.segmenters.oracle import OracleSegmenter


def _halves():
    """A 10 x 10 view: part 0 on the left, part 1 on the right, the top row background; three candidates for a
    prompt on the left: a 2 x 2 piece, the left half, everything."""
    part = np.zeros((10, 10), np.int64)
    part[:, 5:] = 1
    part[0] = -2
    masks = np.zeros((1, 3, 10, 10), bool)
    masks[0, 0, 4:6, 1:3] = True
    masks[0, 1, :, :5] = True
    masks[0, 2] = True
    return part, masks


def test_each_rule_picks_its_candidate():
    part, masks = _halves()
    scores = np.array([[0.5, 0.7, 0.9]], np.float32)
    pts, lab = np.array([[[2.5, 4.5]]], np.float32), np.ones((1, 1), np.int64)
    got = {r: int(choose_candidates(masks, scores, r, part, pts, lab)[0])
           for r in ("best", "small", "middle", "large", "score")}
    assert got == {"best": 1, "small": 0, "middle": 1, "large": 2, "score": 2}
    # a prompt on the background has no part under it: no candidate is chosen
    assert choose_candidates(masks, scores, "best", part, np.array([[[2.5, 0.5]]], np.float32), lab)[0] == -1
    with pytest.raises(ZeropsError, match="unknown candidate choice"):
        choose_candidates(masks, scores, "widest", part, pts, lab)


class ShuffledSegmenter(OracleSegmenter):
    """A perfect SAM with a systematic mistake: its confident answer is the whole object, the right one (the
    part) is its middle candidate and scores 0.5."""

    def _decode(self, view, points, labels):
        masks, scores = super()._decode(view, points, labels)
        masks = masks[:, [2, 1, 0]]
        scores = np.where(scores[:, :1] > 0, np.array([[0.95, 0.5, 0.5]], np.float32), 0.0).astype(np.float32)
        return masks, scores


@pytest.fixture(scope="module")
def boxes():
    s = generate_shape("Table", 3, n_points=3000)
    return s, make_cloud(s.xyz)


def _run(segmenter, shape, cloud):
    cfg = preset("graph").with_overrides(**{"render.image_size": 320})
    model = ZeroPS(cfg, segmenter=segmenter, progress=False)
    if hasattr(segmenter, "set_ground_truth"):
        views, _ = model.render_views(cloud)
        segmenter.set_ground_truth(views, shape.instance)
    r = model.segment(cloud, keep_views=False)
    return best_instance_ious(shape.instance, r.part).mean(), r


def test_the_right_choice_recovers_the_parts_a_systematic_mistake_hides(boxes):
    shape, cloud = boxes
    plain, _ = _run(ShuffledSegmenter(), shape, cloud)
    chosen, r = _run(ChoiceSegmenter("choice", inner=ShuffledSegmenter()), shape, cloud)
    middle, _ = _run(ChoiceSegmenter("choice-middle", inner=ShuffledSegmenter()), shape, cloud)
    perfect, _ = _run(OracleSegmenter(), shape, cloud)
    assert chosen > plain + 20.0             # the whole-object answer is what the default rule keeps
    assert abs(chosen - middle) < 1.0        # here the middle candidate is always the right one
    assert chosen >= perfect - 2.0
    assert r.decodes > 0


def test_choice_marks_exactly_one_candidate_per_prompt(boxes):
    shape, cloud = boxes
    seg = ChoiceSegmenter("choice", inner=ShuffledSegmenter())
    model = ZeroPS(preset("graph").with_overrides(**{"render.image_size": 320}), segmenter=seg, progress=False)
    views, _ = model.render_views(cloud)
    seg.set_ground_truth(views, shape.instance)
    seg.set_images([views[0].image])
    rows, cols = np.nonzero(views[0].index_map >= 0)
    pick = np.linspace(0, len(rows) - 1, 12).astype(int)
    prompts = [PromptSet.positive([[cols[i] + 0.5, rows[i] + 0.5]]) for i in pick]
    masks, scores = seg.predict(0, prompts)
    assert np.all(scores.sum(axis=1) == 1.0) and set(np.unique(scores)) == {0.0, 1.0}
    assert np.all(scores[:, 1] == 1.0)       # the part, the inner model's middle candidate
    assert masks.shape == (12, 3, *views[0].image.shape[:2])


def test_choice_needs_the_truth_and_a_known_rule(boxes):
    shape, cloud = boxes
    with pytest.raises(ZeropsError, match="oracle:choice"):
        get_segmenter("oracle:choice-widest")
    seg = ChoiceSegmenter("choice", inner=ShuffledSegmenter())
    with pytest.raises(ZeropsError, match="no ground truth"):
        seg.set_images([np.zeros((8, 8, 3), np.uint8)])
    fixed = ChoiceSegmenter("choice-large", inner=ColorRegionSegmenter())   # fixed rules need none
    fixed.set_images([np.zeros((8, 8, 3), np.uint8)])
    assert fixed.n_views == 1
