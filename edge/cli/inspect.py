"""`pcinspect inspect FILE --bundle DIR`: one part through the Inspector, as the edge service would."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from edge.errors import UsageError
from edge.inspector import Inspector
from edge.io import PointCloud, read_cloud
from edge.verdict import Verdict


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("inspect", help="inspect one point-cloud file with a bundle")
    parser.add_argument("file", type=Path)
    parser.add_argument("--bundle", type=Path, required=True, help="bundle directory")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    parser.add_argument("--png", type=Path, help="write a heatmap picture (three views, region boxes, mm scale) here")
    parser.add_argument("--ply", type=Path, help="write the scan with per-point score and colours as PLY here "
                        "(CloudCompare, MeshLab, Open3D); missing material is added from the template in magenta")
    parser.add_argument("--html", type=Path, help="write a self-contained interactive 3D page here (works offline)")
    parser.add_argument("--sensitivity", type=float, help="run-time sensitivity in (0, 1) (default: the bundle's)")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit code 0 for PASS, 1 for FAIL or ERROR, so scripts can gate on it."""
    if args.sensitivity is not None and not 0.0 < args.sensitivity < 1.0:
        raise UsageError(f"--sensitivity must lie strictly between 0 and 1, got {args.sensitivity}")
    inspector = Inspector.from_bundle(args.bundle, args.device)
    if args.sensitivity is not None:
        inspector.set_sensitivity(args.sensitivity)
    cloud = read_cloud(args.file)
    views = [p for p in (args.png, args.ply, args.html) if p is not None]
    verdict = inspector.inspect(cloud, point_scores=bool(views))
    if views:
        _write_views(inspector, cloud, verdict, args)
    wire = {**verdict.to_wire(), "bundle": {"id": inspector.bundle_id, "sha256": inspector.bundle_sha256}}
    if args.json:
        print(json.dumps(wire, indent=2))
    else:
        _print(wire, args)
    return 0 if verdict.decision.value == "PASS" else 1


def _opt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _print(wire: dict, args: argparse.Namespace) -> None:
    console = Console()
    colour = {"PASS": "green", "FAIL": "red"}.get(wire["verdict"], "yellow")
    score = "n/a" if wire["score"] is None else f"{wire['score']:.3f}"
    raw = "n/a" if wire["raw_score"] is None else f"{wire['raw_score']:.4f}"
    console.print(f"[bold {colour}]{wire['verdict']}[/]  {args.file}  score {score} (raw {raw}, severity "
                  f"{_opt(wire['severity'], 2)}, sensitivity {_opt(wire['sensitivity'], 2)})  bundle {wire['bundle']['id']}")
    if wire["reason"]:
        console.print(f"reason: {wire['reason']}")
    if wire["regions"]:
        table = Table("kind", "centroid mm", "extent mm", "points", "peak", "severity", "max dev mm")
        for r in wire["regions"]:
            table.add_row(r["kind"], " ".join(f"{v:.2f}" for v in r["centroid"]), " ".join(f"{v:.2f}" for v in r["extent"]),
                          str(r["points"]), f"{r['peak']:.3f}", _opt(r["severity"], 2), _opt(r["max_deviation_mm"], 2))
        console.print(table)
    console.print("timing ms: " + ", ".join(f"{k} {v:.0f}" for k, v in wire["timing_ms"].items()))
    for name in ("png", "ply", "html"):
        if getattr(args, name):
            console.print(f"{name}: {getattr(args, name)}")


def _write_views(inspector: Inspector, cloud: PointCloud, verdict: Verdict, args: argparse.Namespace) -> None:
    """The PNG, PLY and HTML views asked for; missing material needs the scan's analysis (computed again, so
    the verdict itself comes from the one `Inspector.inspect` path)."""
    from edge.viewer.scene import build_scene, missing_material

    missing = None
    if any(r.kind.value == "missing" for r in verdict.regions):
        points = torch.from_numpy(cloud.points).to(inspector.device)
        analysis = inspector.analyze(points)
        missing = missing_material(inspector, analysis, verdict.regions, gap=3.0 * inspector.voxel)
    title = f"{args.file.name}: {verdict.decision.value} score {verdict.score:.3f}"
    scene = build_scene(cloud.points, verdict, title=title, missing=missing)
    if args.png is not None:
        from edge.heatmap import render_heatmap

        render_heatmap(scene.points, scene.scores, args.png, title=title, regions=scene.regions, missing=scene.missing)
    if args.ply is not None:
        from edge.viewer.ply_view import write_scene_ply

        write_scene_ply(scene, args.ply)
    if args.html is not None:
        from edge.viewer.html_view import write_scene_html

        write_scene_html(scene, args.html)
