"""Publish stage: journal every verdict durably, then publish it on ``verdict.<station>``, then ack it; heartbeats.

Journal first, always: a verdict is published (and acked) only once it is committed, which is what lets a
controller that missed a publication recover it by ``seq``. When the journal cannot be written (disk full, I/O
error) the verdict is held and retried; meanwhile the service is in "fault" (named in the heartbeat), ingest
stops taking frames (backpressure; no acks, so router scanners resend) and one structured error is logged.
The service recovers by itself when a retry succeeds. The PUB socket never blocks (a subscriber beyond its
high-water mark loses messages, not the line): a slow subscriber catches up through the query socket.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import time
from collections.abc import Callable

import zmq

from edge.logs import fields
from edge.pipeline.codec import Ack, Heartbeat
from edge.pipeline.journal import Journal
from edge.pipeline.ledger import Ledger
from edge.pipeline.liveness import Liveness
from edge.pipeline.stage import POLL_S, StageThread
from edge.pipeline.worker import Decided

log = logging.getLogger("edge.pipeline.publisher")
STOP = None
RETRY_S = 0.5
FAULT = "journal"


class Publisher(StageThread):
    """Owns the PUB socket and the journal's writer connection."""

    def __init__(self, socket: zmq.Socket, station: str, verdicts: queue.Queue, journal: Journal,
                 heartbeat_s: float, heartbeat: Callable[[], Heartbeat], liveness: Liveness, linger_ms: int,
                 ledger: Ledger, acks: Callable[[bytes, Ack], None]) -> None:
        super().__init__("publisher", liveness)
        self.socket = socket
        self.verdicts = verdicts
        self.journal = journal
        self.heartbeat_s = heartbeat_s
        self.heartbeat = heartbeat
        self.linger_ms = linger_ms
        self.ledger = ledger
        self.acks = acks
        self.verdict_topic = f"verdict.{station}".encode()
        self.heartbeat_topic = f"heartbeat.{station}".encode()
        self.frames = 0
        self.errors = 0
        self.withheld = 0
        self.last_seq = journal.next_seq() - 1
        self._next_beat = time.monotonic()

    def loop(self) -> None:
        while True:
            self.tick()
            try:
                item = self.verdicts.get(timeout=max(0.0, min(POLL_S, self._next_beat - time.monotonic())))
            except queue.Empty:
                item = False
            if item is STOP:
                return
            if item:
                self.publish(item)
            self._beat_when_due()

    def close(self) -> None:
        self.socket.close(linger=self.linger_ms)
        self.journal.close()

    def publish(self, decided: Decided) -> bool:
        """Journal (committed), publish, ack; False when aborted while the journal was failing."""
        message = decided.message
        message.ts_out = time.time()
        if not self._journal(decided):
            return False
        self.last_seq = message.seq
        self.frames += 1
        self.errors += int(message.verdict == "ERROR")
        self.socket.send_multipart([self.verdict_topic, message.to_json()])
        if decided.ticket is not None:
            for peer, ack in self.ledger.settle(decided.ticket, message.seq, message.verdict):
                self.acks(peer, ack)
        log.info("verdict", extra=fields(seq=message.seq, frame_id=message.frame_id, part_id=message.part_id,
                                         recipe=message.recipe, verdict=message.verdict, reason=message.reason,
                                         score=message.score, timing_ms=message.timing_ms))
        return True

    def _journal(self, decided: Decided) -> bool:
        while True:
            try:
                self.journal.append(decided.message)
                break
            except sqlite3.Error as exc:
                if self.liveness.set_faults(FAULT, [f"journal write failed: {exc}"]):
                    log.error("journal write failed: verdict withheld (not published), not taking frames until "
                              "the journal works again", extra=fields(error=str(exc), path=str(self.journal.path),
                                                                      frame_id=decided.message.frame_id))
            if self.aborted:
                self.withheld += 1
                if decided.ticket is not None:
                    self.ledger.release(decided.ticket)
                return False
            self._idle(RETRY_S)
        if self.liveness.set_faults(FAULT, []):
            log.warning("journal works again: publishing and taking frames", extra=fields(path=str(self.journal.path)))
        return True

    def _idle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.aborted:
            self.tick()
            self._beat_when_due()
            self.pause(min(POLL_S, max(0.0, end - time.monotonic())))

    def _beat_when_due(self) -> None:
        if time.monotonic() >= self._next_beat:
            self.socket.send_multipart([self.heartbeat_topic, self.heartbeat().to_json()])
            self._next_beat = time.monotonic() + self.heartbeat_s
