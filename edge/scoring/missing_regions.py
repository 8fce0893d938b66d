"""Missing-region score (Uni-3DAD, section 3.3.3; DESIGN.md section 1, step 7): material the part should have.

A reconstructed (anomaly-free) point with no input point within ``radius`` marks absent material. Such gap
points are denoised by a DBSCAN-style clustering in torch: a gap point with at least ``min_points`` gap points
within ``cluster_radius`` (itself included) is a core point; core points linked by ``cluster_radius`` form a
cluster (connected components); a non-core gap point within ``cluster_radius`` of a core point joins the
nearest core's cluster, the others are noise; clusters of fewer than ``min_cluster_points`` are dropped.

Each kept cluster's **depth** (the largest gap in it: how far its deepest reconstructed point lies from any
input point, about the radius of a hole) is given to the input points at its rim (those within
``rim_radius`` of one of its points); an input point takes the depth of its nearest kept gap point's cluster.
Everything runs on the device of the inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edge.geometry.knn import knn, radius_knn
from edge.scoring.regions import connected_components


@dataclass(frozen=True)
class MissingCluster:
    """One region of absent material: centroid and extent (axis-aligned size) of its gap points, their count, depth."""

    centroid: tuple[float, float, float]
    extent: tuple[float, float, float]
    points: int
    depth: float


@dataclass(frozen=True)
class MissingRegions:
    """Per-input-point missing scores (P,) (0 away from any kept cluster), the gap-point labels, the clusters.

    ``clusters`` are ordered deepest first; ``labels`` (R,) gives each reconstructed point its cluster index in
    ``clusters``, -1 if it is not part of a kept cluster; ``gap`` (R,) is each reconstructed point's distance to
    the nearest input point.
    """

    scores: torch.Tensor
    labels: torch.Tensor
    gap: torch.Tensor
    clusters: list[MissingCluster]


def point_spacing(points: torch.Tensor, probes: int = 1024) -> float:
    """Median nearest-neighbour distance over an evenly spaced sample of ``points`` (N, 3)."""
    n = points.shape[0]
    if n < 2:
        return 0.0
    sample = points[torch.arange(0, n, max(1, n // probes), device=points.device)]
    d2, _ = knn(sample, points, 2)
    return float(d2[:, 1].clamp_min(0).sqrt().median())


def find_missing_regions(
    points: torch.Tensor,
    reconstruction: torch.Tensor,
    *,
    radius: float | None = None,
    cluster_radius: float | None = None,
    rim_radius: float | None = None,
    min_points: int = 4,
    min_cluster_points: int = 4,
) -> MissingRegions:
    """Regions of ``reconstruction`` (R, 3) that ``points`` (P, 3) lack, and the rim score of every input point.

    Defaults (in the units of the inputs): ``radius`` = the larger of 3 input spacings and 2 reconstruction
    spacings (median nearest-neighbour distances); ``cluster_radius`` = 2.5 reconstruction spacings;
    ``rim_radius`` = 2 * ``radius``.
    """
    rec_spacing = point_spacing(reconstruction)
    if radius is None:
        radius = max(3.0 * point_spacing(points), 2.0 * rec_spacing)
    if cluster_radius is None:
        cluster_radius = 2.5 * rec_spacing
    if rim_radius is None:
        rim_radius = 2.0 * radius
    d2, _ = knn(reconstruction, points, 1)
    gap = d2[:, 0].clamp_min(0).sqrt()
    candidates = torch.nonzero(gap > radius).squeeze(1)
    labels = torch.full((reconstruction.shape[0],), -1, dtype=torch.int64, device=points.device)
    scores = points.new_zeros(points.shape[0])
    if candidates.numel() < min_cluster_points:
        return MissingRegions(scores=scores, labels=labels, gap=gap, clusters=[])
    cand_labels = _density_clusters(reconstruction[candidates], cluster_radius, min_points)
    labels[candidates] = cand_labels
    labels = _drop_small(labels, min_cluster_points)
    kept = torch.nonzero(labels >= 0).squeeze(1)
    if kept.numel() == 0:
        return MissingRegions(scores=scores, labels=labels, gap=gap, clusters=[])
    count = int(labels.max()) + 1
    depth = gap.new_zeros(count).scatter_reduce(0, labels[kept], gap[kept], reduce="amax")
    order = torch.argsort(depth, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(count, device=order.device)
    labels = torch.where(labels >= 0, rank[labels.clamp_min(0)], labels)
    depth = depth[order]
    nd2, nearest = knn(points, reconstruction[kept], 1)
    near = nd2[:, 0] < rim_radius * rim_radius
    scores = torch.where(near, depth[labels[kept][nearest[:, 0]]], scores)
    clusters = _describe(reconstruction[kept], labels[kept], depth)
    return MissingRegions(scores=scores, labels=labels, gap=gap, clusters=clusters)


def _density_clusters(points: torch.Tensor, eps: float, min_points: int) -> torch.Tensor:
    """DBSCAN labels (M,) of ``points``: consecutive from 0 per cluster, -1 for noise."""
    m = points.shape[0]
    labels = torch.full((m,), -1, dtype=torch.int64, device=points.device)
    _, nbr = radius_knn(points, points, eps, min(m, max(min_points, 16)))
    core = (nbr >= 0).sum(dim=1) >= min_points
    core_idx = torch.nonzero(core).squeeze(1)
    if core_idx.numel() == 0:
        return labels
    labels[core_idx] = connected_components(points[core_idx], eps)
    border = torch.nonzero(~core).squeeze(1)
    if border.numel():
        bd2, nearest_core = knn(points[border], points[core_idx], 1)
        joins = bd2[:, 0] < eps * eps
        labels[border[joins]] = labels[core_idx[nearest_core[joins, 0]]]
    return labels


def _drop_small(labels: torch.Tensor, min_size: int) -> torch.Tensor:
    """``labels`` with clusters smaller than ``min_size`` set to -1 and the rest renumbered from 0."""
    valid = labels >= 0
    if not bool(valid.any()):
        return labels
    sizes = torch.bincount(labels[valid])
    big = sizes >= min_size
    renumber = torch.cumsum(big.long(), 0) - 1
    out = torch.full_like(labels, -1)
    keep = valid.clone()
    keep[valid] = big[labels[valid]]
    out[keep] = renumber[labels[keep]]
    return out


def _describe(points: torch.Tensor, labels: torch.Tensor, depth: torch.Tensor) -> list[MissingCluster]:
    """Centroid, extent, size and depth of each cluster, in label order."""
    count = depth.shape[0]
    sizes = torch.bincount(labels, minlength=count)
    idx = labels.unsqueeze(1).expand(-1, 3)
    lo = points.new_full((count, 3), float("inf")).scatter_reduce(0, idx, points, reduce="amin")
    hi = points.new_full((count, 3), float("-inf")).scatter_reduce(0, idx, points, reduce="amax")
    centroid = points.new_zeros((count, 3)).index_add_(0, labels, points) / sizes.unsqueeze(1)
    c, e, s, d = (t.cpu().tolist() for t in (centroid, hi - lo, sizes, depth))
    return [
        MissingCluster(centroid=tuple(c[i]), extent=tuple(e[i]), points=int(s[i]), depth=float(d[i]))
        for i in range(count)
    ]
