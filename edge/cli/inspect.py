"""`pcinspect inspect FILE --bundle DIR`: one part through the Inspector, as the edge service would."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edge.inspector import Inspector
from edge.io import read_cloud


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("inspect", help="inspect one point-cloud file with a bundle")
    parser.add_argument("file", type=Path)
    parser.add_argument("--bundle", type=Path, required=True, help="bundle directory")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    parser.add_argument("--png", type=Path, help="write a heatmap picture of the part here")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit code 0 for PASS, 1 for FAIL or ERROR, so scripts can gate on it."""
    inspector = Inspector.from_bundle(args.bundle, args.device)
    cloud = read_cloud(args.file)
    verdict = inspector.inspect(cloud, point_scores=args.png is not None)
    if args.png is not None:
        from edge.heatmap import render_heatmap

        render_heatmap(cloud.points, verdict.point_scores, args.png,
                       title=f"{args.file.name}: {verdict.decision.value} score {verdict.score:.3f}")
    wire = {**verdict.to_wire(), "bundle": {"id": inspector.bundle_id, "sha256": inspector.bundle_sha256}}
    if args.json:
        print(json.dumps(wire, indent=2))
    else:
        _print(wire, args)
    return 0 if verdict.decision.value == "PASS" else 1


def _print(wire: dict, args: argparse.Namespace) -> None:
    console = Console()
    colour = {"PASS": "green", "FAIL": "red"}.get(wire["verdict"], "yellow")
    score = "n/a" if wire["score"] is None else f"{wire['score']:.3f}"
    raw = "n/a" if wire["raw_score"] is None else f"{wire['raw_score']:.4f}"
    console.print(f"[bold {colour}]{wire['verdict']}[/]  {args.file}  score {score} (raw {raw})  bundle {wire['bundle']['id']}")
    if wire["reason"]:
        console.print(f"reason: {wire['reason']}")
    if wire["regions"]:
        table = Table("kind", "centroid", "extent", "points", "peak")
        for r in wire["regions"]:
            table.add_row(r["kind"], " ".join(f"{v:.2f}" for v in r["centroid"]), " ".join(f"{v:.2f}" for v in r["extent"]),
                          str(r["points"]), f"{r['peak']:.3f}")
        console.print(table)
    console.print("timing ms: " + ", ".join(f"{k} {v:.0f}" for k, v in wire["timing_ms"].items()))
    if args.png:
        console.print(f"heatmap: {args.png}")
