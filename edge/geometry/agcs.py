"""Adaptive group-center selection (Group3AD, Algorithm 1): centers where the geometry varies."""

from __future__ import annotations

import math

import torch

from edge.geometry import compiled
from edge.geometry.fps import farthest_point_sampling
from edge.geometry.knn import knn


def local_feature_variation(
    points: torch.Tensor,
    features: torch.Tensor,
    *,
    k: int = 16,
    neighbors: torch.Tensor | None = None,
) -> torch.Tensor:
    """``F_p = sum_i ||f(p) - f(n_i)||`` over the ``k`` nearest other points ``n_i`` of each point, (N,)."""
    if neighbors is None:
        _, neighbors = knn(points, points, min(k, points.shape[0] - 1), exclude_self=True)
    feats = features.float()
    if feats.device.type == "cpu" and compiled.AVAILABLE:
        return torch.from_numpy(compiled.feature_variation(feats.detach().numpy(), neighbors.numpy())).float()
    n, k = neighbors.shape
    rows = n if feats.is_cuda else max(1, _CPU_GATHER_BYTES // max(1, k * feats.shape[1] * feats.element_size()))
    out = feats.new_empty(n)
    for first in range(0, n, rows):
        block = slice(first, first + rows)
        gathered = feats.index_select(0, neighbors[block].reshape(-1)).view(-1, k, feats.shape[1])
        out[block] = torch.cdist(feats[block].unsqueeze(1), gathered).squeeze(1).sum(dim=1)
    return out


_CPU_GATHER_BYTES = 8 << 20
"""Neighbour features gathered per block on the CPU without numba (the compiled kernel reads them in place): the
(N, k, D) gather is the slow part there (100+ MB for a 20k-point frame), a block stays in cache until ``cdist`` reads
it. Each row's distances do not depend on the blocking; on CUDA all rows go in one block (fewest launches)."""


def agcs(
    points: torch.Tensor,
    fpfh: torch.Tensor,
    num_groups: int,
    alpha: float,
    *,
    k: int = 16,
    candidate_fraction: float = 0.1,
    neighbors: torch.Tensor | None = None,
) -> torch.Tensor:
    """Indices (num_groups,) int64 of group centers, ``round(alpha * G)`` of them on high variation.

    High-variation candidates: the ``max(round(alpha * G), ceil(candidate_fraction * N))``
    points of largest :func:`local_feature_variation` (ties by index). The first
    ``round(alpha * G)`` centers are FPS among the candidates, started at the most varying
    point, so they spread over all salient regions instead of piling onto one. The remaining
    centers are FPS over the whole cloud continued from those already chosen (no duplicates),
    which keeps the whole part covered.
    """
    n = points.shape[0]
    if not 0 < num_groups <= n:
        raise ValueError(f"agcs: num_groups={num_groups} must be in [1, {n}]")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"agcs: alpha={alpha} must be in [0, 1]")
    salient = round(alpha * num_groups)
    chosen = torch.empty(0, dtype=torch.int64, device=points.device)
    if salient > 0:
        variation = local_feature_variation(points, fpfh, k=k, neighbors=neighbors)
        pool = min(n, max(salient, math.ceil(candidate_fraction * n)))
        candidates = torch.argsort(variation, descending=True, stable=True)[:pool]
        chosen = candidates[farthest_point_sampling(points[candidates], salient, start=0)]
    rest = farthest_point_sampling(points, num_groups - salient, seed_indices=chosen if salient else None)
    return torch.cat([chosen, rest])
