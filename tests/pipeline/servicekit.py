"""Helpers for the service tests: station configs on loopback, a stub Inspector, a scanner+PLC client."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
import zmq

from edge import cuda_graphs
from edge.config import StationConfig
from edge.pipeline.codec import encode, make_header
from edge.pipeline.sockets import request
from edge.service import Service
from edge.verdict import Decision, Verdict

POINTS = 5000
RAISE_MARK = -12345.0
TIMEOUT_S = 20.0


def variant_bundle(bundle: Path, dest: Path, bundle_id: str) -> Path:
    """A copy of ``bundle`` with another bundle_id (so its verdicts are distinguishable)."""
    shutil.copytree(bundle, dest)
    manifest = yaml.safe_load((dest / "bundle.yaml").read_text())
    manifest["bundle_id"] = bundle_id
    (dest / "bundle.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return dest


class StubInspector:
    """Answers PASS in ``delay`` seconds; raises when the first coordinate is RAISE_MARK. Records each frame's
    viewpoint and whether CUDA graphs were on in the inspecting thread."""

    def __init__(self, bundle_id: str, delay: float = 0.0) -> None:
        self.bundle_id = bundle_id
        self.bundle_sha256 = "f" * 64
        self.delay = delay
        self.sensitivity = 0.5
        self.viewpoints: list[list[float] | None] = []
        self.cuda_graphs: list[bool] = []

    def set_sensitivity(self, value: float) -> None:
        self.sensitivity = value

    def inspect(self, points: np.ndarray, *, viewpoint: list[float] | None = None) -> Verdict:
        self.viewpoints.append(viewpoint)
        self.cuda_graphs.append(cuda_graphs.enabled(torch.device("cuda")))
        if points[0, 0] == RAISE_MARK:
            raise RuntimeError("boom")
        time.sleep(self.delay)
        return Verdict(Decision.PASS, 0.1, 0.01, timing_ms={"stub": self.delay * 1e3, "total": self.delay * 1e3})


def station(tmp_path: Path, bundles: dict[str, Path], endpoints: str = "tcp", **sections: Any) -> StationConfig:
    """A station on free loopback TCP ports (or ipc sockets in ``tmp_path``), journal in ``tmp_path``."""
    if endpoints == "tcp":
        ends = {name: "tcp://127.0.0.1:*" for name in ("ingest", "verdicts", "query", "control")}
    else:
        ends = {name: f"ipc://{tmp_path}/{name}.sock" for name in ("ingest", "verdicts", "query", "control")}
    raw: dict[str, Any] = {
        "station": "test", "endpoints": ends, "recipes": {k: {"bundle": str(v)} for k, v in bundles.items()},
        "journal": {"path": str(tmp_path / "journal.sqlite3"), "synchronous": "normal"},
        "publish": {"heartbeat_s": 0.2}, "limits": {"min_points": 100}, "service": {"linger_ms": 200},
        "ingest": {"mode": "pull"}, "security": {"allow_unsigned_bundles": True},
        "inspect": {"deadline_ms": 60000},  # 2 shared cores: a queued real inspection may wait seconds
    }
    for section, values in sections.items():
        raw[section] = {**raw.get(section, {}), **values} if isinstance(values, dict) else values
    return StationConfig.model_validate(raw)


class Line:
    """A scanner (PUSH) and a PLC (SUB + REQ) talking to one service."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.context = zmq.Context()
        self.push = self.context.socket(zmq.PUSH)
        self.push.linger = 0
        self.push.sndtimeo = int(TIMEOUT_S * 1000)
        self.push.connect(service.addresses["ingest"])
        self.sub = self.context.socket(zmq.SUB)
        self.sub.linger = 0
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(service.addresses["verdicts"])
        self.heartbeat()
        self.seq = 0
        self.run_id = uuid.uuid4().hex[:6]  # frame_ids are unique per station: one Line's never repeat another's

    def send(self, points: np.ndarray, **header: Any) -> dict[str, Any]:
        """Push one valid frame (header fields overridable); returns its header."""
        self.seq += 1
        fields = {"frame_id": f"F{self.run_id}-{self.seq:04d}", "part_id": f"P{self.seq:04d}", "recipe": "bracket",
                  "seq": self.seq, "n": len(points), "ts": time.time(), **header}
        full = make_header(**fields)
        self.push.send_multipart(encode(full, points))
        return full

    def send_raw(self, parts: list[bytes]) -> None:
        self.push.send_multipart(parts)

    def next(self, topic: bytes, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.sub.poll(100):
                got, body = self.sub.recv_multipart()
                if got.startswith(topic):
                    return json.loads(body)
        raise AssertionError(f"no {topic.decode()} message within {timeout_s} s")

    def verdict(self, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        return self.next(b"verdict.", timeout_s)

    def heartbeat(self, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        return self.next(b"heartbeat.", timeout_s)

    def query(self, message: dict[str, Any]) -> dict[str, Any]:
        return request(self.context, self.service.addresses["query"], message, TIMEOUT_S)

    def control(self, message: dict[str, Any]) -> dict[str, Any]:
        return request(self.context, self.service.addresses["control"], message, TIMEOUT_S)

    def close(self) -> None:
        self.context.destroy(linger=0)


def wait_for(condition: Callable[[], bool], timeout_s: float = TIMEOUT_S, what: str = "condition") -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def curve_keys(folder: Path) -> dict[str, Path]:
    """Key pairs for a station, an allowed client ("plc") and an unlisted one ("intruder"), plus the allow-list."""
    from edge.pipeline.security import generate

    keys = folder / "keys"
    for name in ("station", "plc", "intruder"):
        generate(name, keys)
    allowed = folder / "allowed"
    allowed.mkdir()
    shutil.copy(keys / "plc.key", allowed)
    return {"station": keys / "station.key", "station_secret": keys / "station.key_secret", "allowed": allowed,
            "plc": keys / "plc.key_secret", "intruder": keys / "intruder.key_secret"}


def open_station(tmp_path: Path, bundles: dict[str, Path], keys: dict[str, Path], **sections: Any) -> StationConfig:
    """Like ``station`` but ingest, verdicts and query bind every interface (tcp://0.0.0.0:*), with CURVE keys."""
    security = {"server_secret_key": str(keys["station_secret"]), "client_keys_dir": str(keys["allowed"]),
                **sections.pop("security", {})}
    loopback = station(tmp_path, bundles, security=security, **sections)
    raw = loopback.model_dump(mode="json")
    raw["endpoints"].update({name: "tcp://0.0.0.0:*" for name in ("ingest", "verdicts", "query")})
    return StationConfig.model_validate(raw)


def via_loopback(bound: str) -> str:
    """The address a local client connects to for a service bound to ``tcp://0.0.0.0:PORT``."""
    return bound.replace("0.0.0.0", "127.0.0.1")
