"""Over real sockets, every malformed frame yields exactly one ERROR verdict, journaled, and the service lives on."""

from __future__ import annotations

import numpy as np
import pytest
from test_frame_codec import MALFORMED


@pytest.fixture
def line(serve):
    return serve(limits={"min_points": 3, "max_points": 1000})[1]


def distinct(index: int, parts: list[bytes], frame_id: str | None) -> tuple[list[bytes], str | None]:
    """The case with its own frame_id (one station inspects a frame_id once)."""
    if frame_id != "f1":
        return parts, frame_id
    return [parts[0].replace(b'"frame_id": "f1"', f'"frame_id": "m{index}"'.encode()), *parts[1:]], f"m{index}"


def test_every_malformed_frame_gets_one_error_verdict_in_order_and_the_service_keeps_running(line) -> None:
    cases = {case: distinct(i, parts, frame_id) for i, (case, (parts, _, frame_id)) in enumerate(MALFORMED.items())}
    for case, (parts, frame_id) in cases.items():
        line.send_raw(parts)
    for case, (_, reason, _) in MALFORMED.items():
        frame_id = cases[case][1]
        verdict = line.verdict()
        assert verdict["verdict"] == "ERROR" and reason in verdict["reason"], case
        assert verdict["frame_id"] == frame_id and verdict["score"] is None and verdict["regions"] == []
        assert line.query({"op": "get", "since_seq": verdict["seq"] - 1})["verdicts"][0] == verdict
    line.send(np.ones((10, 3), np.float32))
    assert line.verdict()["verdict"] == "PASS"


def test_unreadable_header_gives_null_ids_but_is_still_published_and_journaled(line) -> None:
    line.send_raw([b"\x00garbage", b""])
    verdict = line.verdict()
    assert [verdict[k] for k in ("frame_id", "part_id", "recipe", "frame_seq", "bundle")] == [None] * 5
    assert verdict["seq"] == 1 and line.query({"op": "get", "since_seq": 0})["verdicts"] == [verdict]


def test_exception_inside_inspection_is_an_error_for_that_frame_only(line) -> None:
    from servicekit import RAISE_MARK

    bad = np.ones((10, 3), np.float32)
    bad[0, 0] = RAISE_MARK
    line.send(bad)
    line.send(np.ones((10, 3), np.float32))
    first, second = line.verdict(), line.verdict()
    assert first["verdict"] == "ERROR" and first["reason"] == "inspection failed: RuntimeError: boom"
    assert first["bundle"]["id"] == "stub-bundle"
    assert second["verdict"] == "PASS"


def test_frame_waiting_past_its_deadline_is_an_error(serve) -> None:
    _, line = serve(stub_delay=0.3, inspect={"deadline_ms": 100})
    for _ in range(3):
        line.send(np.ones((200, 3), np.float32))
    verdicts = [line.verdict() for _ in range(3)]
    assert verdicts[0]["verdict"] == "PASS"
    assert all(v["verdict"] == "ERROR" and v["reason"].startswith("deadline exceeded") for v in verdicts[1:])
