"""Anomalous regions: connected clusters of above-threshold points with their size, position and peak."""

from __future__ import annotations

import numpy as np
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


def merge_fragments(points: torch.Tensor, labels: torch.Tensor, gap: float) -> torch.Tensor:
    """Component labels with components whose bounding boxes come closer than ``gap`` merged (single linkage).

    One hole is seen as several arcs of rim and one bulge as several hot patches; their boxes nearly touch,
    so merging by box distance reports one defect as one region. Labels stay consecutive from 0.
    """
    count = int(labels.max()) + 1 if labels.numel() else 0
    if gap <= 0 or count < 2:
        return labels
    dim_idx = labels.unsqueeze(1).expand(-1, 3)
    lo = points.new_full((count, 3), float("inf")).scatter_reduce(0, dim_idx, points, reduce="amin")
    hi = points.new_full((count, 3), float("-inf")).scatter_reduce(0, dim_idx, points, reduce="amax")
    separation = torch.clamp(torch.maximum(lo[:, None] - hi[None], lo[None] - hi[:, None]), min=0).norm(dim=2)
    near = separation < gap
    parent = torch.arange(count, device=labels.device)
    while True:
        lowest = torch.where(near, parent[None].expand(count, -1), count).min(dim=1).values
        updated = torch.minimum(parent, lowest)
        updated = updated[updated]
        if torch.equal(updated, parent):
            break
        parent = updated
    _, dense = torch.unique(parent[labels], return_inverse=True)
    return dense


def extract_regions(
    points: torch.Tensor,
    scores: torch.Tensor,
    missing: torch.Tensor,
    *,
    radius: float,
    min_points: int = 3,
    max_regions: int = 32,
    merge_gap: float = 0.0,
    severity: torch.Tensor | None = None,
    deviation: torch.Tensor | None = None,
) -> list[Region]:
    """Regions of the anomalous points ``points`` (M, 3) with calibrated ``scores`` (M,).

    ``missing`` (M,) marks points whose evidence is absent material (a hole's rim): a region whose majority
    is such points is of kind ``missing``. Fragments closer than ``merge_gap`` are merged first; clusters
    smaller than ``min_points`` are then dropped as noise; the ``max_regions`` strongest (by peak, then
    severity) are returned, strongest first. ``severity`` (M,; unclipped) and ``deviation`` (M,; distance
    to the template surface, in the cloud's units) give each region its maximum of both. The per-region table
    crosses to the host in one copy.
    """
    if points.shape[0] == 0:
        return []
    labels = merge_fragments(points, connected_components(points, radius), merge_gap)
    count = int(labels.max()) + 1
    ones = torch.ones_like(labels, dtype=torch.float64)
    sizes = torch.zeros(count, dtype=torch.float64, device=labels.device).index_add_(0, labels, ones)
    dim_idx = labels.unsqueeze(1).expand(-1, 3)
    lo = points.new_full((count, 3), float("inf")).scatter_reduce(0, dim_idx, points, reduce="amin")
    hi = points.new_full((count, 3), float("-inf")).scatter_reduce(0, dim_idx, points, reduce="amax")
    centroid = points.new_zeros((count, 3)).index_add_(0, labels, points) / sizes.unsqueeze(1).to(points.dtype)
    peak = scores.new_full((count,), float("-inf")).scatter_reduce(0, labels, scores, reduce="amax")
    missing_share = torch.zeros_like(sizes).index_add_(0, labels, missing.to(torch.float64)) / sizes
    worst = _region_max(severity, labels, count)
    deepest = _region_max(deviation, labels, count)
    rank = peak.double() * 1e6 + (worst if worst is not None else 0.0)
    none = torch.full_like(sizes, float("nan"))
    columns = [rank, sizes, peak.double(), missing_share, worst if worst is not None else none,
               deepest if deepest is not None else none]
    table = torch.cat([torch.stack(columns, dim=1), centroid.double(), (hi - lo).double()], dim=1).cpu().numpy()
    kept = np.flatnonzero(table[:, 1] >= min_points)
    order = kept[np.argsort(-table[kept, 0], kind="stable")][:max_regions]
    return [
        Region(
            kind=RegionKind.MISSING if table[i, 3] > 0.5 else RegionKind.SURFACE,
            centroid=tuple(float(v) for v in table[i, 6:9]),
            extent=tuple(float(v) for v in table[i, 9:12]),
            points=int(table[i, 1]),
            peak=float(table[i, 2]),
            severity=None if worst is None else float(table[i, 4]),
            max_deviation_mm=None if deepest is None else float(table[i, 5]),
        )
        for i in order
    ]


def _region_max(values: torch.Tensor | None, labels: torch.Tensor, count: int) -> torch.Tensor | None:
    if values is None:
        return None
    values = values.to(torch.float64)
    return values.new_full((count,), float("-inf")).scatter_reduce(0, labels, values, reduce="amax")
