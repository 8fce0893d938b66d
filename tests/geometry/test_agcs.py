"""AGCS: local FPFH variation and the split of centers between salient regions and coverage."""

from __future__ import annotations

import pytest
import torch

from edge.geometry.agcs import agcs, local_feature_variation
from edge.geometry.fps import farthest_point_sampling
from edge.geometry.knn import knn


def box_with_plate() -> tuple[torch.Tensor, torch.Tensor]:
    """A flat plate (features all equal) with one corner region whose features vary."""
    g = torch.Generator().manual_seed(0)
    points = torch.cat([torch.rand(2000, 2, generator=g) * 10, torch.zeros(2000, 1)], dim=1)
    features = torch.zeros(2000, 33)
    corner = (points[:, 0] < 2) & (points[:, 1] < 2)
    features[corner] = torch.rand(int(corner.sum()), 33, generator=g) * 50
    return points, features


@pytest.mark.parametrize("compiled_kernel", [True, False], ids=["compiled", "torch"])
def test_variation_is_the_sum_of_feature_distances_to_the_k_nearest(
    compiled_kernel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("edge.geometry.compiled.AVAILABLE", compiled_kernel)
    points, features = torch.randn(300, 3), torch.randn(300, 33)
    _, nbr = knn(points, points, 8, exclude_self=True)
    expected = torch.stack([sum((features[i] - features[j]).norm() for j in nbr[i]) for i in range(300)])
    assert torch.allclose(local_feature_variation(points, features, k=8), expected, rtol=1e-5)


def test_agcs_puts_alpha_of_the_centers_in_the_varying_region() -> None:
    points, features = box_with_plate()
    centers = agcs(points, features, 64, 0.25, k=8, candidate_fraction=0.05)
    assert centers.shape == (64,) and centers.dtype == torch.int64 and centers.unique().numel() == 64
    salient = centers[: round(0.25 * 64)]
    assert bool(((points[salient, 0] < 2.5) & (points[salient, 1] < 2.5)).all())


def test_agcs_with_alpha_zero_is_plain_fps() -> None:
    points, features = box_with_plate()
    assert torch.equal(agcs(points, features, 32, 0.0), farthest_point_sampling(points, 32))


def test_agcs_rest_is_fps_continued_from_the_salient_centers() -> None:
    points, features = box_with_plate()
    centers = agcs(points, features, 40, 0.5, k=8)
    salient = centers[:20]
    assert torch.equal(centers[20:], farthest_point_sampling(points, 20, seed_indices=salient))


def test_agcs_is_deterministic() -> None:
    points, features = box_with_plate()
    assert torch.equal(agcs(points, features, 50, 0.3), agcs(points, features, 50, 0.3))
