"""`pcinspect bench serve` runs the service in-process over loopback TCP and reports throughput and latency."""

from __future__ import annotations

from edge.cli import main


def test_bench_serve_reports_frames_per_second_and_latency_percentiles(trained_bundle, capsys) -> None:
    assert main(["bench", "serve", "--bundle", str(trained_bundle), "--points", "4000", "--frames", "1",
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "frames/s" in out and "p99 ms" in out and "verdicts {'PASS': 1}" in out


def test_bench_serve_warms_every_worker_with_two_frames_before_measuring(trained_bundle, capsys, monkeypatch) -> None:
    """Each worker thread captures its own CUDA graphs on its first frames: the measured frames come after two
    warm-up frames per worker, and only they are counted."""
    import edge.pipeline.bench as bench

    sent = []
    make_header = bench.make_header
    monkeypatch.setattr(bench, "make_header", lambda **fields: sent.append(fields["frame_id"]) or make_header(**fields))
    assert main(["bench", "serve", "--bundle", str(trained_bundle), "--points", "4000", "--frames", "1",
                 "--workers", "2", "--threads", "1"]) == 0
    assert len(sent) == 2 * 2 + 1
    assert "verdicts {'PASS': 1}" in capsys.readouterr().out
