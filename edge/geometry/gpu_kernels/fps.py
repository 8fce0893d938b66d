"""Farthest point sampling on CUDA in one Triton launch: every step of a batch item in one program.

The torch form runs a step as several element-wise kernels and an arg-max over all points, replayed from CUDA
graphs (:mod:`edge.geometry.fps`): about 20 microseconds of GPU time a step, most of it launch gaps between tiny
kernels, 640 steps a frame. Here one program per batch item loops over the steps and, within a step, over tiles of
the points: it lowers each point's running minimum by its squared distance to the newest pick, marks that pick
taken, stores the minima back and keeps each lane's largest; one reduction over the lanes ends the step. Rounding and ties are the torch step's:
the squared distance is ``fma(dz, dz, fma(dy, dy, dx * dx))`` (what its ``mul_``/``addcmul_`` chain computes), the
newest pick's minimum becomes -1, and the lowest index wins among equal maxima.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit(do_not_specialize=["n", "capacity", "m"])  # one compiled kernel whatever the counts
def _fps_kernel(xyz_ptr, min_ptr, current_ptr, out_ptr, n, capacity, m, TILE: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    x_ptr = xyz_ptr + b * 3 * capacity
    dist_ptr = min_ptr + b * capacity
    lane = tl.arange(0, TILE)
    pick = tl.load(current_ptr + b)
    step = 0
    while step < m:  # while, not range: Triton's interpreter cannot range over a run-time bound
        tl.store(out_ptr + b * m + step, pick)
        px = tl.load(x_ptr + pick)
        py = tl.load(x_ptr + capacity + pick)
        pz = tl.load(x_ptr + 2 * capacity + pick)
        best = tl.full([TILE], float("-inf"), min_ptr.dtype.element_ty)
        best_index = tl.zeros([TILE], tl.int32)
        first = 0
        while first < n:
            index = first + lane
            inside = index < n
            dx = tl.load(x_ptr + index, mask=inside, other=0.0) - px
            dy = tl.load(x_ptr + capacity + index, mask=inside, other=0.0) - py
            dz = tl.load(x_ptr + 2 * capacity + index, mask=inside, other=0.0) - pz
            dist = tl.fma(dz, dz, tl.fma(dy, dy, dx * dx))
            low = tl.minimum(tl.load(dist_ptr + index, mask=inside, other=float("-inf")), dist)
            low = tl.where(index == pick, -1.0, low)
            low = tl.where(inside, low, float("-inf"))
            tl.store(dist_ptr + index, low, mask=inside)
            better = low > best
            best = tl.where(better, low, best)
            best_index = tl.where(better, index, best_index)
            first += TILE
        top = tl.max(best, axis=0)
        best_index = tl.min(tl.where(best == top, best_index, 2147483647), axis=0).to(tl.int64)
        pick = best_index
        step += 1
        tl.debug_barrier()


def farthest_points(xyz: torch.Tensor, min_dist: torch.Tensor, current: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """``m`` picks (B, m) int64 continuing a started run: ``xyz`` (B, 3, C) the points coordinate-major, ``min_dist``
    (B, C) each point's squared distance to the picks so far (-1 for taken points; updated in place), ``current``
    (B,) the next pick; the first ``n`` of the ``C`` slots are points."""
    b = xyz.shape[0]
    out = torch.empty((b, m), dtype=torch.int64, device=xyz.device)
    if m:
        _fps_kernel[(b,)](xyz, min_dist, current.reshape(b).contiguous(), out, n, xyz.shape[2], m,
                          TILE=4096, num_warps=16)
    return out
