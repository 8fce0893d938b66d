"""The one error type raised for unreadable or malformed point-cloud files."""

from __future__ import annotations

from pathlib import Path
from edge.errors import PcinspectError


class CloudFormatError(PcinspectError, ValueError):
    """A point-cloud file (or buffer) is malformed; the message names the file and the problem."""

    def __init__(self, source: str | Path | None, problem: str) -> None:
        self.source = str(source) if source is not None else "<buffer>"
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")
