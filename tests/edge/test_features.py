"""Feature branch scores: the groups' memory-bank distances spread to their points."""

import torch

from edge.features import Descriptors, feature_point_scores


def test_points_take_their_groups_mean_score_and_ungrouped_points_their_nearest_centers() -> None:
    points = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [10, 0, 0], [11, 0, 0], [6.1, 0, 0]])
    bank = torch.zeros(1, 2)
    vectors = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    descriptors = Descriptors(
        normals=torch.zeros_like(points), vectors=vectors, centers=torch.tensor([1, 4]),
        members=torch.tensor([[1, 0, 2], [4, 3, 1]]),
    )
    scores = feature_point_scores(points, descriptors, bank)
    torch.testing.assert_close(scores, torch.tensor([5.0, 3.0, 5.0, 1.0, 1.0, 1.0]))
