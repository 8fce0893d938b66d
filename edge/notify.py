"""systemd notifications (sd_notify) with the standard library only.

Messages go as one datagram to the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a leading ``@`` means the
Linux abstract namespace). Without that variable every call is a no-op, so the service runs the same
outside systemd.
"""

from __future__ import annotations

import os
import socket
import threading
import time


class Notifier:
    """Sends READY / RELOADING / STOPPING / WATCHDOG / STATUS to systemd."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_s = _watchdog_interval(env)
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **values: str | int) -> bool:
        """Send ``KEY=value`` lines (keys upper-cased); True when a datagram was sent."""
        if self.address is None:
            return False
        message = "\n".join(f"{key.upper()}={value}" for key, value in values.items()).encode()
        with self._lock:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            try:
                self._socket.sendto(message, self.address)
            except OSError:
                return False
        return True

    def ready(self, status: str = "") -> bool:
        """READY=1: the bundles are loaded and smoke-tested."""
        return self.send(ready=1, **({"status": status} if status else {}))

    def reloading(self) -> bool:
        """RELOADING=1 with the monotonic timestamp systemd expects; follow with ``ready()``."""
        return self.send(reloading=1, monotonic_usec=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)

    def stopping(self) -> bool:
        """STOPPING=1: draining before exit."""
        return self.send(stopping=1)

    def watchdog(self) -> bool:
        """WATCHDOG=1: the frame loop is alive."""
        return self.send(watchdog=1)

    def status(self, text: str) -> bool:
        """STATUS=text, shown by ``systemctl status``."""
        return self.send(status=text)

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


def _address(value: str) -> str | bytes | None:
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def _watchdog_interval(env: dict[str, str] | os._Environ[str]) -> float | None:
    """Seconds of ``$WATCHDOG_USEC`` when it is meant for this process (``$WATCHDOG_PID`` unset or ours)."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6
