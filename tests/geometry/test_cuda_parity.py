"""Each geometry op gives the CPU's answer on CUDA (skipped where torch sees no GPU)."""

from __future__ import annotations

import pytest
import torch

from edge.geometry.agcs import agcs
from edge.geometry.fpfh import fpfh_multiscale
from edge.geometry.fps import farthest_point_sampling
from edge.geometry import gpu_kernels
from edge.geometry.knn import DEFAULT_MAX_BYTES, _brute_force, _grid_search, _matrix_brute_force, knn, radius_knn
from edge.geometry.normals import estimate_normals
from edge.geometry.sampling import statistical_outlier_mask, voxel_downsample
from tests.geometry.conftest import torus

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
CUDA = torch.device("cuda")


@pytest.fixture(scope="module")
def cloud() -> torch.Tensor:
    return torus(20_000)[0]


def test_knn_on_cuda_equals_the_cpu_kdtree(cloud: torch.Tensor) -> None:
    d_cpu, i_cpu = knn(cloud, cloud, 16, exclude_self=True)
    d_gpu, i_gpu = knn(cloud.to(CUDA), cloud.to(CUDA), 16, exclude_self=True)
    torch.testing.assert_close(d_gpu.cpu(), d_cpu, rtol=1e-5, atol=1e-6)
    assert (i_gpu.cpu() == i_cpu).float().mean() > 0.999


def test_radius_knn_on_cuda_equals_the_cpu_kdtree(cloud: torch.Tensor) -> None:
    d_cpu, _ = radius_knn(cloud, cloud, 2.0, 24, exclude_self=True)
    d_gpu, _ = radius_knn(cloud.to(CUDA), cloud.to(CUDA), 2.0, 24, exclude_self=True)
    torch.testing.assert_close(d_gpu.cpu(), d_cpu, rtol=1e-5, atol=1e-6)


def test_normals_on_cuda_equal_the_cpu_normals(cloud: torch.Tensor) -> None:
    cpu = estimate_normals(cloud, 16)
    gpu = estimate_normals(cloud.to(CUDA), 16).cpu()
    assert ((cpu * gpu).sum(dim=1) > 0.999).float().mean() > 0.999


def test_fpfh_on_cuda_equals_the_cpu_fpfh(cloud: torch.Tensor) -> None:
    normals = estimate_normals(cloud, 16)
    cpu = fpfh_multiscale(cloud, normals, radii=[1.5, 3.0], max_nn=40, dtype=torch.float32)
    gpu = fpfh_multiscale(cloud.to(CUDA), normals.to(CUDA), radii=[1.5, 3.0], max_nn=40, dtype=torch.float32)
    for a, b in zip(cpu, gpu):
        assert torch.nn.functional.cosine_similarity(a, b.cpu(), dim=1).mean() > 0.999


def coverage(points: torch.Tensor, picked: torch.Tensor) -> float:
    """The largest distance from a point to its nearest picked point."""
    return float(knn(points, points[picked], 1)[0].max().sqrt())


def test_fps_and_agcs_on_cuda_cover_the_part_as_on_the_cpu(cloud: torch.Tensor) -> None:
    gpu_fps = farthest_point_sampling(cloud.to(CUDA), 300).cpu()
    assert gpu_fps.unique().numel() == 300
    assert coverage(cloud, gpu_fps) <= 1.05 * coverage(cloud, farthest_point_sampling(cloud, 300))
    features = torch.rand(cloud.shape[0], 33, generator=torch.Generator().manual_seed(0))
    gpu_agcs = agcs(cloud.to(CUDA), features.to(CUDA), 256, 0.5).cpu()
    assert gpu_agcs.unique().numel() == 256
    assert coverage(cloud, gpu_agcs) <= 1.1 * coverage(cloud, agcs(cloud, features, 256, 0.5))


def test_voxel_grid_and_outliers_on_cuda_equal_the_cpu(cloud: torch.Tensor) -> None:
    c_cpu, inv_cpu = voxel_downsample(cloud, 0.7)
    c_gpu, inv_gpu = voxel_downsample(cloud.to(CUDA), 0.7)
    torch.testing.assert_close(c_gpu.cpu(), c_cpu)
    assert torch.equal(inv_gpu.cpu(), inv_cpu)
    same = statistical_outlier_mask(cloud.to(CUDA), 20, 2.0).cpu() == statistical_outlier_mask(cloud, 20, 2.0)
    assert same.float().mean() > 0.999


@pytest.mark.parametrize(("k", "radius"), [(16, None), (99, 2.0)])
def test_grid_search_candidates_from_the_triton_kernel_equal_the_torch_form(
    cloud: torch.Tensor, k: int, radius: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = cloud.to(CUDA)
    assert gpu_kernels.usable(points, "knn"), "torch's CUDA build ships Triton"
    kernel_d, kernel_i = _grid_search(points, points, k, radius, True, DEFAULT_MAX_BYTES)
    monkeypatch.setattr(gpu_kernels, "usable", lambda tensor, kernel: False)
    torch_d, torch_i = _grid_search(points, points, k, radius, True, DEFAULT_MAX_BYTES)
    torch.testing.assert_close(kernel_d, torch_d, rtol=1e-6, atol=0.0)
    assert (kernel_i == torch_i).float().mean() > 0.999


@pytest.mark.parametrize("k", [1, 16])
def test_brute_force_from_the_triton_kernel_equals_the_distance_matrices(cloud: torch.Tensor, k: int) -> None:
    points = cloud.to(CUDA)
    query, own = points[:3000], torch.arange(3000, device=CUDA)
    kernel_d, kernel_i = _brute_force(query, points, k, own, None, DEFAULT_MAX_BYTES)
    matrix_d, matrix_i = _matrix_brute_force(query, points, k, own, None, DEFAULT_MAX_BYTES)
    torch.testing.assert_close(kernel_d, matrix_d, rtol=1e-6, atol=0.0)
    assert (kernel_i == matrix_i).float().mean() > 0.999
