"""Property: any mutation of a valid PCD or PLY file decodes to a consistent cloud or raises CloudFormatError.

Mutations are bit flips, truncations, header-line edits (numbers swapped for absurd, negative or
non-numeric values, lines deleted or repeated), inserted bytes and overwritten 32-bit sizes,
applied to small valid files of every DATA mode. No other exception type, no hang.
"""

from __future__ import annotations

import struct

import numpy as np
from cloudfakes import allocates_at_most, pcd_bytes, ply_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.io import CloudFormatError, PointCloud
from edge.io.pcd import decode_pcd
from edge.io.ply import decode_ply

FUZZ = settings(max_examples=250, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
WORDS = [b"-1", b"0", b"1", b"3", b"7", b"255", b"65536", b"1000000000000", b"4294967296", b"nan", b"x", b"", b"1.5"]
SIZES = [0, 1, 7, 255, 2**16, 2**31 - 1, 2**31, 2**32 - 1]


def pcd_seeds() -> list[bytes]:
    n = 8
    rng = np.random.default_rng(0)
    fields = [("x", "F", 4, 1), ("y", "F", 4, 1), ("z", "F", 4, 1), ("_", "U", 1, 2), ("rgb", "U", 4, 1),
              ("normal_x", "F", 4, 1), ("normal_y", "F", 4, 1), ("normal_z", "F", 4, 1), ("hist", "I", 2, 3),
              ("intensity", "F", 8, 1)]  # fmt: skip
    cols = {name: rng.normal(size=(n, count)).astype(np.float32) for name, kind, _, count in fields if kind == "F"}
    cols["x"][2] = np.nan
    cols |= {"rgb": rng.integers(0, 2**24, n), "hist": rng.integers(-99, 99, (n, 3))}
    seeds = [pcd_bytes(fields, cols, mode, width=4, height=2) for mode in ("ascii", "binary", "binary_compressed")]
    repetitive = {a: np.zeros(64, np.float32) for a in "xyz"}
    xyz = [("x", "F", 4, 1), ("y", "F", 4, 1), ("z", "F", 4, 1)]
    return [*seeds, pcd_bytes(xyz, repetitive, "binary_compressed")]


def ply_seeds() -> list[bytes]:
    props = [("float", "x"), ("float", "y"), ("float", "z"), ("float", "nx"), ("float", "ny"), ("float", "nz"),
             ("uchar", "intensity"), ("short", "tag")]  # fmt: skip
    rows = [[0.5 * i, -1.0 * i, 2.0, 0.0, 0.0, 1.0, i, -i] for i in range(6)]
    faces = ("face", [("list", "uchar", "int", "vertex_indices")], [[[0, 1, 2]], [[1, 2, 3, 4]], [[5, 0, 1]]])
    grid = ("range_grid", [("list", "uchar", "int", "vertex_indices")], [[[]], [[3]], [[]], [[0]]])
    seeds = []
    for fmt in ("ascii", "binary_little_endian", "binary_big_endian"):
        seeds.append(ply_bytes(fmt, [("vertex", props, rows), faces]))
        seeds.append(ply_bytes(fmt, [grid, ("vertex", props, rows)]))
    return seeds


def header_end(raw: bytes) -> int:
    for marker in (b"end_header\n", b"DATA ascii\n", b"DATA binary\n", b"DATA binary_compressed\n"):
        if marker in raw:
            return raw.index(marker) + len(marker)
    return len(raw)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    raw = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "edit", "drop", "repeat", "insert", "size"]))
        end = max(1, min(header_end(bytes(raw)), len(raw)))
        lines = bytes(raw[:end]).split(b"\n")
        in_payload = draw(st.sampled_from([False, True, True])) and end < len(raw)
        if kind == "flip" and raw:
            at = draw(st.integers(end if in_payload else 0, len(raw) - 1))
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del raw[draw(st.integers(0, len(raw))) :]
        elif kind in ("edit", "drop", "repeat") and len(lines) > 1:
            i = draw(st.integers(0, len(lines) - 2))
            words = lines[i].split(b" ")
            if kind == "edit":
                words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(WORDS))
                lines[i] = b" ".join(words)
            elif kind == "drop":
                del lines[i]
            else:
                lines.insert(i, lines[i])
            raw = bytearray(b"\n".join(lines)) + raw[end:]
        elif kind == "insert":
            at = draw(st.integers(end if in_payload else 0, len(raw)))
            raw[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "size" and len(raw) >= 4:
            at = draw(st.integers(min(max(0, end - 1), len(raw) - 4), len(raw) - 4))
            raw[at : at + 4] = struct.pack("<I", draw(st.sampled_from(SIZES)))
    return bytes(raw)


def assert_valid_or_format_error(decode, raw: bytes) -> None:
    try:
        with allocates_at_most(256 << 20):
            cloud = decode(raw, "fuzzed")
    except CloudFormatError as exc:
        assert str(exc).startswith("fuzzed: ")
        return
    assert isinstance(cloud, PointCloud)
    n = len(cloud)
    assert cloud.points.shape == (n, 3) and cloud.points.dtype == np.float32
    assert cloud.normals is None or cloud.normals.shape == (n, 3)
    assert cloud.intensity is None or cloud.intensity.shape == (n,)
    assert all(len(values) == n for values in cloud.extra.values())


def test_seed_files_are_valid():
    assert [len(decode_pcd(raw)) for raw in pcd_seeds()] == [8, 8, 8, 64]
    assert [len(decode_ply(raw)) for raw in ply_seeds()] == [6] * 6


@FUZZ
@given(mutated(pcd_seeds()))
def test_mutated_pcd_decodes_or_raises_cloud_format_error(raw):
    assert_valid_or_format_error(decode_pcd, raw)


@FUZZ
@given(mutated(ply_seeds()))
def test_mutated_ply_decodes_or_raises_cloud_format_error(raw):
    assert_valid_or_format_error(decode_ply, raw)


def test_organized_pcd_survivors_keep_width_times_height_points():
    cloud = decode_pcd(pcd_seeds()[1])
    assert (cloud.width, cloud.height) == (4, 2) and cloud.width * cloud.height == len(cloud)
