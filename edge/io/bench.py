"""`pcinspect bench io`: median time to read a large cloud in each file format and encoding.

The cloud is random (normals and intensity included), so binary_compressed PCD is close to the
worst case for LZF: few matches, many literal runs. Files are written to a temporary folder.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from edge.io.cloud import PointCloud
from edge.io.files import read_cloud, write_cloud

CASES = (("pcd", "binary_compressed"), ("pcd", "binary"), ("ply", "binary"), ("pcd", "ascii"), ("ply", "ascii"))


def add_parser(targets: argparse._SubParsersAction) -> None:
    """Add the ``io`` target to ``pcinspect bench``."""
    parser = targets.add_parser("io", help="read time of PCD/PLY files per encoding")
    parser.add_argument("--points", type=int, default=1_000_000, help="points in the cloud")
    parser.add_argument("--repeat", type=int, default=5, help="timed reads per file (median reported)")
    parser.add_argument("--ascii", action="store_true", help="include the (slow) ascii encodings")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the cloud in every case, read it back ``--repeat`` times, print the medians."""
    if args.points < 1 or args.repeat < 1:
        raise ValueError("--points and --repeat must be at least 1")
    rng = np.random.default_rng(0)
    n = args.points
    cloud = PointCloud(rng.normal(0, 30, (n, 3)), rng.normal(size=(n, 3)), rng.uniform(size=n))
    print(f"{'format':<5} {'encoding':<18} {'MB':>7} {'read ms':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, data in CASES:
            if data == "ascii" and not args.ascii:
                continue
            path = Path(tmp) / f"cloud.{suffix}"
            write_cloud(path, cloud, data=data)
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                back = read_cloud(path)
                times.append(time.perf_counter() - start)
            if len(back) != n:
                raise RuntimeError(f"{path.name} ({data}) read back {len(back)} of {n} points")
            mb = path.stat().st_size / 1e6
            print(f"{suffix:<5} {data:<18} {mb:>7.1f} {statistics.median(times) * 1000:>9.1f}")
    return 0
