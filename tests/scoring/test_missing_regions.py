"""Missing regions: reconstructed points without input points nearby, clustered, mapped onto the rim."""

import math

import torch

from edge.scoring.missing_regions import find_missing_regions


def _sphere(n: int, seed: int) -> torch.Tensor:
    """Evenly spread points on the unit sphere (Fibonacci lattice, randomly turned)."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    phi = torch.acos(1 - 2 * i / n)
    theta = math.pi * (1 + 5**0.5) * i
    points = torch.stack([torch.cos(theta) * torch.sin(phi), torch.sin(theta) * torch.sin(phi), torch.cos(phi)], 1)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return (points @ q).float()


HOLE = torch.tensor([0.0, 0.0, 1.0])


def _holed_scan() -> torch.Tensor:
    scan = _sphere(8000, seed=1)
    return scan[(scan - HOLE).norm(dim=1) > 0.3]


def test_a_hole_cut_from_the_scan_is_one_missing_cluster_at_its_place() -> None:
    result = find_missing_regions(_holed_scan(), _sphere(2048, seed=2))
    assert len(result.clusters) == 1
    cluster = result.clusters[0]
    assert float((torch.tensor(cluster.centroid) - HOLE).norm()) < 0.1
    assert cluster.points >= 8
    assert 0.2 < cluster.depth < 0.35


def test_a_complete_scan_has_no_missing_cluster() -> None:
    result = find_missing_regions(_sphere(8000, seed=1), _sphere(2048, seed=2))
    assert result.clusters == []
    assert float(result.scores.max()) == 0.0


def test_the_rim_of_the_hole_gets_the_cluster_depth_and_the_rest_nothing() -> None:
    scan = _holed_scan()
    result = find_missing_regions(scan, _sphere(2048, seed=2))
    to_hole = (scan - HOLE).norm(dim=1)
    rim = to_hole < 0.33
    assert torch.allclose(result.scores[rim], torch.tensor(result.clusters[0].depth))
    assert float(result.scores[to_hole > 0.6].max()) == 0.0


def test_isolated_gap_points_are_noise_not_clusters() -> None:
    scan = _sphere(8000, seed=1)
    stray = torch.tensor([[0.0, 0.0, 1.5], [1.5, 0.0, 0.0], [0.0, -1.5, 0.0]])
    result = find_missing_regions(scan, torch.cat([_sphere(2048, seed=2), stray]))
    assert result.clusters == []
    assert bool((result.labels == -1).all())
