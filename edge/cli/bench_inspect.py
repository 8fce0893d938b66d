"""`pcinspect bench inspect`: per-frame latency of the Inspector on one device and backend, stage by stage.

This is the cost of one inspection without the service around it (no decoding, queueing or publishing), so
backends and devices can be compared on the same frames: ``--backends torch --device cuda`` against
``--backends onnxruntime`` against ``--backends torch --device cpu``. Frames are the bundle's golden sample
resampled to ``--points`` with 0.05 unit jitter, a different seed per frame, as ``bench serve`` makes them.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from edge.inspector import Inspector
from edge.pipeline.bench import golden_frame, golden_sample
from edge.runtime.base import BACKENDS, PRECISIONS
from edge.errors import UsageError


def add_parser(targets: argparse._SubParsersAction) -> None:
    """Add the ``inspect`` target to ``pcinspect bench``."""
    parser = targets.add_parser("inspect", help="per-frame Inspector latency on one device and backend")
    parser.add_argument("--bundle", type=Path, required=True, help="bundle directory (make one with `pcinspect train`)")
    parser.add_argument("--points", type=int, nargs="+", default=[25_000], help="points per frame (one run per value)")
    parser.add_argument("--frames", type=int, default=20, help="frames measured per run")
    parser.add_argument("--warmup", type=int, default=3, help="frames inspected before measuring")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    parser.add_argument("--backends", default="torch", help=f"comma-separated preference order of {', '.join(BACKENDS)}")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object per run instead of the table")
    parser.add_argument("--profile", type=Path, default=None,
                        help="after measuring, profile PROFILE_FRAMES more frames of the first point count with the torch "
                        "profiler: Chrome trace to this path, top-ops table beside it (.txt)")
    parser.add_argument("--sync-report", type=Path, default=None,
                        help="on CUDA, after measuring, inspect one more frame of the first point count with torch's sync "
                        "debug mode and write the host synchronisations per call site to this path")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Inspect ``--warmup`` then ``--frames`` frames per point count and print latency percentiles."""
    if args.frames < 1 or args.warmup < 0 or min(args.points) < 1:
        raise UsageError("--frames and --points must be positive and --warmup not negative")
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda requested but CUDA is not available to torch on this machine")
    if args.threads:
        torch.set_num_threads(args.threads)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    inspector = Inspector.from_bundle(args.bundle, args.device, backends=backends, precision=args.precision)
    golden = golden_sample(args.bundle)
    results = [measure(inspector, golden, points, args.frames, args.warmup, args.seed) for points in args.points]
    for result in results:
        result.update(device=args.device, backends=backends, precision=args.precision,
                      threads=torch.get_num_threads(), served_by=inspector.backend_report)
        print(json.dumps(result, sort_keys=True) if args.json else format_result(result), flush=True)
    if args.profile:
        profile(inspector, golden, args.points[0], args.seed, args.profile)
    if args.sync_report and inspector.device.type == "cuda":
        sync_report(inspector, golden, args.points[0], args.seed, args.sync_report)
    return 0


def measure(inspector: Inspector, golden: np.ndarray, points: int, frames: int, warmup: int, seed: int) -> dict:
    """Wall-clock ms per inspection of frames made from ``golden`` (percentiles), median ms per stage, and how
    the frames were decided."""
    totals, stages, decisions, reasons = [], {}, Counter(), Counter()
    for i in range(warmup + frames):
        cloud = golden_frame(golden, points, seed + i)
        start = time.perf_counter()
        verdict = inspector.inspect(cloud)
        elapsed = (time.perf_counter() - start) * 1e3
        if i < warmup:
            continue
        totals.append(elapsed)
        for stage, ms in verdict.timing_ms.items():
            stages.setdefault(stage, []).append(ms)
        decisions[verdict.decision.value] += 1
        if verdict.reason:
            reasons[verdict.reason] += 1
    ms = np.asarray(totals)
    return {
        "points": points, "frames": frames,
        "ms": {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
               "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())},
        "frames_per_s": float(1e3 / ms.mean()),
        "stage_ms_p50": {k: float(np.median(v)) for k, v in stages.items() if k != "total"},
        "decisions": dict(decisions), "reasons": dict(reasons.most_common(3)),
    }


PROFILE_FRAMES = 3


def profile(inspector: Inspector, golden: np.ndarray, points: int, seed: int, path: Path) -> None:
    """Inspect PROFILE_FRAMES frames under the torch profiler (CPU, plus CUDA kernels when on a GPU); write the
    Chrome trace to ``path`` and the ops by self time to ``path`` with suffix ``.txt``. Separate from
    :func:`measure` so the profiler's overhead never enters the reported latencies."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if inspector.device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    frames = [golden_frame(golden, points, seed + 10_000 + i) for i in range(PROFILE_FRAMES)]
    with torch.profiler.profile(activities=activities) as prof:
        for cloud in frames:
            with torch.profiler.record_function("inspect_frame"):
                inspector.inspect(cloud)
    path.parent.mkdir(parents=True, exist_ok=True)
    prof.export_chrome_trace(str(path))
    sort_by = "self_cuda_time_total" if inspector.device.type == "cuda" else "self_cpu_time_total"
    path.with_suffix(".txt").write_text(prof.key_averages().table(sort_by=sort_by, row_limit=40) + "\n")
    print(f"profile of {PROFILE_FRAMES} frames at {points} points: {path} (trace), {path.with_suffix('.txt')} (top ops)")


def sync_report(inspector: Inspector, golden: np.ndarray, points: int, seed: int, path: Path) -> None:
    """Inspect one frame with ``torch.cuda.set_sync_debug_mode("warn")`` and write how many host synchronisations
    each call site caused, most first, to ``path``: the innermost line of the package that led to the
    synchronising op, with the package line that called its function."""
    cloud = golden_frame(golden, points, seed + 20_000)
    inspector.inspect(cloud)
    sites: Counter[str] = Counter()
    root = str(Path(__file__).resolve().parents[1])

    def record(message: Warning | str, category: type[Warning], filename: str, lineno: int,
               file: object = None, line: str | None = None) -> None:
        if "called a synchronizing CUDA operation" not in str(message):
            return
        ours = [f for f in traceback.extract_stack()[:-1] if str(Path(f.filename).resolve()).startswith(root)
                and not f.filename.endswith("bench_inspect.py")]
        where = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in ours[-2:][::-1]]
        sites[" < ".join(where) or f"{Path(filename).name}:{lineno}"] += 1

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record
        torch.cuda.set_sync_debug_mode("warn")
        try:
            inspector.inspect(cloud)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    lines = [f"{sum(sites.values())} host synchronisations in one frame of {points} points (torch sync debug mode)"]
    lines += [f"{count:6d}  {site}" for site, count in sites.most_common()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(lines[0] + f": {path}")


def format_result(result: dict) -> str:
    """A few readable lines for one run."""
    ms = result["ms"]
    lines = [
        f"pcinspect bench inspect: {result['points']} points, {result['frames']} frames, device {result['device']}, "
        f"backends {','.join(result['backends'])}, {result['precision']}, {result['threads']} CPU threads",
        f"  per frame ms  p50 {ms['p50']:.1f}  p90 {ms['p90']:.1f}  p99 {ms['p99']:.1f}  mean {ms['mean']:.1f}  "
        f"({result['frames_per_s']:.2f} frames/s)",
        "  stage p50 ms  " + "  ".join(f"{k} {v:.1f}" for k, v in result["stage_ms_p50"].items()),
        "  decisions     " + ", ".join(f"{k} {v}" for k, v in sorted(result["decisions"].items())),
    ]
    lines += [f"  reason ({n}x)  {reason}" for reason, n in result["reasons"].items()]
    lines += [f"  {line}" for line in result["served_by"]]
    return "\n".join(lines)
