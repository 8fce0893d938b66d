"""PointNet building blocks shared by the patch networks (Down-Net, Group3AD encoder).

``PatchEncoder`` is the two-stage PointNet of Point-MAE/DUS-Net: a shared MLP per point, a max-pool, the pooled
feature concatenated back to every point, a second shared MLP and a final max-pool. Linear layers with LayerNorm
instead of BatchNorm, because few-shot fine-tuning runs on batches of one scan.
"""

from __future__ import annotations

import torch
from torch import nn


class PatchEncoder(nn.Module):
    """(B, G, K, 3) patches relative to their centers -> (B, G, out_dim) one feature per patch."""

    def __init__(self, out_dim: int = 256, hidden: int = 128) -> None:
        super().__init__()
        self.first = nn.Sequential(nn.Linear(3, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, 2 * hidden))
        self.second = nn.Sequential(
            nn.Linear(4 * hidden, 4 * hidden), nn.LayerNorm(4 * hidden), nn.GELU(), nn.Linear(4 * hidden, out_dim)
        )

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        local = self.first(patches)
        pooled = local.amax(dim=2, keepdim=True).expand_as(local)
        return self.second(torch.cat([pooled, local], dim=-1)).amax(dim=2)
