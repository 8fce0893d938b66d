"""Masked reconstruction (IMRNet-style, with DUS-Net stand-ins): no region is judged against a copy of itself."""

import pytest
import torch

from edge.scoring.masked_reconstruction import (
    MaskingParams,
    identity_down_net,
    mask_assignment,
    masked_reconstruct,
)
from edge.scoring.reconstruction import reconstruct, reconstruction_scores

GROUPS, GROUP_SIZE = 256, 16


def _sphere_with_bulge(n: int = 4000) -> tuple[torch.Tensor, torch.Tensor]:
    """A unit sphere with a smooth bulge 0.12 high at its north pole, and the mask of the bulge's top."""
    gen = torch.Generator().manual_seed(0)
    points = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=1)
    distance = (points - torch.tensor([0.0, 0.0, 1.0])).norm(dim=1)
    bulged = points * (1 + 0.12 * torch.exp(-((distance / 0.12) ** 2))).unsqueeze(1)
    return bulged, distance < 0.08


def _up_net(centers: torch.Tensor) -> torch.Tensor:
    """An Up-Net stand-in for a sphere: 8 points around each center on its tangent plane (gamma = 8)."""
    offsets = torch.randn(1, 1, 8, 3, generator=torch.Generator().manual_seed(1)) * 0.03
    radial = torch.nn.functional.normalize(centers, dim=2).unsqueeze(2)
    tangent = offsets - (offsets * radial).sum(dim=3, keepdim=True) * radial
    return (centers.unsqueeze(2) + tangent).reshape(1, -1, 3)


def _contrast(scores: torch.Tensor, defect: torch.Tensor) -> float:
    return float(scores[defect].mean() / scores[~defect].mean())


def test_a_bulge_scores_far_above_the_rest_of_the_scan_under_masked_reconstruction() -> None:
    points, bulge = _sphere_with_bulge()
    result = masked_reconstruct(points, identity_down_net, _up_net, groups=GROUPS, group_size=GROUP_SIZE)
    assert _contrast(result.scores, bulge) > 3.0


def test_the_dense_reconstruction_copies_the_bulge_and_separates_it_far_less() -> None:
    points, bulge = _sphere_with_bulge()
    masked = masked_reconstruct(points, identity_down_net, _up_net, groups=GROUPS, group_size=GROUP_SIZE)
    dense = reconstruct(points, identity_down_net, _up_net, groups=GROUPS, group_size=GROUP_SIZE)
    dense_scores = reconstruction_scores(points, dense.dense)
    assert _contrast(dense_scores, bulge) < 1.5 < _contrast(masked.scores, bulge) / 2


def test_every_point_is_judged_in_exactly_one_pass_per_iteration() -> None:
    points, _ = _sphere_with_bulge(2000)
    calls = []

    def down(patches: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        calls.append(centers.shape)
        return centers

    masking = MaskingParams(masks=4, iterations=2)
    result = masked_reconstruct(points, down, _up_net, groups=128, group_size=GROUP_SIZE, masking=masking)
    assert len(calls) == masking.masks * masking.iterations
    assert all(shape == (1, 128, 3) for shape in calls)  # the engines' fixed shape in every pass
    assert result.mask.shape == (2000,) and set(result.mask.tolist()) == {0, 1, 2, 3}
    assert result.scores.shape == (2000,) and bool(torch.isfinite(result.scores).all())


def test_a_masked_region_reaches_the_networks_flattened_onto_its_visible_context() -> None:
    points, _ = _sphere_with_bulge()
    pole = torch.tensor([0.0, 0.0, 1.12])
    heights = []

    def down(patches: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        nearest = (centers[0] - pole).norm(dim=1).argmin()
        heights.append(float(centers[0, nearest, 2]))
        return centers

    masked_reconstruct(points, down, _up_net, groups=GROUPS, group_size=GROUP_SIZE)
    assert min(heights) < 1.0 < max(heights)  # the bulge: on the context plane when masked, raised when visible


def test_masks_are_balanced_and_spatially_coherent() -> None:
    points, _ = _sphere_with_bulge(2000)
    centers = points[:256]
    mask = mask_assignment(centers, masks=4, block=8)
    counts = torch.bincount(mask, minlength=4)
    assert int(counts.min()) > 256 / 4 / 2
    nearest = torch.cdist(centers, centers).fill_diagonal_(float("inf")).argmin(dim=1)
    assert float((mask == mask[nearest]).float().mean()) > 0.7


def test_the_identity_down_net_returns_its_centers() -> None:
    centers = torch.randn(1, 16, 3)
    assert identity_down_net(torch.randn(1, 16, 8, 3), centers) is centers


def test_masking_rejects_a_surface_plane_of_fewer_than_three_points() -> None:
    with pytest.raises(ValueError, match="surface_k"):
        MaskingParams(surface_k=2)
