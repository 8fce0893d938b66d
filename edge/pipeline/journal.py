"""The durable verdict journal: SQLite in WAL mode, written before a verdict is published.

``seq`` is the journal's own sequence number: gapless per station, never reused (AUTOINCREMENT keeps its
high-water mark when retention deletes rows), so a subscriber that sees a jump in ``seq`` knows it missed
publications and can fetch them with ``since_seq``. One ``Journal`` object per thread: the publisher writes,
the query server reads through its own connection (WAL lets readers run beside the writer).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from edge.errors import PcinspectError
from edge.pipeline.codec import VerdictMessage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    frame_id TEXT,
    part_id TEXT,
    ts_out REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_frame_id ON verdicts(frame_id);
CREATE INDEX IF NOT EXISTS verdicts_part_id ON verdicts(part_id);
CREATE INDEX IF NOT EXISTS verdicts_ts_out ON verdicts(ts_out);
"""
RETENTION_EVERY = 100


class JournalError(PcinspectError):
    """The journal cannot be opened; the message names the file and the reason."""


class Journal:
    """Append verdicts, answer lookups, apply retention by row count and age."""

    def __init__(self, path: str | Path, *, synchronous: str = "full", max_rows: int = 1_000_000,
                 max_age_days: float = 30.0, readonly: bool = False) -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        self.max_age_s = max_age_days * 86400.0
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=5000")
            if not readonly:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
                self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"journal {self.path}: cannot open for {'reading' if readonly else 'writing'}: "
                               f"{exc}") from None
        self._since_retention = 0

    def next_seq(self) -> int:
        """The seq the next appended verdict will get."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='verdicts'").fetchone()
        return (row[0] if row else 0) + 1

    def append(self, verdict: VerdictMessage) -> int:
        """Commit ``verdict`` durably under the next seq and set its ``seq``; raise sqlite3.Error (seq unset)
        when it cannot be written."""
        seq = self.next_seq()
        body = json.dumps({**verdict.to_dict(), "seq": seq}, allow_nan=False)
        self._db.execute(
            "INSERT INTO verdicts(seq, frame_id, part_id, ts_out, body) VALUES (?, ?, ?, ?, ?)",
            (seq, verdict.frame_id, verdict.part_id, verdict.ts_out, body),
        )
        verdict.seq = seq
        self._since_retention += 1
        if self._since_retention >= RETENTION_EVERY:
            self.apply_retention()
        return seq

    def apply_retention(self, now: float | None = None) -> int:
        """Delete verdicts beyond ``max_rows`` or older than ``max_age_days``; the number deleted."""
        self._since_retention = 0
        cutoff = (time.time() if now is None else now) - self.max_age_s
        head = self.next_seq() - 1
        cursor = self._db.execute("DELETE FROM verdicts WHERE ts_out < ? OR seq <= ?", (cutoff, head - self.max_rows))
        return cursor.rowcount

    def by_frame_id(self, frame_id: str, limit: int) -> list[dict[str, Any]]:
        return self._select("frame_id = ?", (frame_id,), limit)

    def verdict_of(self, frame_id: str) -> tuple[int, str] | None:
        """(seq, verdict) of the journaled verdict of ``frame_id``, or None."""
        rows = self.by_frame_id(frame_id, 1)
        return (rows[0]["seq"], rows[0]["verdict"]) if rows else None

    def by_part_id(self, part_id: str, limit: int) -> list[dict[str, Any]]:
        return self._select("part_id = ?", (part_id,), limit)

    def since(self, seq: int, limit: int) -> list[dict[str, Any]]:
        """Verdicts with a seq greater than ``seq``, oldest first."""
        return self._select("seq > ?", (seq,), limit)

    def bounds(self) -> tuple[int | None, int]:
        """(oldest retained seq or None when empty, newest seq ever written or 0)."""
        first = self._db.execute("SELECT MIN(seq) FROM verdicts").fetchone()[0]
        return first, self.next_seq() - 1

    def close(self) -> None:
        self._db.close()

    def _select(self, where: str, args: tuple[Any, ...], limit: int) -> list[dict[str, Any]]:
        rows = self._db.execute(f"SELECT body FROM verdicts WHERE {where} ORDER BY seq LIMIT ?", (*args, limit))
        return [json.loads(body) for (body,) in rows]
