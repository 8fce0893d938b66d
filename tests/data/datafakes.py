"""Helpers for the data tests: simple synthetic surfaces and a tiny PCD writer for fake layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def sheet(n: int = 6000, side: float = 100.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points uniformly on the square [0, side]^2 at z = 0, with normals +z."""
    rng = np.random.default_rng(seed)
    points = np.column_stack([rng.uniform(0, side, (n, 2)), np.zeros(n)])
    return points.astype(np.float32), np.tile(np.float32([0, 0, 1]), (n, 1))


def sphere(n: int = 6000, radius: float = 40.0, seed: int = 0) -> np.ndarray:
    """Points uniformly on a sphere about the origin."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(n, 3))
    return (radius * directions / np.linalg.norm(directions, axis=1, keepdims=True)).astype(np.float32)


def write_pcd(path: Path, points: np.ndarray) -> Path:
    """A binary float32 x y z PCD file, as in the shared data sets."""
    points = np.asarray(points, dtype="<f4").reshape(-1, 3)
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\n"
        f"COUNT 1 1 1\nWIDTH {len(points)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {len(points)}\nDATA binary\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.encode("ascii") + points.tobytes())
    return path


def write_gt(path: Path, points: np.ndarray, labels: np.ndarray, delimiter: str = " ") -> Path:
    """A ground-truth text file, one `x y z label` row per point."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [delimiter.join(f"{v:.5f}" for v in (*p, l)) for p, l in zip(points, labels)]
    path.write_text("\n".join(rows) + "\n")
    return path
