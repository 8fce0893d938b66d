"""Masked reconstruction (IMRNet section 4.2, Algorithm 1) with the recipe's DUS-Net: no region rebuilds itself.

The dense reconstruction (:func:`edge.scoring.reconstruction.reconstruct`) feeds the scan's own patches to the
Down-Net and Up-Net, so a bulge is rebuilt where it is and scores nothing. Here the G groups are split into
spatially coherent blocks (the first B centers of their FPS order seed the blocks, each center joins its nearest
seed) dealt round-robin into M masks, so one mask is a scatter of defect-sized regions. In the pass of mask m:

1. every masked group loses its content: its center and patch are projected onto the plane fitted to the
   ``context_k`` nearest *visible* points (points of the other masks), the analogue of IMRNet's mask token
   at the masked center (eq. 9-11), so nothing of the masked region's shape reaches the networks;
2. the Down-Net denoises all G centers and the Up-Net rebuilds the dense cloud (DUS-Net, fixed shapes);
3. each point of mask m is moved to its foot on that reconstruction's surface (the plane of its
   ``surface_k`` nearest reconstructed points): point-to-surface distance, free of the sampling floor of a
   point-to-point distance to G * gamma points.

After the M passes every point has been judged exactly once; the restored cloud is the next iteration's input
(IMRNet Algorithm 1, lines 5-9: "each iteration's output becoming the next input"). A point's score is the
distance from where it was scanned to where the last iteration put it. Everything is tensor code with fixed
shapes (masks are applied by ``torch.where``, never by boolean indexing), so the CUDA path does not synchronise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from edge.geometry.fps import farthest_point_sampling
from edge.geometry.grouping import group_points
from edge.geometry.knn import knn
from edge.geometry.normals import local_pca
from edge.scoring.reconstruction import DownNetFn, UpNetFn

if TYPE_CHECKING:
    from edge.params import ReconstructionParams

_FAR = 1.0e6
"""Offset that moves excluded points out of every neighbourhood (the cloud is in the unit-sphere frame)."""


@dataclass(frozen=True)
class MaskingParams:
    """How the groups are masked and how often the reconstruction is iterated."""

    masks: int = 4
    block: int = 8
    iterations: int = 1
    context_k: int = 32
    surface_k: int = 16

    def __post_init__(self) -> None:
        if min(self.masks, self.block, self.iterations, self.context_k, self.surface_k) < 1:
            raise ValueError(f"MaskingParams needs positive values, got {self}")
        if self.surface_k < 3:
            raise ValueError(f"a surface plane needs surface_k >= 3 reconstructed points, got {self.surface_k}")

    @classmethod
    def of(cls, recon: ReconstructionParams) -> MaskingParams:
        """The masking a recipe's reconstruction parameters ask for."""
        return cls(masks=recon.masks, block=recon.mask_block, iterations=recon.mask_iterations,
                   context_k=recon.context_k, surface_k=recon.surface_k)


@dataclass(frozen=True)
class MaskedReconstruction:
    """Result in the normalised frame: per-point ``scores`` (P,), the ``restored`` cloud (P, 3), each point's
    ``mask`` (P,) int64, and the last iteration's reconstructions of every mask pass stacked as ``dense``
    (M * G * gamma, 3)."""

    scores: torch.Tensor
    restored: torch.Tensor
    mask: torch.Tensor
    dense: torch.Tensor


def identity_down_net(patches: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """A Down-Net that returns its input centers: the control a trained Down-Net has to beat (issue 13)."""
    return centers


def mask_assignment(centers: torch.Tensor, masks: int, block: int) -> torch.Tensor:
    """Mask (G,) int64 of each center (G, 3) given in FPS order: blocks of about ``block`` neighbouring centers
    (seeded by the first G // block centers, which FPS spreads over the shape), dealt round-robin into ``masks``
    masks so the blocks of one mask lie apart."""
    seeds = min(centers.shape[0], max(masks, centers.shape[0] // block))
    _, nearest = knn(centers, centers[:seeds], 1)
    return nearest[:, 0] % masks


def masked_reconstruct(
    points: torch.Tensor,
    down_net: DownNetFn,
    up_net: UpNetFn,
    *,
    groups: int,
    group_size: int,
    masking: MaskingParams | None = None,
    start: int = 0,
) -> MaskedReconstruction:
    """Judge every point of ``points`` (P, 3, normalised frame) against a reconstruction made without its region.

    ``down_net`` and ``up_net`` have the batched signatures of :func:`edge.scoring.reconstruction.reconstruct`;
    they run ``masks * iterations`` times per cloud on G centers each (the engines' fixed shapes).
    """
    masking = masking or MaskingParams()
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"masked_reconstruct expects (P, 3) points, got {tuple(points.shape)}")
    needed = max(groups, group_size, masking.masks * masking.context_k)
    if points.shape[0] < needed:
        raise ValueError(f"masked_reconstruct needs at least {needed} points, got {points.shape[0]}")
    with torch.no_grad():
        centers = points[farthest_point_sampling(points, groups, start=start)]
        center_mask = mask_assignment(centers, masking.masks, masking.block)
        point_mask = center_mask[knn(points, centers, 1)[1][:, 0]]
        current = points
        for _ in range(masking.iterations):
            restored, dense = current, []
            for m in range(masking.masks):
                cloud = _reconstruct_masked(current, centers, center_mask == m, point_mask == m, down_net, up_net,
                                            group_size, masking.context_k)
                dense.append(cloud)
                restored = torch.where((point_mask == m).unsqueeze(1), _surface_foot(current, cloud, masking.surface_k),
                                       restored)
            current = restored
    return MaskedReconstruction(scores=(points - current).norm(dim=1), restored=current, mask=point_mask,
                                dense=torch.cat(dense))


def _reconstruct_masked(cloud: torch.Tensor, centers: torch.Tensor, masked_centers: torch.Tensor,
                        masked_points: torch.Tensor, down_net: DownNetFn, up_net: UpNetFn, group_size: int,
                        context_k: int) -> torch.Tensor:
    """One pass: the dense reconstruction (G * gamma, 3) from the visible groups, the masked ones flattened onto
    the plane of their visible context."""
    visible = torch.where(masked_points.unsqueeze(1), cloud + _FAR, cloud)
    _, context = knn(centers, visible, context_k)
    mean, normal = _planes(visible, context)
    flat_centers = _project(centers, mean, normal)
    patches, _ = group_points(cloud, centers, group_size)
    absolute = patches + centers.unsqueeze(1)
    flat_patches = _project(absolute, mean.unsqueeze(1), normal.unsqueeze(1)) - flat_centers.unsqueeze(1)
    hide = masked_centers.view(-1, 1)
    centers_in = torch.where(hide, flat_centers, centers)
    patches_in = torch.where(hide.unsqueeze(2), flat_patches, patches)
    denoised = torch.as_tensor(down_net(patches_in.unsqueeze(0), centers_in.unsqueeze(0))).to(cloud)[0]
    return torch.as_tensor(up_net(denoised.unsqueeze(0))).to(cloud)[0]


def _surface_foot(points: torch.Tensor, dense: torch.Tensor, k: int) -> torch.Tensor:
    """Each point (P, 3) projected onto the plane of its ``k`` nearest reconstructed points."""
    _, neighbours = knn(points, dense, min(k, dense.shape[0]))
    mean, normal = _planes(dense, neighbours)
    return _project(points, mean, normal)


def _planes(ref: torch.Tensor, neighbours: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centroid and unit normal (the smallest principal axis) of each neighbourhood (Q, k) of ``ref``."""
    _, vectors = local_pca(ref, neighbours)
    return ref[neighbours].mean(dim=1), vectors[:, :, 0].to(ref.dtype)


def _project(points: torch.Tensor, mean: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    """``points`` moved along ``normal`` onto the plane through ``mean`` (broadcasting over leading dims)."""
    return points - ((points - mean) * normal).sum(dim=-1, keepdim=True) * normal
