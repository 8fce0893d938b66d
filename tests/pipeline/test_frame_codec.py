"""Protocol v1 frame codec: every violation is named; valid payloads are viewed, not copied."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.pipeline.codec import ProtocolError, decode, encode, make_header


def limits(recipe: str) -> tuple[int, int] | None:
    return (3, 1000) if recipe == "bracket" else None


def frame(**header: object) -> tuple[dict, np.ndarray]:
    """A valid 4-point header (keys overridable) and its points."""
    points = np.arange(12, dtype=np.float32).reshape(4, 3)
    return {**make_header(frame_id="f1", part_id="p1", recipe="bracket", seq=7, n=4, ts=1.5), **header}, points


def test_valid_frame_decodes_to_a_zero_copy_view_of_the_payload() -> None:
    header, points = frame()
    parts = encode(header, points)
    decoded = decode(parts, limits)
    assert decoded.header == header
    np.testing.assert_array_equal(decoded.points, points)
    assert np.shares_memory(decoded.points, np.frombuffer(parts[1], dtype=np.float32))


def test_extra_fields_are_accepted_and_only_xyz_is_inspected() -> None:
    header, _ = frame(fields=["x", "y", "z", "nx", "ny", "nz", "i"])
    values = np.arange(4 * 7, dtype=np.float32).reshape(4, 7)
    decoded = decode(encode(header, values), limits)
    np.testing.assert_array_equal(decoded.points, values[:, :3])


def test_scanner_viewpoint_is_optional_and_converted_to_mm_with_the_points() -> None:
    header, points = frame(units="m", viewpoint=[0.0, 0.5, 2.0])
    decoded = decode(encode(header, points), limits)
    assert decoded.viewpoint == pytest.approx([0.0, 500.0, 2000.0])
    assert decode(encode(*frame()), limits).viewpoint is None


def _bytes(header: dict) -> bytes:
    return json.dumps(header).encode()


def _drop(key: str) -> dict:
    header, _ = frame()
    header.pop(key)
    return header


PAYLOAD = np.zeros((4, 3), np.float32).tobytes()
NAN_PAYLOAD = np.array([[0, 0, 0], [np.nan, 0, 0], [0, np.inf, 0], [1, 1, 1]], np.float32).tobytes()

MALFORMED = {
    "bad json": ([b"{not json", PAYLOAD], "bad JSON header", None),
    "not utf-8": ([b"\xff\xfe", PAYLOAD], "not UTF-8", None),
    "header not an object": ([b"[1, 2]", PAYLOAD], "expected an object", None),
    "missing key": ([_bytes(_drop("n")), PAYLOAD], "missing key 'n'", "f1"),
    "wrong type": ([_bytes(frame(n="4")[0]), PAYLOAD], "key 'n' must be int", "f1"),
    "bool is not an int": ([_bytes(frame(seq=True)[0]), PAYLOAD], "key 'seq' must be int", "f1"),
    "wrong version": ([_bytes(frame(v=2)[0]), PAYLOAD], "unsupported protocol version v=2", "f1"),
    "wrong dtype": ([_bytes(frame(dtype="float64")[0]), PAYLOAD], "unsupported dtype 'float64'", "f1"),
    "bad fields": ([_bytes(frame(fields=["y", "x", "z"])[0]), PAYLOAD], "bad fields", "f1"),
    "unknown recipe": ([_bytes(frame(recipe="gear")[0]), PAYLOAD], "unknown recipe 'gear'", "f1"),
    "too few points": ([_bytes(frame(n=2)[0]), PAYLOAD[:24]], "n=2 points outside recipe 'bracket' limits [3, 1000]", "f1"),
    "too many points": ([_bytes(frame(n=2000)[0]), PAYLOAD], "n=2000 points outside", "f1"),
    "missing payload": ([_bytes(frame()[0])], "missing payload frame", "f1"),
    "extra part": ([_bytes(frame()[0]), PAYLOAD, b"x"], "message has 3 parts", "f1"),
    "wrong byte count": ([_bytes(frame()[0]), PAYLOAD[:-4]], "payload has 44 bytes, expected 48", "f1"),
    "non-finite": ([_bytes(frame()[0]), NAN_PAYLOAD], "non-finite coordinates in 2 of 4 points", "f1"),
    "bad viewpoint": ([_bytes(frame(viewpoint=[0, 1])[0]), PAYLOAD], "header key 'viewpoint' must be [x, y, z]", "f1"),
    "non-finite viewpoint": ([_bytes(frame(viewpoint=[0, 1, "inf"])[0]), PAYLOAD], "'viewpoint' must be", "f1"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_each_protocol_violation_is_named_and_keeps_readable_ids(case: str) -> None:
    parts, reason, frame_id = MALFORMED[case]
    with pytest.raises(ProtocolError) as info:
        decode(parts, limits)
    assert reason in info.value.reason
    assert info.value.header.get("frame_id") == frame_id
