"""Plain folders of normal scans, and listing/loading datasets by format name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.io import PointCloud, write_cloud
from trainer.data.catalog import DATASET_FORMATS, list_classes, load_split
from trainer.data.errors import DatasetError
from trainer.data.folder import load_folder
from trainer.data.sample import GOOD


def test_folder_loads_every_readable_cloud_in_natural_order(tmp_path: Path) -> None:
    for i in (10, 2, 1):
        np.save(tmp_path / f"scan{i}.npy", np.full((4, 3), i, np.float32))
    (tmp_path / "README.md").write_text("not a cloud")
    scans = load_folder(tmp_path, "bracket")
    assert [p.name for p in scans.paths] == ["scan1.npy", "scan2.npy", "scan10.npy"]
    sample = scans[2]
    assert sample.class_name == "bracket" and sample.kind == GOOD and sample.labels is None
    np.testing.assert_array_equal(sample.points, np.full((4, 3), 10, np.float32))


def test_folder_class_name_defaults_to_the_folder_name(tmp_path: Path) -> None:
    folder = tmp_path / "flange_a"
    folder.mkdir()
    np.save(folder / "0.npy", np.zeros((4, 3), np.float32))
    assert load_folder(folder)[0].class_name == "flange_a"


def test_folder_drops_non_finite_points(tmp_path: Path) -> None:
    points = np.array([[0, 0, 0], [np.nan, 1, 1], [2, 2, 2]], np.float32)
    np.save(tmp_path / "0.npy", points)
    np.testing.assert_array_equal(load_folder(tmp_path)[0].points, points[[0, 2]])


def test_folder_reads_every_cloud_format(tmp_path: Path) -> None:
    points = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    for suffix in (".pcd", ".ply"):
        write_cloud(tmp_path / f"scan{suffix}", PointCloud(points))
    np.savetxt(tmp_path / "scan.xyz", points)
    scans = load_folder(tmp_path)
    assert sorted(p.suffix for p in scans.paths) == [".pcd", ".ply", ".xyz"]
    for sample in scans:
        np.testing.assert_allclose(sample.points, points, atol=1e-4)


def test_folder_without_clouds_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="holds no") as error:
        load_folder(tmp_path)
    assert str(tmp_path) in str(error.value)


def test_list_classes_of_the_dev_bench(shared_data: Path) -> None:
    classes = list_classes(shared_data / "dev-bench", "real3d")
    assert classes == ["bunny_scan", "casting", "fandisk", "igea", "rocker_arm"]


def test_list_classes_of_the_ashapenet_sample(shared_data: Path) -> None:
    assert list_classes(shared_data / "ashapenet-sample", "ashapenet") == ["casting"]


def test_list_classes_of_a_folder_without_classes_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no class folders"):
        list_classes(tmp_path, "real3d")


def test_unknown_format_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset format"):
        list_classes(tmp_path, "mvtec")


def test_load_split_dispatches_on_the_format(shared_data: Path) -> None:
    assert set(DATASET_FORMATS) == {"real3d", "ashapenet", "folder"}
    test = load_split(shared_data / "ashapenet-sample", "ashapenet", "casting", "test")
    assert len(test) == 8
