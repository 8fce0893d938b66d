"""NPY, NPZ and XYZ text clouds: column conventions, round trips and broken input."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from cloudfakes import allocates_at_most

from edge.io import CloudFormatError, PointCloud
from edge.io.arrays import read_npy, read_npz, read_xyz, write_npy, write_npz, write_xyz

POINTS = np.array([[0.1, 0.2, 0.3], [1.0, -2.0, 3.5], [1e-7, 4e6, -0.0]], dtype=np.float32)


def test_reads_an_n_by_3_npy_array(tmp_path):
    np.save(tmp_path / "p.npy", POINTS.astype(np.float64))
    cloud = read_npy(tmp_path / "p.npy")
    np.testing.assert_array_equal(cloud.points, POINTS)
    assert cloud.extra == {}


def test_keeps_npy_columns_after_xyz_as_extra_columns(tmp_path):
    table = np.hstack([POINTS, np.arange(6, dtype=np.float32).reshape(3, 2)])
    np.save(tmp_path / "p.npy", table)
    cloud = read_npy(tmp_path / "p.npy")
    np.testing.assert_array_equal(cloud.points, POINTS)
    np.testing.assert_array_equal(cloud.extra["columns"], table[:, 3:])


def test_reads_a_fortran_ordered_npy_array(tmp_path):
    np.save(tmp_path / "p.npy", np.asfortranarray(POINTS))
    np.testing.assert_array_equal(read_npy(tmp_path / "p.npy").points, POINTS)


def test_reads_npz_points_normals_and_intensity(tmp_path):
    normals = np.tile([0.0, 0.0, 1.0], (3, 1))
    np.savez(tmp_path / "c.npz", points=POINTS, normals=normals, intensity=np.arange(3.0), label=np.arange(3))
    cloud = read_npz(tmp_path / "c.npz")
    np.testing.assert_array_equal(cloud.points, POINTS)
    np.testing.assert_array_equal(cloud.normals, normals)
    assert cloud.intensity.tolist() == [0.0, 1.0, 2.0] and cloud.extra["label"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("text", [
    "0.1 0.2 0.3\n1 -2 3.5\n1e-7 4e6 -0\n",
    "# scan\n0.1,0.2,0.3\n1, -2, 3.5  # comment\n\n1e-7,4e6,-0\n",
    "0.1\t0.2\t0.3\r\n1\t-2\t3.5\r\n1e-7\t4e6\t-0\r\n",
])  # fmt: skip
def test_reads_whitespace_or_comma_separated_text_with_comments(tmp_path, text):
    (tmp_path / "c.xyz").write_text(text)
    np.testing.assert_array_equal(read_xyz(tmp_path / "c.xyz").points, POINTS)


def test_keeps_text_columns_after_xyz_as_extra_columns(tmp_path):
    (tmp_path / "gt.txt").write_text("0 0 0 1\n1 1 1 0\n")
    assert read_xyz(tmp_path / "gt.txt").extra["columns"].tolist() == [[1.0], [0.0]]


@pytest.mark.parametrize("write, read", [(write_npy, read_npy), (write_npz, read_npz), (write_xyz, read_xyz)])
def test_round_trips_points_exactly(tmp_path, write, read):
    write(tmp_path / "c", PointCloud(POINTS))
    np.testing.assert_array_equal(read(tmp_path / "c").points, POINTS)


def test_npz_round_trips_normals_intensity_and_extras(tmp_path):
    cloud = PointCloud(POINTS, normals=np.ones((3, 3)), intensity=np.arange(3.0), extra={"label": np.arange(3)})
    write_npz(tmp_path / "c.npz", cloud)
    back = read_npz(tmp_path / "c.npz")
    np.testing.assert_array_equal(back.normals, cloud.normals)
    np.testing.assert_array_equal(back.intensity, cloud.intensity)
    np.testing.assert_array_equal(back.extra["label"], cloud.extra["label"])


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize("raw, match", [
    (npy_bytes(POINTS)[:-5], "truncated"),
    (npy_bytes(POINTS).replace(b"(3, 3)", b"(10000000000000, 3)"), "declares shape"),
    (npy_bytes(np.array([{"a": 1}], dtype=object)), "dtype"),
    (npy_bytes(POINTS[:, 0]), "expected"),
    (npy_bytes(POINTS[:, :2]), "expected"),
    (b"\x93NUMPY garbage", "not a valid .npy"),
    (b"not an array at all", "not a valid .npy"),
])  # fmt: skip
def test_rejects_a_broken_npy_file_without_a_large_allocation(tmp_path, raw, match):
    (tmp_path / "p.npy").write_bytes(raw)
    with allocates_at_most(), pytest.raises(CloudFormatError, match=match) as info:
        read_npy(tmp_path / "p.npy")
    assert str(tmp_path / "p.npy") in str(info.value)


def test_rejects_an_npz_without_points(tmp_path):
    np.savez(tmp_path / "c.npz", normals=POINTS)
    with pytest.raises(CloudFormatError, match="no 'points'"):
        read_npz(tmp_path / "c.npz")


def test_rejects_npz_normals_of_the_wrong_shape(tmp_path):
    np.savez(tmp_path / "c.npz", points=POINTS, normals=POINTS[:2])
    with pytest.raises(CloudFormatError, match="'normals' has shape"):
        read_npz(tmp_path / "c.npz")


def test_rejects_an_npz_member_declaring_a_huge_array(tmp_path):
    with zipfile.ZipFile(tmp_path / "c.npz", "w") as archive:
        archive.writestr("points.npy", npy_bytes(POINTS).replace(b"(3, 3)", b"(10000000000000, 3)"))
    with pytest.raises(CloudFormatError, match="declares shape"):
        read_npz(tmp_path / "c.npz")


def test_rejects_a_file_that_is_not_a_zip_archive(tmp_path):
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(CloudFormatError, match="not a readable .npz"):
        read_npz(tmp_path / "c.npz")


@pytest.mark.parametrize("text, match", [
    ("1 2 3\n4 5\n", "different numbers of columns"),
    ("1 2\n3 4\n", "expected \\(N, 3\\)"),
    ("x y z\n1 2 3\n", "not a number"),
])  # fmt: skip
def test_rejects_a_malformed_text_table(tmp_path, text, match):
    (tmp_path / "c.xyz").write_text(text)
    with pytest.raises(CloudFormatError, match=match):
        read_xyz(tmp_path / "c.xyz")


def test_rejects_a_text_file_that_is_not_utf8(tmp_path):
    (tmp_path / "c.xyz").write_bytes(b"1 2 3\n\xff\xfe 4 5\n")
    with pytest.raises(CloudFormatError, match="not UTF-8"):
        read_xyz(tmp_path / "c.xyz")
