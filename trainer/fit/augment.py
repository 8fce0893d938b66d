"""Few-shot augmentation: what a re-scan of the same good part could look like."""

from __future__ import annotations

import math

import numpy as np
import torch

from edge.geometry.normals import estimate_normals
from edge.geometry.sampling import densify
from edge.geometry.visibility import visible_from


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



def single_view(points: torch.Tensor, rng: np.random.Generator, voxel_size: float, *, cell_voxels: float = 2.5,
                depth_voxels: float = 2.5, min_share: float = 0.15) -> torch.Tensor:
    """What one scanner head sees of a good part: the points of ``points`` (N, 3) visible from a random direction.

    Training scans are full 360-degree scans while a line scanner delivers one side (Real3D-AD's setting); the
    memory bank and the calibration need such views so that the border of a view, where the surface turns
    away from the scanner, is known as normal. Uses the Inspector's own visibility model
    (:func:`edge.geometry.visibility.visible_from`, normals from 16 neighbours); a direction that shows less
    than ``min_share`` of the points (a thin part seen edge-on) is redrawn, up to ten times.
    """
    finite = points[torch.isfinite(points).all(dim=1)]
    normals = estimate_normals(finite, min(16, finite.shape[0]))
    visible = torch.ones(finite.shape[0], dtype=torch.bool, device=finite.device)
    for _ in range(10):
        direction = rng.normal(size=3)
        direction = torch.as_tensor(direction / np.linalg.norm(direction), dtype=finite.dtype, device=finite.device)
        visible = visible_from(finite, direction.unsqueeze(0), cell=cell_voxels * voxel_size,
                               depth_tolerance=depth_voxels * voxel_size, normals=normals)[0]
        if float(visible.float().mean()) >= min_share:
            break
    return finite[visible]
