"""Health of the service: liveness ticks of its threads (for the systemd watchdog) and the current faults.

Each thread's loop calls ``tick(name)`` at least every poll interval, also while idle; the supervisor pings
WATCHDOG=1 only while every thread is alive and ticked within ``stall_s``. Faults (a dead or stalled thread,
a journal that cannot be written) are named here; while there is one the heartbeat and ``control status``
say state "fault" and list them.
"""

from __future__ import annotations

import threading
import time


class Liveness:
    """Last tick per thread (monotonic seconds) and the named faults by source."""

    def __init__(self) -> None:
        self._ticks: dict[str, float] = {}
        self._faults: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def tick(self, stage: str) -> None:
        with self._lock:
            self._ticks[stage] = time.monotonic()

    def forget(self, stage: str) -> None:
        with self._lock:
            self._ticks.pop(stage, None)

    def stalled(self, stall_s: float) -> list[str]:
        """Threads silent for longer than ``stall_s``."""
        now = time.monotonic()
        with self._lock:
            return [name for name, last in self._ticks.items() if now - last > stall_s]

    def set_faults(self, source: str, faults: list[str]) -> bool:
        """Replace the faults reported by ``source`` (``[]`` clears them); True when they changed."""
        with self._lock:
            before = self._faults.get(source, [])
            if faults:
                self._faults[source] = list(faults)
            else:
                self._faults.pop(source, None)
            return before != faults

    def faults(self, source: str | None = None) -> list[str]:
        """Every current fault, or those of ``source``."""
        with self._lock:
            if source is not None:
                return list(self._faults.get(source, []))
            return [fault for group in self._faults.values() for fault in group]
