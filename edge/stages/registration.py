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
    """The aligned scan (P, 3), how it fits the template, and whether the global fallback gave it."""

    aligned: torch.Tensor
    fit: TemplateFit
    global_fallback: bool


def register(points: torch.Tensor, model: RecipeModel, timer: StageTimer) -> Registered:
    """Align ``points`` (P, 3) to the recipe's template and fit it (timed as ``align``, ``deviation`` and, when
    the fallback runs, ``align_global``)."""
    alignment = model.params.alignment
    with timer.stage("align"):
        aligned = align_to_template(points, model, alignment.coarse)
    with timer.stage("deviation"):
        fit = template_fit(aligned, model)
    fallback = alignment.fallback
    if not (alignment.enabled and fit.fitness < alignment.min_fitness and alignment.coarse == "none"
            and fallback != "none"):
        return Registered(aligned, fit, False)
    with timer.stage("align_global"):
        retry = align_to_template(points, model, fallback)
        retried = template_fit(retry, model)
    if retried.fitness > fit.fitness:
        return Registered(retry, retried, True)
    return Registered(aligned, fit, False)


def align_to_template(points: torch.Tensor, model: RecipeModel, coarse: str) -> torch.Tensor:
    """``points`` moved into the template's frame: ``coarse`` global stage (``none``: from the fixture's pose),
    then robust point-to-plane ICP at 8, 2 and 1 voxels."""
    alignment, voxel = model.params.alignment, model.params.preprocess.voxel_size
    if not alignment.enabled:
        return points
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
    return apply_transform(points, result.transform)
