"""Synthetic defects: where they act, what they label, how sizes scale, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from datafakes import sheet, sphere

from trainer.data.defects import DEFECT_KINDS, apply_defect, broken, bulge, concavity, crack, hole, scratch
from trainer.data.geometry import bbox_diagonal
from trainer.data.parts import make_part

POINTS, NORMALS = sheet(n=20000)
DIAGONAL = bbox_diagonal(POINTS)
CENTER = POINTS[np.argmin(np.linalg.norm(POINTS - [50.0, 50.0, 0.0], axis=1))]
"""A defect's centre snaps to the nearest cloud point; this one is that point for the sheet's middle."""


def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def moved(points: np.ndarray, result_points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(result_points - points, axis=1) > 0


@pytest.mark.parametrize("defect", [bulge, concavity, crack, scratch])
def test_surface_defects_move_exactly_the_labelled_points(defect) -> None:
    result = defect(POINTS, rng(), normals=NORMALS, center=CENTER)
    assert len(result.points) == len(POINTS)
    assert result.labels.sum() > 0
    # the profile reaches zero on the rim, so a labelled rim point may not move
    assert not moved(POINTS, result.points)[result.labels == 0].any()
    assert moved(POINTS, result.points)[result.labels == 1].mean() > 0.95


def test_bulge_pushes_points_outward_within_its_radius() -> None:
    result = bulge(POINTS, rng(), normals=NORMALS, center=CENTER, radius=0.06, height=0.02)
    labelled = result.labels == 1
    assert result.points[labelled, 2].min() >= 0
    assert result.points[:, 2].max() == pytest.approx(0.02 * DIAGONAL, rel=0.05)
    assert np.linalg.norm(POINTS[labelled] - CENTER, axis=1).max() < 0.06 * DIAGONAL


@pytest.mark.parametrize("defect", [concavity, crack, scratch])
def test_dents_and_grooves_push_points_inward(defect) -> None:
    result = defect(POINTS, rng(), normals=NORMALS, center=CENTER)
    assert result.points[:, 2].max() == 0
    assert result.points[result.labels == 1, 2].min() < 0


def test_crack_follows_a_thin_path_through_its_centre() -> None:
    result = crack(POINTS, rng(), normals=NORMALS, center=CENTER, length=0.15, width=0.01, depth=0.02)
    region = POINTS[result.labels == 1]
    assert np.linalg.norm(region - CENTER, axis=1).max() <= 0.075 * DIAGONAL + 0.01 * DIAGONAL
    spread = np.sqrt(np.linalg.eigvalsh(np.cov(region[:, :2].T)))
    assert spread[1] > 4 * spread[0]


def test_scratch_is_shallower_than_a_crack_by_default() -> None:
    depth_crack = -crack(POINTS, rng(), normals=NORMALS, center=CENTER).points[:, 2].min()
    depth_scratch = -scratch(POINTS, rng(), normals=NORMALS, center=CENTER).points[:, 2].min()
    assert depth_scratch < depth_crack


def test_hole_removes_the_points_around_its_centre_and_labels_the_rim() -> None:
    result = hole(POINTS, rng(), normals=NORMALS, center=CENTER, radius=0.04, rim=0.02)
    distance = np.linalg.norm(POINTS - CENTER, axis=1)
    assert len(result.points) == int((distance >= 0.04 * DIAGONAL).sum())
    survivors = np.linalg.norm(result.points - CENTER, axis=1)
    assert survivors.min() >= 0.04 * DIAGONAL
    labelled = survivors[result.labels == 1]
    assert labelled.size and labelled.max() <= 0.06 * DIAGONAL + 1e-3


def test_hole_keeps_surviving_points_unchanged_and_in_order() -> None:
    result = hole(POINTS, rng(), normals=NORMALS, center=CENTER)
    keep = np.linalg.norm(POINTS - CENTER, axis=1) >= np.linalg.norm(result.points - CENTER, axis=1).min()
    np.testing.assert_array_equal(result.points, POINTS[keep])


def test_broken_cuts_away_the_requested_share_at_an_extremity() -> None:
    part = make_part("shaft", np.random.default_rng(0), 6000, tolerance=0.0)
    result = broken(part.points, rng(), normals=part.normals, fraction=0.05)
    assert len(result.points) == len(part.points) - 300
    lost = np.setdiff1d(np.arange(len(part.points)), _kept_index(part.points, result.points))
    # the shaft's extremities are its two ends along z, 45 mm from the centre
    assert np.abs(part.points[lost, 2]).min() > 30


def test_broken_labels_the_rim_next_to_the_cut() -> None:
    part = make_part("shaft", np.random.default_rng(0), 6000, tolerance=0.0)
    result = broken(part.points, rng(), normals=part.normals, fraction=0.05, rim=0.03)
    lost = part.points[np.setdiff1d(np.arange(len(part.points)), _kept_index(part.points, result.points))]
    rim = result.points[result.labels == 1]
    gap = np.linalg.norm(rim[:, None] - lost[None], axis=2).min(axis=1)
    assert gap.max() <= 0.03 * bbox_diagonal(part.points) + 1e-3


def _kept_index(original: np.ndarray, kept: np.ndarray) -> np.ndarray:
    lookup = {tuple(p): i for i, p in enumerate(original)}
    return np.array([lookup[tuple(p)] for p in kept])


def test_bulge_area_scales_with_its_radius() -> None:
    small = bulge(POINTS, rng(), normals=NORMALS, center=CENTER, radius=0.04).labels.sum()
    large = bulge(POINTS, rng(), normals=NORMALS, center=CENTER, radius=0.08).labels.sum()
    assert 3.0 < large / small < 5.0


def test_bulge_height_scales_with_its_size() -> None:
    low = bulge(POINTS, rng(), normals=NORMALS, center=CENTER, height=0.01).points[:, 2].max()
    high = bulge(POINTS, rng(), normals=NORMALS, center=CENTER, height=0.02).points[:, 2].max()
    assert high == pytest.approx(2 * low, rel=1e-5)


def test_hole_area_scales_with_its_radius() -> None:
    small = len(POINTS) - len(hole(POINTS, rng(), normals=NORMALS, center=CENTER, radius=0.03).points)
    large = len(POINTS) - len(hole(POINTS, rng(), normals=NORMALS, center=CENTER, radius=0.06).points)
    assert 3.0 < large / small < 5.0


def test_crack_length_scales_the_labelled_region() -> None:
    short = crack(POINTS, rng(), normals=NORMALS, center=CENTER, length=0.08, width=0.01).labels.sum()
    long = crack(POINTS, rng(), normals=NORMALS, center=CENTER, length=0.16, width=0.01).labels.sum()
    assert 1.6 < long / short < 2.4


def test_bulge_stays_on_one_face_of_a_thin_wall() -> None:
    front, normals = sheet(n=4000)
    back = front.copy()
    back[:, 2] = -2.0
    points = np.concatenate([front, back])
    result = bulge(points, rng(), normals=np.concatenate([normals, -normals]), center=CENTER, radius=0.08)
    assert result.labels[:4000].any() and not result.labels[4000:].any()


def test_without_normals_a_bulge_on_a_sphere_moves_points_away_from_its_centre() -> None:
    points = sphere()
    result = bulge(points, rng(), center=points[0])
    labelled = result.labels == 1
    before = np.linalg.norm(points[labelled], axis=1)
    after = np.linalg.norm(result.points[labelled], axis=1)
    assert (after >= before - 1e-4).all() and (after > before).mean() > 0.95


def test_default_sizes_resemble_the_dev_bench_defects() -> None:
    """On a 100 mm part, bumps span about 10-15 mm and rise about 1.5-2.5 mm, as in the dev-bench."""
    part = make_part("housing", np.random.default_rng(0), 20000, tolerance=0.0)
    scale = 100.0 / bbox_diagonal(part.points)
    points = part.points * scale
    top = points[np.argmax(points[:, 2] - np.abs(points[:, 0]) - np.abs(points[:, 1]))]
    for seed in range(5):
        result = bulge(points, np.random.default_rng(seed), normals=part.normals, center=top)
        region = points[result.labels == 1]
        width = np.ptp(region[:, :2], axis=0).max()
        height = np.abs(result.points - points).max()
        assert 9.0 < width < 15.5 and 1.4 < height < 2.6


@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_every_defect_kind_is_deterministic_and_labels_points(kind: str) -> None:
    part = make_part("flange", np.random.default_rng(0), 4000)
    first = apply_defect(kind, part.points, np.random.default_rng(3), normals=part.normals)
    again = apply_defect(kind, part.points, np.random.default_rng(3), normals=part.normals)
    other = apply_defect(kind, part.points, np.random.default_rng(4), normals=part.normals)
    np.testing.assert_array_equal(first.points, again.points)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert not np.array_equal(first.labels, other.labels)
    assert first.labels.any() and first.points.dtype == np.float32 and first.labels.dtype == np.uint8


def test_defects_on_a_sparse_cloud_still_label_points() -> None:
    part = make_part("bracket", np.random.default_rng(0), 800)
    for kind in DEFECT_KINDS:
        assert apply_defect(kind, part.points, np.random.default_rng(1), normals=part.normals).labels.any(), kind


def test_apply_defect_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown defect kind 'dent'"):
        apply_defect("dent", POINTS, rng())


def test_defect_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        bulge(POINTS, rng(), normals=NORMALS, radius=-0.1)
