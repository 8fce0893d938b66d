"""Heartbeats, pause/resume, control errors, a slow subscriber, and recovery of missed verdicts via query."""

from __future__ import annotations

import time

import numpy as np
import zmq
from servicekit import wait_for

from edge.cli.watch import Watcher

CLOUD = np.ones((200, 3), np.float32)


def test_heartbeat_carries_station_state_bundles_counters_and_queue(serve) -> None:
    service, line = serve()
    line.send(CLOUD)
    verdict = line.verdict()
    beat = line.heartbeat()
    assert set(beat) == {"v", "station", "ts", "state", "bundle", "frames", "errors", "queue", "seq", "fault",
                         "unsigned_bundles"}
    assert beat["v"] == 1 and beat["station"] == "test" and beat["state"] == "running"
    assert beat["bundle"] == {"bracket": {"id": "stub-bundle", "sha256": "f" * 64}}
    assert (beat["frames"], beat["errors"], beat["queue"], beat["seq"]) == (1, 0, 0, verdict["seq"])
    assert abs(beat["ts"] - time.time()) < 60


def test_scanner_viewpoint_in_the_header_reaches_the_inspector(serve) -> None:
    service, line = serve()
    line.send(CLOUD, viewpoint=[0.0, 0.0, 500.0])
    line.send(CLOUD)
    assert [line.verdict()["verdict"] for _ in range(2)] == ["PASS", "PASS"]
    assert service.recipes.current("bracket").inspector.viewpoints == [[0.0, 0.0, 500.0], None]


def test_workers_inspect_with_cuda_graphs_unless_the_station_turns_them_off(serve) -> None:
    service, line = serve(inspect={"workers": 2})
    off, off_line = serve(inspect={"cuda_graphs": False})
    for _ in range(4):
        line.send(CLOUD)
        off_line.send(CLOUD)
    assert [line.verdict()["verdict"] for _ in range(4)] == ["PASS"] * 4
    assert [off_line.verdict()["verdict"] for _ in range(4)] == ["PASS"] * 4
    assert service.recipes.current("bracket").inspector.cuda_graphs == [True] * 4
    assert off.recipes.current("bracket").inspector.cuda_graphs == [False] * 4


def test_paused_service_receives_nothing_until_resumed(serve) -> None:
    service, line = serve()
    assert line.control({"op": "pause"}) == {"ok": True, "state": "paused"}
    wait_for(lambda: line.heartbeat()["state"] == "paused", what="paused heartbeat")
    line.send(CLOUD)
    time.sleep(0.3)
    assert line.control({"op": "status"})["received"] == 0
    assert line.control({"op": "resume"})["state"] == "running"
    assert line.verdict()["verdict"] == "PASS"


def test_control_and_query_refuse_bad_requests_with_a_reason(serve) -> None:
    _, line = serve()
    assert "unknown op" in line.control({"op": "explode"})["error"]
    assert "bundle must be a string" in line.control({"op": "reload", "bundle": 3})["error"]
    assert "exactly one of" in line.query({"op": "get"})["error"]
    assert "since_seq must be" in line.query({"op": "get", "since_seq": -1})["error"]
    assert "unknown op" in line.query({"op": "put"})["error"]


def test_slow_subscriber_loses_messages_but_does_not_stall_inspection(serve) -> None:
    service, line = serve(publish={"hwm": 2})
    slow = line.context.socket(zmq.SUB)
    slow.linger = 0
    slow.rcvhwm = 1
    slow.rcvbuf = 1024
    slow.setsockopt(zmq.SUBSCRIBE, b"verdict.")
    slow.connect(service.addresses["verdicts"])
    time.sleep(0.3)
    frames = 300
    for _ in range(frames):
        line.send(CLOUD)
    wait_for(lambda: line.control({"op": "status"})["frames"] == frames, what="every frame inspected")
    slow_got = 0
    while slow.poll(200):
        slow.recv_multipart()
        slow_got += 1
    assert slow_got < frames
    assert line.query({"op": "get", "since_seq": 0})["last_seq"] == frames


def test_subscriber_that_missed_verdicts_recovers_them_through_the_query_socket(serve) -> None:
    service, line = serve()
    delivered: list[tuple[int, str]] = []
    watcher = Watcher(line.context, service.addresses["verdicts"], service.addresses["query"],
                      lambda v, how: delivered.append((v["seq"], how)), since=0)
    try:
        line.send(CLOUD)
        wait_for(lambda: (watcher.poll(50), len(delivered) == 1)[1], what="first live verdict")
        watcher.socket.setsockopt(zmq.UNSUBSCRIBE, b"verdict")
        for _ in range(3):
            line.send(CLOUD)
        wait_for(lambda: line.control({"op": "status"})["last_seq"] == 4, what="missed verdicts journaled")
        watcher.socket.setsockopt(zmq.SUBSCRIBE, b"verdict")
        line.send(CLOUD)
        wait_for(lambda: (watcher.poll(50), len(delivered) >= 5)[1], what="recovery")
    finally:
        watcher.close()
    assert [seq for seq, _ in delivered] == [1, 2, 3, 4, 5]
    assert delivered[0][1] == "live" and {how for _, how in delivered[1:4]} == {"recovered"}


def test_subscriber_gets_every_verdict_exactly_once_across_a_service_restart(serve, tmp_path) -> None:
    service, line = serve(endpoints="ipc")
    delivered: list[int] = []
    context = zmq.Context()
    watcher = Watcher(context, service.addresses["verdicts"], service.addresses["query"],
                      lambda v, how: delivered.append(v["seq"]), since=0)
    try:
        line.send(CLOUD)
        wait_for(lambda: (watcher.poll(50), delivered == [1])[1], what="first verdict")
        line.close()
        service.request_stop()
        assert service.shutdown() == 0
        service, line = serve(endpoints="ipc")
        for _ in range(3):
            line.send(CLOUD)
        wait_for(lambda: (watcher.poll(50), len(delivered) >= 4)[1], what="verdicts after restart")
    finally:
        watcher.close()
        context.destroy(linger=0)
    assert delivered == [1, 2, 3, 4]
