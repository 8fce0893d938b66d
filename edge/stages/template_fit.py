"""Stage: how an aligned scan fits the recipe's template (DESIGN.md section 1, steps 5 and 7).

Each point's distance to the template surface, the evidence of missing material (judged on the template's part
visible from the scan's viewing direction when the scan is a single view, :mod:`edge.geometry.visibility`), the
coverage of that part and the fitness: the share of scan points near the template.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from edge.geometry.alignment import apply_transform
from edge.recipe import RecipeModel
from edge.scoring.deviation import ViewModel, fine_deviation, fine_missing, missing_evidence, surface_deviation


@dataclass(frozen=True)
class TemplateFit:
    """Per-point ``deviation`` and ``missing`` evidence (P,), the template ``coverage`` and the scan's ``fitness``.
    ``partial``: the scan covers less than ``deviation.full_coverage`` of the template (a single view)."""

    deviation: torch.Tensor
    missing: torch.Tensor
    coverage: float
    fitness: float
    partial: bool = False


def template_fit(aligned: torch.Tensor, model: RecipeModel, *, view_direction: torch.Tensor | None = None) -> TemplateFit:
    """The template branches of an aligned scan; zeros and full fitness when the recipe disables them.

    ``view_direction`` (3,), from the part towards the scanner in the template's frame, replaces the visibility
    model's estimate when the scanner reports where it stood."""
    params = model.params
    dev, voxel = params.deviation, params.preprocess.voxel_size
    if not dev.enabled:
        zeros = aligned.new_zeros(aligned.shape[0])
        return TemplateFit(zeros, zeros, 1.0, 1.0, False)
    template, normals = model.template, model.template_normals
    deviation = surface_deviation(aligned, template, normals, patch_radius=dev.patch_radius_voxels * voxel)
    view = (ViewModel(dev.view_cell_voxels * voxel, dev.view_depth_voxels * voxel, direction=view_direction)
            if dev.visibility else None)
    missing, _, coverage = missing_evidence(
        aligned, template, normals, gap_radius=dev.gap_radius_voxels * voxel, full_coverage=dev.full_coverage,
        full_scan_gap_radius=dev.full_scan_gap_radius_voxels * voxel, view=view,
    )
    limit = params.alignment.fitness_distance_voxels * voxel
    return TemplateFit(deviation, missing, coverage, float((deviation <= limit).float().mean()),
                       coverage < dev.full_coverage)


def refine_at_input_resolution(fit: TemplateFit, points: torch.Tensor, rows: torch.Tensor, processing: torch.Tensor,
                                transform: torch.Tensor, model: RecipeModel) -> TemplateFit:
    """``fit`` refined by the scan's own input points where the voxel grid merged them: ``points`` (N, 3) are the
    scan as it came, ``rows`` (N,) their processing rows (-1: dropped), ``processing`` (P, 3) the aligned processing
    points, ``transform`` (4, 4) the registration's.

    - ``deviation.fine``: each processing point's deviation raised to the farthest of its own input points
      (:func:`edge.scoring.deviation.fine_deviation`).
    - ``deviation.fine_missing`` (full scans): missing material looked for among the input points, with a gap
      radius of ``full_scan_gap_radius_voxels`` input spacings instead of voxels (:func:`fine_missing`), the stronger
      evidence kept per processing point.

    Unchanged when the grid merged nothing (one input point per processing point) or both are off.
    """
    dev = model.params.deviation
    count = fit.deviation.shape[0]
    look_for_missing = dev.fine_missing and not fit.partial
    if not dev.enabled or rows.shape[0] <= count or not (dev.fine or look_for_missing):
        return fit
    kept = rows >= 0
    voxel = model.params.preprocess.voxel_size
    aligned = apply_transform(points[kept], transform)
    rows = rows[kept]
    if dev.fine:
        fine = fine_deviation(aligned, rows, count, model.template, model.template_normals,
                              patch_radius=dev.patch_radius_voxels * voxel)
        fit = replace(fit, deviation=torch.maximum(fit.deviation, fine))
    if look_for_missing and aligned.shape[0] > count:
        spacing = voxel / math.sqrt(aligned.shape[0] / count)
        found = fine_missing(aligned, rows, processing, model.template,
                             gap_radius=dev.full_scan_gap_radius_voxels * spacing, cell=voxel)
        fit = replace(fit, missing=torch.maximum(fit.missing, found))
    return fit
