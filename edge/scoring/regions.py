"""Anomalous regions: connected clusters of above-threshold points with their size, position and peak."""

from __future__ import annotations

import torch

from edge.geometry.knn import radius_knn
from edge.verdict import Region, RegionKind


def connected_components(points: torch.Tensor, radius: float, max_nn: int = 16) -> torch.Tensor:
    """Component label (M,) of each point on the graph linking points closer than ``radius``.

    Min-label propagation with pointer jumping, all in tensor ops so it runs where ``points`` live;
    labels are consecutive from 0 in order of each component's first point.
    """
    m = points.shape[0]
    if m == 0:
        return torch.zeros(0, dtype=torch.int64, device=points.device)
    _, nbr = radius_knn(points, points, radius, min(max_nn, m))
    own = torch.arange(m, device=points.device)
    nbr = torch.where(nbr < 0, own.unsqueeze(1), nbr)
    labels = own.clone()
    while True:
        smallest = torch.minimum(labels, labels[nbr].min(dim=1).values)
        # a neighbour's smaller label also lowers the label of that neighbour's root
        smallest = smallest.scatter_reduce(0, labels, smallest, reduce="amin")
        smallest = smallest[smallest]
        if torch.equal(smallest, labels):
            break
        labels = smallest
    _, dense = torch.unique(labels, return_inverse=True)
    return dense


def extract_regions(
    points: torch.Tensor,
    scores: torch.Tensor,
    missing: torch.Tensor,
    *,
    radius: float,
    min_points: int = 3,
    max_regions: int = 32,
) -> list[Region]:
    """Regions of the anomalous points ``points`` (M, 3) with calibrated ``scores`` (M,).

    ``missing`` (M,) marks points whose evidence is absent material (a hole's rim): a region whose majority
    is such points is of kind ``missing``. Clusters smaller than ``min_points`` are dropped as noise; the
    ``max_regions`` strongest (by peak) are returned, strongest first.
    """
    if points.shape[0] == 0:
        return []
    labels = connected_components(points, radius)
    count = int(labels.max()) + 1
    sizes = torch.bincount(labels, minlength=count)
    keep = sizes >= min_points
    if not bool(keep.any()):
        return []
    dim_idx = labels.unsqueeze(1).expand(-1, 3)
    lo = points.new_full((count, 3), float("inf")).scatter_reduce(0, dim_idx, points, reduce="amin")
    hi = points.new_full((count, 3), float("-inf")).scatter_reduce(0, dim_idx, points, reduce="amax")
    centroid = points.new_zeros((count, 3)).index_add_(0, labels, points) / sizes.unsqueeze(1)
    peak = scores.new_full((count,), float("-inf")).scatter_reduce(0, labels, scores, reduce="amax")
    missing_share = torch.bincount(labels, weights=missing.to(points.dtype), minlength=count) / sizes
    order = [int(i) for i in torch.argsort(peak, descending=True) if bool(keep[i])][:max_regions]
    c, e, p, s, ms = (t.cpu().tolist() for t in (centroid, hi - lo, peak, sizes, missing_share))
    return [
        Region(
            kind=RegionKind.MISSING if ms[i] > 0.5 else RegionKind.SURFACE,
            centroid=tuple(c[i]),
            extent=tuple(e[i]),
            points=int(s[i]),
            peak=float(p[i]),
        )
        for i in order
    ]
