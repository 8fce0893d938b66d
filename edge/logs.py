"""Structured logs: one JSON object per line on stderr (journald and log shippers parse them as-is).

Fields passed through ``logger.info(msg, extra={"fields": {...}})`` are merged into the object.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import IO, Any


class JsonFormatter(logging.Formatter):
    """Formats a record as ``{"ts", "level", "logger", "msg", ...fields, "exc"?}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Route the ``edge`` loggers to ``stream`` (stderr) as JSON lines at ``level``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("edge")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` argument that adds ``values`` to the JSON line."""
    return {"fields": values}
