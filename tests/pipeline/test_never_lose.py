"""Faults that lost or mis-published frames before issue 12: each test fails on the code before it."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import zmq
from servicekit import TIMEOUT_S, wait_for

from edge.pipeline.codec import encode, make_header

CLOUD = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)


class Dealer:
    """A bare DEALER scanner: send frames, read acks."""

    def __init__(self, line) -> None:
        self.socket = line.context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.connect(line.service.addresses["ingest"])

    def send(self, frame_id: str, points: np.ndarray = CLOUD) -> None:
        header = make_header(frame_id=frame_id, part_id=f"P-{frame_id}", recipe="bracket", seq=1, n=len(points),
                             ts=time.time())
        self.socket.send_multipart(encode(header, points))

    def ack(self, timeout_s: float = TIMEOUT_S) -> dict:
        assert self.socket.poll(int(timeout_s * 1000)), "no ack"
        return json.loads(self.socket.recv())

    def quiet(self, seconds: float) -> bool:
        return not self.socket.poll(int(seconds * 1000))


def published(line, seconds: float = 0.5) -> list[dict]:
    got, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        if line.sub.poll(50):
            topic, body = line.sub.recv_multipart()
            if topic.startswith(b"verdict."):
                got.append(json.loads(body))
    return got


@pytest.fixture
def router(serve):
    service, line = serve(ingest={"mode": "router"})
    return service, line, Dealer(line)


def test_router_acks_a_frame_once_its_verdict_is_journaled(router) -> None:
    service, line, scanner = router
    scanner.send("a1")
    ack = scanner.ack()
    assert ack == {"v": 1, "ack": "a1", "seq": 1, "verdict": "PASS", "duplicate": False}
    assert line.query({"op": "get", "frame_id": "a1"})["verdicts"][0]["seq"] == 1


def test_a_resent_frame_id_is_acked_as_duplicate_and_neither_inspected_nor_published_again(router) -> None:
    service, line, scanner = router
    scanner.send("a1")
    first = scanner.ack()
    line.verdict()
    scanner.send("a1")
    assert scanner.ack() == {**first, "duplicate": True}
    assert published(line) == []
    assert len(line.query({"op": "get", "frame_id": "a1"})["verdicts"]) == 1


def test_a_resend_while_the_first_copy_is_inspected_is_not_inspected_twice(serve) -> None:
    service, line = serve(ingest={"mode": "router"}, stub_delay=0.5)
    scanner = Dealer(line)
    scanner.send("slow")
    scanner.send("slow")
    acks = sorted((scanner.ack(), scanner.ack()), key=lambda a: a["duplicate"])
    assert [a["duplicate"] for a in acks] == [False, True] and acks[0]["seq"] == acks[1]["seq"] == 1
    assert len(published(line, 1.0)) == 1 and service.publisher.frames == 1


def test_an_unreadable_header_is_acked_with_a_null_frame_id(router) -> None:
    service, line, scanner = router
    scanner.socket.send_multipart([b"\x00garbage", b""])
    ack = scanner.ack()
    assert ack["ack"] is None and ack["verdict"] == "ERROR" and ack["seq"] == 1


def test_the_same_frame_id_pushed_twice_gets_one_verdict_and_one_journal_row(serve) -> None:
    service, line = serve()
    header = line.send(CLOUD)
    line.send(CLOUD, frame_id=header["frame_id"])
    line.send(CLOUD)
    assert [v["frame_id"] for v in (line.verdict(), line.verdict())] == [header["frame_id"], f"{header['frame_id'][:-4]}0003"]
    assert len(line.query({"op": "get", "frame_id": header["frame_id"]})["verdicts"]) == 1


def test_a_verdict_that_cannot_be_journaled_is_never_published_and_the_service_reports_fault(router) -> None:
    service, line, scanner = router
    db = service.publisher.journal._db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count={pages + 1}")  # a real SQLITE_FULL ("database or disk is full") soon
    for i in range(40):
        frame_id = f"{i:03d}" + "x" * 250
        scanner.send(frame_id)
        if scanner.quiet(1.0):
            break
        assert scanner.ack()["seq"] == i + 1 and line.verdict()["seq"] == i + 1
    else:
        pytest.fail("the journal never filled up")
    beat = line.heartbeat()
    assert beat["state"] == "fault" and any("database or disk is full" in fault for fault in beat["fault"])
    assert line.control({"op": "status"})["state"] == "fault"
    assert published(line) == [] and scanner.quiet(0.3)
    db.execute("PRAGMA max_page_count=1073741823")
    ack = scanner.ack()
    assert ack["ack"] == frame_id and ack["seq"] == i + 1
    assert line.verdict()["seq"] == i + 1
    wait_for(lambda: line.heartbeat()["state"] == "running", what="recovery")


@pytest.mark.parametrize("socket_name", ["query", "control"])
def test_a_multipart_request_is_answered_and_the_server_keeps_serving(serve, socket_name) -> None:
    service, line = serve()
    req = line.context.socket(zmq.REQ)
    req.linger = 0
    req.connect(service.addresses[socket_name])
    req.send_multipart([b'{"op": "status"}', b"second part"])
    assert req.poll(int(TIMEOUT_S * 1000))
    assert json.loads(req.recv()) == {"ok": False, "error": "request has 2 message parts, expected 1 (a JSON object)"}
    op = {"op": "get", "since_seq": 0} if socket_name == "query" else {"op": "status"}
    assert line.__getattribute__(socket_name)(op)["ok"] is True
    assert service.supervise() is True


def test_a_stuck_worker_turns_the_heartbeat_to_fault_and_withholds_the_watchdog(serve) -> None:
    service, line = serve(stub_delay=3.0, service={"stall_s": 0.5})
    line.send(CLOUD)
    wait_for(lambda: not service.supervise(), what="stall detected")
    wait_for(lambda: line.heartbeat()["fault"] == ["thread worker-0 silent for more than 0.5 s"], what="fault beat")
    assert line.heartbeat()["state"] == "fault"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_thread_is_a_fault_and_is_named_in_the_shutdown_report(serve) -> None:
    service, line = serve()

    def die(request):
        raise SystemExit("handler killed its thread")

    service.query.handler = die
    with pytest.raises(TimeoutError):
        line.context.setsockopt(zmq.LINGER, 0)
        from edge.pipeline.sockets import request
        request(line.context, service.addresses["query"], {"op": "get", "since_seq": 0}, 1.0)
    wait_for(lambda: not service.supervise(), what="dead thread detected")
    wait_for(lambda: line.heartbeat()["fault"] == ["thread query died"], what="fault beat")
    service.request_stop()
    assert service.shutdown() == 1
    assert service.dead == ["query"]


def test_a_message_over_maxmsgsize_is_dropped_and_counted_and_the_service_keeps_serving(serve) -> None:
    service, line = serve(limits={"min_points": 3, "max_points": 1000})
    assert service.status()["ingest"]["maxmsgsize"] == 65536
    line.send_raw([b"{}", bytes(4_000_000)])
    wait_for(lambda: service.status()["disconnects"] >= 1, what="oversize drop counted")
    line2 = type(line)(service)
    try:
        line2.send(CLOUD)
        assert line2.verdict()["verdict"] == "PASS"
    finally:
        line2.close()


def test_one_far_outlier_point_is_an_error_that_says_so(serve) -> None:
    service, line = serve()
    cloud = CLOUD.copy()
    cloud[17] = (1e6, 0, 0)
    line.send(cloud)
    verdict = line.verdict()
    assert verdict["verdict"] == "ERROR" and "1 outlier point(s) far from the part" in verdict["reason"]


def test_an_overlong_frame_id_is_an_error_naming_the_limit(serve) -> None:
    service, line = serve()
    line.send(CLOUD, frame_id="f" * 300)
    verdict = line.verdict()
    assert verdict["reason"] == "header key 'frame_id' has 300 characters, at most 256" and verdict["frame_id"] is None


def test_pcinspect_scan_sends_to_router_ingest_and_waits_for_every_ack(router, capsys) -> None:
    from edge.cli import main

    service, line, _ = router
    assert main(["scan", "--endpoint", service.addresses["ingest"], "--source", "synthetic", "--points", "500",
                 "--count", "3", "--rate", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count(" PASS") == 3 and "never acknowledged" not in out
    assert service.publisher.frames == 3
