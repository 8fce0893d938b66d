"""The service as a bridge sees it: where to connect, and every verdict after a cursor, once, in seq order.

``VerdictStream`` is pull-style: the bridge asks for the next verdict when it is ready to deliver one. While a
bridge waits on a slow broker it reads nothing, the service's PUB drops what exceeds its high-water mark
(inspection never waits), and the gap is fetched from the journal by ``since_seq`` as soon as the bridge reads
again (the `pcinspect watch` state machine: a jump in seq, a heartbeat with a newer seq, a SUB reconnect).
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from edge.bridges.cursor import Cursor
from edge.cli.watch import Watcher
from edge.config import BridgeClient, StationConfig, endpoint_is_loopback
from edge.pipeline.security import ClientCurve, load_key_pair, load_public_key

LATENCY_WINDOW = 200


@dataclass(frozen=True)
class ServiceAddress:
    """How a client on the edge box reaches one station's verdict PUB and query REP sockets."""

    station: str
    verdicts: str
    query: str
    curve: ClientCurve | None = None
    heartbeat_s: float = 1.0

    @classmethod
    def from_config(cls, config: StationConfig, client: BridgeClient) -> ServiceAddress:
        """Connect addresses from the station file (``tcp://*:P`` is reached as ``tcp://127.0.0.1:P``)."""
        verdicts = connect_address(config.endpoints.verdicts, "verdicts")
        query = connect_address(config.endpoints.query, "query")
        curve = None
        exposed = [e for e in (config.endpoints.verdicts, config.endpoints.query) if not endpoint_is_loopback(e)]
        if exposed:
            if client.curve_client_cert is None:
                raise ValueError(f"{', '.join(exposed)} is served with CURVE: set curve_client_cert in this "
                                 "section to a client certificate whose public key is in security.client_keys_dir")
            public, secret = load_key_pair(client.curve_client_cert)
            curve = ClientCurve(public, secret, load_public_key(config.security.server_secret_key))
        return cls(config.station, verdicts, query, curve, config.publish.heartbeat_s)


def connect_address(endpoint: str, name: str) -> str:
    """The address a local client connects to for an endpoint the service binds."""
    if endpoint.startswith(">"):
        raise ValueError(f"endpoints.{name} ({endpoint}) makes the service connect out; bridges need it to bind")
    address = endpoint.lstrip("@")
    for wildcard in ("tcp://*:", "tcp://0.0.0.0:"):
        if address.startswith(wildcard):
            return "tcp://127.0.0.1:" + address[len(wildcard):]
    return address


def default_cursor(config: StationConfig, bridge: str, given: Path | None) -> Cursor:
    """The section's cursor file, else ``<journal dir>/<station>.<bridge>.cursor``."""
    return Cursor(given or config.journal.path.parent / f"{config.station}.{bridge}.cursor")


def read_secret(path: Path) -> str:
    """A password kept in a file: its first line, without the newline."""
    lines = path.read_text().splitlines()
    return lines[0] if lines else ""


@dataclass
class Health:
    """The station's health as the last heartbeat told it, plus latency percentiles of recent verdicts."""

    stale_after_s: float
    beat: dict[str, Any] = field(default_factory=dict)
    received_at: float = 0.0
    latencies: collections.deque = field(default_factory=lambda: collections.deque(maxlen=LATENCY_WINDOW))

    @classmethod
    def every(cls, heartbeat_s: float) -> Health:
        """Health of a service that beats every ``heartbeat_s``: unreachable after three missed beats."""
        return cls(stale_after_s=3 * heartbeat_s + 1.0)

    def on_heartbeat(self, beat: dict[str, Any]) -> None:
        self.beat = beat
        self.received_at = time.monotonic()

    def on_verdict(self, verdict: dict[str, Any]) -> None:
        total = (verdict.get("timing_ms") or {}).get("total")
        if isinstance(total, (int, float)):
            self.latencies.append(float(total))

    def reachable(self) -> bool:
        return bool(self.beat) and time.monotonic() - self.received_at < self.stale_after_s

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(np.asarray(self.latencies), q)) if self.latencies else None

    def summary(self) -> dict[str, Any]:
        """state (or ``unreachable``), bundle ids, counters and p50/p99 latency in ms."""
        beat = self.beat
        bundles = beat.get("bundle") or {}
        return {
            "state": beat.get("state", "unknown") if self.reachable() else "unreachable",
            "bundle": {recipe: b.get("id") for recipe, b in bundles.items()},
            "frames": beat.get("frames"), "errors": beat.get("errors"), "queue": beat.get("queue"),
            "seq": beat.get("seq"), "latency_p50_ms": self.percentile(50), "latency_p99_ms": self.percentile(99),
        }


class _Watcher(Watcher):
    """`pcinspect watch`'s state machine, also handing heartbeats to ``Health``."""

    def __init__(self, *args: Any, health: Health, **kwargs: Any) -> None:
        self.health = health
        super().__init__(*args, **kwargs)

    def _on_heartbeat(self, beat: dict[str, Any]) -> None:
        self.health.on_heartbeat(beat)
        super()._on_heartbeat(beat)


class VerdictStream:
    """Verdicts with a journal seq after ``since``, in order, each once; ``next`` blocks up to a timeout.

    ``since=None`` starts at the service's current seq (only new verdicts).
    """

    def __init__(self, address: ServiceAddress, since: int | None, context: zmq.Context | None = None,
                 health: Health | None = None) -> None:
        self.context = context or zmq.Context.instance()
        self.health = health or Health.every(address.heartbeat_s)
        self._ready: collections.deque = collections.deque()
        self._watcher = _Watcher(self.context, address.verdicts, address.query, self._arrived,
                                 station=address.station, since=since, curve=address.curve, health=self.health)

    def next(self, timeout_s: float) -> dict[str, Any] | None:
        """The next verdict, or None when none arrived within ``timeout_s``."""
        end = time.monotonic() + timeout_s
        while not self._ready:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self._watcher.poll(max(1, int(left * 1000)))
        return self._ready.popleft()

    def close(self) -> None:
        self._watcher.close()

    def _arrived(self, verdict: dict[str, Any], how: str) -> None:
        if isinstance(verdict.get("seq"), int):  # unjournaled verdicts cannot be tracked by a cursor
            self.health.on_verdict(verdict)
            self._ready.append(verdict)
