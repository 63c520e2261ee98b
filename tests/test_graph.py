"""Superpoints, mask evidence, graph merging and shading: the pieces of the default (graph) preset."""
from types import SimpleNamespace

import numpy as np
import pytest

from fakes import halves_sheet_evidence
from zerops.config import GraphConfig, RenderConfig, SuperpointConfig, SupportConfig, preset
from zerops.render.renderer import Renderer, normalize
from zerops.stages.evidence import MaskEvidence, edge_affinity, pack_evidence, superpoint_evidence, unpack_evidence
from zerops.stages.partgraph import build_part_graph, graph_parts
from zerops.stages.superpoints import compute_superpoints, oracle_merge, split_region
from zerops.stages.supportmerge import average_linkage


def _box_face(n_side, axis, value, lo, hi, rng):
    """Random points on one axis-aligned face."""
    pts = rng.uniform(lo, hi, size=(n_side, 3))
    pts[:, axis] = value
    return pts


def _two_boxes_at_right_angle(rng):
    """A floor slab (y = 0) and a wall (x = 0) meeting at a right-angle crease; (N, 3), (N,) which."""
    floor = rng.uniform([0, 0, 0], [1, 0, 1], size=(1500, 3))
    wall = rng.uniform([0, 0.02, 0], [0, 1, 1], size=(1500, 3))
    return np.concatenate([floor, wall]), np.r_[np.zeros(1500, int), np.ones(1500, int)]


def test_superpoints_split_at_the_crease_and_respect_the_size_cap():
    rng = np.random.default_rng(0)
    xyz, which = _two_boxes_at_right_angle(rng)
    sp = compute_superpoints(xyz, None, SuperpointConfig(size_fraction=0.02, min_size=10))
    cap = int(round(0.02 * len(xyz)))
    assert sp.sizes().max() <= cap
    assert (sp.label >= 0).all() and sp.count == len(sp.region)
    # no superpoint crosses the crease: each is pure floor or pure wall (a few crease points may go either way)
    purity = [max(np.mean(which[sp.label == s]), 1 - np.mean(which[sp.label == s])) for s in range(sp.count)]
    assert min(purity) >= 0.85
    assert np.average(purity, weights=sp.sizes()) > 0.98
    # the oracle merge of the superpoints recovers the two faces
    merged = oracle_merge(sp.label, which)
    assert np.mean(merged == which) > 0.99
    # adjacency: edges join neighbours only, and some edge crosses the crease
    a, b = sp.edges[:, 0], sp.edges[:, 1]
    assert (a < b).all() and (sp.strength > 0).all()
    assert (sp.region[a] != sp.region[b]).any()


def test_split_region_is_compact_and_deterministic():
    rng = np.random.default_rng(1)
    xyz = rng.uniform(0, 1, size=(1000, 3))
    a, b = split_region(xyz, 100), split_region(xyz, 100)
    assert np.array_equal(a, b)
    assert 10 <= len(np.unique(a)) <= 20       # ceil(1000 / 100) k-means chunks, oversized ones cut again
    assert np.bincount(a).max() <= 100


def _toy_graph():
    """Six superpoints in a row: 0-1-2 | 3-4-5, one point each (N = 6)."""
    label = np.arange(6)
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]])
    return label, edges


def _evidence_from_masks(masks, n=6):
    """One view that sees every point; ``masks`` lists point sets with scores."""
    ev = MaskEvidence(n)
    seen = np.ones(n, bool)
    pixels = np.stack([np.arange(n) + 0.5, np.full(n, 0.5)], axis=1)
    for pts, score in masks:
        m = np.zeros((1, 1, 1, n), bool)
        m[0, 0, 0, list(pts)] = True
        ev.add_view_masks(0, m, np.array([[score]]), SimpleNamespace(seen=seen, pixels=pixels), "groups",
                          min_score=0.5, won_pixels=True)
    return ev


def test_evidence_and_clustering_on_hand_made_masks_give_the_exact_partition_and_tree():
    label, edges = _toy_graph()
    ev = _evidence_from_masks([({0, 1, 2}, 1.0), ({3, 4, 5}, 1.0), ({0, 1}, 0.9), ({4, 5}, 0.9),
                               ({0, 1, 2, 3, 4, 5}, 1.0)])
    F, V, w = superpoint_evidence(ev, label, 6, min_seen=1)
    assert F.shape == (5, 6) and V.all()
    aff, support = edge_affinity(F, V, w, edges, power=1.0)
    # 0-1 share all three masks that touch them; 2-3 are only together in the whole-object mask
    assert aff[0] == pytest.approx(1.0)
    assert aff[2] == pytest.approx(1.0 / 3.0)
    assert aff[1] == pytest.approx(2.0 / 2.9)
    tree = average_linkage(6, edges, aff)
    assert len(tree.merges) == 5
    assert np.all(np.diff(tree.values) <= 1e-12)                # average linkage merges in falling order
    halves = tree.cut(threshold=0.5)
    assert len(np.unique(halves)) == 2
    assert len(set(halves[:3])) == 1 and len(set(halves[3:])) == 1 and halves[0] != halves[3]
    assert len(np.unique(tree.cut(threshold=0.0))) == 1          # the root: one part
    assert len(np.unique(tree.cut(threshold=1.01))) == 6         # the leaves
    assert len(np.unique(tree.cut(n_parts=4))) == 4
    assert [len(np.unique(tree.cut(threshold=t))) for t in (1.01, 0.9, 0.5, 0.0)] == [6, 4, 2, 1]


def test_evidence_round_trips_through_the_cache_format():
    ev = _evidence_from_masks([({0, 1, 2}, 0.9), ({3}, 0.8)])
    back = unpack_evidence(pack_evidence(ev))
    assert back.views == ev.views and back.scores == ev.scores
    assert np.array_equal(back.member_matrix(), ev.member_matrix())
    assert unpack_evidence({}) is None


def test_without_any_mask_the_graph_falls_back_to_the_geometric_regions():
    """No SAM evidence at all: the parts are the `components` baseline's regions, every point labelled."""
    from zerops.geometry.components import segment_components

    rng = np.random.default_rng(2)
    xyz, _ = _two_boxes_at_right_angle(rng)
    xyz = np.concatenate([xyz, rng.uniform([2, 0, 0], [2.5, 0, 0.5], size=(800, 3))])   # + a separate patch
    xyz, _, _ = normalize(xyz)
    graph = build_part_graph(xyz, None, MaskEvidence(len(xyz)), GraphConfig(enabled=True))
    part = graph_parts(graph, GraphConfig(enabled=True))
    assert (part >= 0).all()
    base = segment_components(xyz)
    big = [k for k in np.unique(base[base >= 0]) if np.mean(base == k) > 0.05]
    assert len(big) >= 2
    for k in big:                           # every large baseline region is one part, and nothing more
        ours = np.bincount(part[base == k]).argmax()
        assert np.mean(part[base == k] == ours) > 0.95
        assert np.mean(base[part == ours] == k) > 0.95


def test_sam_evidence_overrides_geometry_where_it_is_confident():
    """A flat sheet in one region: masks that always cut it in two split it, masks that hold it whole keep it
    (the earlier ``support`` merge; the default's votes: the next test)."""
    rng = np.random.default_rng(3)
    xyz = rng.uniform([0, 0, 0], [2, 1, 0], size=(3000, 3))
    xyz, _, _ = normalize(xyz)
    left = xyz[:, 0] < 0
    cfg = GraphConfig(enabled=True, merge="support")
    seen = np.ones(len(xyz), bool)
    pix = np.stack([(xyz[:, 0] + 1) * 50, (xyz[:, 1] + 1) * 50], axis=1)

    def evidence(split: bool) -> MaskEvidence:
        ev = MaskEvidence(len(xyz))
        for v in range(4):
            m = np.zeros((1, 2, 100, 100), bool)
            m[0, 0, :, :50] = True           # the left half …
            if split:
                m[0, 1, :, 50:] = True       # … and the right half
            else:
                m[0, 1, :, :] = True         # … and the whole sheet, equally confident
            ev.add_view_masks(v, m, np.array([[0.95, 0.95]]), SimpleNamespace(seen=seen, pixels=pix), "groups",
                              min_score=0.5, won_pixels=True)
        return ev

    part = graph_parts(build_part_graph(xyz, None, evidence(True), cfg), cfg)
    assert np.isin(part, [0, 1]).mean() > 0.97            # two halves (+ a few isolated stray points)
    assert np.mean(oracle_merge(part, left.astype(int)) == left) > 0.97
    assert {int(np.bincount(left[part == k]).argmax()) for k in (0, 1)} == {0, 1}
    # with the whole-sheet mask as confident as the half (and counted: no size down-weighting), the threshold
    # cut keeps the sheet whole, and a threshold above the halves' affinity splits it
    whole = GraphConfig(enabled=True, merge="support", support=SupportConfig(size_power=0.0), cut="threshold",
                        threshold=0.4)
    graph = build_part_graph(xyz, None, evidence(False), whole)
    assert np.mean(graph_parts(graph, whole) == 0) > 0.97                # one part (+ isolated strays)
    assert np.mean(graph.parts(threshold=0.3) == 0) > 0.97
    assert np.mean(graph.parts(threshold=0.9) == 0) < 0.6                 # finer: the sheet splits


def test_lambert_shading_gives_a_flat_colored_cloud_many_gray_levels():
    p = np.random.default_rng(0).normal(size=(6000, 3))
    xyz = (p / np.linalg.norm(p, axis=1, keepdims=True)).astype(np.float32)
    rgb = np.tile(np.array([[0.2, 0.5, 0.8]], np.float32), (len(xyz), 1))      # one flat material
    flat = Renderer(RenderConfig(shading="none")).render(xyz, rgb, layout=[(30, 45)])[0]
    shaded = Renderer(RenderConfig(shading="lambert")).render(xyz, rgb, layout=[(30, 45)])[0]
    fg = flat.index_map >= 0
    assert len(np.unique(flat.image[fg].reshape(-1, 3), axis=0)) == 1
    levels = np.unique(shaded.image[fg][:, 2])
    assert len(levels) >= 20
    # the hue is kept: channels stay in the material's proportions
    px = shaded.image[fg].astype(float)
    bright = px[:, 2] > 100
    assert np.allclose(px[bright, 0] / px[bright, 2], 0.25, atol=0.03)


def test_presets_keep_the_spec_stages_and_the_default_is_graph():
    assert preset().graph.enabled and preset().render.shading == "lambert"
    for name in ("paper", "literal", "fast"):
        assert not preset(name).graph.enabled and preset(name).render.shading == "none"


def test_result_folder_keeps_the_hierarchy_and_the_viewer_steps_through_it(tmp_path):
    from zerops.io.resultdir import load_result
    from zerops.output import write_segment_outputs
    from zerops.result import PartResult
    from zerops.viz.viewer import viewer_html, viewer_payload

    rng = np.random.default_rng(4)
    xyz, which = _two_boxes_at_right_angle(rng)
    xyz = xyz.astype(np.float32)
    cfg = GraphConfig(enabled=True)
    graph = build_part_graph(normalize(xyz)[0], None, MaskEvidence(len(xyz)), cfg)
    part = graph_parts(graph, cfg)
    n_parts = int(part.max()) + 1
    result = PartResult(xyz=xyz, part=part, parts=[np.flatnonzero(part == k) for k in range(n_parts)],
                        seconds={"total": 0.0}, decodes=0, counts={}, graph=graph)
    assert np.array_equal(result.regroup(), part)
    assert len(np.unique(result.regroup(n_parts=1))) <= 1 + 8          # the root (+ isolated strays)
    write_segment_outputs(tmp_path / "out", result)
    loaded = load_result(tmp_path / "out")
    assert loaded.levels is not None and loaded.levels.shape[1] == len(xyz)
    counts = [int(lv.max()) + 1 for lv in loaded.levels]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)           # coarse to fine
    assert np.array_equal(loaded.levels[loaded.level_chosen], part)
    payload = viewer_payload(loaded)
    assert [lv["parts"] for lv in payload["levels"]] == counts
    assert payload["level_chosen"] == loaded.level_chosen
    assert 'id="level"' in viewer_html(loaded)


@pytest.mark.parametrize("extra, message", [
    (["--preset", "fast", "--granularity", "0.5"], "graph preset"),
    (["--granularity", "1.5"], "--granularity must be in [0, 1]"),
    (["--n-parts", "0"], "--n-parts must be >= 1"),
    (["--set", "graph.prior"], "SECTION.KEY=VALUE"),
    (["--set", "graph.nothing=1"], "SECTION.KEY=VALUE"),
    (["--set", "graph.prior=abc"], "cannot read 'abc' as a float"),
    (["--set", "graph.enabled=maybe"], "as a bool"),
])
def test_graph_switches_fail_in_one_line_before_any_work(tmp_path, capsys, extra, message):
    from zerops.cli import main

    src = tmp_path / "c.xyz"
    np.savetxt(src, np.random.default_rng(0).normal(size=(50, 3)))
    assert main(["segment", str(src), "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("zerops: error:") and message in err[-1], err
    assert not (tmp_path / "o").exists()


def test_build_config_reads_graph_switches_and_typed_overrides():
    from zerops.options import build_config

    cfg = build_config(granularity=0.7, shading="none", overrides=["graph.prior=0", "grouping.n_prompts=32",
                                                                   "extension.enabled=false"])
    assert cfg.graph.cut == "threshold" and cfg.graph.threshold == 0.7
    assert cfg.render.shading == "none" and cfg.graph.support.prior == 0.0
    assert cfg.grouping.n_prompts == 32 and cfg.extension.enabled is False
    assert build_config(n_parts=5).graph.n_parts == 5


def test_the_default_runs_without_self_extension_unless_asked():
    from zerops.options import build_config

    assert not build_config().extension.enabled
    assert build_config(extension=True).extension.enabled
    assert build_config("fast").extension.enabled


def test_view_votes_split_a_region_that_every_view_cuts_and_join_regions_that_views_hold_together():
    """Votes: two prompts whose smallest confident masks are the two halves of a sheet split it (against
    the geometric prior); one prompt whose smallest confident mask is the whole of two sheets at a right
    angle (two geometric regions) joins them. A whole-object candidate above a smaller confident one is
    ignored (it says "one object", not "one part")."""
    from zerops.stages.votemerge import view_partitions

    xyz, left, ev = halves_sheet_evidence(0.95)                 # each prompt: its half or the whole, both 0.95
    parts = view_partitions(ev, GraphConfig().votes)
    assert len(parts.segment_view) == 8                  # two segments per view, the whole-object masks unused
    assert (parts.segment[0][left] == parts.segment[0][left][0]).all()
    assert (parts.segment[0][left] != parts.segment[0][~left][0]).all()
    cfg = GraphConfig(enabled=True)
    graph = build_part_graph(xyz, None, ev, cfg)
    part = graph_parts(graph, cfg)
    assert graph.merge.stats["view_error"] <= 0.06
    assert np.isin(part, [0, 1]).mean() > 0.97
    assert np.mean(oracle_merge(part, left.astype(int)) == left) > 0.97

    xyz2, which = _two_boxes_at_right_angle(np.random.default_rng(6))
    xyz2, _, _ = normalize(xyz2)
    seen2 = np.ones(len(xyz2), bool)
    pix2 = np.full((len(xyz2), 2), 50.0)
    none = graph_parts(build_part_graph(xyz2, None, MaskEvidence(len(xyz2)), cfg), cfg)
    assert len(np.unique(none)) >= 2                     # no evidence: the two geometric regions
    ev2 = MaskEvidence(len(xyz2))
    for v in range(4):
        m = np.ones((1, 1, 100, 100), bool)
        ev2.add_view_masks(v, m, np.array([[0.95]]), SimpleNamespace(seen=seen2, pixels=pix2), "groups",
                           min_score=0.5, won_pixels=True)
    joined = graph_parts(build_part_graph(xyz2, None, ev2, cfg), cfg)
    assert np.mean(joined == 0) > 0.97                   # the views hold them together: one part


def test_a_part_no_view_sees_joins_its_neighbour_and_without_views_the_regions_stay():
    """A fin on a floor that every view misses is a geometric region of its own, and nothing says it is a
    part: the vote merge's cut joins it to the floor it stands on (the tree alone keeps it apart). The floor
    and the wall that the views' masks separate stay two parts; without any view the regions decide."""
    rng = np.random.default_rng(6)
    xyz, which = _two_boxes_at_right_angle(rng)
    fin = rng.uniform([0.7, 0.02, 0.3], [0.7, 0.3, 0.6], size=(200, 3))
    xyz, _, _ = normalize(np.concatenate([xyz, fin]))
    which = np.r_[which, np.full(200, 2)]
    pix = np.repeat(np.where(which == 0, 10.0, 90.0)[:, None], 2, axis=1)
    seen = which < 2
    masks = np.zeros((2, 1, 100, 100), bool)
    masks[0, 0, :50, :50] = True                          # the floor's pixels
    masks[1, 0, 50:, 50:] = True                          # the wall's
    ev = MaskEvidence(len(xyz))
    for v in range(4):
        ev.add_view_masks(v, masks, np.full((2, 1), 0.95), SimpleNamespace(seen=seen, pixels=pix), "groups",
                          min_score=0.5, won_pixels=True)
    cfg = GraphConfig(enabled=True)
    graph = build_part_graph(xyz, None, ev, cfg)
    part = graph_parts(graph, cfg)
    assert len(np.unique(part)) == 2
    floor, wall = (np.bincount(part[which == k]).argmax() for k in (0, 1))
    assert floor != wall and (part[which == 2] == floor).all()
    assert np.mean(part[which == 0] == floor) > 0.97 and np.mean(part[which == 1] == wall) > 0.97
    tree_cut = graph.tree.cut(threshold=cfg.votes.threshold)[graph.superpoints.label]
    kept_apart = np.bincount(tree_cut[which == 2]).argmax()
    assert np.mean(tree_cut[which == 2] == kept_apart) > 0.9
    assert kept_apart != np.bincount(tree_cut[which == 0]).argmax()
    none = graph_parts(build_part_graph(xyz, None, MaskEvidence(len(xyz)), cfg), cfg)
    fin_part = np.bincount(none[which == 2]).argmax()
    assert np.mean(none[which == 2] == fin_part) > 0.9 and fin_part != np.bincount(none[which == 0]).argmax()


def test_a_small_part_that_three_views_isolate_stays_and_debris_joins():
    """absorb_small: a part under ``min_part`` joins its neighbour unless masks of ``min_views`` views match it
    at point IoU ≥ ``min_iou`` (KeptMasks.views_matching counts views, not masks)."""
    from zerops.stages.graphmerge import KeptMasks
    from zerops.stages.partgraph import absorb_small
    sp = SimpleNamespace(sizes=lambda: np.array([50, 50, 4]), edges=np.array([[0, 1], [1, 2]]),
                         strength=np.ones(2))
    leaves = np.array([0, 1, 2])
    # masks: views 0, 1, 2 each isolate superpoint 2 (4 of its points); a fourth mask in view 0 again
    inside = np.array([[0, 0, 4], [0, 0, 4], [0, 0, 4], [0, 0, 3]], float)
    kept = KeptMasks(inside=inside, seen=np.array([[50, 50, 4]] * 4, float), view=np.array([0, 1, 2, 0]))
    assert kept.views_matching(leaves, 0.5).tolist() == [0, 0, 3]
    assert kept.views_matching(np.array([0, 0, 1]), 0.5).tolist() == [0, 3]
    aff = np.ones(2)
    assert absorb_small(leaves, sp, aff, 0.1, kept, 3, 0.5).tolist() == [0, 1, 2]     # three views: a part
    assert absorb_small(leaves, sp, aff, 0.1, kept, 4, 0.5).tolist() == [1, 0, 0]     # four needed: joins
    assert absorb_small(leaves, sp, aff, 0.1, None, 3, 0.5).tolist() == [1, 0, 0]     # no masks: joins
    two = KeptMasks(inside=inside[[0, 1, 3]], seen=kept.seen[:3], view=np.array([0, 1, 0]))
    assert absorb_small(leaves, sp, aff, 0.1, two, 3, 0.5).tolist() == [1, 0, 0]      # two views only
