"""Fake anomalies (Group3AD eq. 1-6): where they go, what moves, and seeded determinism."""

import torch

from trainer.models.fake_anomaly import FakeAnomaly, anomaly_anchors, make_fake_anomalies


def _plate() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 40 x 40 grid plate (spacing 1) with up normals, and a variation peaking at index 820 (near the middle)."""
    xs, ys = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    points = torch.stack([xs.reshape(-1), ys.reshape(-1), torch.zeros(1600)], dim=1)
    normals = torch.tensor([0.0, 0.0, 1.0]).expand(1600, 3).clone()
    variation = -((points - points[820]) ** 2).sum(dim=1).sqrt()
    return points, normals, variation


def _fake(seed: int, count: int = 1, noise: float = 0.2) -> FakeAnomaly:
    points, normals, variation = _plate()
    return make_fake_anomalies(
        points, normals, variation, count=count, radius=(4.0, 6.0), height=(1.0, 2.0), noise=noise,
        generator=torch.Generator().manual_seed(seed),
    )


def test_only_points_near_the_highest_variation_point_move() -> None:
    points, _, _ = _plate()
    fake = _fake(seed=0)
    moved = (fake.points - points).norm(dim=1) > 0
    assert fake.anchors.tolist() == [820]
    assert int(moved.sum()) > 20
    assert float((points[moved] - points[820]).norm(dim=1).max()) < 6.0
    assert torch.equal(moved, fake.weight > 0)


def test_without_noise_the_displacement_is_along_the_normal_and_peaks_at_the_anchor() -> None:
    points, _, _ = _plate()
    offset = _fake(seed=1, noise=0.0).points - points
    assert float(offset[:, :2].abs().max()) == 0.0
    assert int(offset[:, 2].abs().argmax()) == 820 and 1.0 <= abs(float(offset[820, 2])) <= 2.0


def test_fake_anomalies_are_deterministic_for_a_seed() -> None:
    first, again, other = _fake(seed=7, count=3), _fake(seed=7, count=3), _fake(seed=8, count=3)
    assert torch.equal(first.points, again.points) and torch.equal(first.weight, again.weight)
    assert not torch.equal(first.points, other.points)


def test_anchors_are_the_highest_variation_points_kept_apart() -> None:
    points, _, variation = _plate()
    anchors = anomaly_anchors(points, variation, count=4, min_separation=8.0)
    assert anchors[0] == 820 and anchors.shape == (4,)
    gaps = torch.cdist(points[anchors], points[anchors]) + torch.eye(4) * 1e9
    assert float(gaps.min()) >= 8.0
