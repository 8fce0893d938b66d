"""DUS-Net Up-Net: a dense anomaly-free cloud of G * gamma points from G group centers.

The input centers come in farthest-point-sampling order, and the first m points of an FPS ordering are an FPS
of m points themselves; so the coarser scales 1/2 and 1/4 are simply the prefixes ``centers[:, :G//2]`` and
``centers[:, :G//4]`` and the network needs no sampling loop. Per scale, a PointNet++ set abstraction groups
the ``neighbors`` nearest points of the finer scale (squared distances by broadcasting + ``topk``, the
exportable form of ``cdist`` + ``topk``) and max-pools a shared MLP over [relative position, finer feature];
the coarse features return to full scale by 3-NN inverse-distance interpolation; a 1x1 convolution (a
``Linear`` on each point) maps every scale to ``width``; neighbouring scales are fused pairwise (1 with 1/2,
1/2 with 1/4); an MLP turns the fused features into ``gamma`` offsets per center, in units of the center's
local scale (its mean distance to its ``neighbors`` nearest centers), so the dense points are
``center + scale * offset`` (B, G * gamma, 3), the gamma points of center g at rows ``g * gamma`` to
``g * gamma + gamma - 1``. Relative positions inside the set abstractions are divided by the same kind of local
scale, which makes the network independent of the shape's size and sampling density.

Deviations from the paper (docs/reconstruction.md): kNN grouping instead of ball queries (fixed shapes for
ONNX/TensorRT); features use scale-normalised relative positions only, so the network commutes with
translation and scaling and a prior learned on many shapes transfers; plain MLPs (GELU), no normalisation
layers.
"""

from __future__ import annotations

import torch
from torch import nn


def _gather(values: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``values`` (B, N, C) at ``idx`` (B, M, k) -> (B, M, k, C), by a flat index (exports as one Gather)."""
    b, n, c = values.shape
    offset = (torch.arange(b, device=idx.device) * n).reshape(b, 1, 1)
    return values.reshape(b * n, c)[(idx + offset).reshape(-1)].reshape(idx.shape[0], idx.shape[1], idx.shape[2], c)


def _nearest(query: torch.Tensor, ref: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distances and indices (B, M, k) of the ``k`` nearest ``ref`` (B, N, 3) of each ``query`` (B, M, 3)."""
    d2 = (query.unsqueeze(2) - ref.unsqueeze(1)).square().sum(dim=-1)
    neg, idx = torch.topk(-d2, k, dim=-1)
    return -neg, idx


class SetAbstraction(nn.Module):
    """PointNet++ set abstraction: max-pooled shared MLP over each query point's ``neighbors`` nearest ref points.

    Relative positions are divided by the query's local scale (its mean distance to those neighbours), so the
    features do not depend on the sampling density or the size of the shape; the scale is returned with them.
    """

    def __init__(self, in_dim: int, out_dim: int, neighbors: int) -> None:
        super().__init__()
        self.neighbors = neighbors
        self.mlp = nn.Sequential(nn.Linear(3 + in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def forward(
        self, query: torch.Tensor, ref: torch.Tensor, ref_features: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        d2, idx = _nearest(query, ref, self.neighbors)
        scale = d2.clamp_min(0).sqrt().mean(dim=-1, keepdim=True).clamp_min(1e-6)
        grouped = (_gather(ref, idx) - query.unsqueeze(2)) / scale.unsqueeze(-1)
        if ref_features is not None:
            grouped = torch.cat([grouped, _gather(ref_features, idx)], dim=-1)
        return self.mlp(grouped).amax(dim=2), scale


def interpolate(query: torch.Tensor, ref: torch.Tensor, features: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """PointNet++ feature propagation: inverse-distance weighted mean of the 3 nearest ``ref`` features."""
    d2, idx = _nearest(query, ref, 3)
    weights = 1.0 / (d2.sqrt() + eps)
    weights = weights / weights.sum(dim=-1, keepdim=True)
    return (_gather(features, idx) * weights.unsqueeze(-1)).sum(dim=2)


class UpNet(nn.Module):
    """(B, G, 3) centers in FPS order -> (B, G * gamma, 3) dense points; G must be divisible by 4.

    ``config`` holds the constructor arguments (a bundle stores them with the weights).
    """

    def __init__(self, gamma: int = 8, width: int = 128, neighbors: int = 16) -> None:
        super().__init__()
        self.config = {"gamma": gamma, "width": width, "neighbors": neighbors}
        self.gamma = gamma
        self.neighbors = neighbors
        self.abstract1 = SetAbstraction(0, width, neighbors)
        self.abstract2 = SetAbstraction(width, width, neighbors)
        self.abstract4 = SetAbstraction(width, width, neighbors)
        self.conv1 = nn.Linear(width, width)
        self.conv2 = nn.Linear(width, width)
        self.conv4 = nn.Linear(width, width)
        self.fuse12 = nn.Sequential(nn.Linear(2 * width, width), nn.GELU())
        self.fuse24 = nn.Sequential(nn.Linear(2 * width, width), nn.GELU())
        self.head = nn.Sequential(
            nn.Linear(2 * width, 2 * width), nn.GELU(),
            nn.Linear(2 * width, width), nn.GELU(),
            nn.Linear(width, 3 * gamma),
        )

    def check_groups(self, groups: int) -> None:
        """Raise ValueError unless ``groups`` centers split into the scales 1, 1/2, 1/4 with enough neighbours."""
        if groups % 4 or groups // 4 < max(self.neighbors, 3):
            raise ValueError(
                f"UpNet needs a number of centers divisible by 4 with G/4 >= neighbors ({self.neighbors}): "
                f"the scales 1/2 and 1/4 are the FPS prefixes G/2 and G/4; got G={groups}"
            )

    def forward(self, centers: torch.Tensor) -> torch.Tensor:
        b, g, _ = centers.shape
        if not torch.jit.is_tracing():
            self.check_groups(g)
        half, quarter = centers[:, : g // 2], centers[:, : g // 4]
        f1, scale = self.abstract1(centers, centers, None)
        f2, _ = self.abstract2(half, centers, f1)
        f4, _ = self.abstract4(quarter, half, f2)
        h1 = self.conv1(f1)
        h2 = self.conv2(interpolate(centers, half, f2))
        h4 = self.conv4(interpolate(centers, quarter, f4))
        fused = torch.cat([self.fuse12(torch.cat([h1, h2], dim=-1)), self.fuse24(torch.cat([h2, h4], dim=-1))], dim=-1)
        offsets = (self.head(fused) * scale).reshape(b, g, self.gamma, 3)
        return (centers.unsqueeze(2) + offsets).reshape(b, g * self.gamma, 3)
