"""The evidence benchmark's scores (zerops.eval.evidence): exact on perfect masks, and they see the systematic
mistakes that the views' agreement cannot."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from zerops.config import preset
from zerops.eval.evidence import EvidenceScores, score_shape
from zerops.eval.synthetic import generate_shape
from zerops.io.cloud import make_cloud
from zerops.pipeline import ZeroPS
from zerops.segmenters.choice import ChoiceSegmenter
from zerops.segmenters.oracle import OracleSegmenter


class WholeObjectFirst(OracleSegmenter):
    """Perfect masks with one systematic mistake: the whole object is the confident answer in every view."""

    def _decode(self, view, points, labels):
        masks, scores = super()._decode(view, points, labels)
        scores = np.where(scores[:, :1] > 0, np.array([[0.5, 0.5, 0.95]], np.float32), 0.0).astype(np.float32)
        return masks, scores


@pytest.fixture(scope="module")
def table():
    s = generate_shape("Table", 3, n_points=3000)
    cfg = preset("graph").with_overrides(**{"render.image_size": 320})
    views, _ = ZeroPS(cfg, segmenter=OracleSegmenter(), progress=False).render_views(make_cloud(s.xyz))
    return s, views[::5][:4], cfg.graph


def _scores(seg, table, choice=None, graph=None):
    s, views, default_graph = table
    graph = graph or default_graph
    seg.set_ground_truth(views, s.instance)
    seg.set_images([v.image for v in views])
    scores = EvidenceScores()
    decodes = score_shape(seg, views, s.instance, s.xyz, 12, graph, scores, choice=choice)
    return scores.summary(), decodes


def test_perfect_masks_score_exactly(table):
    row, decodes = _scores(OracleSegmenter(), table)
    assert decodes == row["prompts"] > 50
    assert row["recall_mean_iou"] == 1.0 and row["recall_at_0.5"] == 1.0 and row["best_of_three_iou"] == 1.0
    assert row["pair_precision"] == 1.0 and row["merge_rate"] == 0.0 and row["confident_share"] == 1.0
    assert row["split_rate"] < 0.05 and row["true_view_error"] < 0.05   # only occlusion splits a part in a view
    assert 0.9 <= row["chosen_iou"] <= 1.0 and 0 < row["prompted_share"] <= 1.0


def test_a_mistake_every_view_repeats_is_seen_by_the_truth_not_by_agreement(table):
    """Without the whole-object rule (``whole_prompts`` > 1) the smallest confident candidate is the whole
    object in every view; the default rule sees that most prompts answer the object and keeps the largest
    candidate below it: here the right one."""
    old_rule = replace(table[2], votes=replace(table[2].votes, whole_prompts=1.01))
    row, _ = _scores(WholeObjectFirst(), table, graph=old_rule)
    assert row["best_of_three_iou"] == 1.0                  # the right mask is there …
    assert row["chosen_iou"] < 0.7                          # … but the rule keeps the whole object
    assert row["merge_rate"] > 0.95 and row["split_rate"] == 0.0
    assert row["estimated_view_error"] < 0.01               # the views agree with each other
    assert row["pair_recall"] == 1.0 and row["pair_precision"] < 0.8
    # the choice oracle over the same masks keeps the right ones
    fixed, _ = _scores(ChoiceSegmenter("choice", inner=WholeObjectFirst()), table)
    assert fixed["chosen_iou"] == 1.0 and fixed["merge_rate"] == 0.0
    small, _ = _scores(WholeObjectFirst(), table, choice="small")
    assert small["chosen_iou"] > 0.8 and small["confident_share"] == 1.0
    default, _ = _scores(WholeObjectFirst(), table)
    assert default["chosen_iou"] > 0.9 and default["merge_rate"] < 0.05 and default["pair_precision"] > 0.95


def test_debug_keeps_each_views_partition_as_the_merge_reads_it(table):
    s, _, _ = table
    cfg = preset("graph").with_overrides(**{"render.image_size": 320})
    seg = OracleSegmenter()
    model = ZeroPS(cfg, segmenter=seg, progress=False, debug=True)
    views, _ = model.render_views(make_cloud(s.xyz))
    seg.set_ground_truth(views, s.instance)
    parts = model.segment(make_cloud(s.xyz)).debug["partitions"]
    assert len(parts) >= 8 and set(parts) <= set(range(len(views)))      # view index -> labels
    for name, seg_of in parts.items():
        known = seg_of >= 0
        assert known.sum() > 100
        # perfect masks: every segment is one part, up to seen points hidden under a neighbour's splat
        pure = sum(np.bincount(s.instance[seg_of == k]).max() for k in np.unique(seg_of[known]))
        assert pure >= 0.98 * known.sum(), name
