"""Learned group features: the patches of a cloud's AGCS groups through a group encoder (Group3AD).

The encoder is any callable from a batched patch tensor (1, G, K, 3) to features (1, G, D): a torch
``GroupEncoder`` today, an ONNX Runtime or TensorRT runner with the same call signature on the edge.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def group_patches(points: torch.Tensor, members: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Patches (G, K, 3): the ``members`` (G, K) of each group minus its center point ``points[centers]`` (G,)."""
    if members.ndim != 2 or centers.ndim != 1 or members.shape[0] != centers.shape[0]:
        raise ValueError(
            f"group_patches expects members (G, K) and centers (G,), "
            f"got {tuple(members.shape)} and {tuple(centers.shape)}"
        )
    return points[members] - points[centers].unsqueeze(1)


def encode_groups(
    encoder: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor, members: torch.Tensor, centers: torch.Tensor
) -> torch.Tensor:
    """Features (G, D) of the groups (``members`` (G, K), ``centers`` (G,) indices into ``points`` (P, 3)).

    Patches go to ``encoder`` as one float32 batch (1, G, K, 3) in cloud units, without gradients.
    """
    patches = group_patches(points, members, centers).float().unsqueeze(0)
    with torch.no_grad():
        features = encoder(patches)
    if features.ndim != 3 or features.shape[:2] != patches.shape[:2]:
        raise ValueError(f"encode_groups: encoder returned {tuple(features.shape)} for patches {tuple(patches.shape)}")
    return features[0]
