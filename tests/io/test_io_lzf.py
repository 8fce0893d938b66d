"""LZF codec: agrees with a plain reference decoder, round-trips, rejects corrupt streams quickly."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from cloudfakes import allocates_at_most

from edge.io import lzf


def reference_decompress(data: bytes) -> bytes:
    """The LZF format written out token by token, byte by byte: the specification as code."""
    out = bytearray()
    i = 0
    while i < len(data):
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            out += data[i : i + ctrl + 1]
            i += ctrl + 1
            continue
        length = ctrl >> 5
        if length == 7:
            length += data[i]
            i += 1
        back = ((ctrl & 31) << 8 | data[i]) + 1
        i += 1
        for _ in range(length + 2):
            out.append(out[-back])
    return bytes(out)


def pcl_block(path) -> tuple[bytes, int]:
    raw = path.read_bytes()
    start = raw.index(b"DATA binary_compressed\n") + len(b"DATA binary_compressed\n")
    compressed, expanded = struct.unpack_from("<II", raw, start)
    return raw[start + 8 : start + 8 + compressed], expanded


SAMPLES = {
    "empty": b"",
    "one byte": b"\x07",
    "short": b"abcabcabcabc",
    "zeros": bytes(5000),
    "random": np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes(),
    "few symbols": np.random.default_rng(2).integers(0, 3, 6000, dtype=np.uint8).tobytes(),
    "period 4 runs": np.tile(np.frombuffer(b"\x00\x00\xc0\x7f", np.uint8), 3000).tobytes() + b"tail",
    "long literal then repeat": bytes(range(256)) * 40,
    "floats": np.random.default_rng(3).normal(0, 1, 3000).astype(np.float32).round(2).tobytes(),
}


def test_decompresses_pcl_written_stream_like_reference_decoder(shared_data):
    block, size = pcl_block(shared_data / "formats" / "milk_color.pcd")
    assert lzf.decompress(block, size) == reference_decompress(block)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_compressed_stream_decodes_to_the_input_with_both_decoders(name):
    data = SAMPLES[name]
    packed = lzf.compress(data)
    assert reference_decompress(packed) == data
    assert lzf.decompress(packed, len(data)) == data


def test_compression_shrinks_repetitive_data():
    assert len(lzf.compress(SAMPLES["period 4 runs"])) < len(SAMPLES["period 4 runs"]) // 20


def test_compression_of_random_bytes_grows_by_at_most_one_control_byte_per_32():
    data = SAMPLES["random"]
    assert len(lzf.compress(data)) <= len(data) + len(data) // 32 + 1


def test_decompresses_a_300k_point_cloud_to_its_declared_size(shared_data):
    block, size = pcl_block(shared_data / "formats" / "table_scene_mug_stereo_textured.pcd")
    out = lzf.decompress(block, size)
    assert len(out) == size == 307_200 * 16


def test_rejects_a_stream_cut_inside_a_token():
    packed = lzf.compress(SAMPLES["short"] * 10)
    with pytest.raises(lzf.LZFError, match="corrupt LZF stream"):
        lzf.decompress(packed[:-1], len(SAMPLES["short"]) * 10)


def test_rejects_a_back_reference_before_the_start_of_the_output():
    with pytest.raises(lzf.LZFError, match="corrupt LZF stream"):
        lzf.decompress(bytes([0, 65, 0x20, 5]), 4)


def test_rejects_a_stream_that_decodes_to_another_size():
    packed = lzf.compress(b"hello world")
    with pytest.raises(lzf.LZFError, match="expected 12"):
        lzf.decompress(packed, 12)


def test_rejects_a_declared_size_no_stream_of_that_length_can_reach_before_decoding():
    with allocates_at_most(), pytest.raises(lzf.LZFError, match="cannot expand"):
        lzf.decompress(b"\x00a", 10**12)
