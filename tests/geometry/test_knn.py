"""Exact kNN and hybrid radius search against scipy's cKDTree, including degenerate clouds: the CPU kernel
(``knn``, pykdtree) and the CUDA grid kernel (``_grid_search``, run here on CPU tensors) alike."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from pykdtree.kdtree import KDTree
from scipy.spatial import cKDTree

from edge.geometry.knn import _grid_search, knn, knn_and_radius_knn, radius_knn
from tests.geometry.conftest import torus


def grid_knn(query: torch.Tensor, ref: torch.Tensor, k: int, exclude_self: bool = False,
             max_bytes: int = 64 << 20) -> tuple[torch.Tensor, torch.Tensor]:
    """The CUDA kernel of ``knn`` on any device."""
    return _grid_search(query, ref, k, None, exclude_self, max_bytes)


def assert_matches_kdtree(query: torch.Tensor, ref: torch.Tensor, k: int, exclude_self: bool = False, **kw) -> None:
    for search in (knn, grid_knn):
        _assert_search_matches_kdtree(search, query, ref, k, exclude_self, **kw)


Search = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def _assert_search_matches_kdtree(search: Search, query: torch.Tensor, ref: torch.Tensor, k: int, exclude_self: bool, **kw) -> None:
    dist, idx = search(query, ref, k, exclude_self=exclude_self, **kw)
    tree = cKDTree(ref.double().numpy())
    expected, _ = tree.query(query.double().numpy(), k + int(exclude_self))
    expected = np.asarray(expected).reshape(len(query), -1)[:, int(exclude_self) :] ** 2
    assert dist.shape == idx.shape == (len(query), k) and idx.dtype == torch.int64
    np.testing.assert_allclose(dist.double().numpy(), expected, rtol=1e-5, atol=1e-6)
    recomputed = ((ref[idx] - query.unsqueeze(1)) ** 2).sum(dim=2)
    np.testing.assert_allclose(recomputed.numpy(), dist.numpy(), rtol=1e-6, atol=1e-7)
    if exclude_self:
        assert not (idx == torch.arange(len(query)).unsqueeze(1)).any()


@pytest.mark.parametrize("k", [1, 16, 30])
def test_knn_on_a_surface_equals_kdtree(k: int) -> None:
    points, _ = torus(8000)
    assert_matches_kdtree(points, points, k)


def test_knn_excluding_self_equals_kdtree_without_the_first_hit() -> None:
    points, _ = torus(8000)
    assert_matches_kdtree(points, points, 12, exclude_self=True)


def test_knn_with_separate_queries_outside_the_reference_box() -> None:
    ref, _ = torus(6000)
    query = torch.cat([torus(3000, seed=1)[0], torch.randn(200, 3) * 200])
    assert_matches_kdtree(query, ref, 8)


def test_knn_with_many_duplicates_returns_zero_distances_first() -> None:
    base, _ = torus(3000)
    points = torch.cat([base, base[:10].repeat(100, 1)])
    assert_matches_kdtree(points, points, 20)
    assert_matches_kdtree(points, points, 5, exclude_self=True)


def test_knn_on_a_plane_and_on_a_line() -> None:
    plane = torch.cat([torch.rand(6000, 2) * 50, torch.zeros(6000, 1)], dim=1)
    line = torch.linspace(0, 1, 6000).unsqueeze(1) * torch.tensor([[3.0, -1.0, 2.0]])
    assert_matches_kdtree(plane, plane, 10)
    assert_matches_kdtree(line, line, 10)


def test_knn_with_very_non_uniform_density() -> None:
    dense = torch.randn(6000, 3) * 0.01
    sparse = torch.rand(500, 3) * 100
    points = torch.cat([dense, sparse])
    assert_matches_kdtree(points, points, 16)


def test_knn_with_k_equal_to_the_cloud_size() -> None:
    points = torch.randn(7, 3)
    assert_matches_kdtree(points, points, 7)
    assert_matches_kdtree(points, points, 6, exclude_self=True)


@pytest.mark.parametrize("search", [knn, grid_knn])
def test_knn_result_does_not_depend_on_the_memory_budget(search: Search) -> None:
    points, _ = torus(5000)
    d_small, _ = search(points, points, 10, max_bytes=1 << 16)
    d_large, _ = search(points, points, 10)
    assert torch.equal(d_small, d_large)


def test_knn_rejects_k_larger_than_the_reference_set() -> None:
    with pytest.raises(ValueError):
        knn(torch.randn(5, 3), torch.randn(5, 3), 6)


@pytest.mark.parametrize("grid", [False, True])
def test_radius_knn_returns_the_nearest_within_radius_padded(grid: bool) -> None:
    points, _ = torus(6000)
    radius, max_nn = 2.0, 20
    if grid:
        dist, idx = _grid_search(points, points, max_nn, radius, False, 1 << 20)
    else:
        dist, idx = radius_knn(points, points, radius, max_nn)
    tree = cKDTree(points.double().numpy())
    expected, expected_idx = tree.query(points.double().numpy(), max_nn, distance_upper_bound=radius)
    expected = np.where(np.isfinite(expected), expected**2, np.inf)
    np.testing.assert_allclose(dist.double().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(idx < 0, torch.isinf(dist))
    assert (idx.numpy() == np.where(np.isfinite(expected), expected_idx, -1)).mean() > 0.999


def test_brute_force_search_used_for_small_gpu_frames_equals_kdtree() -> None:
    from edge.geometry.knn import _brute_force

    points, _ = torus(3000)
    dist, idx = _brute_force(points, points, 10, torch.arange(3000), None, 1 << 20)
    expected, _ = cKDTree(points.double().numpy()).query(points.double().numpy(), 11)
    np.testing.assert_allclose(dist.double().numpy(), expected[:, 1:] ** 2, rtol=1e-5, atol=1e-6)
    assert not (idx == torch.arange(3000).unsqueeze(1)).any()


def test_brute_force_single_nearest_neighbour_equals_kdtree() -> None:
    from edge.geometry.knn import _brute_force

    query, ref = torch.randn(2000, 3), torch.randn(5000, 3)
    dist, idx = _brute_force(query, ref, 1, None, None, 1 << 20)
    expected, expected_idx = cKDTree(ref.double().numpy()).query(query.double().numpy(), 1)
    np.testing.assert_allclose(dist[:, 0].double().numpy(), expected**2, rtol=1e-5, atol=1e-6)
    assert (idx[:, 0].numpy() == expected_idx).mean() > 0.999


def assert_equals_the_two_searches(points: torch.Tensor, k: int, radius: float, max_nn: int) -> None:
    (dist, idx), (near_d, near_i) = knn_and_radius_knn(points, k, radius, max_nn)
    expected_dist, expected_idx = knn(points, points, k)
    expected_near_d, expected_near_i = radius_knn(points, points, radius, max_nn, exclude_self=True)
    assert torch.equal(idx, expected_idx) and torch.equal(dist, expected_dist)
    assert torch.equal(near_i, expected_near_i) and torch.equal(near_d, expected_near_d)


def test_knn_and_radius_knn_on_a_surface_equals_the_two_searches() -> None:
    points, _ = torus(8000)
    assert_equals_the_two_searches(points, 17, 4.0, 47)


def test_knn_and_radius_knn_on_a_lattice_full_of_ties_equals_the_two_searches() -> None:
    axis = torch.arange(12, dtype=torch.float32)
    lattice = torch.cartesian_prod(axis, axis, axis[:4])
    assert_equals_the_two_searches(lattice, 9, 2.5, 40)


def test_knn_and_radius_knn_where_few_points_lie_within_the_radius_equals_the_two_searches() -> None:
    dense = torch.randn(3000, 3)
    sparse = torch.rand(300, 3) * 200
    assert_equals_the_two_searches(torch.cat([dense, sparse]), 12, 0.5, 30)


def test_knn_and_radius_knn_with_duplicate_points_equals_the_two_searches() -> None:
    base, _ = torus(3000)
    points = torch.cat([base, base[:10].repeat(20, 1)])
    assert_equals_the_two_searches(points, 17, 3.0, 47)


def test_knn_and_radius_knn_with_k_beyond_the_radius_search_equals_the_two_searches() -> None:
    points, _ = torus(2000)
    assert_equals_the_two_searches(points, 20, 3.0, 10)
    assert_equals_the_two_searches(points[:5], 5, 3.0, 47)


def test_knn_reuses_the_k_d_tree_of_the_same_coordinates(monkeypatch: pytest.MonkeyPatch) -> None:
    import edge.geometry.knn as knn_module

    builds = []
    monkeypatch.setattr(knn_module, "KDTree", lambda data: builds.append(len(data)) or KDTree(data))
    monkeypatch.setattr(knn_module, "_TREES", [])
    ref, _ = torus(3000, seed=5)
    knn(torch.randn(100, 3) * 30, ref, 4)
    _, idx = knn(ref.clone(), ref.clone(), 4)
    assert builds == [3000]
    assert torch.equal(idx, torch.from_numpy(cKDTree(ref.double().numpy()).query(ref.double().numpy(), 4)[1]))


def test_knn_after_an_in_place_change_of_the_reference_searches_the_new_coordinates() -> None:
    ref, _ = torus(3000, seed=6)
    query = torus(500, seed=7)[0]
    knn(query, ref, 3)
    ref[:1500] += 0.25
    ref[0, 0] = torch.nextafter(ref[0, 0], torch.tensor(math.inf))
    _, idx = knn(query, ref, 3)
    _, expected = cKDTree(ref.double().numpy()).query(query.double().numpy(), 3)
    assert torch.equal(idx, torch.from_numpy(expected))


def test_knn_keeps_only_the_most_recent_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    import edge.geometry.knn as knn_module

    monkeypatch.setattr(knn_module, "_TREES", [])
    clouds = [torch.randn(50, 3) for _ in range(knn_module._TREE_CACHE + 3)]
    for cloud in clouds:
        knn(cloud, cloud, 2)
    kept = [data for data, _ in knn_module._TREES]
    assert len(kept) == knn_module._TREE_CACHE
    assert np.array_equal(kept[-1], clouds[-1].double().numpy())


def test_k_d_tree_queries_run_on_torchs_cpu_thread_count() -> None:
    """pykdtree's OpenMP runtime (bundled with its wheel) follows the calling thread's torch setting: the service
    sets one per worker, and OpenMP's own default is every core."""
    from threadpoolctl import threadpool_info

    def pykdtree_threads() -> list[int]:
        return [lib["num_threads"] for lib in threadpool_info() if "pykdtree" in lib["filepath"]]

    previous = torch.get_num_threads()
    points, _ = torus(500)
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            knn(points, points, 4)
            assert pykdtree_threads() == [threads]
    finally:
        torch.set_num_threads(previous)
