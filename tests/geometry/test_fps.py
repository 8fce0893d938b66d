"""Farthest point sampling: identical to the naive algorithm, batched, seeded continuation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edge.geometry.fps import farthest_point_sampling


def naive_fps(points: np.ndarray, m: int, start: int = 0, seeds: list[int] | None = None) -> list[int]:
    """The textbook loop: keep each point's distance to the picked set, pick the farthest."""
    dist = np.full(len(points), np.inf, dtype=np.float32)
    picked: list[int] = []
    for s in seeds or []:
        dist = np.minimum(dist, ((points - points[s]) ** 2).sum(axis=1, dtype=np.float32))
        dist[s] = -1
    current = int(np.argmax(dist)) if seeds else start
    out = []
    for _ in range(m):
        out.append(current)
        picked.append(current)
        dist = np.minimum(dist, ((points - points[current]) ** 2).sum(axis=1, dtype=np.float32))
        dist[picked] = -1
        dist[seeds or []] = -1
        current = int(np.argmax(dist))
    return out


def test_fps_equals_the_naive_algorithm() -> None:
    points = torch.randn(2000, 3)
    assert farthest_point_sampling(points, 200, start=7).tolist() == naive_fps(points.numpy(), 200, start=7)


def test_batched_fps_equals_per_item_fps() -> None:
    points = torch.randn(3, 500, 3)
    batched = farthest_point_sampling(points, 64, start=2)
    assert batched.shape == (3, 64) and batched.dtype == torch.int64
    for b in range(3):
        assert torch.equal(batched[b], farthest_point_sampling(points[b], 64, start=2))


def test_fps_never_repeats_a_point_even_with_duplicate_coordinates() -> None:
    points = torch.randn(10, 3).repeat(5, 1)
    picked = farthest_point_sampling(points, 50)
    assert sorted(picked.tolist()) == list(range(50))


def test_fps_continues_from_seed_indices() -> None:
    points = torch.randn(1000, 3)
    seeds = [3, 500, 999]
    picked = farthest_point_sampling(points, 40, seed_indices=torch.tensor(seeds))
    assert picked.tolist() == naive_fps(points.numpy(), 40, seeds=seeds)
    assert not set(seeds) & set(picked.tolist())


def test_fps_rejects_more_samples_than_points() -> None:
    with pytest.raises(ValueError):
        farthest_point_sampling(torch.randn(10, 3), 11)


def test_fps_absorbs_seeds_in_blocks_like_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    points = torch.randn(1000, 3)
    seeds = torch.randperm(1000, generator=torch.Generator().manual_seed(1))[:50]
    monkeypatch.setattr("edge.geometry.fps._SEED_BLOCK_BYTES", 3 * 4 * 4 * 1000)
    picked = farthest_point_sampling(points, 30, seed_indices=seeds)
    assert picked.tolist() == naive_fps(points.numpy(), 30, seeds=seeds.tolist())


def buffered_steps(points: torch.Tensor, m: int, start: int, seeds: torch.Tensor | None) -> torch.Tensor:
    """The fixed-shape buffered steps of the CUDA path, run eagerly on the CPU."""
    from edge.geometry.fps import _FpsState

    state = _FpsState(1, len(points), m, points.dtype, points.device)
    state.load(points.unsqueeze(0), start, None if seeds is None else seeds.unsqueeze(0))
    for _ in range(m):
        state.advance()
    return state.out[0]


def test_compiled_cpu_kernel_picks_as_the_buffered_steps_seeded_or_not_with_duplicates() -> None:
    from edge.geometry.compiled import farthest_points

    gen = torch.Generator().manual_seed(2)
    points = torch.cat([torch.randn(3000, 3, generator=gen), torch.randn(50, 3, generator=gen).repeat(4, 1)]).double()
    seeds = torch.randperm(len(points), generator=gen)[:40]
    for seed in (None, seeds):
        picked = farthest_points(points.numpy(), 300, 11, None if seed is None else seed.numpy())
        assert torch.equal(torch.from_numpy(picked), buffered_steps(points, 300, 11, seed))


def test_compiled_cpu_kernel_breaks_distance_ties_by_the_lowest_index() -> None:
    """On a lattice many points are equally far from the picked set: the kernel picks the one the arg-max does."""
    from edge.geometry.compiled import farthest_points

    axis = torch.arange(9, dtype=torch.float64)
    lattice = torch.cartesian_prod(axis, axis, axis[:3]) * 0.5
    picked = farthest_points(lattice.numpy(), 120, 0, None)
    assert torch.equal(torch.from_numpy(picked), buffered_steps(lattice, 120, 0, None))


def test_fps_of_half_precision_points_on_the_cpu_picks_distinct_points_from_the_start() -> None:
    points = torch.randn(500, 3).half()
    picked = farthest_point_sampling(points, 40, start=3)
    assert sorted(set(picked.tolist())) == sorted(picked.tolist()) and picked[0] == 3
    assert torch.equal(picked, farthest_point_sampling(points.unsqueeze(0), 40, start=3)[0])


def test_compiled_fps_buckets_follow_a_morton_order_and_fall_back_to_index_order_on_non_finite_points() -> None:
    from edge.geometry.compiled.fps import _morton_order

    points = np.random.default_rng(4).normal(size=(500, 3))
    order = _morton_order(points)
    assert sorted(order.tolist()) == list(range(500)) and not np.array_equal(order, np.arange(500))
    points[7, 1] = np.inf
    assert np.array_equal(_morton_order(points), np.arange(500))
