"""Real3D-AD layout loader, on the shared dev-bench and on small fake layouts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from datafakes import write_gt, write_pcd

from trainer.data.errors import DatasetError
from trainer.data.real3d import load_real3d
from trainer.data.sample import GOOD

SYNTHETIC_CLASSES = ["casting", "fandisk", "igea", "rocker_arm"]
DEFECTS = ["broken", "bulge", "concavity", "crack", "hole", "scratch"]


@pytest.fixture(scope="module")
def bench(shared_data: Path) -> Path:
    return shared_data / "dev-bench"


@pytest.fixture(scope="module")
def casting_test(bench: Path) -> list:
    return list(load_real3d(bench, "casting", "test"))


@pytest.mark.parametrize("class_name", SYNTHETIC_CLASSES + ["bunny_scan"])
def test_every_class_has_four_training_clouds(bench: Path, class_name: str) -> None:
    train = load_real3d(bench, class_name, "train")
    assert len(train) == 4
    assert set(train.kinds) == {GOOD}


@pytest.mark.parametrize("class_name", SYNTHETIC_CLASSES)
def test_synthetic_classes_have_six_good_and_two_of_each_defect(bench: Path, class_name: str) -> None:
    kinds = Counter(load_real3d(bench, class_name, "test").kinds)
    assert kinds == Counter({GOOD: 6, **{kind: 2 for kind in DEFECTS}})


def test_bunny_scan_has_ten_good_and_two_of_each_surface_defect(bench: Path) -> None:
    kinds = Counter(load_real3d(bench, "bunny_scan", "test").kinds)
    assert kinds == Counter({GOOD: 10, "bulge": 2, "concavity": 2, "crack": 2, "scratch": 2})


def test_test_clouds_are_in_natural_order(bench: Path) -> None:
    names = [p.stem for p in load_real3d(bench, "casting", "test").paths]
    assert names[:3] == ["0_good", "1_good", "2_good"]
    assert names[-2:] == ["16_scratch", "17_scratch"]


def test_training_samples_are_normal_and_unlabelled(bench: Path) -> None:
    sample = load_real3d(bench, "casting", "train")[0]
    assert sample.labels is None and sample.label == 0 and sample.kind == GOOD
    assert sample.points.dtype == np.float32 and sample.points.shape[1] == 3
    assert sample.class_name == "casting" and sample.path.name == "0_template.pcd"


def test_labels_align_with_points(casting_test: list) -> None:
    for sample in casting_test:
        assert sample.labels.shape == (len(sample.points),)


def test_good_samples_are_labelled_normal_everywhere(casting_test: list) -> None:
    good = [s for s in casting_test if s.kind == GOOD]
    assert good and all(s.label == 0 and not s.labels.any() for s in good)


def test_anomalous_samples_have_anomalous_points(casting_test: list) -> None:
    anomalous = [s for s in casting_test if s.kind != GOOD]
    assert anomalous and all(s.label == 1 and s.labels.any() for s in anomalous)


def test_anomalous_points_come_from_the_ground_truth_file(bench: Path, casting_test: list) -> None:
    sample = next(s for s in casting_test if s.path.stem == "12_hole")
    first_row = np.loadtxt(bench / "casting" / "gt" / "12_hole.txt", max_rows=1)
    np.testing.assert_allclose(sample.points[0], first_row[:3], atol=1e-5)


def _fake_class(root: Path) -> Path:
    folder = root / "part"
    points = np.random.default_rng(0).normal(size=(50, 3))
    write_pcd(folder / "train" / "0_template.pcd", points)
    write_pcd(folder / "test" / "0_good.pcd", points)
    write_pcd(folder / "test" / "1_hole.pcd", points[:40])
    write_gt(folder / "gt" / "1_hole.txt", points[:40], np.r_[np.ones(5), np.zeros(35)])
    return folder


def test_missing_train_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    folder = _fake_class(tmp_path)
    (folder / "train" / "0_template.pcd").unlink()
    (folder / "train").rmdir()
    with pytest.raises(DatasetError, match="train folder not found") as error:
        load_real3d(tmp_path, "part", "train")
    assert str(folder / "train") in str(error.value)


def test_missing_class_is_an_error(tmp_path: Path) -> None:
    _fake_class(tmp_path)
    with pytest.raises(DatasetError, match="class folder 'other' not found"):
        load_real3d(tmp_path, "other", "test")


def test_anomalous_cloud_without_ground_truth_is_an_error_naming_both(tmp_path: Path) -> None:
    folder = _fake_class(tmp_path)
    (folder / "gt" / "1_hole.txt").unlink()
    with pytest.raises(DatasetError, match="no ground truth") as error:
        load_real3d(tmp_path, "part", "test")
    assert "1_hole.pcd" in str(error.value) and "1_hole.txt" in str(error.value)


def test_good_cloud_with_anomalous_ground_truth_is_an_error(tmp_path: Path) -> None:
    folder = _fake_class(tmp_path)
    points = np.zeros((3, 3))
    write_gt(folder / "gt" / "0_good.txt", points, np.array([0, 1, 0]))
    with pytest.raises(DatasetError, match="normal sample has 1 anomalous"):
        load_real3d(tmp_path, "part", "test")[0]


def test_unknown_split_is_rejected(tmp_path: Path) -> None:
    _fake_class(tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_real3d(tmp_path, "part", "val")


def test_slicing_keeps_a_lazy_dataset(tmp_path: Path) -> None:
    _fake_class(tmp_path)
    test = load_real3d(tmp_path, "part", "test")
    assert test[1:].kinds == ["hole"]
    assert len(test[1]) == 40
