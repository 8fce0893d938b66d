import numpy as np
import torch

from edge.geometry.knn import knn
from edge.geometry.sampling import voxel_downsample
from edge.geometry.sampling import densify
from trainer.fit.augment import augment


def _plane(n: int = 2000, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0.0, 20.0, (n, 2))
    return torch.from_numpy(np.column_stack([xy, np.zeros(n)]).astype(np.float32))


def test_densify_adds_the_requested_share_of_points() -> None:
    assert densify(_plane(), np.random.default_rng(0), 3.0).shape == (6000, 3)


def test_densified_points_stay_on_the_sampled_surface() -> None:
    dense = densify(_plane(), np.random.default_rng(0), 2.0)
    assert float(dense[:, 2].abs().max()) == 0.0


def test_densified_points_fill_between_samples_rather_than_repeat_them() -> None:
    points = _plane()
    added = densify(points, np.random.default_rng(0), 2.0)[len(points):]
    nearest = knn(added, points, 1)[0][:, 0].sqrt()
    assert float((nearest > 1e-3).float().mean()) > 0.95


def test_densified_copy_occupies_more_voxels_like_a_finer_scan() -> None:
    points = _plane()
    dense = densify(points, np.random.default_rng(0), 4.0)
    assert voxel_downsample(dense, 0.2)[0].shape[0] > 1.3 * voxel_downsample(points, 0.2)[0].shape[0]


def test_densify_factor_one_returns_the_points() -> None:
    points = _plane()
    assert densify(points, np.random.default_rng(0), 1.0) is points


def test_augment_with_density_two_returns_about_twice_the_points_kept() -> None:
    points = _plane()
    copy = augment(points, np.random.default_rng(0), 0.5, density=2.0, keep=0.95)
    assert copy.shape[0] == int(4000 * 0.95)


def test_a_single_view_of_a_closed_surface_keeps_about_the_half_facing_the_scanner() -> None:
    from edge.geometry.visibility import sphere_directions
    from trainer.fit.augment import single_view

    sphere = sphere_directions(4000) * 20.0
    view = single_view(sphere, np.random.default_rng(0), 1.0)
    assert 0.35 * len(sphere) < len(view) < 0.65 * len(sphere)
    direction = torch.nn.functional.normalize(view.mean(dim=0), dim=0)
    assert float((view @ direction).min()) > -5.0
