"""DUS-Net Down-Net: anomaly-free group centers from (possibly anomalous) patches.

Each of the G patches (K points relative to its noisy center) is encoded by the PointNet ``PatchEncoder``; the
noisy center itself is embedded by an MLP (the position embedding) and added to the patch token; a pre-norm
transformer encoder lets every group see all others (the shape context that tells where a center *should*
be); an MLP head predicts, per group, an **offset to the noisy center**, and the network returns the
absolute center ``noisy center + offset``. Predicting the offset keeps an untrained or weakly trained
network close to the identity, which few-shot fine-tuning relies on.

Deviations from the paper (docs/reconstruction.md): the PointNet is the shared ``PatchEncoder`` with LayerNorm
(no BatchNorm: batches of one scan); the transformer is written out with plain matmul/softmax attention
(no fused kernels) so that ONNX export and TensorRT see only elementary ops; sizes are smaller than
Point-MAE's (embed 128, depth 4) to fit the CPU training budget.
"""

from __future__ import annotations

import torch
from torch import nn

from edge.models.pointnet import PatchEncoder


class Attention(nn.Module):
    """Multi-head self-attention over the G group tokens, written with elementary ops."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} must be divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, g, c = x.shape
        qkv = self.qkv(x).reshape(b, g, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        weights = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, g, c))


class Block(nn.Module):
    """Pre-norm transformer encoder block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DownNet(nn.Module):
    """(B, G, K, 3) patches relative to their noisy centers + (B, G, 3) noisy centers -> (B, G, 3) clean centers.

    ``config`` holds the constructor arguments (a bundle stores them with the weights). ``group_size`` (K) is
    checked in ``forward``; the weights themselves work for any G (attention over tokens), but a deployed
    network is exported for one shape.
    """

    def __init__(
        self,
        group_size: int = 32,
        embed_dim: int = 128,
        depth: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        encoder_hidden: int = 16,
    ) -> None:
        super().__init__()
        self.config = {
            "group_size": group_size, "embed_dim": embed_dim, "depth": depth, "num_heads": num_heads,
            "mlp_ratio": mlp_ratio, "encoder_hidden": encoder_hidden,
        }
        self.group_size = group_size
        self.encoder = PatchEncoder(out_dim=embed_dim, hidden=encoder_hidden)
        self.pos_embed = nn.Sequential(nn.Linear(3, embed_dim), nn.GELU(), nn.Linear(embed_dim, embed_dim))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Sequential(nn.Linear(embed_dim, embed_dim), nn.GELU(), nn.Linear(embed_dim, 3))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, patches: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and patches.shape[-2] != self.group_size:
            raise ValueError(f"DownNet expects patches of {self.group_size} points, got {tuple(patches.shape)}")
        x = self.encoder(patches) + self.pos_embed(centers)
        for block in self.blocks:
            x = block(x)
        return centers + self.head(self.norm(x))
