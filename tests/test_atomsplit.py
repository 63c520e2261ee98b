"""Atoms split where the views' partitions cut them (stages/atomsplit.py, issue #24 item 4)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from zerops.config import SuperpointConfig, preset
from zerops.errors import ZeropsError
from zerops.stages.atomsplit import cut_pairs, split_atoms
from zerops.stages.superpoints import Superpoints, superpoint_graph


def _strip(n_x: int = 40) -> tuple[np.ndarray, Superpoints, np.ndarray]:
    """A flat 40 × 8 grid as one atom; the true parts are x ≤ 0.5 and x > 0.5."""
    g = np.stack(np.meshgrid(np.linspace(0, 1, n_x), np.linspace(0, 0.2, 8), indexing="ij"), -1).reshape(-1, 2)
    xyz = np.c_[g, np.zeros(len(g))]
    label = np.zeros(len(xyz), np.int64)
    edges, strength = superpoint_graph(xyz, label)
    return xyz, Superpoints(label, np.zeros(1, np.int64), edges, strength), (xyz[:, 0] > 0.5).astype(np.int64)


def test_an_atom_two_views_cut_becomes_exactly_the_two_parts():
    xyz, sp, part = _strip()
    segment = np.stack([part, part + 2, np.where(xyz[:, 0] > 0.8, -1, part + 4)])   # 3rd view: partly unlabelled
    out = split_atoms(xyz, sp, segment, SuperpointConfig(split_together=0.5))
    assert out.count == 2
    assert np.array_equal(out.label, part)                      # the pieces are exactly the parts
    assert out.edges.tolist() == [[0, 1]] and out.region.tolist() == [0, 0]   # adjacent, one geometric region


def test_too_few_views_a_low_share_or_the_switch_off_leave_the_atoms_alone():
    xyz, sp, part = _strip()
    one_view = split_atoms(xyz, sp, part[None], SuperpointConfig(split_together=0.5))
    assert one_view is sp                                         # split_min_views = 2
    assert split_atoms(xyz, sp, np.stack([part, part]), SuperpointConfig(split_together=0.0)) is sp
    # two views cut, two put together: a share of 0.5 together is not "fewer than 0.5"
    mixed = np.stack([part, part + 2, np.zeros_like(part) + 4, np.zeros_like(part) + 5])
    assert split_atoms(xyz, sp, mixed, SuperpointConfig(split_together=0.5)) is sp
    assert split_atoms(xyz, sp, mixed, SuperpointConfig(split_together=0.6)).count == 2


def test_slivers_below_the_piece_floor_rejoin_their_atom():
    xyz, sp, _ = _strip()
    sliver = np.zeros(len(xyz), np.int64)
    sliver[np.flatnonzero(xyz[:, 0] == 0)[:3]] = 1                # three points of one corner
    views = np.stack([sliver, sliver + 2, sliver + 4])
    assert split_atoms(xyz, sp, views, SuperpointConfig(split_together=0.5)) is sp
    kept = split_atoms(xyz, sp, views, SuperpointConfig(split_together=0.5, split_min_points=3))
    assert kept.count == 2 and np.array_equal(kept.label == kept.label[sliver == 1][0], sliver == 1)
    # a small superpoint the split leaves whole stays, whatever the floor; only the cut atom is split
    edges, strength = superpoint_graph(xyz, sliver)
    two = Superpoints(sliver.copy(), np.zeros(2, np.int64), edges, strength)
    _, _, part = _strip()
    out = split_atoms(xyz, two, np.stack([part, part + 2]), SuperpointConfig(split_together=0.5))
    assert out.count == 3 and np.array_equal(np.flatnonzero(out.label == out.label[sliver == 1][0]),
                                             np.flatnonzero(sliver))


def test_cut_pairs_counts_only_views_that_label_both_points():
    segment = np.array([[0, 1, -1], [0, 0, 0], [-1, 3, 3]])
    i, j = np.array([0, 1]), np.array([1, 2])
    # pair (0, 1): views 0 (apart) and 1 (together) vote → share 0.5; pair (1, 2): views 1, 2 together
    assert cut_pairs(segment, i, j, 0.6, 2).tolist() == [True, False]
    assert cut_pairs(segment, i, j, 0.5, 2).tolist() == [False, False]
    assert cut_pairs(segment, i, j, 0.6, 3).tolist() == [False, False]


def test_the_split_settings_are_checked():
    with pytest.raises(ZeropsError, match="split_together"):
        preset("graph").with_overrides(**{"graph.superpoints.split_together": 1.5})
    with pytest.raises(ZeropsError, match="split_min_views"):
        SuperpointConfig(split_min_views=0)


def test_the_graph_stage_splits_atoms_that_straddle_what_every_view_cuts():
    """A flat sheet (one geometric region) whose halves four views' masks separate: without the split some
    k-means atoms straddle the cut; with it (and no sliver floor) every atom lies in one half, and the parts are
    the halves (but for a few 1-point atoms no view votes on)."""
    from types import SimpleNamespace

    from zerops.render.renderer import normalize
    from zerops.stages.evidence import MaskEvidence
    from zerops.stages.partgraph import build_part_graph

    rng = np.random.default_rng(5)
    xyz, _, _ = normalize(rng.uniform([0, 0, 0], [2, 1, 0], size=(3000, 3)))
    pix = np.stack([(xyz[:, 0] + 1) * 50, (xyz[:, 1] + 1) * 50], axis=1)
    ev = MaskEvidence(len(xyz))
    for v in range(4):
        m = np.zeros((2, 1, 100, 100), bool)
        m[0, 0, :, :50] = m[1, 0, :, 50:] = True
        ev.add_view_masks(v, m, np.full((2, 1), 0.95), SimpleNamespace(seen=np.ones(len(xyz), bool), pixels=pix),
                          "groups", min_score=0.5, won_pixels=False)
    left = ev.table().members[0]                                   # the points the left masks cover
    assert 1400 < left.sum() < 1600
    base = preset("graph").graph

    def mixed(graph) -> int:
        lab = graph.superpoints.label
        share = np.bincount(lab, weights=left, minlength=graph.superpoints.count) / np.bincount(lab)
        return int(((share > 0) & (share < 1)).sum())

    plain = build_part_graph(xyz, None, ev, base)
    split_cfg = replace(base, superpoints=replace(base.superpoints, split_together=0.5, split_min_points=1))
    split = build_part_graph(xyz, None, ev, split_cfg)
    assert mixed(plain) > 0 and mixed(split) == 0
    assert split.superpoints.count != plain.superpoints.count
    part = split.parts()
    assert len(np.unique(part)) == 2 and np.mean((part == part[left][0]) == left) > 0.99
