"""Exact farthest point sampling, batched: one Triton launch on CUDA, else the step loop from cached CUDA graphs.

FPS is sequential in the number of samples: each pick depends on all earlier ones. The work of
one step (distance to the newest pick, running minimum, arg-max) is one vectorised pass over all
points of all batch items, on preallocated buffers with in-place ops. On CPU one compiled loop per batch item does
the steps (:func:`edge.geometry.compiled.farthest_points`, squared distances in float64); without numba the
buffered steps run eagerly.
On CUDA one Triton launch does every step (:mod:`edge.geometry.gpu_kernels.fps`). Without Triton the step is
recorded once into a CUDA graph of ``_GRAPH_STEPS`` steps over static buffers of a capacity bucket (the next power of two of the point count; padded points can never be picked) and the
graph is kept: every later call of that shape bucket only loads its points and replays, so ``m`` samples
cost ``m / _GRAPH_STEPS`` launches and no capture (a capture synchronises the device, collects garbage and
empties the allocator's cache). Seed points are absorbed in one batched pass, not one step per seed. Each
thread keeps its own graphs (:mod:`edge.cuda_graphs`), so the service's workers replay theirs side by side.
"""

from __future__ import annotations

import torch

from edge import cuda_graphs
from edge.geometry import compiled, gpu_kernels

_GRAPH_STEPS = 64
_SEED_BLOCK_BYTES = 64 << 20
_GRAPHS: cuda_graphs.GraphCache[tuple["_FpsState", torch.cuda.CUDAGraph]] = cuda_graphs.GraphCache()


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
    if m == 0:
        out = torch.empty((b, 0), dtype=torch.int64, device=pts.device)
    elif pts.is_cuda and gpu_kernels.usable(pts, "fps"):
        out = gpu_kernels.run("fps", lambda: _kernel(pts, m, start, seeds), lambda: _without_triton(pts, m, start, seeds))
    else:
        out = _without_triton(pts, m, start, seeds)
    return out if batched else out[0]


def _without_triton(pts: torch.Tensor, m: int, start: int, seeds: torch.Tensor | None) -> torch.Tensor:
    """``m`` samples (B, m) of ``pts`` (B, N, 3): replayed CUDA graphs, the compiled CPU loop, or the buffered
    steps."""
    if cuda_graphs.enabled(pts.device) and m > 2 * _GRAPH_STEPS:
        return _replay(pts, m, start, seeds)
    if not pts.is_cuda and compiled.AVAILABLE:
        return torch.stack([
            torch.from_numpy(compiled.farthest_points(pts[i].detach().numpy(), m, start,
                                                      None if seeds is None else seeds[i].numpy()))
            for i in range(pts.shape[0])
        ])
    state = _FpsState(pts.shape[0], pts.shape[1], m, pts.dtype, pts.device)
    state.load(pts, start, seeds)
    for _ in range(m):
        state.advance()
    return state.out


class _FpsState:
    """Preallocated buffers for ``capacity`` points per batch item and ``width`` samples; every step updates them
    in place. Points beyond a run's own count are padding that can never be picked."""

    def __init__(self, b: int, capacity: int, width: int, dtype: torch.dtype, device: torch.device) -> None:
        self.pts = torch.zeros((b, capacity, 3), dtype=dtype, device=device)
        self.out = torch.zeros((b, width), dtype=torch.int64, device=device)
        self.step = torch.zeros((b, 1), dtype=torch.int64, device=device)
        self.min_dist = torch.full((b, capacity), torch.inf, dtype=dtype, device=device)
        self.scratch = torch.empty_like(self.min_dist)
        self.picked_mark = torch.full((b, 1), -1.0, dtype=dtype, device=device)
        self.current = torch.zeros((b, 1), dtype=torch.int64, device=device)

    def load(self, pts: torch.Tensor, start: int, seeds: torch.Tensor | None) -> None:
        """Start a run on ``pts`` (B, N, 3), N <= capacity: from ``start``, or continuing from ``seeds`` (B, S)."""
        n = pts.shape[1]
        self.pts[:, :n].copy_(pts)
        self.pts[:, n:].zero_()
        self.min_dist[:, :n].fill_(torch.inf)
        self.min_dist[:, n:].fill_(-torch.inf)
        self.step.zero_()
        if seeds is None:
            self.current.fill_(start)
            return
        b, capacity, _ = self.pts.shape
        block = max(1, _SEED_BLOCK_BYTES // (4 * b * capacity * self.pts.element_size()))
        for first in range(0, seeds.shape[1], block):
            picks = seeds[:, first : first + block]
            p = self.pts.gather(1, picks.unsqueeze(2).expand(-1, -1, 3))
            dist = self.pts[:, :, None, 0] - p[:, None, :, 0]
            dist.mul_(dist)
            for axis in (1, 2):
                delta = self.pts[:, :, None, axis] - p[:, None, :, axis]
                dist.addcmul_(delta, delta)
            torch.minimum(self.min_dist, dist.amin(dim=2), out=self.min_dist)
        self.min_dist.scatter_(1, seeds, -1.0)
        torch.argmax(self.min_dist, dim=1, keepdim=True, out=self.current)

    def advance(self) -> None:
        """Record the current pick, absorb it (lower every distance by the distance to it, mark it taken) and
        choose the next one."""
        self.out.scatter_(1, self.step, self.current)
        self.step.add_(1)
        p = self.pts.gather(1, self.current.unsqueeze(2).expand(-1, 1, 3))
        torch.sub(self.pts[:, :, 0], p[:, :, 0], out=self.scratch)
        self.scratch.mul_(self.scratch)
        for axis in (1, 2):
            delta = self.pts[:, :, axis] - p[:, :, axis]
            self.scratch.addcmul_(delta, delta)
        torch.minimum(self.min_dist, self.scratch, out=self.min_dist)
        self.min_dist.scatter_(1, self.current, self.picked_mark)
        torch.argmax(self.min_dist, dim=1, keepdim=True, out=self.current)


def _kernel(pts: torch.Tensor, m: int, start: int, seeds: torch.Tensor | None) -> torch.Tensor:
    """``m`` samples from the Triton kernel (:mod:`edge.geometry.gpu_kernels.fps`), started as the torch steps are."""
    from edge.geometry.gpu_kernels.fps import farthest_points

    b, n, _ = pts.shape
    state = _FpsState(b, n, 0, pts.dtype, pts.device)
    state.load(pts, start, seeds)
    return farthest_points(state.pts.transpose(1, 2).contiguous(), state.min_dist, state.current, n, m)


def _replay(pts: torch.Tensor, m: int, start: int, seeds: torch.Tensor | None) -> torch.Tensor:
    """``m`` samples on CUDA from the cached graph of this shape bucket (captured on first use)."""
    b, n, _ = pts.shape
    capacity = 1 << max(n - 1, 1).bit_length()

    def record() -> tuple[_FpsState, torch.cuda.CUDAGraph]:
        state = _FpsState(b, capacity, capacity + _GRAPH_STEPS, pts.dtype, pts.device)
        state.load(pts[:, :1].expand(-1, 2, -1), 0, None)
        for _ in range(_GRAPH_STEPS):
            state.advance()
        graph = torch.cuda.CUDAGraph()
        with cuda_graphs.capture(graph, pts.device):
            for _ in range(_GRAPH_STEPS):
                state.advance()
        return state, graph

    state, graph = _GRAPHS.get((pts.device, b, capacity, pts.dtype), record)
    state.load(pts, start, seeds)
    for _ in range(-(-m // _GRAPH_STEPS)):
        graph.replay()
    return state.out[:, :m].clone()
