"""The trainer's choice of the full-scan gap radius on its held-back scans (issue 11)."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from edge.geometry.sampling import voxel_downsample
from edge.params import InspectorParams
from edge.recipe import BranchScales, RecipeModel
from trainer.fit.recipe import choose_full_scan_gap_radius


def _plate(spacing: float, size: float = 21.0) -> torch.Tensor:
    ticks = torch.arange(0.0, size, spacing)
    x, y = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1), torch.zeros(x.numel())], dim=1)


def _held_back(scan: torch.Tensor, params: InspectorParams, labels: object = None) -> tuple:
    template = _plate(1.0)
    normals = torch.tensor([[0.0, 0.0, 1.0]]).expand_as(template).contiguous()
    model = RecipeModel(params, template, normals, torch.zeros(1, 66), BranchScales(), None)
    merged, _ = voxel_downsample(scan, 1.0)
    analysis = SimpleNamespace(aligned=merged, partial=False, missing=merged.new_zeros(merged.shape[0]))
    return SimpleNamespace(model=model, params=params), analysis, labels


def _without(radius: float, centre: float = 10.5) -> torch.Tensor:
    scan = _plate(0.25)
    return scan[((scan[:, :2] - centre) ** 2).sum(dim=1).sqrt() > radius]


PARAMS = InspectorParams.model_validate({"preprocess": {"voxel_size": 1.0}})


def test_the_narrow_radius_is_kept_when_no_good_scan_leaves_a_wider_gap() -> None:
    analyses = [_held_back(_plate(0.25), PARAMS), _held_back(_without(2.8), PARAMS, labels=True)]
    params, choice = choose_full_scan_gap_radius(analyses, PARAMS, 2.0)
    assert params.deviation.full_scan_gap_radius_voxels == 2.0 and choice["voxels"] == 2.0
    assert all(inspector.model.params is params for inspector, _, _ in analyses)


def test_with_the_narrow_radius_the_held_back_holes_are_scored_again() -> None:
    analyses = [_held_back(_plate(0.25), PARAMS), _held_back(_without(2.8), PARAMS, labels=True)]
    choose_full_scan_gap_radius(analyses, PARAMS, 2.0)
    assert float(analyses[1][1].missing.max()) > 2.0
    assert float(analyses[0][1].missing.max()) == 0.0


def test_a_good_scan_with_a_wider_gap_keeps_the_configured_radius_and_its_scores() -> None:
    analyses = [_held_back(_without(4.0, centre=5.0), PARAMS), _held_back(_without(2.8), PARAMS, labels=True)]
    params, choice = choose_full_scan_gap_radius(analyses, PARAMS, 2.0)
    assert params is PARAMS and choice["voxels"] == 3.0 and choice["widest_held_back_gap_voxels"] > 2.0
    assert float(analyses[1][1].missing.max()) == 0.0


def _counting(narrow_catches: int, configured_catches: int):
    """A held-back catch count that depends on the radius the held-back models score with."""

    def catch(analyses: list) -> int:
        radius = analyses[0][0].model.params.deviation.full_scan_gap_radius_voxels
        return narrow_catches if radius == 2.0 else configured_catches

    return catch


def test_a_wider_good_gap_still_gets_the_narrow_radius_when_it_catches_more_held_back_defects() -> None:
    analyses = [_held_back(_without(4.0, centre=5.0), PARAMS), _held_back(_without(2.8), PARAMS, labels=True)]
    params, choice = choose_full_scan_gap_radius(analyses, PARAMS, 2.0, _counting(2, 1))
    assert params.deviation.full_scan_gap_radius_voxels == 2.0 and choice["voxels"] == 2.0
    assert choice["held_back_defects_caught"] == {"3.0": 1, "2.0": 2, "of": 1}
    assert float(analyses[1][1].missing.max()) > 2.0


def test_a_narrow_radius_that_catches_no_more_is_undone_with_its_scores() -> None:
    analyses = [_held_back(_without(4.0, centre=5.0), PARAMS), _held_back(_without(2.8), PARAMS, labels=True)]
    params, choice = choose_full_scan_gap_radius(analyses, PARAMS, 2.0, _counting(1, 1))
    assert params is PARAMS and choice["voxels"] == 3.0
    assert all(inspector.model.params is PARAMS for inspector, _, _ in analyses)
    assert float(analyses[1][1].missing.max()) == 0.0


def test_no_narrow_radius_means_no_choice() -> None:
    analyses = [_held_back(_plate(0.25), PARAMS)]
    assert choose_full_scan_gap_radius(analyses, PARAMS, None) == (PARAMS, {})
