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



def single_view(points: torch.Tensor, rng: np.random.Generator, voxel_size: float, **view: float) -> torch.Tensor:
    """What one scanner head sees of a good part: the points of ``points`` (N, 3) visible from a random direction
    (:func:`view_mask`; its keyword arguments pass through)."""
    finite = points[torch.isfinite(points).all(dim=1)]
    return finite[view_mask(finite, rng, voxel_size, **view)]


def view_mask(points: torch.Tensor, rng: np.random.Generator, voxel_size: float, *, labels: np.ndarray | None = None,
              cell_voxels: float = 2.5, depth_voxels: float = 2.5, min_share: float = 0.15,
              min_defect_share: float = 0.3, tries: int = 10) -> torch.Tensor:
    """Mask (N,) of the points of ``points`` (N, 3, finite) visible from a random direction.

    Training scans are full 360-degree scans while a line scanner delivers one side (Real3D-AD's setting); the
    recipe's single-view model (:class:`edge.recipe.ViewRegime`) learns from such views what a good view's
    border and unseen regions look like. Uses the Inspector's own visibility model
    (:func:`edge.geometry.visibility.visible_from`, normals from 16 neighbours). A direction that shows less
    than ``min_share`` of the points (a thin part seen edge-on), or, with point ``labels`` (N,) of a defect, less
    than ``min_defect_share`` of the defect, is redrawn, up to ``tries`` times (the last draw is kept).
    """
    normals = estimate_normals(points, min(16, points.shape[0]))
    defect = torch.as_tensor(labels, device=points.device).bool() if labels is not None else None
    visible = torch.ones(points.shape[0], dtype=torch.bool, device=points.device)
    for _ in range(tries):
        direction = rng.normal(size=3)
        direction = torch.as_tensor(direction / np.linalg.norm(direction), dtype=points.dtype, device=points.device)
        visible = visible_from(points, direction.unsqueeze(0), cell=cell_voxels * voxel_size,
                               depth_tolerance=depth_voxels * voxel_size, normals=normals)[0]
        enough = float(visible.float().mean()) >= min_share
        if defect is not None and bool(defect.any()):
            enough = enough and float(visible[defect].float().mean()) >= min_defect_share
        if enough:
            break
    return visible
