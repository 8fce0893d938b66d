"""The one error type raised for datasets laid out wrongly on disk."""

from __future__ import annotations

from pathlib import Path
from edge.errors import PcinspectError


class DatasetError(PcinspectError, ValueError):
    """A dataset folder or ground-truth file is missing or malformed; the message names the path."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
