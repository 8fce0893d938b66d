"""Progress of long commands: a rich bar with ETA on a terminal, timestamped plain lines otherwise.

A spinner draws nothing when stdout is a file or a pipe (CI logs, `nohup`, systemd), so a long `train`
looked dead. `progress()` picks the form from the console: on a terminal a live bar (with a count and ETA
when the total is known), elsewhere one flushed line per step, e.g.
``2026-11-27T04:55:01Z training bracket: [2/5] down-net step 40 (elapsed 12 s, ETA 18 s)``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


class Reporter:
    """What a command reports to: ``say(message)`` for a new step, ``advance()`` when one of ``total`` is done."""

    def __init__(self, title: str, total: int | None, console: Console) -> None:
        self.title = title
        self.total = total
        self.done = 0
        self.console = console
        self.start = time.monotonic()
        self._bar: Progress | None = None
        self._task = None

    def __call__(self, message: str) -> None:
        self.say(message)

    def say(self, message: str) -> None:
        """Report the step in progress."""
        if self._bar is not None:
            self._bar.update(self._task, step=message)
        else:
            self._line(message)

    def advance(self, message: str = "", count: int = 1) -> None:
        """Count ``count`` items of ``total`` as done (``message`` names the last one)."""
        self.done += count
        if self._bar is not None:
            self._bar.update(self._task, advance=count, step=message)
        else:
            self._line(message)

    def _line(self, message: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        elapsed = time.monotonic() - self.start
        count = f"[{self.done}/{self.total}] " if self.total else ""
        timing = f"elapsed {elapsed:.0f} s"
        if self.total and self.done:
            timing += f", ETA {elapsed / self.done * (self.total - self.done):.0f} s"
        self.console.print(f"{stamp} {self.title}: {count}{message} ({timing})", markup=False, highlight=False,
                           soft_wrap=True)
        self.console.file.flush()


@contextmanager
def progress(console: Console, title: str, total: int | None = None) -> Iterator[Reporter]:
    """Report the progress of ``title`` (of ``total`` items when known) for as long as the block runs."""
    reporter = Reporter(title, total, console)
    if not console.is_terminal:
        reporter.say("started")
        yield reporter
        reporter.say("done")
        return
    columns = [SpinnerColumn(), TextColumn("[bold]{task.description}")]
    if total:
        columns += [BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    else:
        columns += [TimeElapsedColumn()]
    columns.append(TextColumn("{task.fields[step]}"))
    with Progress(*columns, console=console, transient=True) as bar:
        reporter._bar = bar
        reporter._task = bar.add_task(title, total=total, step="")
        yield reporter
