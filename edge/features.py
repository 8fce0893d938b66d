"""Steps 2-4 of the per-frame algorithm: local descriptors, AGCS groups and their memory-bank scores.

Descriptors are FPFH histograms at several radii, concatenated (the multi-scale idea of Simple3D), each
histogram scaled to sum to 1. In ``agcs`` mode the descriptor of a group is the mean over its K members, and
every point takes the mean score of the groups that contain it (the nearest group's score when none does):
overlapping groups vote, which damps the score noise of any single group. ``baseline`` mode is plain PatchCore: the single middle-scale FPFH of every point is its descriptor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from edge.geometry.agcs import agcs
from edge.geometry.fpfh import fpfh_multiscale
from edge.geometry.geometry_aware import gps
from edge.geometry.grouping import group_points
from edge.geometry.knn import knn, knn_and_radius_knn
from edge.geometry.normals import estimate_normals
from edge.params import FeatureParams
from edge.scoring.group_features import encode_groups
from edge.scoring.memory_bank import nearest_distance


@dataclass
class Descriptors:
    """Descriptors of one cloud and, in ``agcs`` mode, the groups they describe.

    ``vectors`` (M, D) are the rows compared with the memory bank: one per group (``centers`` (G,) and
    ``members`` (G, K) hold each group's point indices) or one per point (both None).
    """

    normals: torch.Tensor
    vectors: torch.Tensor
    centers: torch.Tensor | None = None
    members: torch.Tensor | None = None


def fpfh_radii(params: FeatureParams, voxel_size: float) -> list[float]:
    """FPFH radii in cloud units; the baseline uses the middle scale only."""
    radii = [r * voxel_size for r in params.fpfh_radii_voxels]
    return [radii[len(radii) // 2]] if params.mode == "baseline" else radii


def neighbour_count(params: FeatureParams) -> int:
    """How many nearest neighbours (self included) :func:`describe` uses: normals and AGCS variation."""
    return max(params.normals_k, params.variation_k + 1)


def neighbour_searches(
    points: torch.Tensor, params: FeatureParams, voxel_size: float, k: int
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """The two searches of :func:`describe`: the ``k`` nearest points of each point (P, k), itself first, and the
    FPFH's hybrid search (None where the FPFH needs none), from one k-d tree query on the CPU
    (:func:`edge.geometry.knn.knn_and_radius_knn`)."""
    if points.shape[0] < 2 or params.fpfh_max_nn < 2:
        return knn(points, points, k)[1], None
    (_, neighbors), search = knn_and_radius_knn(
        points, k, max(fpfh_radii(params, voxel_size)), params.fpfh_max_nn - 1
    )
    return neighbors, search


def describe(
    points: torch.Tensor,
    params: FeatureParams,
    voxel_size: float,
    *,
    neighbors: torch.Tensor | None = None,
    fpfh_search: tuple[torch.Tensor, torch.Tensor] | None = None,
    encoder: tuple[Callable[[torch.Tensor], torch.Tensor], float] | None = None,
) -> Descriptors:
    """Normals, multi-scale FPFH and (``agcs`` mode) group descriptors of ``points`` (P, 3), centered by
    ``params.sampler`` (AGCS or IMRNet's GPS).

    ``neighbors`` (P, k) are the nearest points of each point, itself first, with k at least
    :func:`neighbour_count`; one search then serves the normals and the AGCS variation (and the caller's
    smoothing). ``fpfh_search`` is the FPFH's hybrid search (:func:`neighbour_searches` gives both). Computed
    here when not given. ``encoder`` = (Group3AD group encoder, weight): its features of each group's patch,
    times the weight, are appended to the group's mean FPFH.
    """
    if neighbors is None:
        neighbors, fpfh_search = neighbour_searches(
            points, params, voxel_size, min(neighbour_count(params), points.shape[0])
        )
    normals = estimate_normals(points, neighbors=neighbors[:, : params.normals_k])
    histograms = fpfh_multiscale(
        points, normals, radii=fpfh_radii(params, voxel_size), max_nn=params.fpfh_max_nn, dtype=torch.float32,
        search=fpfh_search,
    )
    local = torch.cat(histograms, dim=1) / 100.0
    if params.mode == "baseline":
        return Descriptors(normals=normals, vectors=local)
    groups = min(params.groups, points.shape[0])
    variation = neighbors[:, 1 : params.variation_k + 1]
    if params.sampler == "gps":
        centers = gps(points, normals, groups, params.gps_tau, neighbors=variation)
    else:
        centers = agcs(points, local, groups, params.alpha, neighbors=variation)
    _, members = group_points(points, centers, min(params.group_size, points.shape[0]))
    vectors = local[members].mean(dim=1)
    if encoder is not None:
        network, weight = encoder
        vectors = torch.cat([vectors, weight * encode_groups(network, points, members, centers).to(vectors.dtype)], dim=1)
    return Descriptors(normals=normals, vectors=vectors, centers=centers, members=members)


def feature_point_scores(points: torch.Tensor, descriptors: Descriptors, bank: torch.Tensor) -> torch.Tensor:
    """Memory-bank distance of every point (P,): its own (baseline) or the mean of its groups' (AGCS); a point in
    no group takes its nearest center's group score (fixed-shape: every point's nearest center is found)."""
    scores, _ = nearest_distance(descriptors.vectors, bank)
    if descriptors.members is None or descriptors.centers is None:
        return scores
    members = descriptors.members
    flat = members.reshape(-1)
    total = scores.new_zeros(points.shape[0]).index_add_(0, flat, scores.repeat_interleave(members.shape[1]))
    count = scores.new_zeros(points.shape[0]).index_add_(0, flat, torch.ones_like(flat, dtype=scores.dtype))
    _, nearest = knn(points, points[descriptors.centers], 1)
    return torch.where(count > 0, total / count.clamp_min(1), scores[nearest[:, 0]])
