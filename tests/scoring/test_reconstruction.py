"""Reconstruction branch: the unit-sphere frame, the reconstruction pipeline and the DUS-Net point score."""

import pytest
import torch

from edge.scoring.reconstruction import ShapeFrame, reconstruct, reconstruction_scores


def _sphere(n: int) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, 3), dim=1)


def test_shape_frame_round_trip_returns_the_points() -> None:
    points = torch.randn(500, 3) * 40.0 + torch.tensor([100.0, -20.0, 5.0])
    frame = ShapeFrame.from_points(points)
    assert torch.allclose(frame.denormalize(frame.normalize(points)), points, atol=1e-4)


def test_shape_frame_puts_the_template_in_the_unit_sphere() -> None:
    points = torch.randn(500, 3) * 40.0 + 7.0
    unit = ShapeFrame.from_points(points).normalize(points)
    assert torch.allclose(unit.mean(dim=0), torch.zeros(3), atol=1e-4)
    assert float(unit.norm(dim=1).max()) == pytest.approx(1.0, abs=1e-5)


def test_a_point_far_from_the_reconstruction_scores_higher_than_one_on_it() -> None:
    dense = _sphere(2000)
    probes = torch.stack([dense[0], dense[0] * 1.2])
    scores = reconstruction_scores(probes, dense)
    assert float(scores[1]) > float(scores[0]) + 0.15


def test_reconstruction_score_is_the_softmax_weighted_distance_to_the_three_nearest() -> None:
    dense = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0], [9.0, 9.0, 9.0]])
    d = torch.tensor([1.0, 2.0, 3.0])
    expected = float((torch.softmax(-d / 0.5, dim=0) * d).sum())
    assert float(reconstruction_scores(torch.zeros(1, 3), dense, temperature=0.5)[0]) == pytest.approx(expected)


def test_reconstruct_runs_any_callables_on_fps_centers_and_their_patches() -> None:
    points = _sphere(3000)
    seen = {}

    def down(patches: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        seen["patches"] = patches
        return centers * 0.5

    def up(centers: torch.Tensor) -> torch.Tensor:
        return centers.repeat_interleave(4, dim=1)

    rec = reconstruct(points, down, up, groups=64, group_size=16)
    assert seen["patches"].shape == (1, 64, 16, 3)
    assert rec.centers.shape == rec.denoised.shape == (64, 3)
    assert torch.allclose(rec.denoised, rec.centers * 0.5)
    assert rec.dense.shape == (256, 3)
    assert float(rec.centers.norm(dim=1).sub(1).abs().max()) < 1e-5  # the centers are input points


def test_reconstruct_rejects_a_cloud_smaller_than_the_groups() -> None:
    with pytest.raises(ValueError, match="at least 64 points"):
        reconstruct(_sphere(40), lambda p, c: c, lambda c: c, groups=64, group_size=16)


def test_shape_frame_with_a_list_center_as_read_from_bundle_yaml_round_trips() -> None:
    frame = ShapeFrame(center=[1.0, -2.0, 0.5], scale=2.0)
    points = torch.tensor([[3.0, 0.0, 0.5], [1.0, -2.0, 0.5]])
    torch.testing.assert_close(frame.normalize(points), torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(frame.denormalize(frame.normalize(points)), points)
