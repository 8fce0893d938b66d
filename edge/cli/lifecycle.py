"""The stop event of a long-running command: set by SIGTERM (systemd's stop) and SIGINT (Ctrl-C)."""

from __future__ import annotations

import signal
import threading


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM and SIGINT set, for a loop that finishes its current delivery and exits 0."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop
