"""Stage: one anomaly score per point from the branch scores (DESIGN.md section 1, step 8).

The scan's :class:`Regime` (the full-scan model, or the recipe's single-view model for a single view) gives each
branch's normal scale and the trained fusion; :func:`branch_scores` scales and smooths the branches,
:func:`fuse` combines them (:mod:`edge.scoring.fusion`) and spreads the result over the defect area.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edge.errors import InspectionError
from edge.recipe import BranchScales, RecipeModel
from edge.scoring.calibration import Calibration
from edge.scoring.fusion import FusionModel
from edge.stages.analysis import Analysis
from edge.stages.reconstruction import reconstruction_active


@dataclass
class FusedScores:
    """Fused raw point scores (P,): ``point`` for point scores and regions, ``object_basis`` for the object score;
    ``missing`` marks points whose score comes mainly from missing material (a rim of absent material)."""

    point: torch.Tensor
    object_basis: torch.Tensor
    missing: torch.Tensor


@dataclass(frozen=True)
class Regime:
    """Branch scales, fusion and calibration that score one analysed scan (see :func:`regime`)."""

    scales: BranchScales
    fusion: FusionModel | None
    calibration: Calibration | None


def regime(analysis: Analysis, model: RecipeModel) -> Regime:
    """The scales, fusion and calibration that score ``analysis``: the recipe's single-view model for a single view
    when it has one (:class:`edge.recipe.ViewRegime`), else the full-scan model."""
    view = model.view
    if analysis.partial and view is not None:
        return Regime(view.scales, view.fusion, view.calibration)
    return Regime(model.scales, model.fusion, model.calibration)


def branch_scores(analysis: Analysis, model: RecipeModel) -> dict[str, torch.Tensor]:
    """Each active branch's point scores (P,) over its normal scale: the fusion's input columns.

    The continuous branches (feature, deviation, reconstruction) are averaged over ``smoothing_k`` neighbours
    to damp sampling noise; ``missing`` is not (it is already denoised by its clustering and sits on a thin
    rim that averaging would dilute). ``missing`` is the stronger of the template's and the reconstruction's
    evidence of absent material.
    """
    params = model.params
    scales = regime(analysis, model).scales
    continuous = {"feature": analysis.feature / scales.feature}
    missing = []
    if params.deviation.enabled:
        continuous["deviation"] = analysis.deviation / scales.deviation
        missing.append(analysis.missing / scales.missing)
    if reconstruction_active(model):
        continuous["reconstruction"] = analysis.reconstruction / scales.reconstruction
        missing.append(analysis.recon_missing / scales.recon_missing)
    nbr = analysis.neighbors[:, : params.scoring.smoothing_k]
    branches = {name: values[nbr].mean(dim=1) for name, values in continuous.items()}
    if missing:
        branches["missing"] = torch.stack(missing).amax(dim=0)
    return branches


def fuse(analysis: Analysis, model: RecipeModel) -> FusedScores:
    """Branch scores fused into one point score, then spread over the defect area.

    With ``scoring.fusion: model`` the regime's trained fusion (One-Class SVM over the branch vectors by default)
    scores every point; ``sum``/``max`` (or a recipe without a trained fusion) combine the scaled branches
    directly. Point scores are then dilated (neighbourhood maximum) so the whole defect area, not only its peak,
    scores high; the object score is taken before dilation. InspectionError when the fusion needs a disabled branch.
    """
    scoring = model.params.scoring
    branches = branch_scores(analysis, model)
    fusion = regime(analysis, model).fusion
    if scoring.fusion == "model" and fusion is not None:
        absent = [b for b in fusion.branches if b not in branches]
        if absent:
            raise InspectionError(f"the recipe's fusion needs the branch(es) {', '.join(absent)}, which are disabled")
        fused = fusion.score(torch.stack([branches[b] for b in fusion.branches], dim=1)).to(torch.float32)
    else:
        stacked = torch.stack(list(branches.values()), dim=1)
        fused = stacked.sum(dim=1) if scoring.fusion != "max" else stacked.amax(dim=1)
    if "missing" in branches and len(branches) > 1:
        others = torch.stack([v for k, v in branches.items() if k != "missing"], dim=1).amax(dim=1)
        missing = branches["missing"] > others
    else:
        missing = torch.zeros_like(fused, dtype=torch.bool)
    if not scoring.dilate:
        return FusedScores(point=fused, object_basis=fused, missing=missing)
    nbr = analysis.neighbors[:, : scoring.smoothing_k]
    spread, source = fused[nbr].max(dim=1)
    return FusedScores(point=spread, object_basis=fused, missing=missing[nbr.gather(1, source.unsqueeze(1)).squeeze(1)])
