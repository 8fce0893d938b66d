"""`pcinspect info FILE`: what a point-cloud file holds, read with the edge's own readers.

Prints point and finite counts, fields, organized dimensions, per-axis bounds and the mean
point spacing (mean distance to the nearest neighbour, estimated on a random subsample
queried against every finite point so it stays exact for the sampled points and cheap).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge.geometry.knn import knn
from edge.io import PointCloud, read_cloud
from edge.errors import UsageError

SPACING_SAMPLE = 5000


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``info``."""
    parser = subparsers.add_parser("info", help="summarise a point-cloud file (.pcd .ply .npy .npz .xyz)")
    parser.add_argument("file", type=Path, help="point-cloud file")
    parser.add_argument("--sample", type=int, default=SPACING_SAMPLE, help="points sampled for the mean spacing")
    parser.add_argument("--seed", type=int, default=0, help="seed of the spacing subsample")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(func=run)


def field_names(cloud: PointCloud) -> list[str]:
    """The attributes a cloud carries, in reader order."""
    names = ["x", "y", "z"]
    if cloud.normals is not None:
        names += ["normal_x", "normal_y", "normal_z"]
    if cloud.intensity is not None:
        names.append("intensity")
    return names + list(cloud.extra)


def mean_spacing(points: np.ndarray, sample: int = SPACING_SAMPLE, seed: int = 0) -> float | None:
    """Mean nearest-neighbour distance of up to ``sample`` random points among all ``points``.

    ``points`` must be finite; returns None for fewer than two points.
    """
    if len(points) < 2:
        return None
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(points), size=min(sample, len(points)), replace=False)
    ref = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))
    sq_dist, _ = knn(ref[torch.from_numpy(chosen)], ref, 2)
    return float(torch.sqrt(sq_dist[:, 1].clamp_min(0)).double().mean())


def summarize(path: Path, sample: int = SPACING_SAMPLE, seed: int = 0) -> dict[str, Any]:
    """Everything `info` reports about the file at ``path``."""
    cloud = read_cloud(path)
    finite = cloud.points[cloud.finite_mask]
    summary: dict[str, Any] = {
        "file": str(path),
        "points": len(cloud),
        "finite": len(finite),
        "fields": field_names(cloud),
        "organized": [cloud.width, cloud.height] if cloud.height and cloud.width and cloud.height > 1 else None,
        "bounds": None,
        "mean_spacing": mean_spacing(finite, sample, seed),
        "spacing_sample": min(sample, len(finite)),
    }
    if len(finite):
        summary["bounds"] = {"min": finite.min(axis=0).tolist(), "max": finite.max(axis=0).tolist()}
    return summary


def _table(summary: dict[str, Any]) -> str:
    lines = [
        f"file       {summary['file']}",
        f"points     {summary['points']}",
        f"finite     {summary['finite']}",
        f"fields     {' '.join(summary['fields'])}",
    ]
    if summary["organized"]:
        width, height = summary["organized"]
        lines.append(f"organized  {width} x {height} (width x height)")
    if summary["bounds"]:
        for axis, lo, hi in zip("xyz", summary["bounds"]["min"], summary["bounds"]["max"]):
            lines.append(f"{axis}          [{lo:.6g}, {hi:.6g}]  extent {hi - lo:.6g}")
    else:
        lines.append("bounds     none (no finite point)")
    if summary["mean_spacing"] is None:
        lines.append("spacing    n/a (fewer than two finite points)")
    else:
        lines.append(
            f"spacing    {summary['mean_spacing']:.6g} (mean nearest-neighbour distance, "
            f"{summary['spacing_sample']} sampled points)"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the summary of ``args.file``; a malformed file raises `CloudFormatError` (exit 1)."""
    if args.sample < 1:
        raise UsageError("--sample must be at least 1")
    summary = summarize(args.file, args.sample, args.seed)
    print(json.dumps(summary) if args.json else _table(summary))
    return 0
