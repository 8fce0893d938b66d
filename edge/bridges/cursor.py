"""The last seq a bridge delivered, kept in a small file that survives restarts and power loss."""

from __future__ import annotations

import os
from pathlib import Path


class CursorError(ValueError):
    """The cursor file exists but does not hold a seq."""


class Cursor:
    """One integer in a text file, replaced atomically (write, fsync, rename) on every ``save``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> int | None:
        """The saved seq, or None when nothing was delivered yet."""
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return None
        if not text.isdigit():
            raise CursorError(f"{self.path}: expected the last delivered seq (an integer), got {text[:40]!r}")
        return int(text)

    def save(self, seq: int) -> None:
        """Persist ``seq`` so that a restart resumes right after it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as handle:
            handle.write(f"{seq}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
