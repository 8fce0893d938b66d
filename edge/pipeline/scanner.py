"""The scanner side of ``router`` ingest: a DEALER that keeps a window of unacknowledged frames and resends.

Each frame is sent as ``[header, payload]``; the edge answers one JSON ack per frame once its verdict is
journaled (docs/protocol.md). Frames without an ack after ``resend_s``, and every unacknowledged frame after a
reconnect (the edge restarted), are sent again; the edge is idempotent by frame_id, so a resend is never
inspected or published twice. A frame the edge never acks within ``max_tries`` sends (for instance one over
its MAXMSGSIZE, which ZeroMQ drops with the connection) is given up and reported in ``failed``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from edge.pipeline.codec import Ack, encode
from edge.pipeline.security import ClientCurve
from edge.pipeline.sockets import attach


@dataclass
class ScannerOptions:
    """How patient the scanner is."""

    window: int = 8
    resend_s: float = 5.0
    max_tries: int = 20
    hwm: int = 16


@dataclass
class _Pending:
    parts: list[bytes]
    sent_at: float
    tries: int = 1


@dataclass
class ScannerStats:
    sent: int = 0
    resent: int = 0
    acked: int = 0
    duplicates: int = 0
    reconnects: int = 0
    failed: list[str] = field(default_factory=list)


class ScannerClient:
    """Send frames to an edge's router ingest and collect their acks (single-threaded, like any ZeroMQ socket)."""

    def __init__(self, context: zmq.Context, endpoint: str, options: ScannerOptions | None = None,
                 curve: ClientCurve | None = None) -> None:
        self.options = options or ScannerOptions()
        self.socket = context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.sndhwm = self.options.hwm
        self.socket.rcvhwm = 0
        if curve is not None:
            curve.apply(self.socket)
        self._monitor = self.socket.get_monitor_socket(zmq.EVENT_CONNECTED)
        attach(self.socket, endpoint, bind=False)
        self.pending: dict[str, _Pending] = {}
        self.acks: dict[str, Ack] = {}
        self.stats = ScannerStats()
        self._connected_once = False

    def send(self, header: dict[str, Any], values: np.ndarray) -> None:
        """Send one frame, first waiting (and resending) while the window of unacknowledged frames is full."""
        while len(self.pending) >= self.options.window:
            self.poll(100)
        parts = [bytes(part) for part in encode(header, values)]
        self.pending[header["frame_id"]] = _Pending(parts, time.monotonic())
        self._send(parts)
        self.stats.sent += 1

    def poll(self, timeout_ms: int) -> list[Ack]:
        """Acks that arrive within ``timeout_ms``; resends what is due."""
        got: list[Ack] = []
        if self.socket.poll(timeout_ms):
            while self.socket.poll(0):
                ack = self._ack(self.socket.recv())
                if ack is not None:
                    got.append(ack)
        self._resend_due()
        return got

    def flush(self, timeout_s: float) -> bool:
        """Wait until every sent frame is acked (or given up); False on timeout."""
        end = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < end:
            self.poll(100)
        return not self.pending

    def close(self) -> None:
        self.socket.disable_monitor()
        self._monitor.close(linger=0)
        self.socket.close(linger=0)

    def _ack(self, raw: bytes) -> Ack | None:
        try:
            ack = Ack.from_dict(json.loads(raw))
        except (ValueError, TypeError):
            return None
        if ack.ack not in self.pending:
            return None
        del self.pending[ack.ack]
        self.acks[ack.ack] = ack
        self.stats.acked += 1
        self.stats.duplicates += int(ack.duplicate)
        return ack

    def _resend_due(self) -> None:
        reconnected = False
        while self._monitor.poll(0):
            recv_monitor_message(self._monitor)
            reconnected = self._connected_once
            self._connected_once = True
        if reconnected:
            self.stats.reconnects += 1
        now = time.monotonic()
        for frame_id, pending in list(self.pending.items()):
            if reconnected or now - pending.sent_at > self.options.resend_s:
                if pending.tries >= self.options.max_tries:
                    del self.pending[frame_id]
                    self.stats.failed.append(frame_id)
                    continue
                pending.tries += 1
                pending.sent_at = now
                self.stats.resent += 1
                self._send(pending.parts)

    def _send(self, parts: list[bytes]) -> None:
        while True:
            try:
                self.socket.send_multipart(parts, flags=zmq.NOBLOCK)
                return
            except zmq.Again:  # edge applying backpressure (or away): keep reading acks meanwhile
                if self.socket.poll(100):
                    while self.socket.poll(0):
                        self._ack(self.socket.recv())
