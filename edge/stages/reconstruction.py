"""Stage: reconstruction branch point scores (DESIGN.md section 1, steps 6-7).

:func:`score_reconstruction` picks how the recipe reconstructs the anomaly-free shape (``reconstruction.mode``): the
DUS-Net on the whole scan (:func:`edge.scoring.reconstruction.reconstruct`), IMRNet-style masked reconstruction
where each region is judged against a reconstruction made without it
(:func:`edge.scoring.masked_reconstruction.masked_reconstruct`), or nothing when the recipe does not use it.
``reconstruction.down_net: identity`` passes the group centers through unchanged (the ablation's control).
Each way returns the same :class:`ReconstructionScores`, so fusion does not depend on which ran.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edge.recipe import RecipeModel
from edge.scoring.masked_reconstruction import MaskingParams, identity_down_net, masked_reconstruct
from edge.scoring.missing_regions import find_missing_regions
from edge.scoring.reconstruction import ShapeFrame, reconstruct, reconstruction_scores


@dataclass(frozen=True)
class ReconstructionScores:
    """Per-point (P,) ``distance`` to the reconstructed anomaly-free shape (cloud units) and ``missing`` material
    evidence: reconstructed points no scan point is near, mapped onto the rim points."""

    distance: torch.Tensor
    missing: torch.Tensor


def reconstruction_active(model: RecipeModel) -> bool:
    """Whether the recipe scores with the DUS-Net (enabled, trained and shipped)."""
    networks = model.networks
    return (
        model.params.reconstruction.enabled
        and model.frame is not None
        and "down_net" in networks
        and "up_net" in networks
    )


def score_reconstruction(aligned: torch.Tensor, model: RecipeModel) -> ReconstructionScores:
    """Reconstruction scores of the aligned scan (P, 3); zeros when the recipe does not reconstruct."""
    frame = model.frame
    if not reconstruction_active(model) or frame is None:
        zeros = aligned.new_zeros(aligned.shape[0])
        return ReconstructionScores(zeros, zeros)
    return _whole_scan(aligned, model, frame)


def _whole_scan(aligned: torch.Tensor, model: RecipeModel, frame: ShapeFrame) -> ReconstructionScores:
    """Reconstruction of the scan in the recipe's unit-sphere ``frame``: of the whole scan at once (``dense``) or of
    each masked share of its groups from the rest (``masked``)."""
    recon, networks = model.params.reconstruction, model.networks
    normalized = frame.normalize(aligned)
    down_net = identity_down_net if recon.down_net == "identity" else networks["down_net"]
    shapes = {"groups": recon.groups, "group_size": recon.group_size}
    if recon.mode == "masked":
        masked = masked_reconstruct(normalized, down_net, networks["up_net"], masking=MaskingParams.of(recon), **shapes)
        distance, dense = masked.scores * frame.scale, frame.denormalize(masked.dense)
    else:
        result = reconstruct(normalized, down_net, networks["up_net"], **shapes)
        distance = reconstruction_scores(normalized, result.dense, k=recon.score_k) * frame.scale
        dense = frame.denormalize(result.dense)
    voxel = model.params.preprocess.voxel_size
    missing = find_missing_regions(
        aligned, dense, radius=recon.missing_radius_voxels * voxel, min_cluster_points=recon.missing_min_points
    )
    return ReconstructionScores(distance, missing.scores)
