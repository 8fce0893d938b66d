"""Verdict query: answers ``{"op": "get", "frame_id" | "part_id" | "since_seq"}`` from the journal.

Replies are ``{"ok": true, "verdicts": [...], "more": bool, "first_seq", "last_seq"}``: ``more`` says the
reply was cut at the limit (ask again from the last seq received); ``first_seq`` is the oldest verdict still
retained, so a client can tell that retention removed some of what it missed.
"""

from __future__ import annotations

from typing import Any

from edge.pipeline.journal import Journal

KEYS = ("frame_id", "part_id", "since_seq")


class QueryHandler:
    """Request -> reply over a read connection to the journal (used only by the query thread)."""

    def __init__(self, journal: Journal, limit: int) -> None:
        self.journal = journal
        self.limit = limit

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("op") != "get":
            return {"ok": False, "error": f"unknown op {request.get('op')!r} (the query socket answers 'get')"}
        given = [key for key in KEYS if key in request]
        if len(given) != 1:
            return {"ok": False, "error": "give exactly one of frame_id, part_id, since_seq"}
        key, value = given[0], request[given[0]]
        if key == "since_seq":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return {"ok": False, "error": f"since_seq must be a non-negative int, got {value!r}"}
            rows = self.journal.since(value, self.limit + 1)
        elif not isinstance(value, str):
            return {"ok": False, "error": f"{key} must be a string, got {value!r}"}
        elif key == "frame_id":
            rows = self.journal.by_frame_id(value, self.limit + 1)
        else:
            rows = self.journal.by_part_id(value, self.limit + 1)
        first, last = self.journal.bounds()
        return {"ok": True, "verdicts": rows[: self.limit], "more": len(rows) > self.limit,
                "first_seq": first, "last_seq": last}
