"""What the dashboard shows, folded from the verdict stream: shift counts, recent verdicts, failed parts."""

from __future__ import annotations

import collections
import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

from edge.bridges.source import Health

RESULTS = ("PASS", "FAIL", "ERROR")


def shift_start(now: dt.datetime, starts: list[str]) -> dt.datetime:
    """The start of the shift ``now`` (local, naive) is in; ``starts`` are sorted HH:MM."""
    today = [now.replace(hour=int(s[:2]), minute=int(s[3:]), second=0, microsecond=0) for s in starts]
    begun = [t for t in today if t <= now]
    return begun[-1] if begun else today[-1] - dt.timedelta(days=1)


def row(verdict: dict[str, Any]) -> dict[str, Any]:
    """The fields of a verdict the stream table shows."""
    return {key: verdict.get(key) for key in ("seq", "frame_id", "part_id", "recipe", "verdict", "score", "reason",
                                              "ts_out")} | {"regions": len(verdict.get("regions") or [])}


@dataclass
class DashboardState:
    """Thread-safe: the stream thread ``add``s, HTTP threads take ``snapshot``s."""

    shifts: list[str]
    recent_size: int
    failed_size: int
    health: Health
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESULTS, 0))
    shift_began: dt.datetime | None = None
    recent: collections.deque = field(init=False)
    failed: collections.deque = field(init=False)
    by_seq: dict[int, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.recent = collections.deque(maxlen=self.recent_size)
        self.failed = collections.deque(maxlen=self.failed_size)

    def add(self, verdict: dict[str, Any]) -> None:
        """Fold in one verdict (oldest first); only verdicts of the current shift are counted."""
        with self._lock:
            self._roll_shift()
            ts = verdict.get("ts_out")
            if ts is not None and dt.datetime.fromtimestamp(ts) >= self.shift_began:
                self.counts[verdict["verdict"]] += 1
            self.recent.appendleft(row(verdict))
            if verdict["verdict"] == "FAIL":
                if len(self.failed) == self.failed.maxlen:
                    self.by_seq.pop(self.failed[-1]["seq"], None)
                self.failed.appendleft(row(verdict))
                self.by_seq[verdict["seq"]] = verdict

    def verdict(self, seq: int) -> dict[str, Any] | None:
        """A failed part kept for the 3D view."""
        with self._lock:
            return self.by_seq.get(seq)

    def snapshot(self, station: str) -> dict[str, Any]:
        with self._lock:
            self._roll_shift()
            judged = sum(self.counts.values())  # ERROR frames are parts not passed: they lower the yield
            return {
                "station": station, "health": self.health.summary(), "shift_start": self.shift_began.isoformat(),
                "counts": dict(self.counts), "yield": self.counts["PASS"] / judged if judged else None,
                "recent": list(self.recent), "failed": list(self.failed),
            }

    def _roll_shift(self) -> None:
        began = shift_start(dt.datetime.now(), self.shifts)
        if began != self.shift_began:
            self.shift_began = began
            self.counts = dict.fromkeys(RESULTS, 0)
