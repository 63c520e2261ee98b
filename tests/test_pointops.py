import numpy as np
import pytest

from zerops.errors import ZeropsError
from zerops.geometry.pointops import (
    _smallest_eigvec_sym3,
    estimate_normals,
    farthest_point_sampling,
    knn,
    point_spacing,
    smooth_normals,
)


def _grid(step=0.1, n=20):
    g = np.arange(n) * step
    x, y = np.meshgrid(g, g)
    return np.stack([x.ravel(), y.ravel(), np.zeros(n * n)], axis=1)


def _sphere(n, seed=0):
    p = np.random.default_rng(seed).normal(size=(n, 3))
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def test_point_spacing_regular_grid():
    assert point_spacing(_grid(0.1)) == pytest.approx(0.1, rel=1e-6)
    # 2nd neighbour on a square grid is also at distance 0.1 (4 neighbours at 0.1 in the interior)
    assert point_spacing(_grid(0.1), k=2) == pytest.approx(0.1, rel=1e-6)


def test_knn_excludes_self_and_handles_duplicates():
    pts = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [3, 0, 0]], dtype=np.float64)
    dist, idx = knn(pts, 2)
    assert dist.shape == (4, 2) and idx.dtype == np.int64
    assert (idx != np.arange(4)[:, None]).all()
    assert dist[0].tolist() == [0.0, 1.0] and idx[0, 0] == 1
    assert dist[1].tolist() == [0.0, 1.0] and idx[1, 0] == 0
    assert np.allclose(dist[3], [2.0, 3.0])
    assert (np.diff(dist, axis=1) >= 0).all()


def test_estimate_normals_plane_and_sphere():
    rng = np.random.default_rng(1)
    plane = np.c_[rng.uniform(-1, 1, (2000, 2)), np.zeros(2000)]
    n = estimate_normals(plane, k=12)
    assert n.dtype == np.float32 and n.shape == (2000, 3)
    assert np.allclose(np.abs(n[:, 2]), 1.0, atol=1e-5)
    s = _sphere(5000)
    n = estimate_normals(s, k=16)
    assert np.abs((n * s).sum(axis=1)).min() > 0.98
    assert np.allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)


def test_smooth_normals_keeps_consistent_field_and_flips_signs():
    s = _sphere(3000, seed=2)
    _, idx = knn(s, 16)
    raw = estimate_normals(s, k=16)
    flipped = raw * np.where(np.arange(len(s)) % 2 == 0, 1.0, -1.0)[:, None].astype(np.float32)
    sm = smooth_normals(flipped, idx)
    assert np.abs((sm * s).sum(axis=1)).min() > 0.99
    assert np.allclose(np.linalg.norm(sm, axis=1), 1.0, atol=1e-5)


def test_smallest_eigvec_matches_eigh_including_degenerate():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(500, 3, 3))
    cov = a @ a.transpose(0, 2, 1)
    cov[:10] = np.eye(3)                       # fully degenerate: any unit vector
    cov[10:20] = np.diag([0.0, 0.0, 1.0])       # repeated smallest eigenvalue
    cov[20:30] = np.diag([1e-9, 1.0, 2.0])
    v = _smallest_eigvec_sym3(cov)
    w = np.linalg.eigvalsh(cov)[:, 0]
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0)
    residual = np.linalg.norm(np.einsum("nij,nj->ni", cov, v) - w[:, None] * v, axis=1)
    assert residual.max() < 1e-8 * np.abs(cov).max()


def test_farthest_point_sampling_exact_on_a_line():
    line = np.c_[np.arange(11.0), np.zeros(11), np.zeros(11)]
    assert farthest_point_sampling(line, 5).tolist() == [0, 10, 5, 2, 7]
    assert farthest_point_sampling(line, 3, start=4).tolist() == [4, 10, 0]
    assert farthest_point_sampling(line, 20).tolist() == list(range(11))
    assert farthest_point_sampling(line, 0).tolist() == []


def test_farthest_point_sampling_is_deterministic_and_spread():
    s = _sphere(4000, seed=4)
    a = farthest_point_sampling(s, 64)
    b = farthest_point_sampling(s.copy(), 64)
    assert a.dtype == np.int64 and np.array_equal(a, b) and len(np.unique(a)) == 64
    sub = s[a]
    d = np.linalg.norm(sub[:, None] - sub[None], axis=2) + np.eye(64) * 9
    # 64 well-spread points on a unit sphere are all at least ~0.3 apart (random picks would not be)
    assert d.min() > 0.3


@pytest.mark.parametrize("bad", [np.zeros((5, 2)), np.zeros(3), np.array([[0, 0, np.nan], [1, 1, 1]])])
def test_bad_input_raises(bad):
    with pytest.raises(ZeropsError):
        point_spacing(bad)
    with pytest.raises(ZeropsError):
        estimate_normals(bad)


def test_fps_bad_arguments():
    pts = _grid()
    with pytest.raises(ZeropsError):
        farthest_point_sampling(pts, 5, start=len(pts))
    with pytest.raises(ZeropsError):
        farthest_point_sampling(pts, -1)
    with pytest.raises(ZeropsError):
        point_spacing(np.zeros((1, 3)))
