"""Procedural parts: point counts, sizes, normals, determinism and family variation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from trainer.data.geometry import bbox_diagonal
from trainer.data.parts import NOMINAL, PART_KINDS, make_family, make_part, part_dimensions


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    return float(cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean()) / 2


@pytest.mark.parametrize("kind", PART_KINDS)
def test_part_has_the_requested_number_of_float32_points(kind: str) -> None:
    part = make_part(kind, np.random.default_rng(0), 3000)
    assert part.points.shape == (3000, 3) and part.points.dtype == np.float32
    assert part.normals.shape == (3000, 3)
    np.testing.assert_allclose(np.linalg.norm(part.normals, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", PART_KINDS)
def test_part_is_about_100_mm_across_and_centred(kind: str) -> None:
    part = make_part(kind, np.random.default_rng(0), 3000)
    assert 90.0 < bbox_diagonal(part.points) < 105.0
    np.testing.assert_allclose((part.points.max(axis=0) + part.points.min(axis=0)) / 2, 0.0, atol=1e-4)


def test_flange_matches_its_nominal_outline() -> None:
    part = make_part("flange", np.random.default_rng(0), 5000, tolerance=0.0)
    d = NOMINAL["flange"]
    extent = np.ptp(part.points, axis=0)
    np.testing.assert_allclose(extent, [2 * d["radius"], 2 * d["radius"], d["thickness"] + d["hub_height"]], rtol=0.02)


def test_bracket_bolt_holes_are_empty() -> None:
    part = make_part("bracket", np.random.default_rng(0), 20000, tolerance=0.0)
    d = NOMINAL["bracket"]
    local = part.points - part.points.min(axis=0)
    hole_center = np.array([d["width"] / 4, d["thickness"] + 0.6 * (d["depth"] - d["thickness"])])
    on_base_bottom = np.abs(local[:, 2]) < 1e-3
    radial = np.linalg.norm(local[on_base_bottom, :2] - hole_center, axis=1)
    assert radial.min() >= d["hole"] - 1e-3


@pytest.mark.parametrize("kind", PART_KINDS)
def test_normals_on_the_bounding_box_faces_point_outward(kind: str) -> None:
    part = make_part(kind, np.random.default_rng(0), 8000, tolerance=0.0)
    for axis in range(3):
        for sign, extreme in ((1, part.points[:, axis].max()), (-1, part.points[:, axis].min())):
            on_face = np.abs(part.points[:, axis] - extreme) < 0.05
            assert (sign * part.normals[on_face, axis]).mean() > 0.9


def test_sampling_is_roughly_uniform_by_area() -> None:
    part = make_part("housing", np.random.default_rng(0), 20000, tolerance=0.0)
    top = part.points[:, 2].max() - NOMINAL["housing"]["boss_height"]
    on_top = np.abs(part.points[:, 2] - top) < 1e-3
    d = NOMINAL["housing"]
    inner = (d["length"] - 2 * d["fillet"]) * (d["width"] - 2 * d["fillet"]) - 4 * np.pi * d["boss_radius"] ** 2
    density = on_top.sum() / inner
    bottom = np.abs(part.points[:, 2] - part.points[:, 2].min()) < 1e-3
    bottom_area = (d["length"] - 2 * d["fillet"]) * (d["width"] - 2 * d["fillet"])
    assert density == pytest.approx(bottom.sum() / bottom_area, rel=0.1)


def test_same_seed_gives_the_same_part() -> None:
    first = make_part("shaft", np.random.default_rng(5), 2000, noise=0.05, pose_degrees=3, pose_mm=1)
    again = make_part("shaft", np.random.default_rng(5), 2000, noise=0.05, pose_degrees=3, pose_mm=1)
    np.testing.assert_array_equal(first.points, again.points)
    assert first.dimensions == again.dimensions


def test_dimensions_vary_within_tolerance() -> None:
    dims = part_dimensions("flange", np.random.default_rng(0), tolerance=0.01)
    ratios = np.array([dims[k] / v for k, v in NOMINAL["flange"].items()])
    assert (np.abs(ratios - 1) <= 0.01).all() and (ratios != 1).any()


def test_family_varies_little_compared_with_another_kind() -> None:
    family = make_family("housing", np.random.default_rng(0), 3, 4000, tolerance=0.005, noise=0.05)
    other = make_part("bracket", np.random.default_rng(0), 4000)
    within = max(chamfer(family[0].points, member.points) for member in family[1:])
    assert within < 1.0
    assert chamfer(family[0].points, other.points) > 5 * within


def test_noise_displaces_points_along_their_normals() -> None:
    rng_clean, rng_noisy = np.random.default_rng(1), np.random.default_rng(1)
    clean = make_part("shaft", rng_clean, 2000, tolerance=0.0)
    noisy = make_part("shaft", rng_noisy, 2000, tolerance=0.0, noise=0.1)
    offset = (noisy.points - clean.points).astype(np.float64)
    along = np.einsum("ni,ni->n", offset, clean.normals)
    assert 0.07 < along.std() < 0.13
    np.testing.assert_allclose(offset, along[:, None] * clean.normals, atol=1e-3)


def test_pose_jitter_is_a_rigid_motion_within_its_bounds() -> None:
    clean = make_part("bracket", np.random.default_rng(2), 2000, tolerance=0.0)
    moved = make_part("bracket", np.random.default_rng(2), 2000, tolerance=0.0, pose_degrees=3, pose_mm=1)
    a, b = clean.points.astype(np.float64), moved.points.astype(np.float64)
    u, _, vt = np.linalg.svd((a - a.mean(axis=0)).T @ (b - b.mean(axis=0)))
    rotation = (u @ vt).T
    shift = b.mean(axis=0) - a.mean(axis=0) @ rotation.T
    np.testing.assert_allclose(a @ rotation.T + shift, b, atol=1e-3)
    angle = np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1, 1)))
    assert 0 < angle <= 3.0 + 1e-3 and np.linalg.norm(shift) <= 1.0 + 1e-3


def test_unknown_part_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown part kind"):
        make_part("gear", np.random.default_rng(0), 100)
