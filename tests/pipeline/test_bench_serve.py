"""`pcinspect bench serve` runs the service in-process over loopback TCP and reports throughput and latency."""

from __future__ import annotations

from edge.cli import main


def test_bench_serve_reports_frames_per_second_and_latency_percentiles(trained_bundle, capsys) -> None:
    assert main(["bench", "serve", "--bundle", str(trained_bundle), "--points", "4000", "--frames", "1",
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "frames/s" in out and "p99 ms" in out and "verdicts {'PASS': 1}" in out
