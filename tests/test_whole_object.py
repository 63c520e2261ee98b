"""The default vote merge's two answers to MobileSAM's systematic mistakes (issue #24): whole-object answers
replaced by the largest candidate below them, and views counted as at most ``max_views`` witnesses."""
from types import SimpleNamespace

import numpy as np
import pytest

from fakes import halves_sheet_evidence
from zerops.config import GraphConfig, VoteConfig
from zerops.errors import ZeropsError
from zerops.stages.evidence import MaskEvidence
from zerops.stages.partgraph import build_part_graph, graph_parts
from zerops.stages.votemerge import VoteFeatures, pair_votes, prompt_choice


def _strip_evidence(prompts):
    """One view of a 20-point strip (point i at column i); ``prompts``: per prompt, (points, score) of each
    candidate, small to large."""
    n = 20
    ev = MaskEvidence(n)
    rendered = SimpleNamespace(seen=np.ones(n, bool), pixels=np.stack([np.arange(n) + 0.5, np.full(n, 0.5)], 1))
    for cands in prompts:
        m = np.zeros((1, len(cands), 1, n), bool)
        for c, (pts, _) in enumerate(cands):
            m[0, c, 0, list(pts)] = True
        ev.add_view_masks(0, m, np.array([[s for _, s in cands]]), rendered, "groups", min_score=0.5,
                          won_pixels=True)
    return ev


SMALL, HALF, WHOLE = range(0, 5), range(0, 10), range(0, 20)


def test_prompts_that_mostly_answer_the_whole_object_keep_their_largest_candidate_below_it():
    """Five prompts, each small (0.7) < half (0.8) < whole object (0.95): the smallest confident candidate is
    the whole object everywhere, so every prompt keeps its half (share 0.5 < 0.8) instead; with the rule off
    (``whole_prompts`` > 1) every prompt keeps the whole object."""
    ev = _strip_evidence([[(SMALL, 0.7), (HALF, 0.8), (WHOLE, 0.95)]] * 5)
    size = ev.table().size
    chosen = prompt_choice(ev, VoteConfig())
    assert chosen.sum() == 5 and (size[chosen] == 10).all()
    off = prompt_choice(ev, VoteConfig(whole_prompts=1.01))
    assert off.sum() == 5 and (size[off] == 20).all()


def test_an_object_whose_prompts_mostly_find_parts_keeps_the_smallest_confident_candidates():
    """Two of five prompts answer the whole object (0.4 < ``whole_prompts`` 0.6): nothing changes, the
    whole-object prompts keep the whole object, the others their smallest confident candidate."""
    ev = _strip_evidence([[(SMALL, 0.7), (HALF, 0.8), (WHOLE, 0.95)]] * 2
                         + [[(range(10, 13), 0.92), (range(10, 20), 0.95), (WHOLE, 0.96)]] * 3)
    chosen = prompt_choice(ev, VoteConfig())
    assert sorted(ev.table().size[chosen].tolist()) == [3, 3, 3, 20, 20]
    assert prompt_choice(ev, VoteConfig(whole_prompts=0.4)).sum() == 5
    assert sorted(ev.table().size[prompt_choice(ev, VoteConfig(whole_prompts=0.4))].tolist()) == [3, 3, 3, 10, 10]


def _features(together):
    """Two clusters of 10 points seen by len(together) views; view v puts them in one segment or in two."""
    v = len(together)
    hist = np.zeros((2, 2 * v))
    for i, t in enumerate(together):
        hist[0, 2 * i] = 10
        hist[1, 2 * i if t else 2 * i + 1] = 10
    full = np.full((2, v), 10.0)
    return VoteFeatures(hist=hist, cover=np.zeros((2, 0)), known=full, seen=full.copy(),
                        segment_view=np.repeat(np.arange(v), 2), kept_view=np.zeros(0, np.int64))


def test_votes_count_at_most_max_views_views():
    a, b = np.array([0]), np.array([1])
    ten = _features([True] * 7 + [False] * 3)
    total, count = pair_votes(ten, a, b, VoteConfig())              # max_views 5: mean vote 0.7 × 5
    assert total[0] == pytest.approx(3.5) and count[0] == 5
    total, count = pair_votes(ten, a, b, VoteConfig(max_views=0))   # 0: every view
    assert total[0] == pytest.approx(7.0) and count[0] == 10
    total, count = pair_votes(_features([True, False, True]), a, b, VoteConfig())
    assert total[0] == pytest.approx(2.0) and count[0] == 3        # fewer views than the cap: unchanged


def test_a_sheet_every_view_calls_one_object_is_split_where_its_sub_object_candidates_cut_it():
    """Every prompt's only confident candidate is the whole sheet; its half is there at 0.7. The default
    splits the sheet into its two halves; with the whole-object rule off it stays one part."""
    xyz, left, ev = halves_sheet_evidence(0.7)
    cfg = GraphConfig(enabled=True)
    part = graph_parts(build_part_graph(xyz, None, ev, cfg), cfg)
    assert len(np.unique(part)) == 2
    assert np.mean((part == part[left][0]) == left) > 0.97
    off = GraphConfig(enabled=True, votes=VoteConfig(whole_prompts=1.01))
    assert len(np.unique(graph_parts(build_part_graph(xyz, None, ev, off), off))) == 1


@pytest.mark.parametrize("field, value", [("whole_share", 0.0), ("whole_share", 1.5), ("max_views", -1.0),
                                          ("whole_prompts", -0.1)])
def test_bad_whole_object_and_view_settings_fail_with_their_name(field, value):
    with pytest.raises(ZeropsError, match=f"graph.votes.{field}"):
        VoteConfig(**{field: value})


def test_an_object_that_is_one_geometric_region_keeps_its_whole_object_answers():
    """Geometry and SAM agree that the object is one piece: the rule does not split it."""
    ev = _strip_evidence([[(SMALL, 0.7), (HALF, 0.8), (WHOLE, 0.95)]] * 5)
    size = ev.table().size
    assert (size[prompt_choice(ev, VoteConfig(), regions=1)] == 20).all()
    assert (size[prompt_choice(ev, VoteConfig(), regions=2)] == 10).all()
