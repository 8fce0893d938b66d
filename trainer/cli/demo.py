"""`pcinspect demo`: the geometry front end of the inspection pipeline, end to end on real scans.

For each dev-bench class it reads a defective test scan, then voxel-downsamples, estimates normals,
computes FPFH, selects group centers with AGCS and groups the points, printing what AGCS selected and
how long each stage took. Where ground truth is known it shows whether AGCS put centers on the defect
(against plain farthest point sampling with the same budget). Without the shared data it runs on
procedural parts with synthetic defects.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from edge.geometry.agcs import agcs
from edge.geometry.fpfh import fpfh
from edge.geometry.fps import farthest_point_sampling
from edge.geometry.grouping import group_points
from edge.geometry.knn import knn
from edge.geometry.normals import estimate_normals
from edge.geometry.sampling import voxel_downsample
from edge.timing import StageTimer
from trainer.data import apply_defect, list_classes, load_split, make_part

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dev-bench"
STAGES = ("voxel", "normals", "fpfh", "agcs", "grouping")


@dataclass
class DemoScan:
    name: str
    points: np.ndarray
    labels: np.ndarray | None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the inspection front end on real scans and report each stage")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("PCINSPECT_DEMO_DATA", DEFAULT_DATA)),
                        help="a Real3D-AD layout folder (default: ../shared/data/dev-bench)")
    parser.add_argument("--groups", type=int, default=256, help="group centers G")
    parser.add_argument("--group-size", type=int, default=32, help="points per group K")
    parser.add_argument("--alpha", type=float, default=0.5, help="share of centers on high FPFH variation")
    parser.add_argument("--voxel", type=float, default=0.6, help="voxel edge in the scans' units (mm)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = Console(width=max(150, Console().width))
    scans = _real_scans(args.data) if args.data.is_dir() else []
    source = f"real scans from {args.data}" if scans else "procedural parts with synthetic defects (no shared data found)"
    if not scans:
        scans = _procedural_scans()
    console.print(f"[bold]pcinspect demo[/]: AGCS front end on {len(scans)} {source}")
    table = Table(show_lines=False)
    for column in ("scan", "points", "voxels", "G", "on defect: AGCS", "on defect: FPS", *STAGES, "total ms"):
        table.add_column(column, justify="right" if column != "scan" else "left")
    for scan in scans:
        table.add_row(*_run_scan(scan, args))
    console.print(table)
    console.print("'on defect': group centers within 2 voxels of a ground-truth anomalous point (AGCS vs plain FPS, same G).")
    return 0


def _run_scan(scan: DemoScan, args: argparse.Namespace) -> list[str]:
    timer = StageTimer("cpu")
    points = torch.from_numpy(scan.points)
    with timer.stage("voxel"):
        cloud, _ = voxel_downsample(points, args.voxel)
    with timer.stage("normals"):
        normals = estimate_normals(cloud, 16)
    with timer.stage("fpfh"):
        features = fpfh(cloud, normals, radius=5 * args.voxel, max_nn=48)
    groups = min(args.groups, cloud.shape[0])
    with timer.stage("agcs"):
        centers = agcs(cloud, features, groups, args.alpha)
    with timer.stage("grouping"):
        group_points(cloud, centers, min(args.group_size, cloud.shape[0]))
    on_agcs = on_fps = "-"
    if scan.labels is not None and scan.labels.any():
        defect = torch.from_numpy(scan.points[scan.labels > 0])
        fps = farthest_point_sampling(cloud, groups)
        near = lambda idx: int((knn(cloud[idx], defect, 1)[0][:, 0].sqrt() <= 2 * args.voxel).sum())  # noqa: E731
        on_agcs, on_fps = str(near(centers)), str(near(fps))
    ms = timer.as_dict()
    return [scan.name, str(len(scan.points)), str(cloud.shape[0]), str(groups), on_agcs, on_fps,
            *(f"{ms[s]:.0f}" for s in STAGES), f"{ms['total']:.0f}"]


def _real_scans(root: Path) -> list[DemoScan]:
    scans = []
    for name in list_classes(root, "real3d"):
        test = load_split(root, "real3d", name, "test")
        defective = [i for i, kind in enumerate(test.kinds) if kind != "good"]
        if defective:
            sample = test[defective[0]]
            scans.append(DemoScan(f"{name}/{sample.path.stem}", sample.points, sample.labels))
    return scans


def _procedural_scans() -> list[DemoScan]:
    rng = np.random.default_rng(0)
    scans = []
    for kind, defect in (("bracket", "bulge"), ("flange", "hole"), ("housing", "crack")):
        part = make_part(kind, rng, 16000)
        result = apply_defect(defect, part.points, rng, normals=part.normals)
        scans.append(DemoScan(f"{kind}/{defect}", result.points.astype(np.float32), result.labels))
    return scans
