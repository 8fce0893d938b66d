"""The neighbour search's kernel on CUDA: each query's k nearest among ranges of candidates, one Triton program per
query. The grid search (:func:`edge.geometry.knn._grid_level`) gives each query the nine row ranges of its 3x3x3
cell block; the brute force (:func:`nearest`) one range over the whole reference cloud.

Their torch forms (candidates gathered into blocks padded to the frame's widest row, float64 distance matrices;
each followed by a top-k) were a CUDA frame's largest kernels, and the padded block's width a host round trip.
Here a program walks its ranges in tiles of candidates and keeps its best ``KP`` (k rounded up to a power of two)
as sorted 64-bit keys, the squared distance's float32 bits above the candidate's position: merging a
tile is a bitonic sort of the tile and one of ``2 KP`` keys, skipped when no candidate of the tile beats the
current k-th. Keys order by distance, then by position, so ties resolve the same way on every run.
Distances are computed without fused multiply-adds (``enable_fp_fusion=False``), rounded as torch's
``(diff * diff).sum(dim=1)`` rounds them.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from edge.geometry.knn import CandidateRanges

@triton.jit
def _candidate_knn_kernel(points_ptr, query_ptr, start_ptr, length_ptr, own_ptr, out_ptr, radius_sq,
                          HAS_OWN: tl.constexpr, HAS_RADIUS: tl.constexpr, KP: tl.constexpr, TILE: tl.constexpr,
                          RANGES: tl.constexpr):
    q = tl.program_id(0).to(tl.int64)
    qx = tl.load(query_ptr + q * 3)
    qy = tl.load(query_ptr + q * 3 + 1)
    qz = tl.load(query_ptr + q * 3 + 2)
    own = tl.load(own_ptr + q) if HAS_OWN else -1
    lane = tl.arange(0, TILE)
    empty = tl.full([TILE], 0x7F800000, tl.int64) << 32
    best = tl.full([KP], 0x7F800000, tl.int64) << 32
    worst = tl.max(best, axis=0)
    for row in range(RANGES):
        first = tl.load(start_ptr + q * RANGES + row)
        count = tl.load(length_ptr + q * RANGES + row)
        offset = 0
        while offset < count:
            inside = offset + lane < count
            pos = first + offset + lane
            dx = tl.load(points_ptr + pos * 3, mask=inside, other=0.0) - qx
            dy = tl.load(points_ptr + pos * 3 + 1, mask=inside, other=0.0) - qy
            dz = tl.load(points_ptr + pos * 3 + 2, mask=inside, other=0.0) - qz
            d = dx * dx + dy * dy + dz * dz
            keep = inside & (pos != own)
            if HAS_RADIUS:
                keep = keep & (d < radius_sq)
            key = tl.where(keep, (d.to(tl.int32, bitcast=True).to(tl.int64) << 32) | pos.to(tl.int64), empty)
            if tl.min(key, axis=0) < worst:
                if TILE > KP:
                    closest = _first_row(tl.sort(key), TILE // KP, KP)
                else:
                    closest = key
                best = _first_row(tl.sort(tl.reshape(tl.join(best, closest), [2 * KP])), 2, KP)
                worst = tl.max(best, axis=0)
            offset += TILE
    tl.store(out_ptr + q * KP + tl.arange(0, KP), best)


@triton.jit
def _first_row(keys, ROWS: tl.constexpr, WIDTH: tl.constexpr):
    """The first ``WIDTH`` of ``ROWS * WIDTH`` keys."""
    first = tl.arange(0, ROWS)[:, None] == 0
    return tl.sum(tl.where(first, tl.reshape(keys, [ROWS, WIDTH]), 0), axis=0)


def candidate_knn(
    ranges: CandidateRanges, query: torch.Tensor, k: int, radius: float | None, tile: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distances (M, k) and positions in ``ranges.points`` (M, k) of each query's k nearest candidates.

    ``query`` (M, 3) and ``ranges.points`` float32; ``radius``: candidates at or beyond it are skipped; ``tile``:
    candidates read per step (a power of two, raised to k's). Empty slots hold ``inf`` and position -1.
    """
    m = query.shape[0]
    kp = max(16, triton.next_power_of_2(k))
    out = torch.empty((m, kp), dtype=torch.int64, device=query.device)
    if m:
        _candidate_knn_kernel[(m,)](
            ranges.points.contiguous(), query.contiguous(), ranges.start.contiguous(), ranges.length.contiguous(),
            ranges.start if ranges.own is None else ranges.own.contiguous(), out,
            0.0 if radius is None else float(radius) * float(radius),
            HAS_OWN=ranges.own is not None, HAS_RADIUS=radius is not None, KP=kp, TILE=max(kp, tile),
            RANGES=ranges.start.shape[1], num_warps=1, enable_fp_fusion=False,
        )
    keys = out[:, :k]
    dist = (keys >> 32).to(torch.int32).view(torch.float32)
    pos = torch.where(torch.isinf(dist), -1, keys & 0xFFFFFFFF)
    return dist, pos


def nearest(
    query: torch.Tensor, ref: torch.Tensor, k: int, own: torch.Tensor | None, radius: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Brute force through the same kernel: every query's k nearest of all of ``ref`` (one range), skipping index
    ``own`` (M,) where given. Distances (M, k) and indices (M, k), ``inf`` and -1 where none."""
    m, device = query.shape[0], query.device
    start = torch.zeros((m, 1), dtype=torch.int64, device=device)
    length = torch.full((m, 1), ref.shape[0], dtype=torch.int64, device=device)
    return candidate_knn(CandidateRanges(ref, start, length, own), query, k, radius, tile=128)
