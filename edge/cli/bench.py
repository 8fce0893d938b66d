"""`pcinspect bench geometry`: median time of every geometry op, next to open3d's where it has one.

The input is a procedural part surface generated here (a rippled torus with uneven sampling
density and sensor noise), so the bench needs no data files and no trainer code. open3d is
imported lazily and only for the reference column.
"""

from __future__ import annotations

import argparse
import importlib
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from edge.geometry.agcs import agcs
from edge.geometry.fpfh import fpfh
from edge.geometry.fps import farthest_point_sampling
from edge.geometry.grouping import group_points
from edge.geometry.knn import knn
from edge.geometry.normals import estimate_normals
from edge.geometry.sampling import statistical_outlier_mask, voxel_downsample
from edge.cli import bench_inspect
from edge.io import bench as io_bench
from edge.pipeline import bench as serve_bench
from edge.errors import UsageError

GROUPS = 1024
GROUP_SIZE = 64
NORMAL_K = 30
FPFH_MAX_NN = 100
OUTLIER_K = 20
OUTLIER_STD = 2.0
AGCS_ALPHA = 0.5


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bench`` with its ``geometry``, ``serve``, ``inspect`` and ``io`` targets."""
    parser = subparsers.add_parser("bench", help="time the runtime's building blocks")
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    geometry = targets.add_parser("geometry", help="time knn, fps, normals, fpfh, sampling, agcs, grouping, alignment")
    geometry.add_argument("--points", type=int, default=25_000, help="points in the procedural cloud")
    geometry.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    geometry.add_argument("--repeat", type=int, default=5, help="timed runs per op (median reported)")
    geometry.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    geometry.add_argument("--seed", type=int, default=0)
    geometry.set_defaults(func=run)
    serve_bench.add_parser(targets)
    bench_inspect.add_parser(targets)
    io_bench.add_parser(targets)


def run(args: argparse.Namespace) -> int:
    """Time every op and print the table."""
    if args.points < 2 * GROUPS:
        raise UsageError(f"--points must be at least {2 * GROUPS}")
    if args.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda requested but CUDA is not available to torch on this machine")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    points_np = procedural_part(args.points, args.seed)
    points = torch.from_numpy(points_np).to(device)
    rows = _measure(points, points_np, args.repeat, device)
    _print_table(rows, args, device)
    return 0


def procedural_part(n: int, seed: int = 0) -> np.ndarray:
    """(n, 3) float32 samples of a rippled torus in mm: curved, uneven density, 0.02 mm noise."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.0, 2.0 * math.pi, n)
    v = rng.uniform(0.0, 2.0 * math.pi, n)
    big, small = 35.0, 12.0
    tube = small + 1.5 * np.sin(5.0 * u) * np.sin(3.0 * v)
    pts = np.stack(
        [(big + tube * np.cos(v)) * np.cos(u), (big + tube * np.cos(v)) * np.sin(u), tube * np.sin(v)], axis=1
    )
    return (pts + rng.normal(0.0, 0.02, pts.shape)).astype(np.float32)


@dataclass
class _Row:
    op: str
    params: str
    ours_ms: float
    open3d_ms: float | None


def _measure(points: torch.Tensor, points_np: np.ndarray, repeat: int, device: torch.device) -> list[_Row]:
    """Run each op ``repeat`` times after one warm-up; open3d on the same input where it has the op."""
    o3d = _open3d()
    dist, _ = knn(points, points, 2)
    spacing = float(dist[:, 1].sqrt().median())
    radius, voxel = 5.0 * spacing, 2.0 * spacing
    normals = estimate_normals(points, NORMAL_K)
    features = fpfh(points, normals, radius=radius, max_nn=FPFH_MAX_NN)
    centers = farthest_point_sampling(points, GROUPS)
    cloud = None
    if o3d is not None:
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points_np.astype(np.float64)))
        cloud.normals = o3d.utility.Vector3dVector(normals.cpu().double().numpy())
    time_ours = _timer(repeat, device)
    time_ref = _timer(repeat, torch.device("cpu"))
    rows = []

    def add(op: str, params: str, ours: Callable[[], Any], ref: Callable[[], Any] | None) -> None:
        rows.append(_Row(op, params, time_ours(ours), time_ref(ref) if ref is not None and o3d is not None else None))

    for k in (16, 30):
        add("knn", f"k={k}", lambda k=k: knn(points, points, k), (lambda k=k: _open3d_knn(o3d, points_np, k)) if o3d else None)
    add("fps", f"G={GROUPS}", lambda: farthest_point_sampling(points, GROUPS),
        (lambda: cloud.farthest_point_down_sample(GROUPS)) if o3d else None)
    add("normals", f"k={NORMAL_K}", lambda: estimate_normals(points, NORMAL_K),
        (lambda: cloud.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(NORMAL_K))) if o3d else None)
    add("fpfh", f"r={radius:.2f} max_nn={FPFH_MAX_NN}", lambda: fpfh(points, normals, radius=radius, max_nn=FPFH_MAX_NN),
        (lambda: o3d.pipelines.registration.compute_fpfh_feature(
            cloud, o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=FPFH_MAX_NN))) if o3d else None)
    add("voxel downsample", f"voxel={voxel:.2f}", lambda: voxel_downsample(points, voxel),
        (lambda: cloud.voxel_down_sample(voxel)) if o3d else None)
    add("outlier removal", f"k={OUTLIER_K} std={OUTLIER_STD}", lambda: statistical_outlier_mask(points, OUTLIER_K, OUTLIER_STD),
        (lambda: cloud.remove_statistical_outlier(OUTLIER_K, OUTLIER_STD)) if o3d else None)
    add("agcs", f"G={GROUPS} alpha={AGCS_ALPHA} (fpfh given)", lambda: agcs(points, features, GROUPS, AGCS_ALPHA), None)
    add("grouping", f"G={GROUPS} K={GROUP_SIZE}", lambda: group_points(points, centers, GROUP_SIZE), None)
    alignment = _alignment()
    if alignment is not None:
        moved = _jittered(points)
        add("alignment", "align(source, target) defaults", lambda: alignment(moved, points),
            (lambda: _open3d_icp(o3d, cloud, moved, 2.0 * voxel)) if o3d else None)
    return rows


def _timer(repeat: int, device: torch.device) -> Callable[[Callable[[], Any]], float]:
    """A function that returns the median wall time in ms of a callable (device-synchronised)."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def measure(fn: Callable[[], Any]) -> float:
        fn()
        sync()
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            sync()
            samples.append(time.perf_counter() - start)
        return 1000.0 * statistics.median(samples)

    return measure


def _open3d() -> Any:
    try:
        return importlib.import_module("open3d")
    except ImportError:
        return None


def _alignment() -> Callable[..., Any] | None:
    try:
        module = importlib.import_module("edge.geometry.alignment")
    except ImportError:
        return None
    return getattr(module, "align", None)


def _jittered(points: torch.Tensor) -> torch.Tensor:
    """``points`` rotated by 3 degrees about z and shifted by 1 mm: a typical fixture pose error."""
    angle = math.radians(3.0)
    rot = torch.tensor(
        [[math.cos(angle), -math.sin(angle), 0.0], [math.sin(angle), math.cos(angle), 0.0], [0.0, 0.0, 1.0]],
        dtype=points.dtype,
        device=points.device,
    )
    return points @ rot.T + torch.tensor([1.0, 0.0, 0.0], dtype=points.dtype, device=points.device)


def _open3d_knn(o3d: Any, points_np: np.ndarray, k: int) -> Any:
    index = o3d.core.nns.NearestNeighborSearch(o3d.core.Tensor(points_np))
    index.knn_index()
    return index.knn_search(o3d.core.Tensor(points_np), k)


def _open3d_icp(o3d: Any, target: Any, moved: torch.Tensor, max_distance: float) -> Any:
    source = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(moved.cpu().double().numpy()))
    reg = o3d.pipelines.registration
    return reg.registration_icp(
        source, target, max_distance, np.eye(4), reg.TransformationEstimationPointToPlane(),
        reg.ICPConvergenceCriteria(max_iteration=30),
    )


def _print_table(rows: list[_Row], args: argparse.Namespace, device: torch.device) -> None:
    from rich.console import Console
    from rich.table import Table

    title = (
        f"pcinspect bench geometry: {args.points} points, device {device}, "
        f"{torch.get_num_threads()} CPU threads, median of {args.repeat}"
    )
    table = Table(title=title)
    table.add_column("op")
    table.add_column("params")
    table.add_column("pcinspect ms", justify="right")
    table.add_column("open3d ms (cpu)", justify="right")
    for row in rows:
        ref = "-" if row.open3d_ms is None else f"{row.open3d_ms:.1f}"
        table.add_row(row.op, row.params, f"{row.ours_ms:.1f}", ref)
    Console().print(table)
