"""Shared clouds for the geometry tests: small, deterministic, and real where it matters."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch


def torus(n: int, seed: int = 0, big: float = 30.0, small: float = 10.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Points (n, 3) and outward unit normals on a torus: a closed surface with concave parts."""
    rng = np.random.default_rng(seed)
    u, v = rng.uniform(0, 2 * math.pi, n), rng.uniform(0, 2 * math.pi, n)
    pts = np.stack([(big + small * np.cos(v)) * np.cos(u), (big + small * np.cos(v)) * np.sin(u), small * np.sin(v)], 1)
    nrm = np.stack([np.cos(v) * np.cos(u), np.cos(v) * np.sin(u), np.sin(v)], 1)
    return torch.tensor(pts, dtype=torch.float32), torch.tensor(nrm, dtype=torch.float32)


def read_points(path: Path, every: int = 1) -> np.ndarray:
    """Finite points of a shared file (read with open3d, the reference), every ``every``-th one."""
    import open3d as o3d

    pts = np.asarray(o3d.io.read_point_cloud(str(path)).points)
    return pts[np.isfinite(pts).all(axis=1)][::every].astype(np.float32)


@pytest.fixture(scope="module")
def torus_cloud() -> tuple[torch.Tensor, torch.Tensor]:
    return torus(6000)


@pytest.fixture(scope="module")
def fandisk(shared_data: Path) -> np.ndarray:
    """The fandisk template voxel-downsampled to about 4k points (mm)."""
    import open3d as o3d

    cloud = o3d.io.read_point_cloud(str(shared_data / "dev-bench/fandisk/train/0_template.pcd"))
    return np.asarray(cloud.voxel_down_sample(1.5).points).astype(np.float32)


@pytest.fixture(autouse=True)
def _one_thread():
    """The test clouds are small: one torch thread avoids contention on shared CI cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
