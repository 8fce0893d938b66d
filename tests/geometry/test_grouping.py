"""Grouping: K-nearest patches relative to their centers."""

from __future__ import annotations

import torch

from edge.geometry.grouping import group_points
from edge.geometry.knn import knn


def test_patches_are_the_nearest_points_relative_to_the_center() -> None:
    points = torch.randn(3000, 3)
    centers = torch.tensor([0, 10, 2999])
    patches, idx = group_points(points, centers, 32)
    assert patches.shape == (3, 32, 3) and idx.shape == (3, 32)
    assert torch.equal(idx, knn(points[centers], points, 32)[1])
    assert torch.allclose(patches, points[idx] - points[centers].unsqueeze(1))
    assert torch.equal(patches[:, 0], torch.zeros(3, 3))


def test_center_coordinates_give_the_same_groups_as_indices() -> None:
    points = torch.randn(1000, 3)
    centers = torch.tensor([5, 6, 7])
    by_index = group_points(points, centers, 16)
    by_coordinates = group_points(points, points[centers], 16)
    assert torch.equal(by_index[1], by_coordinates[1]) and torch.equal(by_index[0], by_coordinates[0])
