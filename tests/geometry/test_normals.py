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


def reference_level_sweep(points: torch.Tensor, normals: torch.Tensor, neighbors: torch.Tensor) -> torch.Tensor:
    """The textbook level sweep: a symmetrised COO graph, a stable int64 sort of the edges by level and one vote
    ``bincount`` over all points per level."""
    from scipy import sparse
    from scipy.sparse import csgraph

    n, k = neighbors.shape
    pts, nrm = points.numpy(), normals.numpy()
    src, dst = np.repeat(np.arange(n), k), neighbors.reshape(-1).numpy()
    keep = src != dst
    src, dst = np.concatenate([src[keep], dst[keep]]), np.concatenate([dst[keep], src[keep]])
    graph = sparse.csr_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n, n))
    _, component = csgraph.connected_components(graph, directed=False)
    outward = ((pts - pts.mean(axis=0, keepdims=True)) ** 2).sum(axis=1)
    order = np.lexsort((np.arange(n), -outward, component))
    seeds = order[np.concatenate([[True], component[order[1:]] != component[order[:-1]]])]
    root = sparse.csr_matrix((np.ones(seeds.size, dtype=np.int8), (np.zeros(seeds.size, dtype=np.int64), seeds)),
                             shape=(1, n + 1))
    rooted = sparse.vstack([sparse.hstack([graph, sparse.csr_matrix((n, 1), dtype=np.int8)]), root]).tocsr()
    level = csgraph.shortest_path(rooted, directed=True, unweighted=True, indices=n)[:n].astype(np.int64)
    sign = np.ones(n, dtype=nrm.dtype)
    sign[seeds] = np.where((nrm[seeds] * (pts[seeds] - pts.mean(axis=0, keepdims=True))).sum(axis=1) < 0, -1.0, 1.0)
    forward = level[dst] == level[src] + 1
    src, dst = src[forward], dst[forward]
    by_level = np.argsort(level[dst], kind="stable")
    src, dst = src[by_level], dst[by_level]
    agreement = (nrm[src] * nrm[dst]).sum(axis=1)
    bounds = np.searchsorted(level[dst], np.arange(2, int(level.max()) + 2))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        vote = np.bincount(dst[lo:hi], weights=sign[src[lo:hi]] * agreement[lo:hi], minlength=n)
        targets = np.unique(dst[lo:hi])
        sign[targets] = np.where(vote[targets] < 0, -1.0, 1.0)
    return normals * torch.from_numpy(sign).unsqueeze(1)


def test_cpu_level_sweep_orients_as_the_textbook_level_sweep_on_several_components() -> None:
    first, _ = torus(4000)
    second, _ = torus(1500, seed=3, big=8.0, small=3.0)
    noise = torch.randn(300, 3) * 40
    points = torch.cat([first, second + torch.tensor([200.0, 0.0, 0.0]), noise])
    _, neighbors = knn(points, points, 16)
    unoriented = local_pca(points, neighbors)[1][:, :, 0].float()
    assert torch.equal(_propagate_by_levels(points, unoriented, neighbors),
                       reference_level_sweep(points, unoriented, neighbors))


def test_cpu_level_sweep_with_duplicate_points_orients_as_the_textbook_level_sweep() -> None:
    base, _ = torus(2000, seed=4)
    points = torch.cat([base, base[:40].repeat(3, 1)])
    _, neighbors = knn(points, points, 10)
    unoriented = local_pca(points, neighbors)[1][:, :, 0].float()
    assert torch.equal(_propagate_by_levels(points, unoriented, neighbors),
                       reference_level_sweep(points, unoriented, neighbors))
