"""PCA normals: same axes as open3d, consistently oriented on closed shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edge.geometry.knn import knn
from edge.geometry.normals import _propagate_by_levels, _propagate_by_sweeps, estimate_normals, local_pca
from tests.geometry.conftest import torus


def neighbour_agreement(normals: torch.Tensor, points: torch.Tensor, k: int = 10) -> float:
    _, idx = knn(points, points, k, exclude_self=True)
    return float(((normals.unsqueeze(1) * normals[idx]).sum(dim=2) > 0).float().mean())


def test_normals_match_open3d_up_to_sign(fandisk: np.ndarray) -> None:
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(fandisk.astype(np.float64)))
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(20))
    ours = estimate_normals(torch.from_numpy(fandisk), 20).double().numpy()
    cos = np.abs((ours * np.asarray(cloud.normals)).sum(axis=1))
    assert (cos > 0.99).mean() > 0.98


def test_normals_point_outward_on_a_torus(torus_cloud) -> None:
    points, truth = torus_cloud
    normals = estimate_normals(points, 20)
    assert float(((normals * truth).sum(dim=1) > 0.9).float().mean()) > 0.99


def test_normals_agree_with_their_neighbours_on_a_closed_part(fandisk: np.ndarray) -> None:
    points = torch.from_numpy(fandisk)
    assert neighbour_agreement(estimate_normals(points, 20), points) > 0.98


def test_normals_face_the_viewpoint_when_given() -> None:
    points = torch.cat([torch.rand(500, 2), torch.zeros(500, 1)], dim=1)
    normals = estimate_normals(points, 10, viewpoint=torch.tensor([0.5, 0.5, -3.0]))
    assert bool((normals[:, 2] < -0.99).all())


@pytest.mark.parametrize("check_every", [1, 5, 16])
def test_tensor_sweeps_orient_like_the_cpu_level_sweep_on_several_components(check_every: int) -> None:
    first, _ = torus(3000)
    second, _ = torus(2000, seed=3, big=8.0, small=3.0)
    points = torch.cat([first, second + torch.tensor([200.0, 0.0, 0.0])])
    _, neighbors = knn(points, points, 12)
    unoriented = local_pca(points, neighbors)[1][:, :, 0].float()
    levels = _propagate_by_levels(points, unoriented, neighbors)
    sweeps = _propagate_by_sweeps(points, unoriented, neighbors, check_every)
    assert torch.equal(levels, sweeps)


def test_sweep_buffers_reused_across_cloud_sizes_orient_like_the_level_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    import edge.geometry.normals as normals_module

    state = normals_module._Sweeps(1 << 14, 12, 64, 16, torch.device("cpu"))
    monkeypatch.setattr(normals_module, "_sweeps", lambda n, k, width, block, device: (state, state.relax, state.vote))
    for n, seed in ((9000, 0), (3000, 1), (12000, 2)):
        points = torus(n, seed=seed)[0]
        _, neighbors = knn(points, points, 12)
        unoriented = local_pca(points, neighbors)[1][:, :, 0].float()
        assert torch.equal(_propagate_by_levels(points, unoriented, neighbors),
                           normals_module._propagate_by_sweeps(points, unoriented, neighbors))


def test_consistent_orientation_equals_recomputing_the_agreements(torus_cloud) -> None:
    """Signed dot products taken once flip the same normals, round for round, as recomputing them from the
    flipped normals (the formulation before the dot products were cached)."""
    from edge.geometry.normals import orient_consistently

    points, normals = torus_cloud
    flipped = torch.where((torch.arange(len(points)) % 3 == 0).unsqueeze(1), -normals, normals)
    _, neighbors = knn(points, points, 12)
    expected = flipped
    for _ in range(8):
        agreement = (expected.unsqueeze(1) * expected[neighbors]).sum(dim=2).sum(dim=1)
        if not bool((agreement < 0).any()):
            break
        expected = torch.where((agreement < 0).unsqueeze(1), -expected, expected)
    assert torch.equal(orient_consistently(flipped, neighbors, 8), expected)
