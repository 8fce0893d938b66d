"""FPFH parity with open3d's compute_fpfh_feature on real files, fed the same normals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edge.geometry.fpfh import fpfh
from edge.geometry.knn import knn
from edge.geometry.normals import estimate_normals
from tests.geometry.conftest import read_points


def open3d_fpfh(points: np.ndarray, normals: np.ndarray, radius: float, max_nn: int) -> np.ndarray:
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points.astype(np.float64)))
    cloud.normals = o3d.utility.Vector3dVector(normals.astype(np.float64))
    param = o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=max_nn)
    return np.asarray(o3d.pipelines.registration.compute_fpfh_feature(cloud, param).data).T


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    both_zero = norms == 0
    cos = np.where(both_zero, 1.0, (a * b).sum(axis=1) / np.where(both_zero, 1.0, norms))
    return float(cos.mean())


def assert_parity(points: np.ndarray, spacing_factor: float, max_nn: int) -> None:
    pts = torch.from_numpy(points)
    spacing = float(knn(pts, pts, 1, exclude_self=True)[0].sqrt().median())
    radius = spacing_factor * spacing
    normals = estimate_normals(pts, 20)
    ours = fpfh(pts, normals, radius=radius, max_nn=max_nn)
    assert ours.shape == (len(points), 33) and ours.dtype == torch.float32
    reference = open3d_fpfh(points, normals.numpy(), radius, max_nn)
    assert mean_cosine(ours.double().numpy(), reference) >= 0.99


def test_fpfh_matches_open3d_on_bun0(shared_data: Path) -> None:
    assert_parity(read_points(shared_data / "formats/bun0.pcd"), 5.0, 100)


def test_fpfh_matches_open3d_on_a_downsampled_fandisk(fandisk: np.ndarray) -> None:
    assert_parity(fandisk, 5.0, 100)


def test_fpfh_matches_open3d_on_a_subsampled_kinect_scan_with_capped_neighbours(shared_data: Path) -> None:
    assert_parity(read_points(shared_data / "formats/milk.pcd", every=4), 8.0, 30)


def test_fpfh_blocks_sum_to_200_with_neighbours_and_vanish_without() -> None:
    points = torch.cat([torch.rand(300, 2), torch.zeros(300, 1)], dim=1)
    points = torch.cat([points, torch.tensor([[10.0, 10.0, 10.0]])])
    normals = torch.tensor([[0.0, 0.0, 1.0]]).expand_as(points).contiguous()
    features = fpfh(points, normals, radius=0.2).reshape(-1, 3, 11).sum(dim=2)
    assert torch.allclose(features[:-1], torch.full_like(features[:-1], 200.0), atol=1e-3)
    assert torch.equal(features[-1], torch.zeros(3))


def test_fpfh_rejects_mismatched_normals() -> None:
    with pytest.raises(ValueError):
        fpfh(torch.rand(10, 3), torch.rand(9, 3), radius=1.0)


def test_multiscale_fpfh_equals_one_search_per_radius(torus_cloud) -> None:
    from edge.geometry.fpfh import fpfh_multiscale

    points, normals = torus_cloud
    scales = fpfh_multiscale(points, normals, radii=[1.5, 3.0], max_nn=40)
    for radius, got in zip([1.5, 3.0], scales):
        torch.testing.assert_close(got, fpfh(points, normals, radius=radius, max_nn=40))


def test_single_precision_fpfh_matches_double_precision(torus_cloud) -> None:
    points, normals = torus_cloud
    single = fpfh(points, normals, radius=2.5, max_nn=40, dtype=torch.float32)
    double = fpfh(points, normals, radius=2.5, max_nn=40)
    cosine = torch.nn.functional.cosine_similarity(single, double, dim=1)
    assert cosine.mean() > 0.999


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_kernel_equals_the_torch_kernel_in_double_precision_bit_for_bit(
    torus_cloud, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CPU kernel (numba, float64) gives the very same histograms as the torch kernel of the CUDA path at
    float64, from single- or double-precision input, including degenerate pairs (duplicate points, normals along
    the connecting line)."""
    from edge.geometry import compiled
    from edge.geometry.fpfh import fpfh_multiscale

    points, normals = torus_cloud
    points = torch.cat([points, points[:50]])
    normals = torch.cat([normals, normals[:50]])
    normals[:20] = torch.nn.functional.normalize(points[20:40] - points[:20], dim=1)
    points, normals = points.to(dtype), normals.to(dtype)
    compiled_scales = fpfh_multiscale(points, normals, radii=[1.5, 3.0], max_nn=40)
    monkeypatch.setattr(compiled, "AVAILABLE", False)
    torch_scales = fpfh_multiscale(points, normals, radii=[1.5, 3.0], max_nn=40, dtype=torch.float64)
    for ours, theirs in zip(compiled_scales, torch_scales):
        assert torch.equal(ours, theirs)
