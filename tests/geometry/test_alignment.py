"""Rigid alignment: ICP against the real Stanford bunny range scans and their registered poses,
coarse (PCA, FPFH + RANSAC) recovery of large rotations, synthetic convergence and determinism."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
import torch

from edge.geometry.alignment import Alignment, _solve_spd, align, apply_transform, icp

ROTATION_TOL_DEG = 0.5
TRANSLATION_TOL_M = 0.001  # the scans are in metres


def _rotation(axis: list[float], degrees: float) -> torch.Tensor:
    a = torch.tensor(axis, dtype=torch.float64)
    a = a / a.norm()
    skew = torch.tensor([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]], dtype=torch.float64)
    return torch.linalg.matrix_exp(skew * math.radians(degrees))


def _rigid(axis: list[float], degrees: float, shift: list[float]) -> torch.Tensor:
    transform = torch.eye(4, dtype=torch.float64)
    transform[:3, :3] = _rotation(axis, degrees)
    transform[:3, 3] = torch.tensor(shift, dtype=torch.float64)
    return transform


def _errors(estimate: torch.Tensor, truth: torch.Tensor) -> tuple[float, float]:
    """Rotation error in degrees and translation error between two (4, 4) transforms."""
    delta = torch.linalg.inv(truth) @ estimate.double()
    cos = float(((delta[0, 0] + delta[1, 1] + delta[2, 2] - 1) / 2).clamp(-1, 1))
    return math.degrees(math.acos(cos)), float((estimate.double()[:3, 3] - truth[:3, 3]).norm())


def _conf_pose(tx: float, ty: float, tz: float, qx: float, qy: float, qz: float, qw: float) -> torch.Tensor:
    """Scan-to-world pose from a ``bun.conf`` line.

    The file stores the conjugate of the rotation applied to the points (Scanalyze convention):
    with R(q) only ~1% of bun045 lands within 2 mm of bun000, with R(q)^T 92% does.
    """
    rotation = torch.tensor(
        [
            [1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw)],
            [2 * (qx * qy + qz * qw), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw)],
            [2 * (qx * qz - qy * qw), 2 * (qy * qz + qx * qw), 1 - 2 * (qx * qx + qy * qy)],
        ],
        dtype=torch.float64,
    )
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, :3] = rotation.T
    pose[:3, 3] = torch.tensor([tx, ty, tz], dtype=torch.float64)
    return pose


@pytest.fixture(scope="module")
def scans(shared_data: Path) -> dict[str, torch.Tensor]:
    folder = shared_data / "sources" / "bunny-scans"
    return {
        name: torch.from_numpy(np.asarray(o3d.io.read_point_cloud(str(folder / f"{name}.ply")).points)).float()
        for name in ("bun000", "bun045")
    }


@pytest.fixture(scope="module")
def poses(shared_data: Path) -> dict[str, torch.Tensor]:
    lines = (shared_data / "sources" / "bunny-scans" / "bun.conf").read_text().splitlines()
    fields = [line.split() for line in lines if line.startswith("bmesh")]
    return {f[1].removesuffix(".ply"): _conf_pose(*map(float, f[2:])) for f in fields}


@pytest.fixture(scope="module")
def cropped_copy(scans: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Template (every 3rd bun000 point) and a noisy copy missing its top 20% along x, moved far away."""
    template = scans["bun000"][::3].contiguous()
    generator = torch.Generator().manual_seed(7)
    part = template[template[:, 0] < torch.quantile(template[:, 0], 0.8)]
    return template, part + 0.0003 * torch.randn(part.shape, generator=generator)


def _ellipsoid(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Points on a tri-axial ellipsoid (no continuous symmetry) and their exact outward normals."""
    axes = torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64)
    direction = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    points = direction / direction.norm(dim=1, keepdim=True) * axes
    normals = points / axes**2
    return points.float(), (normals / normals.norm(dim=1, keepdim=True)).float()


def test_apply_transform_rotates_then_translates_every_point() -> None:
    transform = _rigid([0, 0, 1], 90, [1.0, 2.0, 3.0])
    moved = apply_transform(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), transform)
    torch.testing.assert_close(moved, torch.tensor([[1.0, 3.0, 3.0], [1.0, 2.0, 4.0]]))


def test_point_to_plane_icp_converges_to_the_exact_motion_on_a_synthetic_surface() -> None:
    target, normals = _ellipsoid(4000, seed=1)
    motion = _rigid([1, -1, 2], 8, [0.15, -0.1, 0.05])
    source = apply_transform(target[::2], torch.linalg.inv(motion))
    result = icp(source, target, target_normals=normals, max_correspondence_distance=1.0, tolerance=1e-7)
    rotation_error, translation_error = _errors(result.transform, motion)
    assert rotation_error < 1e-3 and translation_error < 1e-4
    assert result.fitness == 1.0 and result.rmse < 1e-4
    assert result.iterations < 30


@pytest.mark.parametrize("method", ["point_to_plane", "point_to_point"])
def test_icp_with_fixed_iterations_and_convergence_masking_gives_the_converging_pose(method: str) -> None:
    target, normals = _ellipsoid(4000, seed=4)
    source = apply_transform(target[::2], torch.linalg.inv(_rigid([2, 1, -1], 7, [0.1, 0.05, -0.1])))
    kwargs = dict(target_normals=normals, method=method, max_correspondence_distance=(1.0, 0.5), tolerance=1e-6)
    converging = icp(source, target, check_every=1, **kwargs)
    fixed = icp(source, target, check_every=30, **kwargs)
    blocks = icp(source, target, check_every=7, **kwargs)
    assert 0 < converging.iterations < 60
    for other in (fixed, blocks):
        assert torch.equal(other.transform, converging.transform)
        assert (other.rmse, other.fitness, other.iterations) == (converging.rmse, converging.fitness, converging.iterations)


def test_point_to_plane_needs_fewer_iterations_than_point_to_point() -> None:
    target, normals = _ellipsoid(4000, seed=2)
    source = apply_transform(target[1::2], torch.linalg.inv(_rigid([0, 1, 1], 6, [0.1, 0.0, -0.1])))
    kwargs = dict(target_normals=normals, max_correspondence_distance=1.0, tolerance=1e-6)
    plane = icp(source, target, method="point_to_plane", **kwargs)
    point = icp(source, target, method="point_to_point", **kwargs)
    assert plane.iterations < point.iterations
    assert plane.rmse <= point.rmse + 1e-6


def test_icp_recovers_the_registered_pose_of_a_real_scan_pair(scans, poses) -> None:
    truth = torch.linalg.inv(poses["bun000"]) @ poses["bun045"]
    perturbed = _rigid([1, 2, 0.5], 4, [0.003, -0.002, 0.002]) @ truth
    result = align(scans["bun045"], scans["bun000"], coarse="none", init=perturbed)
    rotation_error, translation_error = _errors(result.transform, truth)
    assert rotation_error < ROTATION_TOL_DEG and translation_error < TRANSLATION_TOL_M
    assert result.fitness > 0.6  # bun045 sees about two thirds of what bun000 sees


def test_pca_coarse_then_icp_recovers_a_large_rotation_of_a_cropped_noisy_copy(cropped_copy) -> None:
    template, part = cropped_copy
    motion = _rigid([1, 2, 0.5], 60, [0.05, -0.02, 0.03])
    result = align(apply_transform(part, torch.linalg.inv(motion)), template, coarse="pca")
    rotation_error, translation_error = _errors(result.transform, motion)
    assert rotation_error < ROTATION_TOL_DEG and translation_error < TRANSLATION_TOL_M
    assert result.fitness > 0.95


def test_fpfh_coarse_then_icp_recovers_a_large_rotation_of_a_cropped_noisy_copy(cropped_copy) -> None:
    template, part = cropped_copy
    motion = _rigid([1, 1, 1], 120, [-0.04, 0.06, 0.01])
    result = align(apply_transform(part, torch.linalg.inv(motion)), template, coarse="fpfh")
    rotation_error, translation_error = _errors(result.transform, motion)
    assert rotation_error < ROTATION_TOL_DEG and translation_error < TRANSLATION_TOL_M
    assert result.fitness > 0.95


def test_fpfh_coarse_then_icp_registers_two_real_scans_taken_45_degrees_apart(scans, poses) -> None:
    truth = torch.linalg.inv(poses["bun000"]) @ poses["bun045"]
    result = align(scans["bun045"][::2].contiguous(), scans["bun000"][::2].contiguous(), coarse="fpfh")
    rotation_error, translation_error = _errors(result.transform, truth)
    assert rotation_error < ROTATION_TOL_DEG and translation_error < TRANSLATION_TOL_M


def test_same_seed_gives_identical_alignments(cropped_copy) -> None:
    template, part = cropped_copy
    source = apply_transform(part, _rigid([0, 0, 1], 90, [0.0, 0.1, 0.0]))
    first = align(source, template, coarse="fpfh", seed=3, max_iterations=5)
    second = align(source, template, coarse="fpfh", seed=3, max_iterations=5)
    assert torch.equal(first.transform, second.transform)
    assert (first.rmse, first.fitness, first.iterations) == (second.rmse, second.fitness, second.iterations)


def test_a_scan_far_from_the_template_reports_zero_fitness() -> None:
    target, normals = _ellipsoid(500, seed=3)
    result = icp(target + 100.0, target, target_normals=normals, max_correspondence_distance=0.5)
    assert isinstance(result, Alignment)
    assert result.fitness == 0.0 and result.iterations == 0
    assert torch.equal(result.transform, torch.eye(4))


def test_unknown_coarse_method_is_rejected() -> None:
    points = torch.rand(100, 3)
    with pytest.raises(ValueError, match="coarse"):
        align(points, points, coarse="ransac")  # type: ignore[arg-type]


def test_closed_form_rotation_of_the_cuda_path_equals_the_matrix_exponential() -> None:
    from edge.geometry.alignment import _rodrigues

    omega = torch.cat([torch.randn(100, 3, dtype=torch.float64) * scale for scale in (1e-8, 1e-5, 1e-3, 0.1, 2.0)])
    skew = torch.zeros(omega.shape[0], 3, 3, dtype=torch.float64)
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -omega[:, 2], omega[:, 1], -omega[:, 0]
    skew = skew - skew.transpose(1, 2)
    torch.testing.assert_close(_rodrigues(omega, skew), torch.linalg.matrix_exp(skew), rtol=0, atol=1e-14)


def test_graph_safe_spd_solve_equals_lapack_on_point_to_plane_systems() -> None:
    gen = torch.Generator().manual_seed(3)
    points = torch.randn(16, 500, 3, generator=gen, dtype=torch.float64) * torch.tensor([40.0, 5.0, 0.5], dtype=torch.float64)
    normals = torch.nn.functional.normalize(torch.randn(16, 500, 3, generator=gen, dtype=torch.float64), dim=2)
    jac = torch.cat([torch.linalg.cross(points, normals, dim=2), normals], dim=2)
    lhs = jac.transpose(1, 2) @ jac + 1e-9 * torch.eye(6, dtype=torch.float64)
    rhs = torch.randn(16, 6, generator=gen, dtype=torch.float64)
    expected = torch.linalg.solve(lhs, rhs.unsqueeze(2)).squeeze(2)
    torch.testing.assert_close(_solve_spd(lhs, rhs), expected, rtol=1e-9, atol=1e-12)
