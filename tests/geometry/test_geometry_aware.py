"""IMRNet geometry-aware sampling: points where the surface bends are kept first."""

from __future__ import annotations

import torch

from edge.geometry.geometry_aware import geometry_aware_sampling, geometry_change, gps
from edge.geometry.normals import estimate_normals


def folded_sheet() -> tuple[torch.Tensor, torch.Tensor]:
    """Two planes meeting at a 90 degree crease along x = 0."""
    g = torch.Generator().manual_seed(0)
    uv = torch.rand(3000, 2, generator=g) * torch.tensor([10.0, 10.0]) - torch.tensor([5.0, 0.0])
    x, y = uv[:, 0], uv[:, 1]
    points = torch.stack([torch.where(x < 0, x, torch.zeros_like(x)), y, torch.where(x < 0, torch.zeros_like(x), x)], 1)
    return points, estimate_normals(points, 16)


def test_change_is_high_on_the_crease_and_zero_on_the_flats() -> None:
    points, normals = folded_sheet()
    change = geometry_change(points, normals, k=16)
    crease = points[:, 0].abs() + points[:, 2].abs() < 0.3
    far = points[:, 0].abs() + points[:, 2].abs() > 2.0
    assert float(change[crease].median()) > 0.3
    assert float(change[far].max()) < 1e-3


def test_sensitive_points_are_kept_and_the_rest_is_filled_by_fps() -> None:
    points, normals = folded_sheet()
    change = geometry_change(points, normals, k=16)
    sensitive = int((change > 0.2).sum())
    picked = geometry_aware_sampling(points, normals, sensitive + 50, 0.2, k=16)
    assert picked.shape == (sensitive + 50,) and picked.unique().numel() == sensitive + 50
    assert bool((change[picked[:sensitive]] > 0.2).all())


def test_only_sensitive_points_when_they_outnumber_the_budget() -> None:
    points, normals = folded_sheet()
    change = geometry_change(points, normals, k=16)
    picked = geometry_aware_sampling(points, normals, 20, 0.2, k=16)
    assert picked.shape == (20,) and bool((change[picked] > 0.2).all())


def test_gps_draws_its_centers_from_the_top_tau_share_of_geometric_change_spread_by_fps() -> None:
    points, normals = folded_sheet()
    centers = gps(points, normals, 20, rank_fraction=0.3)
    change = geometry_change(points, normals, k=16)
    cut = torch.sort(change, descending=True).values[int(0.3 * points.shape[0]) - 1]
    assert centers.unique().numel() == 20
    assert bool((change[centers] >= cut).all())
    assert float(torch.pdist(points[centers]).min()) > 0.3  # spread by FPS, not a clump on the crease


def test_gps_fills_with_fps_over_the_whole_cloud_when_the_candidates_run_out() -> None:
    points, normals = folded_sheet()
    centers = gps(points, normals, 100, rank_fraction=0.01)
    assert centers.unique().numel() == 100
    assert bool((centers[:30] == torch.argsort(geometry_change(points, normals, k=16), descending=True,
                                               stable=True)[:30]).all())
