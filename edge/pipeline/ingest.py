"""Ingest stage: receive frames (PULL or SUB), decode them without copying the payload, queue them.

The queue is bounded and ``put`` blocks: when workers fall behind, this thread stops reading, the socket's
receive high-water mark fills and a PUSHing scanner blocks (backpressure instead of memory growth). A frame
that breaks the protocol is queued as a rejected job so it still yields exactly one ERROR verdict, in order.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import zmq

from edge.pipeline.codec import Frame, ProtocolError, decode
from edge.pipeline.liveness import Liveness
from edge.pipeline.sockets import POLL_MS

STOP = None


@dataclass
class Job:
    """One received message: a decoded frame or the protocol error it raised, with receive times."""

    frame: Frame | None
    error: ProtocolError | None
    ts_in: float
    received: float
    decode_ms: float


class Ingest(threading.Thread):
    """Owns the ingest socket; ``stop()`` drains what the socket already holds (at most ``drain_max`` messages)."""

    def __init__(self, socket: zmq.Socket, jobs: queue.Queue, limits: Callable[[str], tuple[int, int] | None],
                 paused: threading.Event, liveness: Liveness, drain_max: int) -> None:
        super().__init__(name="ingest", daemon=True)
        self.socket = socket
        self.jobs = jobs
        self.limits = limits
        self.convert_units = True
        self.paused = paused
        self.liveness = liveness
        self.drain_max = drain_max
        self.received = 0
        self._stop_event = threading.Event()
        self._abort = threading.Event()

    def stop(self, abort: bool = False) -> None:
        """Stop receiving; with ``abort`` also give up putting into a full queue."""
        self._stop_event.set()
        if abort:
            self._abort.set()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                self.liveness.tick("ingest")
                if self.paused.is_set():
                    self._stop_event.wait(POLL_MS / 1000)
                    continue
                if self.socket.poll(POLL_MS):
                    self._put(self._job(self.socket.recv_multipart(copy=False)))
            for _ in range(self.drain_max):
                if not self.socket.poll(0):
                    break
                self._put(self._job(self.socket.recv_multipart(copy=False)))
        finally:
            self.socket.close(linger=0)

    def _job(self, parts: list[zmq.Frame]) -> Job:
        ts_in, received = time.time(), time.monotonic()
        self.received += 1
        try:
            frame, error = decode(parts, self.limits, convert_units=self.convert_units), None
        except ProtocolError as exc:
            frame, error = None, exc
        return Job(frame, error, ts_in, received, (time.monotonic() - received) * 1e3)

    def _put(self, job: Job) -> None:
        while not self._abort.is_set():
            try:
                self.jobs.put(job, timeout=POLL_MS / 1000)
                return
            except queue.Full:
                self.liveness.tick("ingest")
