import numpy as np
import pytest

from zerops.errors import ZeropsError
from zerops.render.views import ViewLayout, extension_order, get_layout, view_direction

SPEC_TABLE = {
    "v0": (35, -35), "v0_1": (35, 10), "v1": (35, 55), "v1_2": (35, 100), "v2": (35, 145), "v2_3": (35, 190),
    "v3": (35, 235), "v0_3": (35, 280), "v0_5": (-10, -35), "v1_6": (-10, 55), "v2_7": (-10, 145),
    "v3_4": (-10, 235), "v5": (-55, -35), "v5_6": (-55, 10), "v6": (-55, 55), "v6_7": (-55, 100),
    "v7": (-55, 145), "v4_7": (-55, 190), "v4": (-55, 235), "v4_5": (-55, 280),
}
SPEC_V0_ORDER = ["v0_1", "v0_3", "v0_5", "v1", "v3", "v5", "v1_2", "v1_6", "v2_3", "v3_4", "v4_5", "v5_6",
                 "v2", "v6", "v4", "v2_7", "v6_7", "v4_7", "v7"]


def _check_parent_adjacency(layout: ViewLayout, start: str, order: list[str]) -> None:
    assert start not in order and len(set(order)) == len(order) == len(layout.views) - 1
    seen = {start}
    for name in order:
        assert any(p in seen for p in layout.adjacency[name]), name
        seen.add(name)


def test_zerops20_views_match_spec_table():
    lay = get_layout("zerops20")
    assert lay.name == "zerops20" and len(lay.views) == 20
    expected = {k: (float(e), float(a)) for k, (e, a) in SPEC_TABLE.items()}
    assert {v.name: (v.elev, v.azim) for v in lay.views} == expected
    assert lay.start_views == tuple(f"v{i}" for i in range(8))


def test_zerops20_adjacency_is_cube_corner_edge_incidence():
    lay = get_layout("zerops20")
    assert lay.adjacency["v0"] == ("v0_1", "v0_3", "v0_5")
    assert lay.adjacency["v0_1"] == ("v0", "v1")
    for name, nbs in lay.adjacency.items():
        assert len(nbs) == (2 if "_" in name else 3)
        for nb in nbs:
            assert name in lay.adjacency[nb]            # symmetric
            assert ("_" in nb) != ("_" in name)         # corners only touch edges
    # the 12 edges of a cube: every corner pair joined by exactly one edge view
    edges = sorted(tuple(lay.adjacency[n]) for n in lay.adjacency if "_" in n)
    assert len(edges) == 12 and len(set(edges)) == 12


def test_extension_order_v0_is_the_spec_list():
    assert extension_order(get_layout("zerops20"), "v0") == SPEC_V0_ORDER
    assert extension_order("zerops20", "v0") == SPEC_V0_ORDER


@pytest.mark.parametrize("start", [f"v{i}" for i in range(8)])
def test_every_zerops20_start_has_19_views_each_adjacent_to_an_earlier_one(start):
    lay = get_layout("zerops20")
    order = extension_order(lay, start)
    assert len(order) == 19
    _check_parent_adjacency(lay, start, order)


def test_partslip10_views_starts_and_orders():
    lay = get_layout("partslip10")
    assert [(v.elev, v.azim) for v in lay.views] == [
        (10, 0), (10, 90), (10, 180), (10, 270), (40, 0), (40, 120), (40, 240), (-20, 60), (-20, 180), (-20, 300)]
    assert [v.name for v in lay.views] == [f"p{i}" for i in range(10)]
    assert lay.start_views == ("p0", "p8", "p3", "p1")
    dirs = view_direction(np.array([v.elev for v in lay.views]), np.array([v.azim for v in lay.views]))
    ang = np.degrees(np.arccos(np.clip(dirs @ dirs.T, -1, 1))) + np.eye(10) * 1e3
    for i, v in enumerate(lay.views):
        nearest = {f"p{j}" for j in np.argsort(ang[i], kind="stable")[:3]}
        assert nearest <= set(lay.adjacency[v.name])
        for nb in lay.adjacency[v.name]:
            assert v.name in lay.adjacency[nb]
        # neighbours listed by increasing angle
        a = [ang[i, int(nb[1:])] for nb in lay.adjacency[v.name]]
        assert a == sorted(a)
    for s in lay.start_views:
        _check_parent_adjacency(lay, s, extension_order(lay, s))


def test_custom_layout_is_connected_even_with_far_apart_clusters():
    angles = [(0, 0), (0, 5), (5, 0), (0, -5), (0, 180), (0, 185), (5, 180), (0, 175)]
    lay = get_layout(angles)
    assert [v.name for v in lay.views] == [f"c{i}" for i in range(8)]
    assert len(lay.start_views) == 4 and lay.start_views[0] == "c0"
    for s in lay.names:
        _check_parent_adjacency(lay, s, extension_order(lay, s))
    one = get_layout([(20, 30)])
    assert one.start_views == ("c0",) and extension_order(one, "c0") == []


def test_layout_passthrough_and_view_lookup():
    lay = get_layout("zerops20")
    assert get_layout(lay) is lay
    assert lay.view("v2_7").azim == 145.0
    with pytest.raises(ZeropsError):
        lay.view("nope")


@pytest.mark.parametrize("bad", ["zerops21", [(90, 0)], [(0, 0, 0)], [], [("a", 1)], [(np.nan, 0)]])
def test_bad_layouts_raise(bad):
    with pytest.raises(ZeropsError):
        get_layout(bad)


def test_unknown_start_raises():
    with pytest.raises(ZeropsError):
        extension_order("zerops20", "p0")
