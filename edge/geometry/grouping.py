"""Patches of the K nearest points around group centers, expressed relative to their center."""

from __future__ import annotations

import torch

from edge.geometry.knn import knn


def group_points(points: torch.Tensor, centers: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest ``points`` (N, 3) of every center, nearest first.

    ``centers`` is either int64 indices (G,) into ``points`` or coordinates (G, 3). Returns
    ``(patches (G, k, 3), idx (G, k))`` where ``patches[g, j] = points[idx[g, j]] - center_g``:
    the fixed-shape, translation-free input of the patch networks.
    """
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"group_points expects (N, 3) points, got {tuple(points.shape)}")
    if centers.dtype in (torch.int64, torch.int32):
        if centers.ndim != 1:
            raise ValueError(f"group_points: center indices must be (G,), got {tuple(centers.shape)}")
        center_xyz = points[centers.long()]
    elif centers.ndim == 2 and centers.shape[1] == 3:
        center_xyz = centers.to(points.dtype)
    else:
        raise ValueError(f"group_points: centers must be (G,) indices or (G, 3) coordinates, got {tuple(centers.shape)}")
    _, idx = knn(center_xyz, points, k)
    return points[idx] - center_xyz.unsqueeze(1), idx
