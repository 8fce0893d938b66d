"""The base of every service thread: a stop/abort switch, liveness ticks and a bounded-queue put that retries.

Each loop ticks its liveness at least every poll interval (also while idle or blocked on a full queue), so the
supervisor can tell a stuck thread from a waiting one; a thread that ends by an exception is logged here and
seen as dead by the supervisor.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from edge.logs import fields
from edge.pipeline.liveness import Liveness

log = logging.getLogger("edge.pipeline")
POLL_S = 0.1


class StageThread(threading.Thread):
    """Subclasses implement ``loop()`` (return when ``stopping``) and optionally ``close()``."""

    def __init__(self, name: str, liveness: Liveness) -> None:
        super().__init__(name=name, daemon=True)
        self.liveness = liveness
        self._stop_event = threading.Event()
        self._abort = threading.Event()

    def stop(self, abort: bool = False) -> None:
        """Ask the loop to finish; with ``abort`` also give up waiting on full queues."""
        self._stop_event.set()
        if abort:
            self._abort.set()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    def tick(self) -> None:
        self.liveness.tick(self.name)

    def pause(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early when stopped."""
        self._stop_event.wait(seconds)

    def put(self, target: queue.Queue, item: Any) -> bool:
        """Put ``item`` into a bounded queue, ticking while it is full; False when aborted first."""
        while not self._abort.is_set():
            try:
                target.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                self.tick()
        return False

    def run(self) -> None:
        self.tick()
        try:
            self.loop()
        except BaseException as exc:
            log.critical("thread died", exc_info=True, extra=fields(thread=self.name, error=repr(exc)))
            raise
        finally:
            self.liveness.forget(self.name)
            self.close()

    def loop(self) -> None:
        """The stage's work until ``stopping``; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} defines no loop")

    def close(self) -> None:
        """Release what the thread owns (its socket); called once when the loop ends."""
