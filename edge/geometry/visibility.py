"""Which part of the template a single-view scanner could see (issue 11, item 2).

A line scanner or range camera sees one side of the part. Template regions facing away from it, or hidden
behind other material, are absent from the scan without being missing. This module estimates the viewing
direction from the scan itself and marks the template points visible from it, so that missing material,
coverage and fitness are judged on the visible part only.

Visibility is an orthographic z-buffer (the scanner's stand-off distance is large against the part): template
points are projected onto the plane orthogonal to the viewing direction, binned into square cells of ``cell``
(a few point spacings, so the front surface has no pin-holes the back could show through) and a point is
visible when it lies within ``depth_tolerance`` of its cell's front-most point.

The viewing direction is the candidate (a Fibonacci sphere, then a finer cone around the best) whose visible
set agrees best with the template points the aligned scan covers (F1 score of the two masks). A hole or a
broken piece inside the view lowers the agreement of every candidate alike, so it does not move the
estimate, while it stays visible (and so still counts as missing material). A scanner that knows its
direction passes it and skips the search. Everything is torch on the inputs' device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from edge.geometry.knn import knn

_CPU_DIRECTION_BLOCK = 8
"""Directions per z-buffer pass on the CPU: a (D, N) float64 pass over a whole candidate sphere is memory-bound
(tens of MB per intermediate); eight directions at a time stay in cache, about 5x faster at a template of 30k
points. On CUDA all directions go in one pass (no host round trip per block)."""


@dataclass(frozen=True)
class ViewEstimate:
    """The scan's viewing direction (3,) (unit, from the part towards the scanner), the template points
    visible from it (T,) bool, and the F1 agreement of that visible set with the template points the scan
    covers (1 = the scan is exactly the visible part)."""

    direction: torch.Tensor
    visible: torch.Tensor
    agreement: float


def sphere_directions(count: int, *, device: torch.device | None = None) -> torch.Tensor:
    """``count`` unit vectors (count, 3) spread evenly over the sphere (Fibonacci lattice)."""
    i = torch.arange(count, dtype=torch.float64, device=device) + 0.5
    z = 1.0 - 2.0 * i / count
    radius = (1.0 - z * z).clamp_min(0).sqrt()
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    return torch.stack([radius * torch.cos(phi), radius * torch.sin(phi), z], dim=1).float()


def cone_directions(axis: torch.Tensor, half_angle: float, count: int) -> torch.Tensor:
    """``count`` unit vectors (count, 3) spread over the spherical cap of ``half_angle`` (radians) round ``axis``."""
    axis = torch.nn.functional.normalize(axis.double(), dim=0)
    i = torch.arange(count, dtype=torch.float64, device=axis.device) + 0.5
    cos_t = 1.0 - (1.0 - math.cos(half_angle)) * i / count
    sin_t = (1.0 - cos_t * cos_t).clamp_min(0).sqrt()
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    u, v = _tangent_basis(axis.unsqueeze(0))
    local = sin_t.unsqueeze(1) * (torch.cos(phi).unsqueeze(1) * u + torch.sin(phi).unsqueeze(1) * v)
    return torch.cat([axis.unsqueeze(0), local + cos_t.unsqueeze(1) * axis]).float()


def visible_from(
    points: torch.Tensor,
    directions: torch.Tensor,
    *,
    cell: float,
    depth_tolerance: float,
    normals: torch.Tensor | None = None,
    max_slope: float = 2.0,
) -> torch.Tensor:
    """Mask (D, N): whether each of ``points`` (N, 3) is visible from far away along each of ``directions`` (D, 3).

    A surface inclined to the view spans a depth range of ``cell * tan(inclination)`` within one cell, so with
    ``normals`` (N, 3) each point's tolerance grows by that much (the slope capped at ``max_slope``): a steep
    but visible flank is not hidden by its own front-most point.
    """
    if not (cell > 0 and depth_tolerance >= 0):
        raise ValueError(f"cell must be positive and depth_tolerance non-negative, got {cell}, {depth_tolerance}")
    dirs = torch.nn.functional.normalize(directions.to(points).double(), dim=1)
    block = _CPU_DIRECTION_BLOCK if points.device.type == "cpu" else dirs.shape[0]
    return torch.cat([_visible_block(points, dirs[i:i + block], cell, depth_tolerance, normals, max_slope)
                      for i in range(0, dirs.shape[0], max(1, block))])


def _visible_block(points: torch.Tensor, dirs: torch.Tensor, cell: float, depth_tolerance: float,
                   normals: torch.Tensor | None, max_slope: float) -> torch.Tensor:
    """:func:`visible_from` for unit ``dirs`` (D, 3, float64): each direction's z-buffer is independent of the
    others, so any split of the directions gives the same masks."""
    u, v = _tangent_basis(dirs)
    p = points.double()
    height = dirs @ p.T
    tolerance = torch.full_like(height, depth_tolerance)
    if normals is not None:
        cos = (dirs @ normals.double().T).abs().clamp(1e-6, 1.0)
        slope = ((1.0 - cos * cos).sqrt() / cos).clamp(max=max_slope)
        tolerance = tolerance + cell * slope
    across, along = u @ p.T, v @ p.T
    x = torch.floor((across - across.amin(dim=1, keepdim=True)) / cell).long()
    y = torch.floor((along - along.amin(dim=1, keepdim=True)) / cell).long()
    width = int(y.max()) + 1
    rows = int((x.amax(dim=1) + 1).max()) * width
    key = (torch.arange(dirs.shape[0], device=points.device).unsqueeze(1) * rows + x * width + y).reshape(-1)
    front = height.new_full((dirs.shape[0] * rows,), -math.inf).scatter_reduce(
        0, key, height.reshape(-1), reduce="amax"
    )
    return height >= front[key].reshape(height.shape) - tolerance


def estimate_view(
    template: torch.Tensor,
    scan: torch.Tensor,
    *,
    cell: float,
    depth_tolerance: float,
    cover_radius: float,
    candidates: int = 256,
    refinements: int = 64,
    direction: torch.Tensor | None = None,
    covered: torch.Tensor | None = None,
    normals: torch.Tensor | None = None,
) -> ViewEstimate:
    """The viewing direction of an aligned single-view ``scan`` (N, 3) and the ``template`` (T, 3) points visible
    from it. A template point is covered when a scan point lies within ``cover_radius``. ``direction`` (3,),
    when the scanner reports it (in the template's frame), replaces the search. ``covered`` (T,) may pass the
    covered mask when the caller already has it, ``normals`` (T, 3) the template's normals (see
    :func:`visible_from`)."""
    if covered is None:
        d2, _ = knn(template, scan, 1)
        covered = d2[:, 0] <= cover_radius * cover_radius
    if direction is not None:
        dirs = torch.nn.functional.normalize(direction.to(template).reshape(1, 3), dim=1)
        return _best(template, dirs, covered, cell, depth_tolerance, normals)
    everywhere = sphere_directions(candidates, device=template.device)
    coarse = _best(template, everywhere, covered, cell, depth_tolerance, normals)
    spacing = math.sqrt(4.0 * math.pi / candidates)
    fine = cone_directions(coarse.direction, 1.5 * spacing, refinements)
    return _best(template, fine, covered, cell, depth_tolerance, normals)


def _best(template: torch.Tensor, dirs: torch.Tensor, covered: torch.Tensor, cell: float, tol: float,
          normals: torch.Tensor | None) -> ViewEstimate:
    visible = visible_from(template, dirs, cell=cell, depth_tolerance=tol, normals=normals)
    both = (visible & covered).sum(dim=1).double()
    f1 = 2.0 * both / (visible.sum(dim=1) + covered.sum()).double().clamp_min(1)
    top = int(torch.argmax(f1))
    return ViewEstimate(dirs[top].to(template.dtype), visible[top], float(f1[top]))


def _tangent_basis(dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two unit vectors (D, 3) each, orthogonal to each other and to every direction of ``dirs`` (D, 3)."""
    helper = torch.where(
        (dirs[:, :1].abs() < 0.9), dirs.new_tensor([1.0, 0.0, 0.0]), dirs.new_tensor([0.0, 1.0, 0.0])
    )
    u = torch.nn.functional.normalize(torch.linalg.cross(dirs, helper, dim=1), dim=1)
    return u, torch.linalg.cross(dirs, u, dim=1)
