"""`pcinspect bench inspect` times the Inspector alone on one backend and device."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edge.cli import main


def test_bench_inspect_reports_latency_stages_and_how_every_frame_was_decided(trained_bundle, capsys) -> None:
    assert main(["bench", "inspect", "--bundle", str(trained_bundle), "--points", "3000", "4000", "--frames", "2",
                 "--warmup", "0", "--threads", "1", "--json"]) == 0
    runs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["points"] for r in runs] == [3000, 4000]
    for run in runs:
        assert sum(run["decisions"].values()) == 2
        assert run["ms"]["p50"] <= run["ms"]["p99"] and run["frames_per_s"] > 0
        assert {"align", "features", "reconstruction"} <= set(run["stage_ms_p50"])
        assert any("served by torch on cpu" in line for line in run["served_by"])


def test_bench_inspect_profile_writes_a_chrome_trace_and_the_top_ops(trained_bundle, tmp_path, capsys) -> None:
    trace = tmp_path / "prof" / "trace.json"
    assert main(["bench", "inspect", "--bundle", str(trained_bundle), "--points", "3000", "--frames", "1",
                 "--warmup", "0", "--threads", "1", "--profile", str(trace)]) == 0
    events = json.loads(trace.read_text())["traceEvents"]
    assert any(e.get("name") == "inspect_frame" for e in events)
    assert "Self CPU" in trace.with_suffix(".txt").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_bench_inspect_on_cuda_without_cuda_is_a_clear_error(trained_bundle, capsys) -> None:
    assert main(["bench", "inspect", "--bundle", str(trained_bundle), "--device", "cuda"]) == 1
    assert "CUDA is not available" in capsys.readouterr().err


def test_bench_frames_above_the_golden_size_are_a_denser_surface_not_repeated_points(trained_bundle) -> None:
    from edge.bundle import load_bundle
    from edge.geometry.knn import knn
    from edge.pipeline.bench import JITTER, frames_from_golden

    golden = torch.from_numpy(np.asarray(load_bundle(trained_bundle).arrays["golden"], dtype=np.float32))
    frame = torch.from_numpy(frames_from_golden(trained_bundle, 4 * len(golden), seed=0))
    off_samples = knn(frame, golden, 1)[0][:, 0].sqrt().median()
    assert frame.shape == (4 * len(golden), 3)
    assert float(off_samples) > 3 * JITTER
