"""Stage: feature branch point scores (DESIGN.md section 1, steps 2-4).

One neighbour search serves the normals, the AGCS variation and (later) the fusion's smoothing; the scan's
descriptors (:func:`edge.features.describe`) are compared with a memory bank of normal descriptors
(:func:`edge.features.feature_point_scores`). The bank is an argument, not read from the recipe here, so a caller
can score a scan against another bank than the recipe's full-scan one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edge.features import describe, feature_point_scores, neighbour_count, neighbour_searches
from edge.recipe import Network, RecipeModel
from edge.timing import StageTimer


@dataclass(frozen=True)
class FeatureScores:
    """Memory-bank distance of every point (P,) and each point's nearest neighbours (P, k), itself first."""

    scores: torch.Tensor
    neighbors: torch.Tensor


def score_features(aligned: torch.Tensor, model: RecipeModel, bank: torch.Tensor, timer: StageTimer) -> FeatureScores:
    """Feature scores of the aligned scan (P, 3) against ``bank`` (M, D) (timed as ``features`` for the neighbours
    and descriptors, ``memory_bank`` for the bank search). k is enough for the descriptors and the smoothing."""
    params = model.params
    with timer.stage("features"):
        k = min(max(neighbour_count(params.features), params.scoring.smoothing_k), aligned.shape[0])
        voxel = params.preprocess.voxel_size
        neighbors, fpfh_search = neighbour_searches(aligned, params.features, voxel, k)
        descriptors = describe(aligned, params.features, voxel, neighbors=neighbors, fpfh_search=fpfh_search,
                               encoder=group_encoder(model))
    with timer.stage("memory_bank"):
        scores = feature_point_scores(aligned, descriptors, bank)
    return FeatureScores(scores, neighbors)


def group_encoder(model: RecipeModel) -> tuple[Network, float] | None:
    """The Group3AD encoder and its weight when the recipe enables it and ships it, else None."""
    features = model.params.features
    encoder = model.networks.get("group_encoder")
    return (encoder, features.encoder_weight) if features.encoder and encoder is not None else None
