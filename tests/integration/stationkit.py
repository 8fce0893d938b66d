"""A live `pcinspect serve` for the integration tests, a scanner feeding it, and helpers to run bridges."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
import zmq

from edge.pipeline.codec import encode, make_header
from edge.pipeline.sockets import request

TIMEOUT_S = 90.0
PART_NUMBERS = itertools.count(1)  # part ids unique across the session's scanners


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition: Callable[[], Any], timeout_s: float = TIMEOUT_S, what: str = "condition") -> Any:
    end = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Station:
    """A running `pcinspect serve` (loopback) and its station file, with every integration section filled."""

    folder: Path
    config: Path
    raw: dict[str, Any]
    process: subprocess.Popen
    ports: dict[str, int]

    @classmethod
    def start(cls, folder: Path, bundle: Path) -> Station:
        ports = {name: free_port() for name in ("mqtt", "opcua", "metrics", "dashboard")}
        ends = {name: f"ipc://{folder}/{name}.sock" for name in ("ingest", "verdicts", "query", "control")}
        raw = {
            "station": "cell-it", "endpoints": ends, "recipes": {"bracket": {"bundle": str(bundle)}},
            "ingest": {"mode": "pull"}, "security": {"allow_unsigned_bundles": True},
            "inspect": {"torch_threads": 1}, "limits": {"min_points": 1000},
            "publish": {"heartbeat_s": 0.2}, "journal": {"path": "journal.sqlite3", "synchronous": "normal"},
            "service": {"linger_ms": 200, "metrics": f"127.0.0.1:{ports['metrics']}"},
            "mqtt": {"broker": f"127.0.0.1:{ports['mqtt']}", "prefix": "plant/line1", "keepalive_s": 5},
            "opcua": {"endpoint": f"opc.tcp://127.0.0.1:{ports['opcua']}"},
            "dashboard": {"listen": f"127.0.0.1:{ports['dashboard']}"},
        }
        config = folder / "station.yaml"
        config.write_text(yaml.safe_dump(raw))
        process = subprocess.Popen([sys.executable, "-m", "edge", "serve", "--config", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=open(folder / "serve.log", "w"))
        station = cls(folder, config, raw, process, ports)
        wait_for(lambda: station.alive() and station.status(), 120, "pcinspect serve to answer status")
        return station

    def alive(self) -> bool:
        assert self.process.poll() is None, f"pcinspect serve exited: {(self.folder / 'serve.log').read_text()[-2000:]}"
        return True

    def status(self) -> dict[str, Any] | None:
        with zmq.Context() as context:
            try:
                return request(context, self.raw["endpoints"]["control"], {"op": "status"}, 1.0)
            except TimeoutError:
                return None

    def last_seq(self) -> int:
        return self.status()["last_seq"]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Scanner:
    """Pushes frames: real scans (inspected) and undersized ones (ERROR at once, still journaled)."""

    def __init__(self, station: Station, scans: dict[str, np.ndarray]) -> None:
        self.station = station
        self.scans = scans
        self.context = zmq.Context()
        self.push = self.context.socket(zmq.PUSH)
        self.push.linger = 0
        self.push.connect(station.raw["endpoints"]["ingest"])
        self.count = 0

    def send(self, kind: str) -> str:
        """Push one frame (``kind``: a scan name, or ``tiny`` for a frame below the point limit); its part id."""
        points = self.scans[kind] if kind in self.scans else np.zeros((10, 3), np.float32)
        self.count += 1
        part = f"P{next(PART_NUMBERS):04d}-{kind}"
        header = make_header(frame_id=f"F-{part}", part_id=part, recipe="bracket", seq=self.count, n=len(points),
                             ts=time.time())
        self.push.send_multipart(encode(header, points))
        return part

    def stream(self, kinds: list[str]) -> list[int]:
        """Send ``kinds`` in order and wait until each is journaled; their journal seqs."""
        first = self.station.last_seq() + 1
        for kind in kinds:
            self.send(kind)
        wait_for(lambda: self.station.last_seq() >= first + len(kinds) - 1, what="the stream to be journaled")
        return list(range(first, first + len(kinds)))

    def close(self) -> None:
        self.context.destroy(linger=0)


def start_command(folder: Path, name: str, *args: str) -> subprocess.Popen:
    """Start `pcinspect ARGS` in the background, its stderr in ``folder/NAME.log``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "edge", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(folder / f"{name}.log", "a"))


def stop_process(process: subprocess.Popen, timeout_s: float = 20.0) -> int:
    """SIGTERM, then wait (SIGKILL if it does not exit); the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
