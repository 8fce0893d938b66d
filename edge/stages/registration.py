"""Stage: the scan in the template's frame (DESIGN.md section 1, step 2; issue 11, item 1).

A fixtured part (``alignment.coarse: none``) is refined by robust ICP from the fixture's pose, the fast path. When
that leaves less than ``alignment.min_fitness`` of the scan on the template (the part sits off the fixture, or
the scanner's frame moved), the ``alignment.fallback`` global stage (FPFH correspondences, several RANSAC
hypotheses verified by ICP, :func:`edge.geometry.alignment.align`) is tried and the better fit kept. A recipe
whose pose is free names its global stage in ``alignment.coarse`` and always runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edge.geometry.alignment import align, apply_transform
from edge.recipe import RecipeModel
from edge.stages.template_fit import TemplateFit, template_fit
from edge.timing import StageTimer


@dataclass(frozen=True)
class Registered:
    """The aligned scan (P, 3), the rigid ``transform`` (4, 4) that moved it into the template's frame, how it fits
    the template, and whether the global fallback gave it."""

    aligned: torch.Tensor
    transform: torch.Tensor
    fit: TemplateFit
    global_fallback: bool


def register(points: torch.Tensor, model: RecipeModel, timer: StageTimer, *,
             viewpoint: torch.Tensor | None = None) -> Registered:
    """Align ``points`` (P, 3) to the recipe's template and fit it (timed as ``align``, ``deviation`` and, when
    the fallback runs, ``align_global``). ``viewpoint`` (3,) is the scanner's position in the scan's frame when
    the scanner reports it (see :func:`template_fit`)."""
    alignment = model.params.alignment
    with timer.stage("align"):
        transform = align_to_template(points, model, alignment.coarse)
        aligned = apply_transform(points, transform)
    with timer.stage("deviation"):
        fit = template_fit(aligned, model, view_direction=_direction(viewpoint, transform, aligned))
    fallback = alignment.fallback
    if not (alignment.enabled and fit.fitness < alignment.min_fitness and alignment.coarse == "none"
            and fallback != "none"):
        return Registered(aligned, transform, fit, False)
    with timer.stage("align_global"):
        retry_transform = align_to_template(points, model, fallback)
        retry = apply_transform(points, retry_transform)
        retried = template_fit(retry, model, view_direction=_direction(viewpoint, retry_transform, retry))
    if retried.fitness > fit.fitness:
        return Registered(retry, retry_transform, retried, True)
    return Registered(aligned, transform, fit, False)


def _direction(viewpoint: torch.Tensor | None, transform: torch.Tensor, aligned: torch.Tensor) -> torch.Tensor | None:
    """The scanner's viewing direction in the template's frame (3,): from the aligned scan's centroid towards the
    scanner's position moved by the scan's own transform; None when the scanner did not report its position."""
    if viewpoint is None:
        return None
    moved = apply_transform(viewpoint.to(aligned).reshape(1, 3), transform)[0]
    return torch.nn.functional.normalize(moved - aligned.mean(dim=0), dim=0)


def align_to_template(points: torch.Tensor, model: RecipeModel, coarse: str) -> torch.Tensor:
    """The rigid transform (4, 4) that moves ``points`` into the template's frame: ``coarse`` global stage
    (``none``: from the fixture's pose), then point-to-plane ICP at 8, 2 and 1 voxels."""
    alignment, voxel = model.params.alignment, model.params.preprocess.voxel_size
    if not alignment.enabled:
        return torch.eye(4, dtype=points.dtype, device=points.device)
    result = align(
        points,
        model.template,
        target_normals=model.template_normals,
        coarse=coarse,  # type: ignore[arg-type]
        voxel_size=voxel,
        max_correspondence_distance=(alignment.max_distance_voxels * voxel, 2.0 * voxel, voxel),
        max_iterations=alignment.iterations,
        tolerance=alignment.tolerance,
    )
    return result.transform.to(points.dtype)
