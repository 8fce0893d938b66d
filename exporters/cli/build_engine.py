"""`pcinspect build-engine BUNDLE`: build TensorRT plans for this box's GPU from a bundle's ONNX exports.

Run on the edge box after deploying a bundle (plans are specific to the GPU and TensorRT version); the plans and
their records go into the bundle directory, outside its signature (see docs/runtime.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exporters.tensorrt_build import DEFAULT_BATCH, DEFAULT_WORKSPACE_MB, build_engines


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``build-engine``."""
    parser = subparsers.add_parser("build-engine", help="build TensorRT engines for this GPU from a bundle's ONNX files")
    parser.add_argument("bundle", type=Path, metavar="BUNDLE", help="bundle directory with ONNX exports")
    parser.add_argument("--fp16", action="store_true", help="build from the fp16 ONNX exports (default: fp32)")
    parser.add_argument("--workspace", type=int, default=DEFAULT_WORKSPACE_MB, metavar="MB",
                        help="builder workspace memory limit in MiB (default: %(default)s)")
    parser.add_argument("--timing-cache", type=Path, metavar="FILE",
                        help="TensorRT timing cache to load (when present) and save: faster rebuilds")
    parser.add_argument("--batch", type=int, nargs=3, default=list(DEFAULT_BATCH), metavar=("MIN", "OPT", "MAX"),
                        help="batch sizes of the optimisation profile (default: %(default)s)")
    parser.add_argument("--device", default="cuda", help="CUDA device to build for (default: %(default)s)")
    parser.set_defaults(func=run)


FALLBACK_NOTE = ("note: without TensorRT plans `pcinspect serve` still runs: each network falls back to the next "
                 "backend of inspect.backends in the station file (default tensorrt, onnxruntime, torch), i.e. ONNX "
                 "Runtime on the bundle's ONNX export, else torch; the service log names the backend of each network")


def run(args: argparse.Namespace) -> int:
    """0 with one line per engine built; 1 with the reason otherwise (TensorRT or CUDA missing, build error)."""
    try:
        records = build_engines(args.bundle, fp16=args.fp16, workspace_mb=args.workspace,
                                timing_cache=args.timing_cache, batch=tuple(args.batch), device=args.device)
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"pcinspect build-engine: error: {exc}", file=sys.stderr)
        print(FALLBACK_NOTE, file=sys.stderr)
        return 1
    for record in records:
        print(f"{record.network:<16} {record.precision}  TensorRT {record.tensorrt}  compute {record.compute_capability}  "
              f"{record.plan}  ({record.build_seconds:.1f} s)")
    return 0
