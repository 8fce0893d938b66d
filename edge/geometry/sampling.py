"""Voxel-grid downsampling and statistical outlier removal (open3d semantics, torch on any device)."""

from __future__ import annotations

import numpy as np
import torch

from edge.geometry.knn import knn

DENSIFY_NEIGHBOURS = 2
"""Partners of a new point: its two nearest samples. Chords to farther samples cut across edges and thin
walls, off the surface a real finer scan would sample."""


def voxel_downsample(points: torch.Tensor, voxel_size: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Centroid of the points in every occupied voxel, and each input point's voxel.

    Returns ``(centroids (V, 3), inverse (N,) int64)`` with ``centroids[inverse[i]]`` the
    representative of ``points[i]``. The grid is anchored like open3d's ``voxel_down_sample``
    (origin half a voxel below the bounding-box minimum), so both produce the same voxels.
    Voxels are ordered by linear id; sums use a sorted cumulative sum, so results are
    bit-identical from run to run on CPU and CUDA (no atomics). The sum runs along the contiguous
    axis of a (3, N) copy: a scan over the outer axis of (N, 3) took 12 ms at 100k points on an H100.
    """
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"voxel_downsample expects (N, 3) points, got {tuple(points.shape)}")
    if not voxel_size > 0:
        raise ValueError(f"voxel_downsample: voxel_size must be positive, got {voxel_size}")
    if points.shape[0] == 0:
        return points.clone(), torch.empty(0, dtype=torch.int64, device=points.device)
    pts = points.double()
    origin = pts.min(dim=0).values - 0.5 * voxel_size
    cell = torch.floor((pts - origin) / voxel_size).long()
    dims = cell.max(dim=0).values + 1
    if float(dims.double().prod()) >= 2.0**62:
        raise ValueError(f"voxel_downsample: voxel_size {voxel_size} is too small for this cloud's extent")
    key = (cell[:, 2] * dims[1] + cell[:, 1]) * dims[0] + cell[:, 0]
    key_sorted, order = torch.sort(key, stable=True)
    _, counts = torch.unique_consecutive(key_sorted, return_counts=True)
    ends = torch.cumsum(counts, dim=0) - 1
    running = torch.cumsum(pts[order].T.contiguous(), dim=1)
    sums = running[:, ends] - torch.cat([running.new_zeros((3, 1)), running[:, ends[:-1]]], dim=1)
    centroids = (sums / counts).T.to(points.dtype)
    inverse = torch.empty_like(order)
    inverse[order] = torch.repeat_interleave(torch.arange(counts.numel(), device=points.device), counts)
    return centroids, inverse


def statistical_outlier_mask(points: torch.Tensor, k: int, std_ratio: float) -> torch.Tensor:
    """True for inliers, as open3d's ``remove_statistical_outlier(k, std_ratio)`` keeps them.

    Per point, the mean distance to its ``k`` nearest points (itself included, at distance 0,
    like open3d). Points whose mean is positive and below ``mean + std_ratio * std`` of those
    means (positive means only in the sums, all points in the count, Bessel-corrected) are kept.
    """
    if k < 1 or std_ratio <= 0:
        raise ValueError(f"statistical_outlier_mask: k and std_ratio must be positive, got {k} and {std_ratio}")
    n = points.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.bool, device=points.device)
    _, idx = knn(points, points, min(k, n))
    pts = points.double()
    avg = (pts[idx] - pts.unsqueeze(1)).norm(dim=2).mean(dim=1)
    positive = avg > 0
    mean = torch.where(positive, avg, torch.zeros_like(avg)).sum() / n
    spread = torch.where(positive, (avg - mean) ** 2, torch.zeros_like(avg)).sum()
    std = torch.sqrt(spread / max(n - 1, 1))
    return positive & (avg < mean + std_ratio * std)


def densify(points: torch.Tensor, rng: np.random.Generator, factor: float) -> torch.Tensor:
    """``points`` (N, 3) plus about ``(factor - 1) * N`` new points on the sampled surface: each lies at a random
    place between a random point and one of its nearest neighbours (chords of a surface sampled this finely stay
    within a small fraction of the spacing of it), so the copy looks like a scan at a finer pitch rather than
    the same samples repeated."""
    if factor < 1.0:
        raise ValueError(f"densify factor must be at least 1, got {factor}")
    n = points.shape[0]
    extra = int(round((factor - 1.0) * n))
    if extra == 0 or n < 2:
        return points
    k = min(DENSIFY_NEIGHBOURS, n - 1)
    _, neighbours = knn(points, points, k, exclude_self=True)
    anchor = torch.from_numpy(rng.integers(0, n, extra)).to(points.device)
    partner = neighbours[anchor, torch.from_numpy(rng.integers(0, k, extra)).to(points.device)]
    t = torch.as_tensor(rng.uniform(0.0, 1.0, (extra, 1)), dtype=points.dtype, device=points.device)
    return torch.cat([points, points[anchor] + t * (points[partner] - points[anchor])])

