"""`scripts/trace-stages.py` counts a profiler trace per Inspector stage: launches, syncs and kernel time fall to
the stage whose range holds the runtime call, averaged over the profiled frames."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "trace-stages.py"


def event(cat: str, name: str, ts: float, dur: float = 1.0, **args: object) -> dict:
    return {"cat": cat, "name": name, "ts": ts, "dur": dur, "args": args}


def test_launches_syncs_and_kernel_time_are_counted_per_stage_and_frame(tmp_path: Path) -> None:
    events = [event("user_annotation", "inspect_frame", 0, 1000), event("user_annotation", "inspect_frame", 1000, 1000)]
    for frame in (0, 1000):
        events += [
            event("user_annotation", "stage:features", frame + 0, 600),
            event("user_annotation", "stage:align", frame + 600, 300),
            event("cuda_runtime", "cudaLaunchKernel", frame + 10, correlation=frame + 1),
            event("cuda_runtime", "cudaLaunchKernel", frame + 20, correlation=frame + 2),
            event("cuda_runtime", "cudaStreamSynchronize", frame + 30),
            event("cuda_runtime", "cudaGraphLaunch", frame + 700, correlation=frame + 3),
            event("kernel", "k1", frame + 12, 2000, correlation=frame + 1),
            event("kernel", "k2", frame + 22, 1000, correlation=frame + 2),
            event("kernel", "graph", frame + 702, 500, correlation=frame + 3),
            event("cpu_op", "aten::add", frame + 5), event("cpu_op", "aten::mul", frame + 650),
        ]
    trace = tmp_path / "trace.json.gz"
    with gzip.open(trace, "wt") as handle:
        json.dump({"traceEvents": events}, handle)
    out = subprocess.run([sys.executable, str(SCRIPT), str(trace)], capture_output=True, text=True, check=True).stdout
    rows = {line.split(" | ")[0].strip("| "): line for line in out.splitlines() if line.startswith("| ")}
    assert "2 profiled frame(s)" in out
    assert rows["features"] == "| features | 0.6 | 2 | 1 | 3.0 | 1 |"
    assert rows["align"] == "| align | 0.3 | 1 | 0 | 0.5 | 1 |"
