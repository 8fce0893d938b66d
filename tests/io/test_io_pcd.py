"""PCD v0.7 reading and writing: real PCL files, every field type and DATA mode, broken input."""

from __future__ import annotations


import numpy as np
import open3d as o3d
import pytest
from cloudfakes import allocates_at_most, pcd_bytes

from edge.io import CloudFormatError, PointCloud
from edge.io.pcd import decode_pcd, encode_pcd, read_pcd, write_pcd

MODES = ("ascii", "binary", "binary_compressed")
EXPECTED = {  # file: (slots, finite), from shared/data/README.md and the PCL headers
    "bun0.pcd": (397, 397),
    "milk.pcd": (13_704, 13_704),
    "milk_color.pcd": (13_704, 13_704),
    "colored_cloud.pcd": (1000, 1000),
    "car6.pcd": (10_031, 10_031),
    "table_scene_mug_stereo_textured.pcd": (307_200, 209_280),
}


@pytest.fixture(scope="module")
def clouds(shared_data) -> dict[str, PointCloud]:
    return {name: read_pcd(shared_data / "formats" / name) for name in EXPECTED}


def open3d_points(path) -> np.ndarray:
    cloud = o3d.io.read_point_cloud(str(path), remove_nan_points=False, remove_infinite_points=False)
    return np.asarray(cloud.points)


def test_every_pcd_in_the_formats_folder_is_covered(shared_data):
    assert {p.name for p in (shared_data / "formats").glob("*.pcd")} == set(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_reads_the_declared_point_and_finite_counts(clouds, name):
    slots, finite = EXPECTED[name]
    assert len(clouds[name]) == slots
    assert int(clouds[name].finite_mask.sum()) == finite


@pytest.mark.parametrize("name", list(EXPECTED))
def test_reads_the_same_coordinates_as_open3d(clouds, shared_data, name):
    cloud = clouds[name]
    reference = open3d_points(shared_data / "formats" / name)
    assert reference.shape == cloud.points.shape
    finite = cloud.finite_mask
    np.testing.assert_array_equal(finite, np.isfinite(reference).all(axis=1))
    np.testing.assert_allclose(cloud.points[finite], reference[finite], rtol=0, atol=1e-6)


def test_reads_ascii_normals_like_open3d(clouds, shared_data):
    reference = o3d.io.read_point_cloud(str(shared_data / "formats" / "bun0.pcd"))
    np.testing.assert_allclose(clouds["bun0.pcd"].normals, np.asarray(reference.normals), atol=1e-6)
    assert clouds["bun0.pcd"].extra["curvature"].shape == (397,)


def test_keeps_a_packed_rgba_field_whose_channels_match_open3d_colours(clouds, shared_data):
    rgba = clouds["milk_color.pcd"].extra["rgba"]
    assert rgba.dtype == np.uint32
    rgb = np.stack([(rgba >> 16) & 255, (rgba >> 8) & 255, rgba & 255], axis=1) / 255.0
    reference = o3d.io.read_point_cloud(str(shared_data / "formats" / "milk_color.pcd"))
    np.testing.assert_allclose(rgb, np.asarray(reference.colors), atol=1e-6)


def test_keeps_the_organized_shape_and_nan_slots(clouds):
    cloud = clouds["table_scene_mug_stereo_textured.pcd"]
    assert (cloud.width, cloud.height) == (640, 480)
    assert np.isnan(cloud.points).any(axis=1).sum() == 307_200 - 209_280


def test_keeps_a_column_cloud_height_and_width(clouds):
    cloud = clouds["colored_cloud.pcd"]
    assert (cloud.width, cloud.height) == (1, 1000)
    assert cloud.normals is not None and cloud.extra["rgb"].dtype == np.uint32


@pytest.mark.parametrize("mode", MODES)
def test_round_trips_an_organized_cloud_with_nan_in_every_mode(clouds, mode):
    source = clouds["table_scene_mug_stereo_textured.pcd"]
    rows = slice(200, 240)  # 40 of the 480 rows keep the test fast
    part = PointCloud(
        source.points.reshape(480, 640, 3)[rows].reshape(-1, 3),
        width=640,
        height=40,
        extra={"rgba": source.extra["rgba"].reshape(480, 640)[rows].ravel()},
    )
    back = decode_pcd(encode_pcd(part, mode))
    np.testing.assert_array_equal(back.points, part.points)
    np.testing.assert_array_equal(back.extra["rgba"], part.extra["rgba"])
    assert (back.width, back.height) == (640, 40)


@pytest.mark.parametrize("mode", MODES)
def test_round_trips_normals_intensity_and_typed_extras(mode):
    rng = np.random.default_rng(0)
    n = 50
    cloud = PointCloud(
        rng.normal(size=(n, 3)),
        normals=rng.normal(size=(n, 3)),
        intensity=rng.uniform(0, 1000, n),
        extra={
            "label": rng.integers(-5, 5, n).astype(np.int8),
            "stamp": rng.integers(0, 2**62, n, dtype=np.uint64),
            "range": rng.normal(size=n),
            "fpfh": rng.uniform(0, 1, (n, 33)).astype(np.float32),
        },
    )
    back = decode_pcd(encode_pcd(cloud, mode))
    np.testing.assert_array_equal(back.points, cloud.points)
    np.testing.assert_array_equal(back.normals, cloud.normals)
    np.testing.assert_array_equal(back.intensity, cloud.intensity)
    for name, values in cloud.extra.items():
        assert back.extra[name].dtype == values.dtype
        np.testing.assert_array_equal(back.extra[name], values)


@pytest.mark.parametrize("mode", MODES)
def test_open3d_reads_what_we_write(tmp_path, clouds, mode):
    cloud = clouds["milk.pcd"]
    write_pcd(tmp_path / "milk.pcd", cloud, data=mode)
    np.testing.assert_allclose(open3d_points(tmp_path / "milk.pcd"), cloud.points, atol=1e-6)


ALL_TYPES = [("x", "F", 4, 1), ("y", "F", 8, 1), ("z", "I", 2, 1), ("_", "U", 1, 3), ("u1", "U", 1, 1),
             ("u2", "U", 2, 1), ("u4", "U", 4, 1), ("u8", "U", 8, 1), ("i1", "I", 1, 1), ("i4", "I", 4, 1),
             ("i8", "I", 8, 2), ("rgb", "F", 4, 1), ("desc", "F", 4, 4)]  # fmt: skip


def all_type_columns(n: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    cols = {
        "x": rng.normal(size=n).astype(np.float32), "y": rng.normal(size=n), "z": rng.integers(-300, 300, n),
        "u1": rng.integers(0, 256, n), "u2": rng.integers(0, 2**16, n), "u4": rng.integers(0, 2**32, n),
        "u8": rng.integers(0, 2**64, n, dtype=np.uint64), "i1": rng.integers(-128, 128, n),
        "i4": rng.integers(-(2**31), 2**31, n), "i8": rng.integers(-(2**63), 2**63 - 1, (n, 2)),
        "rgb": np.array([0x00FF8040] * n, dtype=np.uint32).view(np.float32),
        "desc": rng.uniform(size=(n, 4)).astype(np.float32),
    }  # fmt: skip
    return cols


@pytest.mark.parametrize("mode", MODES)
def test_reads_every_field_type_count_and_padding(mode):
    cols = all_type_columns()
    cloud = decode_pcd(pcd_bytes(ALL_TYPES, cols, mode))
    np.testing.assert_array_equal(cloud.points[:, 2], cols["z"].astype(np.float32))
    np.testing.assert_array_equal(cloud.points[:, 1], cols["y"].astype(np.float32))
    for name in ("u1", "u2", "u4", "u8", "i1", "i4", "i8", "desc"):
        np.testing.assert_array_equal(cloud.extra[name], cols[name], err_msg=name)
    assert cloud.extra["u8"].dtype == np.uint64 and cloud.extra["i8"].shape == (6, 2)
    assert cloud.extra["rgb"].view(np.uint32).tolist() == [0x00FF8040] * 6
    assert "_" not in cloud.extra


def test_reads_ascii_rows_written_without_padding_values():
    cols = all_type_columns()
    cloud = decode_pcd(pcd_bytes(ALL_TYPES, cols, "ascii", pad_ascii=False))
    np.testing.assert_array_equal(cloud.extra["u8"], cols["u8"])


@pytest.mark.parametrize("name", ["intensity", "i"])
def test_maps_an_intensity_field_to_intensity(name):
    fields = [("x", "F", 4, 1), ("y", "F", 4, 1), ("z", "F", 4, 1), (name, "F", 4, 1)]
    cols = {a: np.arange(3.0) for a in "xyz"} | {name: np.array([1.0, 2.0, 3.0])}
    assert decode_pcd(pcd_bytes(fields, cols, "binary")).intensity.tolist() == [1.0, 2.0, 3.0]


def test_reads_an_empty_cloud():
    head = b"VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 0\nHEIGHT 1\nPOINTS 0\nDATA binary\n"
    assert len(decode_pcd(head)) == 0


# ---------------------------------------------------------------- broken input

XYZ = [("x", "F", 4, 1), ("y", "F", 4, 1), ("z", "F", 4, 1)]


def small(mode: str, n: int = 4) -> bytes:
    return pcd_bytes(XYZ, {a: np.arange(n, dtype=np.float32) + i for i, a in enumerate("xyz")}, mode)


def rejects(raw: bytes, match: str, tmp_path) -> None:
    path = tmp_path / "broken.pcd"
    path.write_bytes(raw)
    with pytest.raises(CloudFormatError, match=match) as info:
        read_pcd(path)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize("line", ["FIELDS", "SIZE", "TYPE", "WIDTH", "POINTS", "DATA"])
def test_rejects_a_header_without_a_required_line(tmp_path, line):
    header = small("binary").split(b"DATA")[0] + b"DATA binary\n"
    raw = b"\n".join(row for row in header.split(b"\n") if not row.startswith(line.encode()))
    rejects(raw, f"no {line} line", tmp_path)


def test_rejects_an_absurd_point_count_before_allocating(tmp_path):
    raw = small("binary").replace(b"WIDTH 4", b"WIDTH 1000000000000").replace(b"POINTS 4", b"POINTS 1000000000000")
    with allocates_at_most():
        rejects(raw, "truncated", tmp_path)


def test_rejects_a_compressed_size_larger_than_the_file(tmp_path):
    raw = bytearray(small("binary_compressed"))
    at = raw.index(b"DATA binary_compressed\n") + len(b"DATA binary_compressed\n")
    raw[at : at + 4] = (10**9).to_bytes(4, "little")
    rejects(bytes(raw), "exceeds", tmp_path)


def test_rejects_an_uncompressed_size_that_does_not_fit_the_points(tmp_path):
    raw = bytearray(small("binary_compressed"))
    at = raw.index(b"DATA binary_compressed\n") + len(b"DATA binary_compressed\n") + 4
    raw[at : at + 4] = (4 * 12 + 1).to_bytes(4, "little")
    rejects(bytes(raw), "uncompressed size", tmp_path)


def test_rejects_corrupt_lzf_data(tmp_path):
    raw = small("binary_compressed", n=50)
    rejects(raw[:-3] + b"\xff\xff\xff", "corrupt binary_compressed", tmp_path)


def test_rejects_truncated_binary_data(tmp_path):
    rejects(small("binary")[:-5], "truncated", tmp_path)


@pytest.mark.parametrize("raw, match", [
    (small("ascii").rsplit(b"\n", 2)[0] + b"\n", "3 rows but POINTS is 4"),
    (small("ascii") + b"9 9 9\n", "rows but POINTS"),
    (small("ascii").replace(b"\n1.0 2.0 3.0", b"\n1.0 2.0"), "values each"),
    (small("ascii").replace(b"\n1.0 2.0 3.0", b"\n1.0 two 3.0"), "not a number"),
])  # fmt: skip
def test_rejects_ascii_data_that_does_not_match_the_header(tmp_path, raw, match):
    rejects(raw, match, tmp_path)


@pytest.mark.parametrize("edit, match", [
    ((b"WIDTH 4", b"WIDTH -4"), "negative"),
    ((b"COUNT 1 1 1", b"COUNT 1 -1 1"), "negative"),
    ((b"SIZE 4 4 4", b"SIZE 4 4 3"), "unsupported TYPE"),
    ((b"TYPE F F F", b"TYPE F F Q"), "unsupported TYPE"),
    ((b"SIZE 4 4 4", b"SIZE 4 4"), "SIZE has 2 entries"),
    ((b"FIELDS x y z", b"FIELDS x y y"), "repeats"),
    ((b"FIELDS x y z", b"FIELDS x y w"), "no 'z' field"),
    ((b"POINTS 4", b"POINTS 5"), "!= POINTS"),
    ((b"WIDTH 4", b"WIDTH four"), "integers"),
    ((b"DATA binary", b"DATA zipped"), "DATA must be"),
    ((b"VERSION 0.7", b"VERSION 0.7\nCOLOR red"), "unknown header line"),
    ((b"VERSION 0.7", b"VERSION 0.7\nWIDTH 4"), "twice"),
    ((b"VIEWPOINT 0 0 0 1 0 0 0", b"VIEWPOINT 0 0"), "VIEWPOINT"),
    ((b"COUNT 1 1 1", b"COUNT 1 1000000000 1"), "COUNT"),
])  # fmt: skip
def test_rejects_a_malformed_header(tmp_path, edit, match):
    rejects(small("binary").replace(*edit), match, tmp_path)


def test_rejects_a_non_ascii_header(tmp_path):
    rejects(small("binary").replace(b"VERSION 0.7", b"VERSION \xff\xfe0.7"), "not ASCII", tmp_path)


def test_rejects_binary_garbage(tmp_path):
    rejects(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "header", tmp_path)


def test_refuses_to_write_an_unknown_data_mode(tmp_path):
    with pytest.raises(ValueError, match="data mode"):
        write_pcd(tmp_path / "x.pcd", PointCloud(np.zeros((1, 3))), data="zip")
