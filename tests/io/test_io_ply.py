"""PLY reading and writing: real scans, every property type, list elements anywhere, broken input."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import plyfile
import pytest
from cloudfakes import ply_bytes

from edge.io import CloudFormatError, PointCloud
from edge.io.ply import decode_ply, encode_ply, read_ply, walk_chain, write_ply

FORMATS = ("ascii", "binary_little_endian", "binary_big_endian")
EXPECTED = {"cyberware_range_scan_ascii.ply": 40_097, "meshed_scan_binary.ply": 40_256}
XYZ = [("float", "x"), ("float", "y"), ("float", "z")]


@pytest.fixture(scope="module")
def clouds(shared_data) -> dict[str, PointCloud]:
    return {name: read_ply(shared_data / "formats" / name) for name in EXPECTED}


def test_every_ply_in_the_formats_folder_is_covered(shared_data):
    assert {p.name for p in (shared_data / "formats").glob("*.ply")} == set(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_reads_the_same_vertices_as_open3d(clouds, shared_data, name):
    reference = o3d.io.read_point_cloud(str(shared_data / "formats" / name))
    assert len(clouds[name]) == EXPECTED[name]
    np.testing.assert_array_equal(clouds[name].points, np.asarray(reference.points, dtype=np.float32))


def test_reads_vertex_normals_like_open3d(clouds, shared_data):
    reference = o3d.io.read_point_cloud(str(shared_data / "formats" / "meshed_scan_binary.ply"))
    np.testing.assert_allclose(clouds["meshed_scan_binary.ply"].normals, np.asarray(reference.normals), atol=1e-7)


def test_skips_the_range_grid_list_element_after_the_vertices(clouds):
    cloud = clouds["cyberware_range_scan_ascii.ply"]
    assert cloud.normals is None and cloud.extra == {}


def vertices(n: int = 5) -> list[list[float]]:
    return [[0.5 * i, -1.25 * i, 2.0 + i] for i in range(n)]


FACES = ("face", [("list", "uchar", "int", "vertex_indices")], [[[0, 1, 2]], [[1, 2, 3, 4]], [[4, 0, 1]]])
RANGE_GRID = ("range_grid", [("list", "uchar", "int", "vertex_indices")], [[[]], [[3]], [[]], [[]], [[0]]])
UNIFORM = ("face", [("list", "uchar", "int", "vertex_indices")], [[[0, 1, 2]], [[1, 2, 3]], [[2, 3, 4]]])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("other", [FACES, RANGE_GRID, UNIFORM], ids=["mixed faces", "range grid", "triangles"])
@pytest.mark.parametrize("before", [True, False], ids=["before vertices", "after vertices"])
def test_skips_list_elements_before_or_after_the_vertices(fmt, other, before):
    vertex = ("vertex", XYZ, vertices())
    raw = ply_bytes(fmt, [other, vertex] if before else [vertex, other])
    np.testing.assert_array_equal(decode_ply(raw).points, np.array(vertices(), dtype=np.float32))


@pytest.mark.parametrize("fmt", FORMATS)
def test_reads_scalar_properties_around_a_list_in_the_vertex_element(fmt):
    props = [("float", "x"), ("list", "uchar", "float", "texture"), ("float", "y"), ("float", "z"), ("uchar", "tag")]
    rows = [[v[0], [1.5] * (i % 3), v[1], v[2], i] for i, v in enumerate(vertices())]
    cloud = decode_ply(ply_bytes(fmt, [("vertex", props, rows)]))
    np.testing.assert_array_equal(cloud.points, np.array(vertices(), dtype=np.float32))
    assert cloud.extra["tag"].tolist() == [0, 1, 2, 3, 4] and "texture" not in cloud.extra


TYPED = [("char", "a"), ("int8", "b"), ("uchar", "c"), ("uint8", "d"), ("short", "e"), ("int16", "f"),
         ("ushort", "g"), ("uint16", "h"), ("int", "k"), ("int32", "l"), ("uint", "m"), ("uint32", "n"),
         ("float", "o"), ("float32", "p"), ("double", "q"), ("float64", "r")]  # fmt: skip
TYPED_ROW = [-7, 7, 200, 201, -30000, 30000, 60000, 60001, -(2**31), 2**31 - 1, 2**32 - 1, 4, 0.25, -0.5, 1e-300, 1e300]
DTYPES = "i1 i1 u1 u1 i2 i2 u2 u2 i4 i4 u4 u4 f4 f4 f8 f8".split()


@pytest.mark.parametrize("fmt", FORMATS)
def test_reads_every_property_type_and_alias(fmt):
    props = [("double", "x"), ("int", "y"), ("ushort", "z"), ("float", "nx"), ("float", "ny"), ("float", "nz"),
             ("uchar", "intensity"), *TYPED]  # fmt: skip
    rows = [[1.5, -2, 3, 0.0, 0.0, 1.0, 9, *TYPED_ROW]] * 2
    cloud = decode_ply(ply_bytes(fmt, [("vertex", props, rows)]))
    assert cloud.points.tolist() == [[1.5, -2.0, 3.0]] * 2
    assert cloud.normals.tolist() == [[0.0, 0.0, 1.0]] * 2 and cloud.intensity.tolist() == [9.0, 9.0]
    for (_, name), value, dtype in zip(TYPED, TYPED_ROW, DTYPES):
        assert cloud.extra[name].dtype == np.dtype(dtype) and cloud.extra[name][0] == value, name


@pytest.mark.parametrize("data", ["ascii", "binary", "binary_big_endian"])
def test_round_trips_normals_intensity_and_extras(data):
    rng = np.random.default_rng(0)
    cloud = PointCloud(
        rng.normal(size=(40, 3)), normals=rng.normal(size=(40, 3)), intensity=rng.uniform(size=40),
        extra={"label": rng.integers(0, 9, 40).astype(np.uint8), "range": rng.normal(size=40)},
    )  # fmt: skip
    back = decode_ply(encode_ply(cloud, data))
    np.testing.assert_array_equal(back.points, cloud.points)
    np.testing.assert_array_equal(back.normals, cloud.normals)
    np.testing.assert_array_equal(back.intensity, cloud.intensity)
    for name, values in cloud.extra.items():
        assert back.extra[name].dtype == values.dtype
        np.testing.assert_array_equal(back.extra[name], values)


@pytest.mark.parametrize("data", ["ascii", "binary", "binary_big_endian"])
def test_open3d_reads_what_we_write(tmp_path, clouds, data):
    cloud = clouds["meshed_scan_binary.ply"]
    write_ply(tmp_path / "scan.ply", cloud, data=data)
    reference = o3d.io.read_point_cloud(str(tmp_path / "scan.ply"))
    np.testing.assert_array_equal(np.asarray(reference.points, dtype=np.float32), cloud.points)
    np.testing.assert_allclose(np.asarray(reference.normals), cloud.normals, atol=1e-7)


def test_reads_crlf_headers_comments_and_obj_info():
    raw = ply_bytes("ascii", [("vertex", XYZ, vertices(2))]).replace(b"\n", b"\r\n")
    assert len(decode_ply(raw)) == 2


# ---------------------------------------------------------------- broken input


def rejects(raw: bytes, match: str, tmp_path) -> None:
    path = tmp_path / "broken.ply"
    path.write_bytes(raw)
    with pytest.raises(CloudFormatError, match=match) as info:
        read_ply(path)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize("fmt", FORMATS)
def test_rejects_truncated_vertex_data(tmp_path, fmt):
    raw = ply_bytes(fmt, [("vertex", XYZ, vertices(50))])
    rejects(raw[: len(raw) - len(raw) // 3], "needs", tmp_path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_rejects_a_truncated_face_list(tmp_path, fmt):
    raw = ply_bytes(fmt, [("vertex", XYZ, vertices()), FACES])
    rejects(raw[:-7], "truncated", tmp_path)


def test_rejects_a_negative_list_count(tmp_path):
    faces = ("face", [("list", "char", "int", "vertex_indices")], [[[0, 1, 2]], [[1, 2, 3]]])
    raw = bytearray(ply_bytes("binary_little_endian", [faces, ("vertex", XYZ, vertices())]))
    raw[raw.index(b"end_header\n") + len(b"end_header\n")] = 0xFF
    rejects(bytes(raw), "corrupt list counts", tmp_path)


def test_rejects_a_vertex_count_larger_than_the_file_without_allocating(tmp_path):
    raw = ply_bytes("binary_little_endian", [("vertex", XYZ, vertices())]).replace(b"vertex 5", b"vertex 1000000000000")
    rejects(raw, "needs 12000000000000 bytes", tmp_path)


@pytest.mark.parametrize("edit, match", [
    ((b"ply\n", b"plx\n"), "first line"),
    ((b"format ascii 1.0", b"format ascii 2.0"), "format line"),
    ((b"format ascii 1.0\n", b""), "no format line"),
    ((b"end_header", b"end_headers"), "no end_header"),
    ((b"comment", b"texture"), "unknown header line"),
    ((b"element vertex 5", b"element vertex -5"), "element line"),
    ((b"property float x", b"property float64x x"), "property line"),
    ((b"property float y", b"property float x"), "declared twice"),
    ((b"property float z", b"property float w"), "no 'z' property"),
    ((b"element vertex", b"element point"), "no vertex element"),
    ((b"comment", b"comment \xff\xfe"), "not ASCII"),
])  # fmt: skip
def test_rejects_a_malformed_header(tmp_path, edit, match):
    rejects(ply_bytes("ascii", [("vertex", XYZ, vertices())]).replace(*edit), match, tmp_path)


def test_rejects_a_header_without_end_header(tmp_path):
    rejects(b"ply\nformat ascii 1.0\nelement vertex 1\n", "end_header", tmp_path)


def test_rejects_non_numeric_ascii_data(tmp_path):
    rejects(ply_bytes("ascii", [("vertex", XYZ, vertices())]).replace(b"-1.25", b"abc"), "not a number", tmp_path)


def test_rejects_an_ascii_value_outside_its_integer_type(tmp_path):
    props = [*XYZ, ("uchar", "tag")]
    rejects(ply_bytes("ascii", [("vertex", props, [[0.0, 0.0, 0.0, 300]])]), "not a uint8", tmp_path)


def test_walks_variable_length_elements_in_several_chunks(monkeypatch):
    monkeypatch.setattr("edge.io.ply.WALK_CHUNK", 7)
    raw = ply_bytes("binary_little_endian", [FACES, ("vertex", XYZ, vertices()), RANGE_GRID])
    np.testing.assert_array_equal(decode_ply(raw).points, np.array(vertices(), dtype=np.float32))


def test_walk_chain_stops_after_the_requested_number_of_steps():
    succ = np.array([2, 3, 4, 5, 5, 5, 6])  # positions 0..4, stop 5; 5 and 6 are the sentinels
    assert walk_chain(succ, 0, 5, steps=2)[0].tolist() == [0, 2]
    assert walk_chain(succ, 0, 5, steps=2)[1] == 4
    assert walk_chain(succ, 0, 5)[0].tolist() == [0, 2, 4]
    assert walk_chain(succ, 0, 5)[1] == 5


@pytest.mark.parametrize("data", ["ascii", "binary", "binary_big_endian"])
def test_files_written_here_read_the_same_in_plyfile(tmp_path, data):
    rng = np.random.default_rng(4)
    cloud = PointCloud(rng.normal(size=(50, 3)), rng.normal(size=(50, 3)), rng.uniform(size=50))
    write_ply(tmp_path / "c.ply", cloud, data=data)
    vertex = plyfile.PlyData.read(str(tmp_path / "c.ply"))["vertex"]
    assert np.array_equal(np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1), cloud.points)
    assert np.array_equal(vertex["intensity"], cloud.intensity)


@pytest.mark.parametrize("text", [True, False])
def test_reads_a_mesh_written_by_plyfile_with_faces_before_the_vertices(tmp_path, text):
    vertex = np.array([(0, 0, 0), (1, 0, 0), (0, 1, 2.5)], dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    face = np.array([([0, 1, 2],), ([2, 1, 0, 1],)], dtype=[("vertex_indices", "O")])
    elements = [plyfile.PlyElement.describe(face, "face"), plyfile.PlyElement.describe(vertex, "vertex")]
    plyfile.PlyData(elements, text=text).write(str(tmp_path / "mesh.ply"))
    cloud = read_ply(tmp_path / "mesh.ply")
    assert cloud.points.tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 2.5]]

