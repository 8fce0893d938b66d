"""Stage: how an aligned scan fits the recipe's template (DESIGN.md section 1, steps 5 and 7).

Each point's distance to the template surface, the evidence of missing material (judged on the template's part
visible from the scan's viewing direction when the scan is a single view, :mod:`edge.geometry.visibility`), the
coverage of that part and the fitness: the share of scan points near the template.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edge.recipe import RecipeModel
from edge.scoring.deviation import ViewModel, missing_evidence, surface_deviation


@dataclass(frozen=True)
class TemplateFit:
    """Per-point ``deviation`` and ``missing`` evidence (P,), the template ``coverage`` and the scan's ``fitness``."""

    deviation: torch.Tensor
    missing: torch.Tensor
    coverage: float
    fitness: float


def template_fit(aligned: torch.Tensor, model: RecipeModel) -> TemplateFit:
    """The template branches of an aligned scan; zeros and full fitness when the recipe disables them."""
    params = model.params
    dev, voxel = params.deviation, params.preprocess.voxel_size
    if not dev.enabled:
        zeros = aligned.new_zeros(aligned.shape[0])
        return TemplateFit(zeros, zeros, 1.0, 1.0)
    template, normals = model.template, model.template_normals
    deviation = surface_deviation(aligned, template, normals, patch_radius=dev.patch_radius_voxels * voxel)
    view = ViewModel(dev.view_cell_voxels * voxel, dev.view_depth_voxels * voxel) if dev.visibility else None
    missing, _, coverage = missing_evidence(
        aligned, template, normals, gap_radius=dev.gap_radius_voxels * voxel, full_coverage=dev.full_coverage,
        view=view,
    )
    limit = params.alignment.fitness_distance_voxels * voxel
    return TemplateFit(deviation, missing, coverage, float((deviation <= limit).float().mean()))
