"""Every threshold of the graph stage comes from GraphConfig and its sections (issue #25): the stage functions have no
numeric defaults of their own, the default pipeline's calls read every setting of their merge mode, changing
a setting changes the result, and the evidence floor is one rule for every segmenter."""
from __future__ import annotations

import inspect
from dataclasses import fields, replace
from types import SimpleNamespace

import numpy as np
import pytest

from zerops.config import GraphConfig, preset
from zerops.render.renderer import normalize
from zerops.stages import evidence, partgraph, supportmerge, treecut, votemerge
from zerops.stages.evidence import MaskEvidence
from zerops.stages.partgraph import build_part_graph, graph_parts
from zerops.stages.votemerge import view_partitions

STAGE_MODULES = (evidence, treecut, supportmerge, votemerge, partgraph)


def _callables(module):
    for name, obj in vars(module).items():
        if getattr(obj, "__module__", None) != module.__name__ or name.startswith("__"):
            continue
        if inspect.isfunction(obj):
            yield f"{module.__name__}.{name}", obj
        elif inspect.isclass(obj):
            for meth_name, meth in vars(obj).items():
                if inspect.isfunction(meth) and not meth_name.startswith("__"):   # (dataclass fields: state)
                    yield f"{module.__name__}.{name}.{meth_name}", meth


def test_graph_stage_functions_have_no_numeric_defaults():
    numeric = {}
    for module in STAGE_MODULES:
        for name, fn in _callables(module):
            for p in inspect.signature(fn).parameters.values():
                if isinstance(p.default, (int, float)) and p.default is not inspect.Parameter.empty:
                    numeric.setdefault(name, []).append(f"{p.name}={p.default!r}")
    assert numeric == {}


class _Recording:
    """A GraphConfig (or one of its sections) that records which settings are read, as dotted names."""

    def __init__(self, config, prefix: str = "", read: set | None = None) -> None:
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "read", set() if read is None else read)

    def __getattr__(self, name):
        value = getattr(self._config, name)
        if hasattr(value, "__dataclass_fields__"):
            return _Recording(value, f"{self._prefix}{name}.", self.read)
        self.read.add(self._prefix + name)
        return value


def _sheet_evidence(score: float = 0.95):
    """A flat 2 × 1 sheet seen by four views; each view's two prompts give its halves or the whole sheet."""
    rng = np.random.default_rng(5)
    xyz, _, _ = normalize(rng.uniform([0, 0, 0], [2, 1, 0], size=(3000, 3)))
    seen = np.ones(len(xyz), bool)
    pix = np.stack([(xyz[:, 0] + 1) * 50, (xyz[:, 1] + 1) * 50], axis=1)
    ev = MaskEvidence(len(xyz))
    for v in range(4):
        m = np.zeros((2, 2, 100, 100), bool)
        m[0, 0, :, :50] = m[1, 0, :, 50:] = True
        m[:, 1] = True
        ev.add_view_masks(v, m, np.full((2, 2), score), SimpleNamespace(seen=seen, pixels=pix), "groups",
                          min_score=0.5, won_pixels=True)
    return xyz, ev, xyz[:, 0] < 0


@pytest.mark.parametrize("merge", ["votes", "support"])
def test_the_default_graph_stage_reads_every_setting_of_its_merge_mode(merge):
    xyz, ev, _ = _sheet_evidence()
    config = replace(preset("graph").graph, merge=merge)
    rec = _Recording(config)
    build_part_graph(xyz, None, ev, rec).parts()
    section = {name: {f"{name}.{f.name}" for f in fields(getattr(config, name))}
               for name in ("superpoints", "votes", "support")}
    assert {"merge", "min_part"} <= rec.read
    split = {"superpoints.split_together", "superpoints.split_min_views", "superpoints.split_min_points"}
    assert section["superpoints"] - split <= rec.read      # the atom split is read when the votes mode splits
    if merge == "votes":
        on = _Recording(replace(config, superpoints=replace(config.superpoints, split_together=0.5)))
        build_part_graph(xyz, None, ev, on).parts()
        assert split <= on.read
    assert section[merge] <= rec.read
    other = "support" if merge == "votes" else "votes"
    assert not section[other] & rec.read                 # the other mode's settings: unread


def test_changing_a_vote_setting_changes_the_merge():
    xyz, ev, left = _sheet_evidence()
    base = GraphConfig(enabled=True)
    votes = base.votes
    assert len(view_partitions(ev, votes).segment_view) == 8
    assert len(view_partitions(ev, replace(votes, min_points=10 ** 6)).segment_view) == 0
    assert len(view_partitions(ev, replace(votes, min_score=0.96)).segment_view) == 0
    assert build_part_graph(xyz, None, ev, base).merge.stats["view_error"] <= 0.06
    assert build_part_graph(xyz, None, ev, replace(base, votes=replace(votes, min_error=0.4))
                            ).merge.stats["view_error"] == 0.4
    split = graph_parts(build_part_graph(xyz, None, ev, base), base)
    major_left, major_right = np.bincount(split[left]).argmax(), np.bincount(split[~left]).argmax()
    assert major_left != major_right and np.mean(split[left] == major_left) > 0.97
    # candidates under 2000 seen points are ignored: only the whole-sheet masks are left, the sheet stays whole
    blind = replace(base, votes=replace(votes, min_points=2000))
    whole = graph_parts(build_part_graph(xyz, None, ev, blind), blind)
    assert np.mean(whole == 0) > 0.97 and np.mean(split == 0) < 0.7


def test_the_evidence_floor_is_applied_where_evidence_is_recorded():
    ev = MaskEvidence(4)
    seen = np.ones(4, bool)
    pix = np.stack([np.arange(4) + 0.5, np.full(4, 0.5)], axis=1)
    masks = np.ones((2, 3, 1, 4), bool)
    ev.add_view_masks(0, masks, np.array([[0.3, 0.5, 0.9], [0.51, 0.2, 1.0]]),
                      SimpleNamespace(seen=seen, pixels=pix), "groups", min_score=0.5, won_pixels=False)
    assert ev.scores == [0.9, 0.51, 1.0]            # at or below the floor: not kept
    assert ev.prompts == [0, 1, 1] and ev.n_prompts == 2
    table = ev.table()
    assert table.members.shape == (3, 4) and table.view_row.tolist() == [0, 0, 0]
    assert ev.table() is table                      # one table until more masks are recorded


def test_the_evidence_floor_is_the_same_for_the_oracle_segmenter():
    """``graph.mask_min_score`` reaches every segmenter: above the oracle's 0.9 candidates only its 0.95
    ones are evidence."""
    from zerops.io.cloud import PointCloud
    from zerops.pipeline import ZeroPS
    from zerops.segmenters import get_segmenter

    rng = np.random.default_rng(0)
    xyz = np.concatenate([rng.uniform(-0.5, 0.5, (1500, 3)) * [0.8, 0.8, 0.8] + [-0.5, 0, 0],
                          rng.uniform(-0.5, 0.5, (1500, 3)) * [0.8, 0.8, 0.8] + [0.5, 0, 0]]).astype(np.float32)
    inst = np.repeat([0, 1], 1500)
    counts = {}
    for floor in (0.5, 0.92):
        cfg = preset("graph").with_overrides(**{"graph.mask_min_score": floor})
        model = ZeroPS(cfg, segmenter=get_segmenter("oracle:perfect"), progress=False)
        views, _ = model.render_views(PointCloud(xyz, None, None))
        model.segmenter.set_ground_truth(views, inst)
        counts[floor] = model.segment(PointCloud(xyz, None, None), keep_views=False).counts
    assert counts[0.5]["decodes_groups"] == counts[0.92]["decodes_groups"]
    assert 0 < counts[0.92]["evidence_masks"] < counts[0.5]["evidence_masks"]


def test_every_graph_setting_has_one_section_and_the_flat_names_still_work():
    """The sections split the old flat ``graph.*`` names one to one: every alias names a distinct sectioned
    setting, every sectioned setting of the three sections has its old name, and both spellings set it."""
    from zerops.config import GRAPH_ALIASES
    from zerops.options import parse_overrides

    cfg = preset("graph")
    targets = list(GRAPH_ALIASES.values())
    assert len(set(targets)) == len(targets)
    newer = {"graph.superpoints.split_together", "graph.superpoints.split_min_views",   # added after the
             "graph.superpoints.split_min_points", "graph.votes.max_views",               # sections: no flat name
             "graph.votes.whole_share", "graph.votes.whole_prompts"}
    sectioned = {f"graph.{s}.{f.name}" for s in ("superpoints", "votes", "support")
                 for f in fields(getattr(cfg.graph, s))} - newer
    assert set(targets) == sectioned
    for old, new in (("graph.vote_min_score", 0.8), ("graph.votes.min_score", 0.8)):
        assert cfg.with_overrides(**{old: new}).graph.votes.min_score == 0.8
    moved = cfg.with_overrides(**parse_overrides(["graph.support_prior=0.2", "graph.superpoints.edge_k=5",
                                                  "graph.prior=0"], cfg))
    assert (moved.graph.support.cut_prior, moved.graph.superpoints.edge_k, moved.graph.support.prior) == (0.2, 5, 0.0)
    assert moved.graph.votes == cfg.graph.votes                       # the other sections are untouched
    assert cfg.to_dict()["graph"]["votes"]["min_score"] == 0.9
