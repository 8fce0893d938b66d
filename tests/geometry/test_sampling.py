"""Voxel downsampling and statistical outlier removal against open3d."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from edge.geometry.sampling import statistical_outlier_mask, voxel_downsample


def test_voxel_downsample_matches_open3d(fandisk: np.ndarray) -> None:
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(fandisk.astype(np.float64)))
    reference = np.asarray(cloud.voxel_down_sample(3.0).points)
    ours, _ = voxel_downsample(torch.from_numpy(fandisk), 3.0)
    assert len(ours) == len(reference)
    gap, _ = cKDTree(reference).query(ours.double().numpy())
    assert gap.max() < 1e-4


def test_voxel_inverse_maps_each_point_to_its_centroid() -> None:
    points = torch.rand(2000, 3) * 10
    centroids, inverse = voxel_downsample(points, 1.0)
    for v in (0, len(centroids) // 2, len(centroids) - 1):
        assert torch.allclose(points[inverse == v].mean(dim=0), centroids[v], atol=1e-5)


def test_voxel_downsample_is_bit_reproducible() -> None:
    points = torch.rand(5000, 3)
    first, second = voxel_downsample(points, 0.05), voxel_downsample(points, 0.05)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_outlier_mask_matches_open3d_indices(fandisk: np.ndarray) -> None:
    import open3d as o3d

    rng = np.random.default_rng(0)
    noisy = np.concatenate([fandisk, rng.uniform(fandisk.min(0), fandisk.max(0), (100, 3))]).astype(np.float32)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(noisy.astype(np.float64)))
    _, kept = cloud.remove_statistical_outlier(nb_neighbors=20, std_ratio=2.0)
    mask = statistical_outlier_mask(torch.from_numpy(noisy), 20, 2.0)
    assert np.flatnonzero(mask.numpy()).tolist() == sorted(kept)
    assert int((~mask[len(fandisk):]).sum()) > 50
