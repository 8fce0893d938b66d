"""The template-fit stage: missing material on a full scan, and the refinement at the input's own resolution
(issue 11, item 3)."""

from __future__ import annotations

import torch

from edge.geometry.sampling import voxel_downsample
from edge.params import InspectorParams
from edge.recipe import BranchScales, RecipeModel
from edge.stages.template_fit import TemplateFit, refine_at_input_resolution, template_fit


def _plate(spacing: float, size: float = 21.0) -> torch.Tensor:
    ticks = torch.arange(0.0, size, spacing)
    x, y = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1), torch.zeros(x.numel())], dim=1)


def _model(fine_missing: bool = False, **deviation: float) -> RecipeModel:
    template = _plate(1.0)
    params = InspectorParams.model_validate({"preprocess": {"voxel_size": 1.0},
                                             "deviation": {"fine_missing": fine_missing, **deviation}})
    normals = torch.tensor([[0.0, 0.0, 1.0]]).expand_as(template).contiguous()
    return RecipeModel(params, template, normals, torch.zeros(1, 66), BranchScales(), None)


def _holed_scan(radius: float = 2.2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    scan = _plate(0.25)
    scan = scan[((scan[:, :2] - 10.5) ** 2).sum(dim=1).sqrt() > radius]
    merged, rows = voxel_downsample(scan, 1.0)
    return scan, rows, merged


def _refine(fine_missing: bool, partial: bool = False) -> torch.Tensor:
    scan, rows, merged = _holed_scan()
    zeros = merged.new_zeros(merged.shape[0])
    fit = TemplateFit(zeros, zeros, 1.0, 1.0, partial)
    return refine_at_input_resolution(fit, scan, rows, merged, torch.eye(4), _model(fine_missing)).missing


def test_a_hole_below_the_voxel_gap_radius_gets_missing_evidence_on_a_full_scan() -> None:
    assert float(_refine(True).max()) > 1.5


def test_without_fine_missing_the_evidence_stays_the_coarse_one() -> None:
    assert float(_refine(False).max()) == 0.0


def test_a_single_view_keeps_its_coarse_missing_evidence() -> None:
    assert float(_refine(True, partial=True).max()) == 0.0


def test_a_full_scan_gap_radius_of_two_voxels_shows_a_hole_under_three_voxels_wide() -> None:
    _, _, merged = _holed_scan(radius=2.8)
    fit = template_fit(merged, _model(full_scan_gap_radius_voxels=2.0))
    assert not fit.partial and float(fit.missing.max()) > 2.0


def test_at_default_settings_that_hole_leaves_no_missing_material() -> None:
    _, _, merged = _holed_scan(radius=2.8)
    assert float(template_fit(merged, _model()).missing.max()) == 0.0
