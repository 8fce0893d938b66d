"""`Sample` invariants and the defect-kind parser."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.data.sample import GOOD, Sample, parse_kind


@pytest.mark.parametrize(
    ("stem", "kind"),
    [
        ("12_hole", "hole"),
        ("0_good", GOOD),
        ("3_template", GOOD),
        ("casting_positive1", GOOD),
        ("casting_template0", GOOD),
        ("casting_broken0", "broken"),
        ("rocker_arm_concavity12", "concavity"),
        ("ashtray0_bulge3", "bulge"),
        ("7_Scratch.pcd", "scratch"),
    ],
)
def test_parse_kind_returns_the_defect_word_of_a_file_name(stem: str, kind: str) -> None:
    assert parse_kind(stem) == kind


@pytest.mark.parametrize("stem", ["12", "casting_", "0_9"])
def test_parse_kind_rejects_a_name_without_a_defect_word(stem: str) -> None:
    with pytest.raises(ValueError, match="defect kind"):
        parse_kind(stem)


def test_sample_stores_points_as_float32_and_labels_as_uint8() -> None:
    sample = Sample(np.zeros((5, 3)), np.array([0, 1, 0, 0, 1]), 1, "hole", None, "part")
    assert sample.points.dtype == np.float32
    assert sample.labels.dtype == np.uint8
    assert len(sample) == 5 and sample.is_anomalous


def test_sample_rejects_labels_that_do_not_align_with_points() -> None:
    with pytest.raises(ValueError, match="labels must be"):
        Sample(np.zeros((5, 3)), np.zeros(4), 0, GOOD, None, "part")


def test_sample_rejects_labels_other_than_zero_and_one() -> None:
    with pytest.raises(ValueError, match="0 \\(normal\\) or 1"):
        Sample(np.zeros((3, 3)), np.array([0, 2, 0]), 1, "bulge", None, "part")


def test_sample_rejects_a_kind_that_contradicts_the_object_label() -> None:
    with pytest.raises(ValueError, match="contradicts"):
        Sample(np.zeros((3, 3)), None, 1, GOOD, None, "part")
