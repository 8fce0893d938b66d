"""Ingest stage: receive frames (ROUTER, PULL or SUB), decode them without copying the payload, queue them.

The queue is bounded and ``put`` blocks: when workers fall behind (or the journal is in fault), this thread
stops reading, the socket's receive high-water mark fills and the scanner blocks (backpressure instead of
memory growth). A frame that breaks the protocol is queued as a rejected job so it still yields exactly one
ERROR verdict. Every frame is claimed in the :class:`Ledger` first, so a frame_id is inspected once per
station. In ``router`` mode this thread also owns the sending of acks (ZeroMQ sockets are single-threaded):
the publisher hands them over through ``outbox``.

Stopping has two steps: ``stop_receiving()`` reads what the socket already holds until it has been quiet for
``quiet_s`` (those frames are queued like any other), then the thread keeps sending acks until ``stop()``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import zmq
from zmq.utils.monitor import recv_monitor_message

from edge.logs import fields
from edge.pipeline.codec import Ack, Frame, ProtocolError, decode, identity
from edge.pipeline.ledger import Ledger, Ticket
from edge.pipeline.liveness import Liveness
from edge.pipeline.stage import StageThread

log = logging.getLogger("edge.pipeline.ingest")
STOP = None
POLL_MS = 20


@dataclass
class Job:
    """One received message: a decoded frame or the protocol error it raised, its ticket and receive times."""

    frame: Frame | None
    error: ProtocolError | None
    ts_in: float
    received: float
    decode_ms: float
    ticket: Ticket | None = None


@dataclass
class IngestCounts:
    """What the ingest thread saw (for status and the shutdown report)."""

    received: int = 0
    duplicates: int = 0
    disconnects: int = 0
    drained: int = 0


class Ingest(StageThread):
    """Owns the ingest socket (and, in router mode, the sending of acks)."""

    def __init__(self, socket: zmq.Socket, jobs: queue.Queue, limits: Callable[[str], tuple[int, int] | None],
                 taking: Callable[[], bool], liveness: Liveness, ledger: Ledger, *, router: bool,
                 quiet_s: float, linger_ms: int) -> None:
        super().__init__("ingest", liveness)
        self.socket = socket
        self.jobs = jobs
        self.limits = limits
        self.taking = taking
        self.convert_units = True
        self.ledger = ledger
        self.router = router
        self.quiet_s = quiet_s
        self.linger_ms = linger_ms
        self.outbox: queue.SimpleQueue[tuple[bytes, Ack]] = queue.SimpleQueue()
        self.counts = IngestCounts()
        self.drained = threading.Event()
        self._receiving = threading.Event()
        self._receiving.set()
        self._monitor = socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)

    @property
    def received(self) -> int:
        return self.counts.received

    def tick(self) -> None:
        """Also send waiting acks: this runs while blocked on a full queue too."""
        super().tick()
        self._send_acks()

    def stop_receiving(self) -> None:
        """Read what the socket holds until quiet, then only send acks; ``drained`` is set when done."""
        self._receiving.clear()

    def loop(self) -> None:
        while self._receiving.is_set() and not self.stopping:
            self.tick()
            self._service()
            if not self.taking():
                self.pause(POLL_MS / 1000)
            elif self.socket.poll(POLL_MS):
                self._receive()
        self._drain()
        self.drained.set()
        while not self.stopping:
            self.tick()
            self._service()
            self.pause(POLL_MS / 1000)
        self._send_acks()

    def close(self) -> None:
        self.drained.set()
        self.socket.disable_monitor()
        self._monitor.close(linger=0)
        self.socket.close(linger=self.linger_ms)

    def _drain(self) -> None:
        """Everything ZeroMQ already queued for us, until the socket has been quiet for ``quiet_s``."""
        quiet_until = time.monotonic() + self.quiet_s
        while time.monotonic() < quiet_until and not self.aborted:
            self.tick()
            self._service()
            if self.socket.poll(POLL_MS):
                self.counts.drained += 1
                self._receive()
                quiet_until = time.monotonic() + self.quiet_s

    def _service(self) -> None:
        self._send_acks()
        while self._monitor.poll(0):
            event = recv_monitor_message(self._monitor)
            self.counts.disconnects += 1
            log.warning("ingest peer disconnected: a message over MAXMSGSIZE (dropped by ZeroMQ) or the peer "
                        "went away", extra=fields(endpoint=event["endpoint"].decode(errors="replace"),
                                                   maxmsgsize=self.socket.maxmsgsize))

    def _send_acks(self) -> None:
        while True:
            try:
                peer, ack = self.outbox.get_nowait()
            except queue.Empty:
                return
            try:
                self.socket.send_multipart([peer, ack.to_json()], flags=zmq.NOBLOCK)
            except zmq.ZMQError as exc:  # peer gone or over its HWM: it resends and gets a duplicate ack
                log.warning("ack not sent", extra=fields(frame_id=ack.ack, error=str(exc)))

    def _receive(self) -> None:
        parts = self.socket.recv_multipart(copy=False)
        peer = parts.pop(0).bytes if self.router else None
        ts_in, received = time.time(), time.monotonic()
        self.counts.received += 1
        try:
            frame, error = decode(parts, self.limits, convert_units=self.convert_units), None
            frame_id = frame.header["frame_id"]
        except ProtocolError as exc:
            frame, error = None, exc
            frame_id = identity(exc.header)["frame_id"]
        claim = self.ledger.claim(frame_id, peer)
        if isinstance(claim, Ack) or claim is None:
            self.counts.duplicates += 1
            log.log(logging.INFO if claim is None else logging.WARNING, "duplicate frame_id: not inspected again",
                    extra=fields(frame_id=frame_id, seq=claim.seq if claim else None, in_flight=claim is None))
            if isinstance(claim, Ack) and peer is not None:
                self.outbox.put((peer, claim))
            return
        job = Job(frame, error, ts_in, received, (time.monotonic() - received) * 1e3, claim)
        if not self.put(self.jobs, job):
            self.ledger.release(claim)
