"""`pcinspect parity BUNDLE [--clouds PATH ...]`: ONNX Runtime against torch for every ONNX export of a bundle,
and, with ``--clouds``, whole inspections on another backend or device against torch fp32 on the CPU.

Exit status 0 when every check is within its bound, 1 otherwise (or when there is nothing to check).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.runtime.base import BACKENDS, PRECISIONS
from exporters.inspector_parity import format_inspector_table, inspector_parity
from exporters.parity import format_table, parity_report


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``parity``."""
    parser = subparsers.add_parser("parity", help="compare a bundle's ONNX exports and backends with torch")
    parser.add_argument("bundle", type=Path, metavar="BUNDLE", help="bundle directory")
    parser.add_argument("--clouds", type=Path, nargs="+", metavar="PATH",
                        help="also inspect these clouds (files or directories) end to end on both sides")
    parser.add_argument("--backends", default="onnxruntime",
                        help=f"end-to-end candidate: comma-separated preference order of {', '.join(BACKENDS)}")
    parser.add_argument("--device", default="cpu", help="end-to-end candidate's torch device")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="end-to-end candidate's precision")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        report = parity_report(args.bundle)
        if args.clouds:
            backends = [b.strip() for b in args.backends.split(",") if b.strip()]
            report["end_to_end"] = inspector_parity(args.bundle, args.clouds, backends=backends,
                                                    device=args.device, precision=args.precision)
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"pcinspect parity: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        print(format_table(report))
        if "end_to_end" in report:
            print(format_inspector_table(report["end_to_end"]))
    if not report["checks"] and "end_to_end" not in report:
        print(f"pcinspect parity: error: {args.bundle} has no ONNX export to check", file=sys.stderr)
        return 1
    passed = report["passed"] and report.get("end_to_end", {}).get("passed", True)
    return 0 if passed else 1
