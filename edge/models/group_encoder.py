"""Group3AD group encoder: one unit-length feature per AGCS group (a patch of K points around its center).

The encoder is the two-stage PointNet of :mod:`edge.models.pointnet` followed by an L2 normalisation, so
group features live on the unit sphere, where the Group3AD losses (inter-cluster uniformity, intra-cluster
alignment; ``trainer/models/group3ad_losses.py``) shape them into well separated, tight clusters.

Deviations from the paper (Zhu et al., ACM MM 2024), which fine-tunes a pre-trained point-cloud
transformer: a small PointNet trained from scratch per recipe (no pre-trained weights ship with the product,
and the few-shot budget is about a minute of CPU), and patches are multiplied by ``patch_scale`` inside the
network, so callers pass patches in cloud units and the recipe's scale travels with the weights' config.
The network is not rotation invariant: it must see clouds in the pose its training scans had (the aligned
cloud on the edge).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edge.models.pointnet import PatchEncoder


class GroupEncoder(nn.Module):
    """(B, G, K, 3) patches relative to their centers, in cloud units -> (B, G, out_dim) unit-norm features.

    ``patch_scale`` multiplies the coordinates first (training sets it to about 1 / the median patch radius,
    so patches reach the network at unit size whatever the part's units and voxel size). Fixed shapes, no
    data-dependent control flow: exports to ONNX with a dynamic batch axis.
    """

    def __init__(self, group_size: int = 32, out_dim: int = 64, hidden: int = 64, patch_scale: float = 1.0) -> None:
        super().__init__()
        if group_size < 1 or out_dim < 1 or hidden < 1:
            raise ValueError(f"GroupEncoder: sizes must be positive, got {group_size=}, {out_dim=}, {hidden=}")
        if not patch_scale > 0:
            raise ValueError(f"GroupEncoder: patch_scale must be positive, got {patch_scale}")
        self.group_size = group_size
        self.out_dim = out_dim
        self.hidden = hidden
        self.patch_scale = float(patch_scale)
        self.config: dict[str, Any] = {
            "group_size": group_size,
            "out_dim": out_dim,
            "hidden": hidden,
            "patch_scale": self.patch_scale,
        }
        self.encoder = PatchEncoder(out_dim=out_dim, hidden=hidden)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and (patches.ndim != 4 or tuple(patches.shape[2:]) != (self.group_size, 3)):
            raise ValueError(f"GroupEncoder expects (B, G, {self.group_size}, 3) patches, got {tuple(patches.shape)}")
        return F.normalize(self.encoder(patches * self.patch_scale), dim=-1)
