"""Memory-bank search: distance from each descriptor to its nearest entry of a bank of normal descriptors."""

from __future__ import annotations

import torch

DEFAULT_MAX_BYTES = 64 << 20


def nearest_distance(
    query: torch.Tensor, bank: torch.Tensor, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distance (M,) from each ``query`` row (M, D) to its nearest ``bank`` row (B, D), and its index.

    Exact, chunked over queries so the distance block stays within ``max_bytes`` on CPU and CUDA alike.
    """
    if query.ndim != 2 or bank.ndim != 2 or query.shape[1] != bank.shape[1]:
        raise ValueError(f"nearest_distance expects (M, D) and (B, D), got {tuple(query.shape)} and {tuple(bank.shape)}")
    if bank.shape[0] == 0:
        raise ValueError("nearest_distance: the memory bank is empty")
    bank = bank.to(query.dtype)
    bank_sq = (bank * bank).sum(dim=1)
    chunk = max(1, max_bytes // max(1, 4 * bank.shape[0]))
    dists, idxs = [], []
    for start in range(0, query.shape[0], chunk):
        q = query[start : start + chunk]
        d2 = (q * q).sum(dim=1, keepdim=True) - 2.0 * q @ bank.T + bank_sq
        best, idx = d2.min(dim=1)
        exact = ((q - bank[idx]) ** 2).sum(dim=1)
        dists.append(exact.clamp_min(0).sqrt())
        idxs.append(idx)
    return torch.cat(dists), torch.cat(idxs)
