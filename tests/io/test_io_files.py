"""read_cloud / write_cloud: dispatch by suffix, round trips in every format and DATA mode."""

from __future__ import annotations

import numpy as np
import pytest

from edge.io import CloudFormatError, PointCloud, read_cloud, write_cloud

ROUND_TRIPS = [
    ("c.pcd", "ascii"), ("c.pcd", "binary"), ("c.pcd", "binary_compressed"),
    ("c.ply", "ascii"), ("c.ply", "binary"), ("c.ply", "binary_big_endian"),
    ("c.npy", "binary"), ("c.npz", "binary"), ("c.xyz", "binary"), ("c.txt", "binary"), ("c.csv", "binary"),
]  # fmt: skip
KEEPS_ATTRIBUTES = (".pcd", ".ply", ".npz")


@pytest.fixture(scope="module")
def cloud() -> PointCloud:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(64, 3)).astype(np.float32)
    return PointCloud(points, normals=rng.normal(size=(64, 3)), intensity=rng.uniform(size=64))


@pytest.mark.parametrize("name, data", ROUND_TRIPS)
def test_write_then_read_returns_the_same_points(tmp_path, cloud, name, data):
    write_cloud(tmp_path / name, cloud, data=data)
    back = read_cloud(tmp_path / name)
    np.testing.assert_array_equal(back.points, cloud.points)
    assert back.path == tmp_path / name
    if back.path.suffix in KEEPS_ATTRIBUTES:
        np.testing.assert_array_equal(back.normals, cloud.normals)
        np.testing.assert_array_equal(back.intensity, cloud.intensity)


@pytest.mark.parametrize("name, data", ROUND_TRIPS)
def test_round_trips_an_empty_cloud(tmp_path, name, data):
    write_cloud(tmp_path / name, PointCloud(np.zeros((0, 3))), data=data)
    assert read_cloud(tmp_path / name).points.shape == (0, 3)


def test_dispatches_on_the_suffix_case_insensitively(tmp_path, cloud):
    write_cloud(tmp_path / "SCAN.PCD", cloud)
    assert (tmp_path / "SCAN.PCD").read_bytes().startswith(b"# .PCD v0.7")
    np.testing.assert_array_equal(read_cloud(tmp_path / "SCAN.PCD").points, cloud.points)


def test_reading_an_unknown_suffix_is_a_format_error(tmp_path):
    (tmp_path / "scan.obj").write_text("v 0 0 0\n")
    with pytest.raises(CloudFormatError, match="unsupported file type '.obj'"):
        read_cloud(tmp_path / "scan.obj")


def test_writing_an_unknown_suffix_is_refused(tmp_path, cloud):
    with pytest.raises(ValueError, match="unsupported file type"):
        write_cloud(tmp_path / "scan.stl", cloud)


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_cloud(tmp_path / "absent.pcd")
