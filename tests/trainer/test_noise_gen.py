"""Noise-Gen: which groups it corrupts, and how (levels in unit-sphere units and patch radii)."""

import torch

from trainer.models.noise_gen import NoiseGen

B, G, K = 2, 400, 16


def _groups() -> tuple[torch.Tensor, torch.Tensor]:
    centers = torch.randn(B, G, 3)
    neighbours = centers.unsqueeze(2) + torch.randn(B, G, K, 3) * 0.02
    return centers, neighbours


def test_without_corrupted_groups_patches_are_the_clean_neighbours_around_their_centers() -> None:
    centers, neighbours = _groups()
    noisy, patches = NoiseGen(ratio=0.0)(centers, neighbours)
    assert torch.equal(noisy, centers)
    assert torch.allclose(patches, neighbours - centers.unsqueeze(2))


def test_about_ratio_of_the_groups_are_corrupted() -> None:
    centers, neighbours = _groups()
    noisy, _ = NoiseGen(ratio=0.25)(centers, neighbours, torch.Generator().manual_seed(1))
    moved = (noisy != centers).any(dim=2).float().mean()
    assert 0.2 < float(moved) < 0.3


def test_a_corrupted_center_moves_by_alpha_per_axis() -> None:
    centers, neighbours = _groups()
    noisy, _ = NoiseGen(alpha=0.08, beta=0.0, ratio=1.0)(centers, neighbours, torch.Generator().manual_seed(2))
    assert abs(float((noisy - centers).std()) - 0.08) < 0.008


def test_neighbours_follow_the_center_like_a_bump_and_the_farthest_stays() -> None:
    centers, neighbours = _groups()
    noisy, patches = NoiseGen(alpha=0.08, beta=0.0, ratio=1.0)(centers, neighbours, torch.Generator().manual_seed(2))
    moved = patches + noisy.unsqueeze(2) - neighbours  # absolute displacement of every neighbour
    shift = noisy - centers
    order = (neighbours - centers.unsqueeze(2)).norm(dim=-1).argsort(dim=2)
    nearest = moved.gather(2, order[:, :, :1, None].expand(-1, -1, -1, 3)).squeeze(2)
    farthest = moved.gather(2, order[:, :, -1:, None].expand(-1, -1, -1, 3)).squeeze(2)
    assert float(farthest.abs().max()) < 1e-5
    share = (nearest * shift).sum(-1) / shift.square().sum(-1)
    assert float(share.median()) > 0.7


def test_neighbour_jitter_is_beta_times_the_patch_radius() -> None:
    centers, neighbours = _groups()
    radius = (neighbours - centers.unsqueeze(2)).norm(dim=-1).amax(dim=2, keepdim=True).unsqueeze(-1)
    _, patches = NoiseGen(alpha=0.0, beta=0.15, ratio=1.0)(centers, neighbours, torch.Generator().manual_seed(3))
    jitter = (patches - (neighbours - centers.unsqueeze(2))) / radius
    assert abs(float(jitter.std()) - 0.15) < 0.01
