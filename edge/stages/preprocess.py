"""Stage: the processing cloud of a scan that can be inspected (DESIGN.md section 1, step 1).

:func:`edge.preprocess.preprocess` does the work (finite points, voxel grid, optional outlier removal); this stage
adds the two checks that turn a scan the recipe cannot score into an ERROR before any scoring runs: a size that
differs from the template's by a unit factor, and too few points left for the recipe's neighbourhoods, groups and
networks.
"""

from __future__ import annotations

import torch

from edge.errors import InspectionError
from edge.preprocess import Preprocessed, preprocess
from edge.recipe import RecipeModel
from edge.stages.features import group_encoder
from edge.stages.reconstruction import reconstruction_active
from edge.timing import StageTimer
from edge.units import SIZE_SAMPLE, robust_size, unit_mismatch


def prepare(points: torch.Tensor, model: RecipeModel, timer: StageTimer, *, template_size: float | None) -> Preprocessed:
    """The processing cloud of ``points`` (N, 3) (timed as ``preprocess``); InspectionError when the scan is in
    other units than the template (``template_size``, see :func:`robust_template_size`) or too small to score."""
    check_units(points, template_size)
    with timer.stage("preprocess"):
        pre = preprocess(points, model.params.preprocess)
    minimum = minimum_points(model)
    if pre.points.shape[0] < minimum:
        raise InspectionError(f"only {pre.points.shape[0]} points after preprocessing, need at least {minimum}")
    return pre


def robust_template_size(model: RecipeModel) -> float | None:
    """The template's robust size (:func:`edge.units.robust_size`), None for a template too small to measure."""
    if model.template.shape[0] < 2:
        return None
    return robust_size(model.template.cpu().numpy())


def check_units(points: torch.Tensor, template_size: float | None) -> None:
    """InspectionError when the scan's size differs from the template's by a unit factor (m, cm, inch, um)."""
    if template_size is None or points.shape[0] < 2:
        return
    sample = points[:: max(1, points.shape[0] // SIZE_SAMPLE)]
    problem = unit_mismatch(robust_size(sample.detach().cpu().numpy()), template_size)
    if problem:
        raise InspectionError(problem)


def minimum_points(model: RecipeModel) -> int:
    """The fewest processing points the recipe can score: two neighbourhoods or groups, and one point per group
    centre of the group encoder and of the DUS-Net when they run."""
    features = model.params.features
    minimum = max(features.group_size, features.normals_k) * 2
    if group_encoder(model) is not None:
        minimum = max(minimum, features.groups)
    if reconstruction_active(model):
        minimum = max(minimum, model.params.reconstruction.groups)
    return minimum
