"""Liveness of the service's stage threads, for the systemd watchdog.

Each stage loop calls ``tick(name)`` at least every poll interval, also while idle; the supervisor pings
WATCHDOG=1 only while every registered stage ticked within ``stall_s``. A stuck inspection or a deadlocked
publisher therefore stops the pings and systemd restarts the service.
"""

from __future__ import annotations

import threading
import time


class Liveness:
    """Last tick per stage (monotonic seconds)."""

    def __init__(self) -> None:
        self._ticks: dict[str, float] = {}
        self._lock = threading.Lock()

    def tick(self, stage: str) -> None:
        with self._lock:
            self._ticks[stage] = time.monotonic()

    def forget(self, stage: str) -> None:
        with self._lock:
            self._ticks.pop(stage, None)

    def stalled(self, stall_s: float) -> list[str]:
        """Stages silent for longer than ``stall_s``."""
        now = time.monotonic()
        with self._lock:
            return [name for name, last in self._ticks.items() if now - last > stall_s]
