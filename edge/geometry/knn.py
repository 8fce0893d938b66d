"""Exact k-nearest-neighbour search in torch, chunked so memory stays bounded on CPU and CUDA."""

from __future__ import annotations

import torch

DEFAULT_MAX_BYTES = 64 << 20


def knn(
    query: torch.Tensor,
    ref: torch.Tensor,
    k: int,
    *,
    exclude_self: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ``k`` nearest neighbours in ``ref`` (N, 3) of every ``query`` (M, 3) point.

    Returns squared distances (M, k) and int64 indices (M, k), nearest first. With
    ``exclude_self`` the query set must be ``ref`` itself and each point's own index is
    skipped. Queries are processed in chunks whose distance block is at most ``max_bytes``.
    """
    if query.ndim != 2 or ref.ndim != 2 or query.shape[1] != ref.shape[1]:
        raise ValueError(f"knn expects (M, D) and (N, D) tensors, got {tuple(query.shape)} and {tuple(ref.shape)}")
    n = ref.shape[0]
    kk = k + 1 if exclude_self else k
    if kk > n:
        raise ValueError(f"knn: k={k} but the reference set has only {n} points")
    origin = ref.mean(dim=0, keepdim=True)
    q = query - origin
    r = ref - origin
    r_sq = (r * r).sum(dim=1)
    chunk = max(1, min(query.shape[0], max_bytes // max(1, 4 * n)))
    dists, idxs = [], []
    for start in range(0, query.shape[0], chunk):
        qc = q[start : start + chunk]
        d = (qc * qc).sum(dim=1, keepdim=True) - 2.0 * qc @ r.T + r_sq
        if exclude_self:
            rows = torch.arange(qc.shape[0], device=d.device)
            d[rows, rows + start] = float("inf")
        _, idx = torch.topk(d, k, dim=1, largest=False, sorted=True)
        exact = ((qc.unsqueeze(1) - r[idx]) ** 2).sum(dim=2)
        exact, order = exact.sort(dim=1)
        dists.append(exact)
        idxs.append(idx.gather(1, order))
    return torch.cat(dists), torch.cat(idxs)
