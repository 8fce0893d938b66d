"""`pcinspect test --bundle B PATH...`: inspect new scans with a saved bundle, one verdict per file, no training."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edge.errors import UsageError
from edge.cli.progress import progress
from edge.inspector import Inspector
from trainer.evaluate.bundle_tester import FileResult, TestReport, folder_items, layout_items, run_test

FORMATS = ("folder", "real3d", "ashapenet")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "test", help="inspect a folder of new scans with a saved bundle: per-file verdicts, confusion counts, O-AUROC")
    parser.add_argument("paths", type=Path, nargs="*", metavar="PATH",
                        help="files or folders (searched recursively) of PCD/PLY/NPY/XYZ scans; with --format "
                        "real3d/ashapenet, class folders holding test/")
    parser.add_argument("--bundle", type=Path, required=True, help="bundle directory (from `pcinspect train`)")
    parser.add_argument("--good", type=Path, action="append", default=[], metavar="DIR",
                        help="folder of scans known to be good (repeatable)")
    parser.add_argument("--bad", type=Path, action="append", default=[], metavar="DIR",
                        help="folder of scans known to be defective (repeatable)")
    parser.add_argument("--format", choices=FORMATS, default="folder",
                        help="how PATHs are laid out; real3d/ashapenet take labels from file names")
    parser.add_argument("--sensitivity", type=float, help="run-time sensitivity in (0, 1) (default: the bundle's)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the report as one JSON object")
    output.add_argument("--csv", action="store_true", help="print one CSV row per file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when every file got a verdict (PASS or FAIL); 1 when any is ERROR."""
    if args.sensitivity is not None and not 0.0 < args.sensitivity < 1.0:
        raise UsageError(f"--sensitivity must lie strictly between 0 and 1, got {args.sensitivity}")
    if args.format == "folder":
        if not (args.paths or args.good or args.bad):
            raise UsageError("name at least one PATH, --good DIR or --bad DIR to test")
        items = folder_items(args.paths, args.good, args.bad)
    else:
        if args.good or args.bad:
            raise UsageError(f"--good/--bad are for --format folder; --format {args.format} labels by file name")
        items = layout_items(args.paths, args.format)
    inspector = Inspector.from_bundle(args.bundle, args.device)
    if args.sensitivity is not None:
        inspector.set_sensitivity(args.sensitivity)
    console = Console(stderr=args.json or args.csv)
    with progress(console, f"testing {len(items)} files", total=len(items)) as reporter:
        report = run_test(inspector, items, reporter.advance, bundle=str(args.bundle))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif args.csv:
        columns = [f.name for f in dataclasses.fields(FileResult) if f.name not in ("stage_ms", "branches")]
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(dataclasses.asdict(r) for r in report.results)
    else:
        _print(report, Console())
    return 1 if report.summary.errors else 0


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _print(report: TestReport, console: Console) -> None:
    table = Table("file", "label", "verdict", "score", "severity", "regions", "ms", "reason",
                  title=f"bundle {report.bundle_id} at sensitivity {report.sensitivity:g}")
    colour = {"PASS": "green", "FAIL": "red", "ERROR": "yellow"}
    for r in report.results:
        table.add_row(r.file, r.label or "", f"[{colour[r.verdict]}]{r.verdict}[/]", _number(r.score), _number(r.severity, 2),
                      str(r.regions),
                      f"{r.ms:.0f}", r.reason or "")
    console.print(table)
    s = report.summary
    console.print(f"{s.files} files: {s.passed} PASS, {s.failed} FAIL, {s.errors} ERROR")
    if s.good_passed + s.good_failed + s.bad_passed + s.bad_failed + s.labelled_errors:
        console.print(f"good: {s.good_passed} passed, {s.good_failed} failed (false rejects); "
                      f"bad: {s.bad_failed} failed, {s.bad_passed} passed (escapes); "
                      f"{s.labelled_errors} labelled files ERROR; O-AUROC {_number(s.o_auroc)}")
    if s.branch_o_auroc:
        console.print("O-AUROC of each branch alone: " + ", ".join(f"{k} {v:.3f}" for k, v in s.branch_o_auroc.items()))
