"""Group3AD losses: IUN (inter-cluster uniformity), IAN (intra-cluster alignment) and the elbow choice of K."""

import pytest
import torch
from sklearn.datasets import make_blobs

from trainer.models.group3ad_losses import cluster_groups, elbow, ian_loss, iun_loss


def _two_clusters(separation: float, spread: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, 8, generator=g) * spread
    b = torch.randn(50, 8, generator=g) * spread
    b[:, 0] += separation
    return torch.cat([a, b]), torch.cat([torch.zeros(50), torch.ones(50)]).long()


def test_iun_is_the_inverse_of_the_smallest_distance_between_cluster_centers() -> None:
    features = torch.tensor([[0.0, 0.0], [0.0, 2.0], [3.0, 0.0], [3.0, 2.0], [0.0, 10.0]])
    labels = torch.tensor([0, 0, 1, 1, 2])
    assert float(iun_loss(features, labels)) == pytest.approx(1.0 / 3.0)


def test_iun_decreases_as_cluster_centers_spread_apart() -> None:
    losses = [float(iun_loss(*_two_clusters(separation))) for separation in (0.5, 1.0, 2.0, 4.0)]
    assert losses == sorted(losses, reverse=True) and losses[0] > 4 * losses[-1]


def test_iun_gradient_pushes_the_closest_clusters_apart() -> None:
    features, labels = _two_clusters(1.0)
    features.requires_grad_(True)
    iun_loss(features, labels).backward()
    assert features.grad is not None
    assert float(features.grad[labels == 0, 0].mean()) > 0 > float(features.grad[labels == 1, 0].mean())


def test_ian_is_zero_for_tight_clusters() -> None:
    features = torch.tensor([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 7)
    labels = torch.tensor([0] * 5 + [1] * 7)
    assert float(ian_loss(features, labels, temperature=2.0)) == pytest.approx(0.0, abs=1e-7)


def test_ian_is_temperature_times_mean_squared_cluster_diameter() -> None:
    features = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [10.0, 0.0], [10.0, 2.0]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    assert float(ian_loss(features, labels, temperature=0.5)) == pytest.approx(0.5 * (9.0 + 4.0) / 2)


def test_elbow_picks_the_bend_of_an_inertia_curve() -> None:
    assert elbow([1, 2, 3, 4, 5, 6], [100.0, 60.0, 25.0, 22.0, 20.0, 19.0]) == 3


def test_elbow_clustering_picks_the_obvious_k_on_blobs() -> None:
    points, _ = make_blobs(n_samples=400, centers=4, n_features=6, cluster_std=0.6, random_state=3)
    clustering = cluster_groups(torch.as_tensor(points, dtype=torch.float32), (1, 10), seed=0)
    assert clustering.k == 4
    assert clustering.labels.shape == (400,) and set(clustering.labels.tolist()) == {0, 1, 2, 3}
