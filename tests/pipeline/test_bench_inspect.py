"""`pcinspect bench inspect` times the Inspector alone on one backend and device."""

from __future__ import annotations

import json

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


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_bench_inspect_on_cuda_without_cuda_is_a_clear_error(trained_bundle, capsys) -> None:
    assert main(["bench", "inspect", "--bundle", str(trained_bundle), "--device", "cuda"]) == 1
    assert "CUDA is not available" in capsys.readouterr().err
