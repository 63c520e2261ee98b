"""DBSCAN and largest-cluster extraction on hand-built point sets."""
import time

import numpy as np
import pytest

from zerops.errors import ZeropsError
from zerops.geometry.clustering import dbscan, largest_cluster


def line(n, start, step=0.1, axis=0):
    pts = np.zeros((n, 3))
    pts[:, axis] = start + step * np.arange(n)
    return pts


def test_two_lines_and_an_outlier():
    # cluster A: 5 points spaced 0.1 at x=0..0.4; cluster B: 4 points at x=10..10.3; noise at x=5
    xyz = np.concatenate([line(4, 10.0), line(5, 0.0), [[5.0, 0, 0]]])
    labels = dbscan(xyz, eps=0.15, min_points=2)
    # numbering follows the first point index: B (indices 0-3) is cluster 0
    assert labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, -1]
    assert labels.dtype == np.int64


def test_min_points_counts_the_point_itself():
    xyz = line(2, 0.0)  # two points 0.1 apart: each has 2 neighbours including itself
    assert dbscan(xyz, 0.15, 2).tolist() == [0, 0]
    assert dbscan(xyz, 0.15, 3).tolist() == [-1, -1]
    assert dbscan(xyz[:1], 0.15, 1).tolist() == [0]  # min_points 1: every point is core


def test_border_points_join_their_nearest_core_and_do_not_bridge():
    # two cores groups 0.56 apart (eps 0.3) and a non-core point between them, nearer to the first
    a = line(5, 0.0, step=0.05)
    c = line(5, 0.76, step=0.05)
    xyz = np.concatenate([a, [[0.47, 0, 0]], c])
    labels = dbscan(xyz, eps=0.3, min_points=4)
    assert labels.tolist() == [0] * 6 + [1] * 5


def test_all_noise_and_empty():
    xyz = np.eye(3) * 10
    assert dbscan(xyz, 1.0, 2).tolist() == [-1, -1, -1]
    assert dbscan(np.zeros((0, 3)), 1.0, 2).shape == (0,)
    assert largest_cluster(np.arange(3), xyz, 1.0, 2).shape == (0,)
    assert largest_cluster(np.zeros(0, int), xyz, 1.0, 2).shape == (0,)


def test_largest_cluster_of_a_subset():
    # cluster of 3 (indices 0-2), cluster of 5 (indices 3-7), one far point (8)
    xyz = np.concatenate([line(3, 0.0), line(5, 5.0), [[20.0, 0, 0]]])
    assert largest_cluster(np.arange(9), xyz, 0.15, 2).tolist() == [3, 4, 5, 6, 7]
    # restricted to a subset whose order is kept
    assert largest_cluster(np.array([8, 2, 0, 1, 3, 4]), xyz, 0.15, 2).tolist() == [2, 0, 1]


def test_largest_cluster_tie_goes_to_the_lowest_label():
    xyz = np.concatenate([line(3, 5.0), line(3, 0.0)])
    # the subset order decides the labels: the cluster met first is label 0
    assert largest_cluster(np.array([3, 4, 5, 0, 1, 2]), xyz, 0.15, 2).tolist() == [3, 4, 5]
    assert largest_cluster(np.arange(6), xyz, 0.15, 2).tolist() == [0, 1, 2]


def test_labels_do_not_depend_on_tree_internals():
    rng = np.random.default_rng(3)
    blobs = [rng.normal(loc, 0.05, (200, 3)) for loc in ([0, 0, 0], [2, 0, 0], [0, 2, 0])]
    xyz = np.concatenate(blobs)
    perm = rng.permutation(len(xyz))
    a = dbscan(xyz, 0.1, 5)
    b = dbscan(xyz[perm], 0.1, 5)
    # the same partition (up to renumbering), and each blob is one cluster
    assert len(np.unique(a[a >= 0])) == 3
    for k in range(3):
        members = np.unique(b[np.argsort(perm)][a == k])
        assert len(members[members >= 0]) == 1
    assert (a[:200] >= 0).mean() > 0.9


def test_bad_parameters_raise():
    xyz = np.zeros((4, 3))
    with pytest.raises(ZeropsError):
        dbscan(xyz, 0.0, 3)
    with pytest.raises(ZeropsError):
        dbscan(xyz, 0.1, 0)
    with pytest.raises(ZeropsError):
        dbscan(np.zeros((4, 2)), 0.1, 3)
    with pytest.raises(ZeropsError):
        dbscan(np.full((4, 3), np.nan), 0.1, 3)
    with pytest.raises(ZeropsError):
        largest_cluster(np.array([0, 9]), xyz, 0.1, 3)
    with pytest.raises(ZeropsError):
        largest_cluster(np.array([0.5]), xyz, 0.1, 3)


def test_fast_on_100k_points():
    rng = np.random.default_rng(0)
    u = rng.random((100_000, 2))
    xyz = np.c_[u, 0.01 * np.sin(10 * u[:, 0])]
    t = time.perf_counter()
    labels = dbscan(xyz, 0.007, 3)
    assert time.perf_counter() - t < 5.0
    assert labels.max() == 0 and (labels < 0).sum() == 0  # one connected sheet
