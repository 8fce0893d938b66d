"""Geometry-aware sampling (IMRNet's GSM): keep the points where normals and curvature change."""

from __future__ import annotations

import torch

from edge.geometry.fps import farthest_point_sampling
from edge.geometry.knn import knn
from edge.geometry.normals import local_pca, surface_variation


def geometry_change(
    points: torch.Tensor,
    normals: torch.Tensor,
    *,
    k: int = 16,
    neighbors: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-point rate of geometric change (N,) over the ``k`` nearest other points.

    The mean unsigned angle (radians) between the point's normal and its neighbours' normals,
    plus the mean absolute difference of surface variation (curvature proxy in [0, 1/3]) to
    them. Both are sign-free, so normal orientation does not matter; flat areas score ~0.
    """
    if neighbors is None:
        _, neighbors = knn(points, points, min(k, points.shape[0] - 1), exclude_self=True)
    nrm = normals.double()
    cos = (nrm.unsqueeze(1) * nrm[neighbors]).sum(dim=2).abs().clamp(max=1.0)
    normal_rate = torch.acos(cos).mean(dim=1)
    with_self = torch.cat([torch.arange(points.shape[0], device=points.device).unsqueeze(1), neighbors], dim=1)
    curvature = surface_variation(local_pca(points, with_self)[0])
    curvature_rate = (curvature.unsqueeze(1) - curvature[neighbors]).abs().mean(dim=1)
    return (normal_rate + curvature_rate).to(points.dtype)


def geometry_aware_sampling(
    points: torch.Tensor,
    normals: torch.Tensor,
    num_samples: int,
    tau: float,
    *,
    k: int = 16,
    neighbors: torch.Tensor | None = None,
) -> torch.Tensor:
    """Indices (num_samples,) int64: points whose :func:`geometry_change` exceeds ``tau`` first.

    When more points exceed ``tau`` than fit, FPS among them (started at the largest change)
    picks a spread-out subset; otherwise all of them are kept and FPS over the whole cloud,
    continued from them, fills the rest. Same output type as ``agcs``.
    """
    n = points.shape[0]
    if not 0 < num_samples <= n:
        raise ValueError(f"geometry_aware_sampling: num_samples={num_samples} must be in [1, {n}]")
    change = geometry_change(points, normals, k=k, neighbors=neighbors)
    ranked = torch.argsort(change, descending=True, stable=True)
    sensitive = ranked[: int((change > tau).sum())]
    if sensitive.numel() == 0:
        return farthest_point_sampling(points, num_samples, start=int(ranked[0]))
    return _spread(points, sensitive, num_samples)


def gps(
    points: torch.Tensor,
    normals: torch.Tensor,
    num_samples: int,
    rank_fraction: float = 0.3,
    *,
    k: int = 16,
    neighbors: torch.Tensor | None = None,
) -> torch.Tensor:
    """IMRNet's GPS (eq. 6) as a group-center sampler: indices (num_samples,) int64 drawn by FPS among the
    ``floor(rank_fraction * N)`` points of highest :func:`geometry_change` (tau = 0.3 in the paper's ablation).

    When that candidate set is smaller than ``num_samples``, all of it is kept and FPS over the whole cloud fills
    the rest. The cut is a rank, not a value, so the shapes depend only on N (no host synchronisation).
    """
    n = points.shape[0]
    if not 0 < num_samples <= n:
        raise ValueError(f"gps: num_samples={num_samples} must be in [1, {n}]")
    if not 0 < rank_fraction <= 1:
        raise ValueError(f"gps: rank_fraction must be in (0, 1], got {rank_fraction}")
    change = geometry_change(points, normals, k=k, neighbors=neighbors)
    candidates = torch.argsort(change, descending=True, stable=True)[: max(1, int(rank_fraction * n))]
    return _spread(points, candidates, num_samples)


def _spread(points: torch.Tensor, candidates: torch.Tensor, num_samples: int) -> torch.Tensor:
    """``num_samples`` indices from the non-empty ``candidates`` (largest change first): FPS among them, started at
    the first, when they are enough; else all of them, with FPS over the whole cloud continued from them."""
    if candidates.numel() >= num_samples:
        return candidates[farthest_point_sampling(points[candidates], num_samples, start=0)]
    rest = farthest_point_sampling(points, num_samples - candidates.numel(), seed_indices=candidates)
    return torch.cat([candidates, rest])
