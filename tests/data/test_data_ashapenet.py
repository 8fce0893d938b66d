"""Anomaly-ShapeNet layout loader, on the shared sample and on small fake layouts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from datafakes import write_gt, write_pcd

from trainer.data.ashapenet import load_ashapenet
from trainer.data.errors import DatasetError
from trainer.data.sample import GOOD


@pytest.fixture(scope="module")
def root(shared_data: Path) -> Path:
    return shared_data / "ashapenet-sample"


@pytest.fixture(scope="module")
def test_split(root: Path) -> list:
    return list(load_ashapenet(root, "casting", "test"))


def test_casting_has_four_training_templates(root: Path) -> None:
    train = load_ashapenet(root, "casting", "train")
    assert [p.name for p in train.paths] == [f"casting_template{i}.pcd" for i in range(4)]
    assert all(s.labels is None and s.kind == GOOD for s in train)


def test_casting_test_kinds_are_parsed_from_file_names(root: Path) -> None:
    kinds = Counter(load_ashapenet(root, "casting", "test").kinds)
    assert kinds == Counter({GOOD: 2, "broken": 1, "bulge": 1, "concavity": 1, "crack": 1, "hole": 1, "scratch": 1})


def test_labels_align_with_points(test_split: list) -> None:
    for sample in test_split:
        assert sample.labels.shape == (len(sample.points),)


def test_positive_samples_are_normal_everywhere(test_split: list) -> None:
    good = [s for s in test_split if s.kind == GOOD]
    assert len(good) == 2 and all(s.label == 0 and not s.labels.any() for s in good)


def test_anomalous_samples_have_anomalous_points(test_split: list) -> None:
    anomalous = [s for s in test_split if s.kind != GOOD]
    assert len(anomalous) == 6 and all(s.label == 1 and s.labels.any() for s in anomalous)


def _fake_class(root: Path) -> Path:
    folder = root / "cup"
    points = np.random.default_rng(0).normal(size=(30, 3))
    write_pcd(folder / "train" / "cup_template0.pcd", points)
    write_pcd(folder / "test" / "cup_positive0.pcd", points)
    write_gt(folder / "GT" / "cup_positive0.txt", points, np.zeros(30), delimiter=",")
    return folder


def test_positive_cloud_without_ground_truth_is_an_error(tmp_path: Path) -> None:
    folder = _fake_class(tmp_path)
    (folder / "GT" / "cup_positive0.txt").unlink()
    with pytest.raises(DatasetError, match="no ground truth"):
        load_ashapenet(tmp_path, "cup", "test")


def test_ground_truth_with_another_point_count_is_an_error_naming_both(tmp_path: Path) -> None:
    folder = _fake_class(tmp_path)
    write_gt(folder / "GT" / "cup_positive0.txt", np.zeros((29, 3)), np.zeros(29), delimiter=",")
    with pytest.raises(DatasetError, match="29 points but .*cup_positive0.pcd has 30"):
        load_ashapenet(tmp_path, "cup", "test")[0]


def test_empty_train_folder_is_an_error(tmp_path: Path) -> None:
    folder = _fake_class(tmp_path)
    (folder / "train" / "cup_template0.pcd").unlink()
    with pytest.raises(DatasetError, match="train folder holds no .*pcd.* files"):
        load_ashapenet(tmp_path, "cup", "train")
