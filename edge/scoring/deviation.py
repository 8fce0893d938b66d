"""Template deviation: how far each scan point lies from the recipe's template surface, and where the scan
lacks material the template has (DESIGN.md section 1, steps 5 and 7).

Both run after the scan was aligned to the template; distances are in the cloud's units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from edge.geometry.knn import knn
from edge.geometry.visibility import estimate_view


@dataclass(frozen=True)
class ViewModel:
    """How a partial scan's visible template part is found (lengths in the cloud's units; see
    :func:`edge.geometry.visibility.estimate_view`). ``direction`` (3,), when the scanner reports its viewing
    direction in the template's frame, replaces the estimate."""

    cell: float
    depth_tolerance: float
    direction: torch.Tensor | None = None


def surface_deviation(
    points: torch.Tensor,
    template: torch.Tensor,
    template_normals: torch.Tensor,
    *,
    patch_radius: float,
    k: int = 4,
) -> torch.Tensor:
    """Distance (N,) from each point to the template surface.

    The surface near a template point ``t`` is modelled as a disk of ``patch_radius`` (about the template's
    point spacing) in the tangent plane of ``t``: the distance is the plane offset combined with how far the
    point's projection falls outside the disk, minimised over the ``k`` nearest template points. This is
    insensitive to the template's sampling (a point between two template points on a flat face scores 0)
    while a point beside an edge still measures its true distance.
    """
    _, idx = knn(points, template, k)
    offset = points.unsqueeze(1) - template[idx]
    normal_part = (offset * template_normals[idx]).sum(dim=2)
    tangential = (offset.square().sum(dim=2) - normal_part.square()).clamp_min(0).sqrt()
    outside = (tangential - patch_radius).clamp_min(0)
    return (normal_part.square() + outside.square()).sqrt().min(dim=1).values


def fine_deviation(
    points: torch.Tensor,
    rows: torch.Tensor,
    count: int,
    template: torch.Tensor,
    template_normals: torch.Tensor,
    *,
    patch_radius: float,
) -> torch.Tensor:
    """Each processing point's deviation measured at the input's own resolution: the largest
    :func:`surface_deviation` (count,) among the input ``points`` (N, 3, already aligned) merged into it.

    ``rows`` (N,) gives each input point's processing row (-1: dropped). The voxel grid averages the points of a
    cell, so a groove narrower than a cell, or a spike of one point, leaves almost no trace in the centroid;
    the farthest of the cell's own points keeps it (Group3AD's argument for density where defects are small).
    """
    kept = rows >= 0
    fine = surface_deviation(points[kept], template, template_normals, patch_radius=patch_radius)
    out = fine.new_zeros(count)
    return out.scatter_reduce(0, rows[kept], fine, reduce="amax", include_self=True)


def fine_missing(
    points: torch.Tensor,
    rows: torch.Tensor,
    processing: torch.Tensor,
    template: torch.Tensor,
    *,
    gap_radius: float,
    cell: float,
    rim_k: int = 4,
) -> torch.Tensor:
    """Missing-material evidence (P,) of a full scan's processing points found among its input ``points`` (N, 3,
    aligned, every one kept; ``rows`` (N,) the processing row of each) instead of among the voxel centroids
    ``processing`` (P, 3).

    The voxel grid sets how wide a gap must be before it counts (a few voxels, so that the spaces between centroids
    are not gaps); a hole narrower than that leaves every template point near some centroid. The input points are
    denser, so ``gap_radius`` here is a few of their spacings. Only template points with no centroid within
    ``gap_radius`` can be such gaps, and the input points that could lie within ``gap_radius`` of one belong to
    centroids within ``gap_radius`` plus a cell diagonal (``cell``: the voxel side) of it: only those input points
    are searched. Like :func:`missing_evidence` on a full scan, a gap need not be enclosed (a template region the
    scan lacks counts at its border too; a test of enclosure lost one of the demo's holes). A gap's evidence is its
    distance to the nearest input point, given to its ``rim_k`` nearest processing points.
    """
    out = processing.new_zeros(processing.shape[0])
    near_d2, near = knn(template, processing, min(rim_k, processing.shape[0]))
    suspect = torch.nonzero(near_d2[:, 0] > gap_radius * gap_radius).squeeze(1)
    if suspect.numel() == 0:
        return out
    reach = gap_radius + math.sqrt(3.0) * cell
    to_suspect, _ = knn(processing, template[suspect], 1)
    local_rows = to_suspect[:, 0] <= reach * reach
    local = points[local_rows[rows]]
    if local.shape[0] == 0:
        gap = near_d2[suspect, 0].sqrt()
    else:
        gap = knn(template[suspect], local, 1)[0][:, 0].sqrt()
    evidence = torch.where(gap > gap_radius, gap, torch.zeros_like(gap)).to(out.dtype)
    rim = near[suspect]
    return out.scatter_reduce(0, rim.reshape(-1), evidence.repeat_interleave(rim.shape[1]), reduce="amax")


def missing_evidence(
    points: torch.Tensor,
    template: torch.Tensor,
    template_normals: torch.Tensor,
    *,
    gap_radius: float,
    full_coverage: float = 0.85,
    full_scan_gap_radius: float | None = None,
    enclosure_k: int = 16,
    enclosure_radius_factor: float = 4.0,
    rim_k: int = 4,
    view: ViewModel | None = None,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Evidence of absent material, mapped onto the scan points at the rim of each gap.

    A template point with no scan point within ``gap_radius`` is a gap; its evidence is its distance to the
    nearest scan point. On a full scan, ``full_scan_gap_radius`` (when given) replaces ``gap_radius`` as the
    width a gap needs: a full scan at the recipe's density leaves about a voxel between neighbouring points, so a
    narrower hole than ``gap_radius`` allows still shows, while a single view, sparser and with open borders,
    keeps the wider one. When the scan covers less than ``full_coverage`` of the template (a partial view from
    one side), only gaps *enclosed* by scan points count (a hole inside the visible area, not the edge of the
    view): a gap is enclosed when its ``enclosure_k`` nearest scan points surround it in its tangent plane
    (largest angular gap below 180 degrees), counting only scan points of its own surface sheet within
    ``enclosure_radius_factor * gap_radius``. With a ``view`` model a partial view is also judged on the
    template's visible part only: a gap the scanner could not see is not missing material. Each gap's evidence
    goes to its ``rim_k`` nearest scan points.

    Returns the per-scan-point evidence (N,) (0 where none), the per-template-point gap distance (T,) (0 where
    covered or not counted) and the coverage: the share of the whole template with a scan point within
    ``gap_radius`` (below ``full_coverage``: a single view; ``full_scan_gap_radius`` never changes it).
    """
    gap_d2, nearest_scan = knn(template, points, min(rim_k, points.shape[0]))
    gap = gap_d2[:, 0].sqrt()
    is_gap = gap > gap_radius
    coverage = float(1.0 - is_gap.float().mean())
    partial = coverage < full_coverage
    if not partial and full_scan_gap_radius is not None:
        is_gap = gap > full_scan_gap_radius
    if partial and view is not None:
        visible = estimate_view(
            template, points, cell=view.cell, depth_tolerance=view.depth_tolerance, cover_radius=gap_radius,
            direction=view.direction, covered=~is_gap, normals=template_normals,
        ).visible
        is_gap = is_gap & visible
    if partial:
        candidates = torch.nonzero(is_gap).squeeze(1)
        enclosed = _enclosed(
            template[candidates], template_normals[candidates], points, enclosure_k, enclosure_radius_factor * gap_radius
        )
        is_gap = torch.zeros_like(is_gap)
        is_gap[candidates[enclosed]] = True
    template_gap = torch.where(is_gap, gap, torch.zeros_like(gap))
    evidence = points.new_zeros(points.shape[0]).scatter_reduce(
        0, nearest_scan.reshape(-1), template_gap.repeat_interleave(nearest_scan.shape[1]), reduce="amax"
    )
    return evidence, template_gap, coverage


def _enclosed(sites: torch.Tensor, normals: torch.Tensor, points: torch.Tensor, k: int, radius: float) -> torch.Tensor:
    """True where scan points on the site's own surface sheet surround it.

    Of the ``k`` nearest scan points, only those within ``radius`` and close to the site's tangent plane
    (normal offset below half the tangential distance) count: points of another sheet (the far side of a
    thin part, seen through it) must not make a site on the unscanned side look enclosed. The counted
    points must leave no angular gap of 180 degrees or more around the site.
    """
    k = min(k, points.shape[0])
    d2, idx = knn(sites, points, k)
    offset = points[idx] - sites.unsqueeze(1)
    helper = torch.where(
        (normals[:, :1].abs() < 0.9), normals.new_tensor([1.0, 0.0, 0.0]), normals.new_tensor([0.0, 1.0, 0.0])
    )
    u = torch.nn.functional.normalize(torch.cross(normals, helper, dim=1), dim=1)
    v = torch.cross(normals, u, dim=1)
    x, y = (offset * u.unsqueeze(1)).sum(2), (offset * v.unsqueeze(1)).sum(2)
    height = (offset * normals.unsqueeze(1)).sum(2).abs()
    usable = (d2 <= radius * radius) & (height <= 0.5 * (x * x + y * y).sqrt())
    angles = torch.where(usable, torch.atan2(y, x), torch.full_like(x, math.inf))
    angles, _ = angles.sort(dim=1)
    count = usable.sum(dim=1)
    first = angles[:, :1]
    last_index = (count - 1).clamp_min(0).unsqueeze(1)
    wrap = first + 2 * math.pi - angles.gather(1, last_index)
    steps = torch.diff(angles, dim=1)
    steps = torch.where(torch.isfinite(steps), steps, torch.zeros_like(steps))
    largest = torch.maximum(steps.max(dim=1).values, wrap[:, 0])
    return (count >= 3) & (largest < math.pi)
