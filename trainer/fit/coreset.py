"""Greedy k-center core-set selection (PatchCore) for memory banks."""

from __future__ import annotations

import torch


def greedy_coreset(features: torch.Tensor, size: int, *, seed: int = 0, projection_dim: int | None = 128) -> torch.Tensor:
    """Indices of ``size`` rows of ``features`` (N, D) chosen by greedy k-center selection.

    Each step adds the row farthest from the rows chosen so far, keeping one running min-distance vector
    (N,), so memory is O(N) and no pairwise matrix is ever built. As in PatchCore, distances are measured
    after a fixed random projection to ``projection_dim`` when D is larger (Johnson-Lindenstrauss), which
    speeds selection without changing the bank itself.
    """
    n = features.shape[0]
    if size >= n:
        return torch.arange(n, device=features.device)
    if size < 1:
        raise ValueError(f"core-set size must be positive, got {size}")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    x = features.float()
    if projection_dim is not None and x.shape[1] > projection_dim:
        proj = torch.randn(x.shape[1], projection_dim, generator=generator) / projection_dim**0.5
        x = x @ proj.to(x.device)
    start = int(torch.randint(n, (1,), generator=generator))
    chosen = torch.empty(size, dtype=torch.int64, device=x.device)
    chosen[0] = start
    min_d2 = ((x - x[start]) ** 2).sum(dim=1)
    for i in range(1, size):
        nxt = torch.argmax(min_d2)
        chosen[i] = nxt
        min_d2 = torch.minimum(min_d2, ((x - x[nxt]) ** 2).sum(dim=1))
    return chosen
