"""`pcinspect serve` killed (-9) or stopped (SIGTERM) mid-burst and restarted: no frame is lost or doubled.

Router tests use the independent client of ``spec_client.py`` (written from docs/protocol.md only); the pull
test shows that SIGTERM answers every frame already received.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
import zmq
from servicekit import wait_for
from spec_client import SpecScanner

START_TIMEOUT_S = 90.0


def write_station(tmp_path: Path, bundle: Path, mode: str, **service: object) -> tuple[Path, dict[str, str]]:
    ends = {name: f"ipc://{tmp_path}/{name}.sock" for name in ("ingest", "verdicts", "query", "control")}
    config = tmp_path / "station.yaml"
    config.write_text(yaml.safe_dump({
        "station": "crash", "endpoints": ends, "recipes": {"bracket": {"bundle": str(bundle)}},
        "ingest": {"mode": mode, "hwm": 4, "queue": 4}, "inspect": {"torch_threads": 1, "deadline_ms": 60000},
        "limits": {"min_points": 100}, "journal": {"path": "journal.sqlite3", "synchronous": "normal"},
        "service": {"linger_ms": 500, "drain_s": 30, **service}, "security": {"allow_unsigned_bundles": True},
    }))
    return config, ends


def start(config: Path, ends: dict[str, str]) -> subprocess.Popen:
    """A serving `pcinspect serve` (its control socket answers)."""
    process = subprocess.Popen([sys.executable, "-m", "edge", "serve", "--config", str(config)],
                               stderr=subprocess.PIPE, text=True)
    context = zmq.Context()
    try:
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            assert process.poll() is None, f"serve exited with {process.returncode}: {process.stderr.read()}"
            socket = context.socket(zmq.REQ)
            socket.linger = 0
            socket.connect(ends["control"])
            socket.send_json({"op": "status"})
            if socket.poll(500):
                socket.close()
                return process
            socket.close()
        raise AssertionError("serve did not start")
    finally:
        context.destroy(linger=0)


def journal_frame_ids(config: Path) -> list[str]:
    with sqlite3.connect(config.parent / "journal.sqlite3") as db:
        return [row[0] for row in db.execute("SELECT frame_id FROM verdicts ORDER BY seq")]


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.kill()
    return process.communicate(timeout=30)[1]


def points(scan) -> list[tuple[float, float, float]]:
    return [tuple(map(float, p)) for p in scan]


@pytest.mark.parametrize("fault", ["kill -9", "SIGTERM"])
def test_spec_only_router_client_loses_nothing_across_a_restart(trained_bundle, scans, tmp_path, fault) -> None:
    config, ends = write_station(tmp_path, trained_bundle, "router")
    frames = {f"f{i:02d}": SpecScanner.frame(f"f{i:02d}", "bracket", points(scans["good" if i % 2 else "good2"]))
              for i in range(10)}
    process = start(config, ends)
    scanner = SpecScanner(ends["ingest"], window=4, resend_s=3.0)
    try:
        ids = iter(frames)
        for frame_id in list(frames)[:6]:
            scanner.send(frame_id, frames[next(ids)])
        wait_for(lambda: (scanner.pump(0.05), len(scanner.acks) >= 1)[1], what="a first ack")
        if fault == "kill -9":
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=30) == -signal.SIGKILL
        else:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=40) == 0
        stderr = stop(process)
        process = start(config, ends)
        for frame_id in ids:
            scanner.send(frame_id, frames[frame_id])
        assert scanner.finish(90.0), f"never acked: {sorted(scanner.unacked)}"
    finally:
        scanner.close()
        stop(process)
    assert sorted(scanner.acks) == sorted(frames)
    assert sorted(journal_frame_ids(config)) == sorted(frames)  # every frame exactly once
    if fault == "SIGTERM":
        report = [json.loads(line) for line in stderr.splitlines() if '"stopped"' in line][-1]
        assert report["drained"] is True and report["stuck"] == [] and report["dead"] == []


def test_sigterm_mid_burst_answers_every_frame_already_received_in_pull_mode(trained_bundle, scans, tmp_path) -> None:
    config, ends = write_station(tmp_path, trained_bundle, "pull", drain_s=60)
    process = start(config, ends)
    context = zmq.Context()
    try:
        push = context.socket(zmq.PUSH)
        push.linger = 5000
        push.connect(ends["ingest"])
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"verdict.")
        sub.connect(ends["verdicts"])
        sent = []
        for i in range(8):
            parts = SpecScanner.frame(f"p{i:02d}", "bracket", points(scans["good"]))
            push.send_multipart(parts)
            sent.append(f"p{i:02d}")
        assert sub.poll(60_000), "no first verdict"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0
    finally:
        context.destroy(linger=0)
        stderr = stop(process)
    assert journal_frame_ids(config) == sent
    report = [json.loads(line) for line in stderr.splitlines() if '"stopped"' in line][-1]
    assert report["drained"] is True and report["frames"] + report["read_while_draining"] >= 1


def test_a_journal_that_cannot_be_opened_is_one_clean_log_line_and_exit_1(trained_bundle, tmp_path) -> None:
    config, _ = write_station(tmp_path, trained_bundle, "router")
    (tmp_path / "journal.sqlite3").mkdir()
    result = subprocess.run([sys.executable, "-m", "edge", "serve", "--config", str(config)], capture_output=True,
                            text=True, timeout=120, env={**os.environ})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = json.loads(result.stderr.strip().splitlines()[-1])
    assert last["msg"] == "cannot start" and "journal.sqlite3: cannot open for writing" in last["error"]
