"""Few-shot augmentation: what a re-scan of the same good part could look like."""

from __future__ import annotations

import math

import numpy as np
import torch

from edge.geometry.knn import knn

DENSIFY_NEIGHBOURS = 6


def augment(points: torch.Tensor, rng: np.random.Generator, voxel_size: float, *, max_degrees: float = 1.0,
            max_shift_voxels: float = 1.0, noise_voxels: float = 0.02, keep: float = 0.95,
            density: float = 1.0) -> torch.Tensor:
    """A re-sampled, slightly moved and noisier copy of ``points`` (N, 3).

    With ``density`` > 1 the surface is first sampled that many times more densely (:func:`densify`): a scanner
    set to a finer pitch. Keeps a random ``keep`` share of the points (the voxel grid then falls differently), rotates by up to
    ``max_degrees`` about a random axis through the centroid, shifts by up to ``max_shift_voxels`` and adds
    Gaussian noise of ``noise_voxels``: the pose and sampling variation of a fixtured part between scans.
    """
    finite = points[torch.isfinite(points).all(dim=1)]
    if density > 1.0:
        finite = densify(finite, rng, density)
    n = finite.shape[0]
    chosen = torch.from_numpy(np.sort(rng.choice(n, size=max(1, int(n * keep)), replace=False))).to(finite.device)
    sub = finite[chosen]
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = math.radians(rng.uniform(-max_degrees, max_degrees))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)
    centre = sub.mean(dim=0)
    shift = rng.uniform(-max_shift_voxels, max_shift_voxels, size=3) * voxel_size
    moved = (sub - centre) @ torch.as_tensor(rot.T, dtype=sub.dtype, device=sub.device) + centre
    moved = moved + torch.as_tensor(shift, dtype=sub.dtype, device=sub.device)
    noise = torch.as_tensor(rng.normal(scale=noise_voxels * voxel_size, size=moved.shape), dtype=sub.dtype, device=sub.device)
    return moved + noise


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
