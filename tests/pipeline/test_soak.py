"""The short soak: a live `pcinspect serve` survives kill -9, a full journal disk, malformed and duplicate
frames with no frame lost or duplicated (the long run's figures are in docs/results/soak.md)."""

from __future__ import annotations

import pytest

from edge.cli import main
from edge.pipeline.soak import SoakOptions, run_soak


@pytest.mark.slow
def test_short_soak_loses_and_duplicates_nothing(trained_bundle, tmp_path) -> None:
    """SIGTERM + restart is left to test_crash_recovery.py (each restart costs a bundle load)."""
    options = SoakOptions(trained_bundle, frames=20, points=300, workdir=tmp_path,
                          faults=("kill", "malformed", "duplicate", "disk-full"), disk_full_s=1.0)
    report = run_soak(options, progress=lambda line: None)
    assert (report.lost, report.duplicated, report.acked, report.journaled) == (0, 0, 20, 20)
    assert (report.crashes, report.restarts, report.malformed_errors, report.duplicate_acks) == (1, 1, 3, 5)
    assert report.journal_faults == 1


def test_soak_refuses_unknown_faults(trained_bundle, capsys) -> None:
    assert main(["soak", "--bundle", str(trained_bundle), "--faults", "kill,meteor"]) == 1
    assert "--faults: unknown ['meteor']" in capsys.readouterr().err
