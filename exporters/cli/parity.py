"""`pcinspect parity BUNDLE`: ONNX Runtime against torch for every ONNX export of a bundle, as a table.

Exit status 0 when every check is within its bound, 1 otherwise (or when the bundle has no ONNX export).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from exporters.parity import format_table, parity_report


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``parity``."""
    parser = subparsers.add_parser("parity", help="compare a bundle's ONNX exports with its torch networks")
    parser.add_argument("bundle", type=Path, metavar="BUNDLE", help="bundle directory")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        report = parity_report(args.bundle)
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"pcinspect parity: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, sort_keys=True) if args.json else format_table(report))
    if not report["checks"]:
        print(f"pcinspect parity: error: {args.bundle} has no ONNX export to check", file=sys.stderr)
        return 1
    return 0 if report["passed"] else 1
