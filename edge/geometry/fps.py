"""Exact farthest point sampling, batched, with the step loop captured in CUDA graphs on GPU.

FPS is sequential in the number of samples: each pick depends on all earlier ones. The work of
one step (distance to the newest pick, running minimum, arg-max) is one vectorised pass over all
points of all batch items. On CPU the steps run eagerly on preallocated buffers with in-place
ops. On CUDA the same step function is recorded once into a CUDA graph of ``_GRAPH_STEPS`` steps
and replayed, so ``m`` samples cost ``m / _GRAPH_STEPS`` launches instead of ``m`` launches per op. A capture
forbids device-wide synchronisation in every other thread (seen with `serve --workers 2`: the second worker's
sync failed), so graphs are used in the main thread only and service worker threads step eagerly.
"""

from __future__ import annotations

import threading

import torch

_GRAPH_STEPS = 64


def farthest_point_sampling(
    points: torch.Tensor,
    m: int,
    *,
    start: int = 0,
    seed_indices: torch.Tensor | None = None,
) -> torch.Tensor:
    """Indices (m,) or (B, m), int64, of ``m`` farthest-point samples of ``points`` (N, 3) or (B, N, 3).

    The first sample is ``start``; each next one is the point with the largest squared distance
    to the samples so far (the lowest index on ties). Already picked points are never picked
    again, so the result has no duplicates even with repeated coordinates. ``seed_indices``
    (S,) or (B, S) makes the sampling continue from those points instead: they are treated as
    picked (and not returned), and the first returned sample is the farthest from them.
    """
    batched = points.ndim == 3
    pts = points if batched else points.unsqueeze(0)
    if pts.ndim != 3 or pts.shape[2] != 3:
        raise ValueError(f"farthest_point_sampling expects (N, 3) or (B, N, 3), got {tuple(points.shape)}")
    b, n, _ = pts.shape
    seeds = None
    if seed_indices is not None:
        seeds = seed_indices.to(pts.device, torch.int64).reshape(b, -1)
    taken = 0 if seeds is None else seeds.shape[1]
    if m < 0 or m + taken > n:
        raise ValueError(f"farthest_point_sampling: cannot pick {m} of {n} points ({taken} already seeded)")
    if not 0 <= start < n:
        raise ValueError(f"farthest_point_sampling: start={start} outside [0, {n})")
    out = torch.empty((b, m), dtype=torch.int64, device=pts.device)
    if m > 0:
        state = _FpsState(pts.contiguous(), out, start, seeds)
        _run(state, m)
    return out if batched else out[0]


class _FpsState:
    """Preallocated buffers of one sampling run; every step updates them in place."""

    def __init__(self, pts: torch.Tensor, out: torch.Tensor, start: int, seeds: torch.Tensor | None) -> None:
        b, n, _ = pts.shape
        self.pts = pts
        self.out = out
        self.step = torch.zeros((b, 1), dtype=torch.int64, device=pts.device)
        self.min_dist = torch.full((b, n), torch.inf, dtype=pts.dtype, device=pts.device)
        self.scratch = torch.empty_like(self.min_dist)
        self.picked_mark = torch.full((b, 1), -1.0, dtype=pts.dtype, device=pts.device)
        if seeds is None:
            self.current = torch.full((b, 1), start, dtype=torch.int64, device=pts.device)
        else:
            for column in range(seeds.shape[1]):
                self._absorb(seeds[:, column : column + 1])
            self.current = self.min_dist.argmax(dim=1, keepdim=True)

    def _absorb(self, pick: torch.Tensor) -> None:
        """Lower every point's distance by the distance to ``pick`` (B, 1) and mark ``pick`` taken."""
        p = self.pts.gather(1, pick.unsqueeze(2).expand(-1, 1, 3))
        torch.sub(self.pts[:, :, 0], p[:, :, 0], out=self.scratch)
        self.scratch.mul_(self.scratch)
        for axis in (1, 2):
            delta = self.pts[:, :, axis] - p[:, :, axis]
            self.scratch.addcmul_(delta, delta)
        torch.minimum(self.min_dist, self.scratch, out=self.min_dist)
        self.min_dist.scatter_(1, pick, self.picked_mark)

    def advance(self) -> None:
        """Record the current pick, absorb it, and choose the next one."""
        self.out.scatter_(1, self.step, self.current)
        self.step.add_(1)
        self._absorb(self.current)
        torch.argmax(self.min_dist, dim=1, keepdim=True, out=self.current)


def _run(state: _FpsState, m: int) -> None:
    """``m`` steps: eager on CPU and in worker threads; on CUDA in the main thread, one warm-up block eagerly,
    then graph replays."""
    done = 0
    if state.pts.is_cuda and m > 2 * _GRAPH_STEPS and threading.current_thread() is threading.main_thread():
        for _ in range(_GRAPH_STEPS):
            state.advance()
        done = _GRAPH_STEPS
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.device(state.pts.device), torch.cuda.graph(graph):
            for _ in range(_GRAPH_STEPS):
                state.advance()
        while done + _GRAPH_STEPS <= m:
            graph.replay()
            done += _GRAPH_STEPS
    for _ in range(m - done):
        state.advance()
