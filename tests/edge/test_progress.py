"""Progress of long commands: timestamped lines when stdout is not a terminal, a live bar when it is."""

from __future__ import annotations

import io
import re

from rich.console import Console

from edge.cli.progress import progress

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_a_file_or_pipe_gets_one_timestamped_line_per_step_with_count_and_eta():
    out = io.StringIO()
    with progress(Console(file=out, width=80), "testing 2 files", total=2) as reporter:
        reporter.advance("a.ply PASS")
        reporter.advance("b.pcd FAIL")
    lines = out.getvalue().splitlines()
    assert re.fullmatch(STAMP + r" testing 2 files: \[1/2\] a\.ply PASS \(elapsed \d+ s, ETA \d+ s\)", lines[1])
    assert re.fullmatch(STAMP + r" testing 2 files: \[2/2\] b\.pcd FAIL \(elapsed \d+ s, ETA 0 s\)", lines[2])
    assert lines[0].endswith("started (elapsed 0 s)") and "done" in lines[-1]


def test_long_messages_are_not_wrapped_or_cut_in_log_files():
    out = io.StringIO()
    with progress(Console(file=out, width=40), "training bracket") as reporter:
        reporter.say("down-net step 40 of 400, loss 0.0123, learning rate 0.001")
    assert "down-net step 40 of 400, loss 0.0123, learning rate 0.001 (elapsed" in out.getvalue()


def test_a_terminal_gets_a_live_bar_instead_of_log_lines():
    out = io.StringIO()
    with progress(Console(file=out, force_terminal=True, width=100), "testing 2 files", total=2) as reporter:
        reporter.advance("a.ply PASS")
    assert "testing 2 files" in out.getvalue() and not re.search(STAMP, out.getvalue())
