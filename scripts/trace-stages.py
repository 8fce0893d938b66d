"""Per-stage counts from a `bench inspect --profile` Chrome trace: host milliseconds, CUDA launches, host
synchronisations, GPU kernel milliseconds and torch ops per frame, one markdown table.

The Inspector's stages are ``stage:<name>`` ranges in the trace (:class:`edge.timing.StageTimer`); a kernel counts
towards the stage whose range holds the runtime call that launched it (kernels inside a replayed CUDA graph have no
such call of their own and are not counted).

    python scripts/trace-stages.py gpu-out/trace.json.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections import defaultdict
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", type=Path, help="Chrome trace (.json or .json.gz)")
    args = parser.parse_args()
    opener = gzip.open if args.trace.suffix == ".gz" else open
    with opener(args.trace, "rt") as handle:
        events = json.load(handle)["traceEvents"]
    frames = sum(1 for e in events if e.get("cat") == "user_annotation" and e["name"] == "inspect_frame") or 1
    stages = [e for e in events if e.get("cat") == "user_annotation" and e["name"].startswith("stage:")]
    runtime = sorted((e for e in events if e.get("cat") == "cuda_runtime"), key=lambda e: e["ts"])
    ops = sorted(e["ts"] for e in events if e.get("cat") == "cpu_op")
    kernel_us: dict[object, float] = defaultdict(float)
    for event in events:
        if event.get("cat") == "kernel":
            kernel_us[event.get("args", {}).get("correlation")] += event["dur"]
    rows: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0, 0.0, 0])
    for stage in stages:
        first, last = stage["ts"], stage["ts"] + stage["dur"]
        row = rows[stage["name"].removeprefix("stage:")]
        row[0] += stage["dur"] / 1e3
        for call in runtime:
            if first <= call["ts"] <= last:
                row[1] += "Launch" in call["name"]
                row[2] += "Synchronize" in call["name"]
                row[3] += kernel_us.get(call.get("args", {}).get("correlation"), 0.0) / 1e3
        row[4] += sum(1 for ts in ops if first <= ts <= last)
    print(f"Per stage, mean of {frames} profiled frame(s):\n")
    print("| stage | host ms | launches | host syncs | GPU kernel ms | torch ops |\n|---|---:|---:|---:|---:|---:|")
    for name, (ms, launches, syncs, gpu, count) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
        print(f"| {name} | {ms / frames:.1f} | {launches / frames:.0f} | {syncs / frames:.0f} | {gpu / frames:.1f} "
              f"| {count / frames:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
