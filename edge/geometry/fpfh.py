"""Fast Point Feature Histograms (Rusu et al. 2009), 33 bins, with open3d's exact semantics.

Follows open3d's ``compute_fpfh_feature`` with a hybrid (radius, max_nn) search:

* neighbours of ``p``: the up-to-``max_nn`` nearest points strictly within ``radius``, the
  query point itself counted among them and then dropped (so at most ``max_nn - 1`` others;
  duplicates of ``p`` remain, at distance 0);
* SPFH of ``p``: for each neighbour, the Darboux-frame pair features ``(theta, alpha, phi)``,
  with source and target swapped when the neighbour's normal makes the smaller angle with
  the connecting line; a pair at distance 0 or with a degenerate frame counts as features
  ``(0, 0, 0)``; 11 bins per feature, each pair adding ``100 / count``;
* FPFH of ``p``: the neighbours' SPFH weighted by ``1 / squared distance`` (neighbours at
  distance 0 skipped), each 11-bin block scaled to sum 100, plus ``p``'s own SPFH. A point
  without neighbours gets all zeros.
"""

from __future__ import annotations

import math
import warnings

import torch

from edge.geometry import compiled
from edge.geometry.knn import DEFAULT_MAX_BYTES, radius_knn

BINS = 11
FEATURES = 3 * BINS
_GPU_CHUNK_BYTES = 1 << 30
"""Pair-feature working memory per chunk on CUDA: a frame of up to about 100k points in one pass, few launches."""


def fpfh(
    points: torch.Tensor,
    normals: torch.Tensor,
    *,
    radius: float,
    max_nn: int = 100,
    max_bytes: int = DEFAULT_MAX_BYTES,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """FPFH descriptors (N, 33) float32 of ``points`` (N, 3) with unit ``normals`` (N, 3).

    ``dtype`` is the working precision of the angles and histograms of the torch kernel (CUDA, or the CPU without
    numba): float64 reproduces open3d's numbers, float32 is about twice as fast there and bins all but a handful of
    borderline angles the same way. The compiled CPU kernel always works in float64.
    """
    return fpfh_multiscale(points, normals, radii=[radius], max_nn=max_nn, max_bytes=max_bytes, dtype=dtype)[0]


def fpfh_multiscale(
    points: torch.Tensor,
    normals: torch.Tensor,
    *,
    radii: list[float],
    max_nn: int = 100,
    max_bytes: int = DEFAULT_MAX_BYTES,
    dtype: torch.dtype = torch.float64,
    search: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """FPFH (N, 33) at each radius, from one neighbour search at the largest radius.

    A hybrid search returns the nearest ``max_nn`` points within its radius, nearest first, so the
    neighbours within a smaller radius are exactly the entries of the larger search closer than it: one
    search and one pass of pair features serve every scale. The neighbours' weighted SPFH sum is one sparse
    (CSR) matrix product per scale, with no (N, K, 33) gather. ``search`` is that search when the caller has it
    already: ``radius_knn(points, points, max(radii), max_nn - 1, exclude_self=True)``.
    """
    if points.ndim != 2 or points.shape[1] != 3 or normals.shape != points.shape:
        raise ValueError(f"fpfh expects (N, 3) points and normals, got {tuple(points.shape)} and {tuple(normals.shape)}")
    n = points.shape[0]
    if n < 2 or max_nn < 2:
        return [torch.zeros((n, FEATURES), dtype=torch.float32, device=points.device) for _ in radii]
    if search is None:
        search = radius_knn(points, points, max(radii), max_nn - 1, exclude_self=True, max_bytes=max_bytes)
    search_d2, idx = search
    if points.device.type == "cpu" and compiled.AVAILABLE:
        histograms = compiled.fpfh_histograms(points.detach().numpy(), normals.detach().numpy(),
                                              (search_d2.numpy(), idx.numpy()), radii)
        return [torch.from_numpy(h) for h in histograms]
    found = idx >= 0
    safe = torch.where(found, idx, torch.arange(n, device=points.device).unsqueeze(1))
    scales = [found & (search_d2 < radius * radius) for radius in radii]
    pts, nrm = points.to(dtype), normals.to(dtype)
    budget = max(max_bytes, _GPU_CHUNK_BYTES) if points.is_cuda else max_bytes
    spfh, pair_d2 = _spfh_by_chunks(pts, nrm, safe, scales, budget)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
        neighbour_sum = torch.sparse_csr_tensor(
            torch.arange(0, idx.numel() + 1, idx.shape[1], device=points.device), safe.reshape(-1),
            torch.zeros(idx.numel(), dtype=dtype, device=points.device), (n, n), check_invariants=False,
        )
    out = []
    for hist, valid in zip(spfh, scales):
        weight = torch.where(valid & (pair_d2 > 0), 1.0 / pair_d2.clamp_min(torch.finfo(dtype).tiny), 0.0)
        neighbour_sum.values().copy_(weight.reshape(-1))
        acc = (neighbour_sum @ hist).reshape(n, 3, BINS)
        total = acc.sum(dim=2, keepdim=True)
        acc = acc * torch.where(total != 0, 100.0 / torch.where(total != 0, total, 1.0), 1.0)
        out.append(torch.where(valid.any(dim=1, keepdim=True), acc.reshape(n, FEATURES) + hist, 0.0).float())
    return out


def _spfh_by_chunks(
    pts: torch.Tensor, nrm: torch.Tensor, safe: torch.Tensor, scales: list[torch.Tensor], budget: int
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """SPFH (N, 33) per scale and pair squared distances (N, K): pair features of (R, K, 3) gathers in row chunks
    of about ``budget`` bytes (the CUDA kernel: few, large launches)."""
    n = pts.shape[0]
    spfh = [torch.zeros((n, FEATURES), dtype=pts.dtype, device=pts.device) for _ in scales]
    pair_d2 = torch.empty(safe.shape, dtype=pts.dtype, device=pts.device)
    chunk = max(1, budget // max(1, safe.shape[1] * 3 * 64))
    for s in range(0, n, chunk):
        rows = slice(s, s + chunk)
        bins, pair_d2[rows] = _pair_bins(pts, nrm, safe[rows], s)
        for hist, valid in zip(spfh, scales):
            _add_spfh(hist[rows], bins, valid[rows])
    return spfh, pair_d2


def _pair_bins(pts: torch.Tensor, nrm: torch.Tensor, idx: torch.Tensor, first: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Histogram slots (R, K * 3) of the pair features of rows ``first ..`` with their neighbours ``idx`` (R, K),
    and the pairs' squared distances (R, K). Features do not depend on the radius: computed once for all scales."""
    rows = slice(first, first + idx.shape[0])
    p1, p2 = pts[rows].unsqueeze(1), pts[idx]
    theta, alpha, phi = pair_features(p1, nrm[rows].unsqueeze(1), p2, nrm[idx])
    bins = torch.stack(
        [
            _bin((theta + math.pi) / (2.0 * math.pi)),
            _bin((alpha + 1.0) * 0.5) + BINS,
            _bin((phi + 1.0) * 0.5) + 2 * BINS,
        ],
        dim=2,
    )
    return bins.reshape(idx.shape[0], -1), ((p2 - p1) ** 2).sum(dim=2)


def _add_spfh(hist: torch.Tensor, bins: torch.Tensor, valid: torch.Tensor) -> None:
    """Simplified point feature histograms (R, 33) in place: every valid pair adds ``100 / count`` per feature."""
    count = valid.sum(dim=1, keepdim=True)
    increment = torch.where(valid, 100.0 / count.clamp_min(1).to(hist.dtype), 0.0).to(hist.dtype)
    hist.scatter_add_(1, bins, increment.unsqueeze(2).expand(-1, -1, 3).reshape(bins.shape))


def pair_features(
    p1: torch.Tensor, n1: torch.Tensor, p2: torch.Tensor, n2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Darboux-frame features ``(theta, alpha, phi)`` of point pairs (broadcasting (..., 3) inputs).

    The frame's source is the point whose normal makes the smaller angle with the line joining
    the pair (open3d's swap rule); coincident points or a normal parallel to that line give
    ``(0, 0, 0)``.
    """
    dp = p2 - p1
    dist = dp.norm(dim=-1)
    safe = torch.where(dist > 0, dist, torch.ones_like(dist))
    a1 = (n1 * dp).sum(dim=-1) / safe
    a2 = (n2 * dp).sum(dim=-1) / safe
    swap = a1.abs().clamp(max=1.0) < a2.abs().clamp(max=1.0)  # acos(|a1|) > acos(|a2|): acos decreases on [0, 1]
    s = swap.unsqueeze(-1)
    src_n = torch.where(s, n2, n1)
    dst_n = torch.where(s, n1, n2)
    line = torch.where(s, -dp, dp)
    phi = torch.where(swap, -a2, a1)
    v = torch.linalg.cross(line, src_n.expand_as(line))
    v_norm = v.norm(dim=-1)
    v = v / torch.where(v_norm > 0, v_norm, torch.ones_like(v_norm)).unsqueeze(-1)
    w = torch.linalg.cross(src_n.expand_as(v), v)
    alpha = (v * dst_n).sum(dim=-1)
    theta = torch.atan2((w * dst_n).sum(dim=-1), (src_n * dst_n).sum(dim=-1))
    degenerate = (dist == 0) | (v_norm == 0)
    zero = torch.zeros_like(theta)
    return (
        torch.where(degenerate, zero, theta),
        torch.where(degenerate, zero, alpha),
        torch.where(degenerate, zero, phi),
    )


def _bin(unit: torch.Tensor) -> torch.Tensor:
    """open3d's binning: ``floor(11 * unit)`` clamped to ``[0, 10]``."""
    return torch.floor(BINS * unit).clamp(0, BINS - 1).long()
