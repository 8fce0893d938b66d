"""Publish stage: journal every verdict durably, then publish it on ``verdict.<station>``; heartbeats.

Journal-then-publish is what lets a controller that missed a publication recover it by ``seq``. The PUB
socket never blocks (a subscriber beyond its high-water mark loses messages, not the line), so a slow
subscriber cannot stall inspection; it catches up through the query socket.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from edge.logs import fields
from edge.pipeline.codec import VERSION
from edge.pipeline.journal import Journal
from edge.pipeline.liveness import Liveness

log = logging.getLogger("edge.pipeline.publisher")
STOP = None


class Publisher(threading.Thread):
    """Owns the PUB socket and the journal's writer connection."""

    def __init__(self, socket: zmq.Socket, station: str, verdicts: queue.Queue, journal: Journal,
                 heartbeat_s: float, heartbeat: Callable[[], dict[str, Any]], liveness: Liveness,
                 linger_ms: int) -> None:
        super().__init__(name="publisher", daemon=True)
        self.socket = socket
        self.verdicts = verdicts
        self.journal = journal
        self.heartbeat_s = heartbeat_s
        self.heartbeat = heartbeat
        self.liveness = liveness
        self.linger_ms = linger_ms
        self.verdict_topic = f"verdict.{station}".encode()
        self.heartbeat_topic = f"heartbeat.{station}".encode()
        self.station = station
        self.frames = 0
        self.errors = 0
        self.last_seq = journal.next_seq() - 1

    def run(self) -> None:
        next_beat = time.monotonic()
        try:
            while True:
                self.liveness.tick(self.name)
                try:
                    message = self.verdicts.get(timeout=max(0.0, min(0.1, next_beat - time.monotonic())))
                except queue.Empty:
                    message = False
                if message is STOP:
                    break
                if message:
                    self.publish(message)
                if time.monotonic() >= next_beat:
                    self._beat()
                    next_beat = time.monotonic() + self.heartbeat_s
        finally:
            self.liveness.forget(self.name)
            self.socket.close(linger=self.linger_ms)
            self.journal.close()

    def publish(self, message: dict[str, Any]) -> None:
        """Journal (committed) then send one verdict message."""
        message["ts_out"] = time.time()
        try:
            self.last_seq = self.journal.append(message)
        except sqlite3.Error as exc:
            message["seq"] = None
            log.error("journal write failed; verdict published without seq", extra=fields(error=str(exc)))
        self.frames += 1
        self.errors += int(message["verdict"] == "ERROR")
        self.socket.send_multipart([self.verdict_topic, json.dumps(message, allow_nan=False).encode()])
        log.info("verdict", extra=fields(seq=message["seq"], frame_id=message["frame_id"], part_id=message["part_id"],
                                         recipe=message["recipe"], verdict=message["verdict"],
                                         reason=message["reason"], score=message["score"],
                                         timing_ms=message["timing_ms"]))

    def _beat(self) -> None:
        beat = {"v": VERSION, "station": self.station, "ts": time.time(), **self.heartbeat(),
                "frames": self.frames, "errors": self.errors, "seq": self.last_seq}
        self.socket.send_multipart([self.heartbeat_topic, json.dumps(beat, allow_nan=False).encode()])
