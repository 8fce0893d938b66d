"""`pcinspect serve` as systemd runs it: sd_notify messages, SIGHUP reload, SIGTERM drains in-flight frames."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import yaml
from servicekit import Line, wait_for

NOTIFY_TIMEOUT_S = 60.0


def next_notification(sock: socket.socket, prefix: str, process: subprocess.Popen) -> str:
    """The next datagram starting with ``prefix`` (others, e.g. WATCHDOG=1, are skipped)."""
    end = time.monotonic() + NOTIFY_TIMEOUT_S
    sock.settimeout(0.5)
    while time.monotonic() < end:
        assert process.poll() is None, f"service exited with {process.returncode}"
        try:
            message = sock.recv(4096).decode()
        except TimeoutError:
            continue
        if message.startswith(prefix):
            return message
    raise AssertionError(f"no {prefix} notification within {NOTIFY_TIMEOUT_S} s")


def test_serve_notifies_systemd_reloads_on_sighup_and_drains_on_sigterm(trained_bundle, scans, tmp_path) -> None:
    ends = {name: f"ipc://{tmp_path}/{name}.sock" for name in ("ingest", "verdicts", "query", "control")}
    config = tmp_path / "station.yaml"
    config.write_text(yaml.safe_dump({
        "station": "proc", "endpoints": ends, "recipes": {"bracket": {"bundle": str(trained_bundle)}},
        "inspect": {"torch_threads": 1}, "publish": {"heartbeat_s": 0.2}, "journal": {"path": "journal.sqlite3"},
        "service": {"linger_ms": 500, "drain_s": 30}, "security": {"allow_unsigned_bundles": True},
    }))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"}
    process = subprocess.Popen([sys.executable, "-m", "edge", "serve", "--config", str(config)], env=env,
                               stderr=subprocess.PIPE, text=True)
    line = None
    try:
        assert next_notification(notify, "READY=1", process).startswith("READY=1\nSTATUS=serving bracket=")
        assert next_notification(notify, "WATCHDOG=1", process) == "WATCHDOG=1"
        process.send_signal(signal.SIGHUP)
        next_notification(notify, "RELOADING=1", process)
        next_notification(notify, "READY=1", process)
        line = Line(SimpleNamespace(addresses=ends))
        sent = [line.send(scans[name])["frame_id"] for name in ("good", "good2", "bulge")]
        wait_for(lambda: line.control({"op": "status"})["received"] == 3, what="frames received")
        process.send_signal(signal.SIGTERM)
        assert next_notification(notify, "STOPPING=1", process) == "STOPPING=1"
        assert [line.verdict(30)["frame_id"] for _ in sent] == sent
        assert process.wait(timeout=30) == 0
    finally:
        if line is not None:
            line.close()
        if process.poll() is None:
            process.kill()
        stderr = process.communicate(timeout=10)[1]
        notify.close()
    logs = [json.loads(entry) for entry in stderr.splitlines()]
    assert [e["msg"] for e in logs if e["msg"] in ("reloaded", "draining", "stopped")] == ["reloaded", "draining", "stopped"]
    assert logs[-1]["drained"] is True
