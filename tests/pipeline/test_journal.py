"""The verdict journal: WAL, gapless seq that survives restarts and retention, retention by count and age."""

from __future__ import annotations

import time

import pytest

from edge.pipeline.codec import VerdictMessage
from edge.pipeline.journal import Journal, JournalError
from edge.pipeline.query import QueryHandler


def verdict(i: int, ts_out: float | None = None) -> VerdictMessage:
    return VerdictMessage(station="s", frame_id=f"f{i}", part_id=f"p{i % 2}", recipe="r", verdict="PASS",
                          ts_in=time.time(), ts_out=ts_out or time.time())


def test_journal_is_wal_and_seq_continues_after_reopen(tmp_path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    assert [journal.append(verdict(i)) for i in range(3)] == [1, 2, 3]
    assert journal._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    journal.close()
    assert Journal(tmp_path / "j.sqlite3").append(verdict(3)) == 4


def test_retention_by_count_keeps_the_newest_and_never_reuses_seq(tmp_path) -> None:
    journal = Journal(tmp_path / "j.sqlite3", max_rows=3)
    for i in range(5):
        journal.append(verdict(i))
    assert journal.apply_retention() == 2
    assert [v["seq"] for v in journal.since(0, 10)] == [3, 4, 5]
    assert journal.bounds() == (3, 5) and journal.append(verdict(5)) == 6


def test_retention_by_age_deletes_old_verdicts(tmp_path) -> None:
    journal = Journal(tmp_path / "j.sqlite3", max_age_days=1.0)
    now = time.time()
    journal.append(verdict(0, now - 3 * 86400))
    journal.append(verdict(1, now - 60))
    assert journal.apply_retention(now) == 1
    assert [v["frame_id"] for v in journal.since(0, 10)] == ["f1"]


def test_query_by_frame_part_and_since_seq_with_a_limit(tmp_path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    for i in range(5):
        journal.append(verdict(i))
    query = QueryHandler(Journal(tmp_path / "j.sqlite3", readonly=True), limit=2)
    assert [v["seq"] for v in query({"op": "get", "frame_id": "f3"})["verdicts"]] == [4]
    by_part = query({"op": "get", "part_id": "p0"})
    assert [v["seq"] for v in by_part["verdicts"]] == [1, 3] and by_part["more"]
    since = query({"op": "get", "since_seq": 3})
    assert [v["seq"] for v in since["verdicts"]] == [4, 5] and not since["more"]
    assert (since["first_seq"], since["last_seq"]) == (1, 5)


def test_a_journal_that_cannot_be_opened_is_one_clear_error(tmp_path) -> None:
    taken = tmp_path / "j.sqlite3"
    taken.mkdir()  # (tests run as root here, so a mode bit cannot make it unwritable)
    with pytest.raises(JournalError, match=f"journal {taken}: cannot open for writing: unable to open"):
        Journal(taken)


def test_verdict_of_a_journaled_frame_is_its_seq_and_verdict(tmp_path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.append(verdict(0))
    assert journal.verdict_of("f0") == (1, "PASS") and journal.verdict_of("nope") is None
