"""Stage: the verdict of a fused scan (DESIGN.md section 1, step 9).

A robust maximum of the fused point scores is the raw object score; the regime's calibration maps it to the
published score (0.5 = threshold), the run-time sensitivity turns that into PASS or FAIL, and a failed part's
above-threshold points are clustered into regions.
"""

from __future__ import annotations

import torch

from edge.params import InspectorParams
from edge.recipe import RecipeModel
from edge.scoring.calibration import is_anomalous
from edge.scoring.regions import extract_regions
from edge.stages.analysis import Analysis
from edge.stages.fusion import FusedScores, regime
from edge.verdict import Decision, Verdict


def object_score(fused: FusedScores, params: InspectorParams) -> float:
    """Robust maximum: the mean of the ``object_top_k`` highest fused point scores (before dilation)."""
    k = min(params.scoring.object_top_k, fused.object_basis.shape[0])
    return float(torch.topk(fused.object_basis, k).values.mean())


def decide(analysis: Analysis, fused_scores: FusedScores, model: RecipeModel, *, sensitivity: float,
           point_scores: bool = False) -> Verdict:
    """PASS or FAIL at ``sensitivity`` (FAIL at calibrated score >= 1 - sensitivity), with the regions of a FAIL
    and, when ``point_scores``, the calibrated score of every input point; ERROR for an uncalibrated regime."""
    raw = object_score(fused_scores, model.params)
    fused = fused_scores.point
    calibration = regime(analysis, model).calibration
    if calibration is None:
        return Verdict(Decision.ERROR, float("nan"), raw, reason="recipe is not calibrated")
    score = float(calibration.normalize(raw))
    anomalous = is_anomalous(score, sensitivity)
    regions = []
    if anomalous:
        hot = fused >= calibration.threshold
        scoring, voxel = model.params.scoring, model.params.preprocess.voxel_size
        radius = scoring.region_radius_voxels * voxel
        pts, sc, miss = analysis.pre.points[hot], calibration.normalize(fused[hot]), fused_scores.missing[hot]
        details = {"merge_gap": scoring.region_merge_voxels * voxel,
                   "severity": calibration.severity(fused[hot]), "deviation": analysis.deviation[hot]}
        regions = extract_regions(pts, sc, miss, radius=radius, min_points=scoring.min_region_points, **details)
        if not regions:
            regions = extract_regions(pts, sc, miss, radius=radius, min_points=1, **details)
    per_point = None
    if point_scores:
        per_point = analysis.pre.lift(calibration.normalize(fused, clip=False)).cpu().numpy()
    return Verdict(
        Decision.FAIL if anomalous else Decision.PASS, score, raw, regions=regions, point_scores=per_point,
        sensitivity=sensitivity, severity=float(calibration.severity(raw)),
    )
