"""DUS-Net losses: Chamfer, cosine, repulsion, and the Sinkhorn EMD against the exact assignment."""


import pytest
import torch
from scipy.optimize import linear_sum_assignment

from trainer.models.losses import chamfer_distance, cosine_loss, emd_sinkhorn, mse_loss, repulsion_loss


pytestmark = pytest.mark.usefixtures("one_thread")


def _sphere(n: int, noise: float = 0.0) -> torch.Tensor:
    points = torch.nn.functional.normalize(torch.randn(1, n, 3), dim=-1)
    return points + noise * torch.randn(1, n, 3)


def test_chamfer_distance_of_identical_sets_is_zero() -> None:
    points = torch.randn(2, 100, 3)
    assert float(chamfer_distance(points, points[:, torch.randperm(100)])) == pytest.approx(0.0, abs=1e-6)


def test_mse_and_cosine_losses_vanish_for_a_perfect_prediction() -> None:
    points = torch.randn(2, 50, 3)
    assert float(mse_loss(points, points)) == 0.0
    assert float(cosine_loss(points, points)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("n", [64, 128, 256])
def test_sinkhorn_emd_is_within_3_percent_of_the_exact_assignment(n: int) -> None:
    for trial in range(3):
        x, y = _sphere(n), _sphere(n, noise=0.02)
        cost = torch.cdist(x[0].double(), y[0].double()).numpy()
        rows, cols = linear_sum_assignment(cost)
        exact = cost[rows, cols].mean()
        assert float(emd_sinkhorn(x, y)) == pytest.approx(exact, rel=0.03), f"trial {trial}"


def test_sinkhorn_emd_gradient_pulls_points_onto_their_targets() -> None:
    y = _sphere(128)
    x = (y + 0.05 * torch.randn_like(y)).requires_grad_()
    loss = emd_sinkhorn(x, y)
    loss.backward()
    moved = x.detach() - 0.01 * x.grad / x.grad.norm(dim=-1).max()  # each point moves at most 0.01
    assert float(emd_sinkhorn(moved, y)) < float(loss.detach())


def test_repulsion_decreases_when_points_spread() -> None:
    points = torch.rand(1, 500, 3) * 0.1
    assert float(repulsion_loss(points * 1.5)) < float(repulsion_loss(points))
