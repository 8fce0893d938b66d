"""Surface normals and surface variation by PCA over the k nearest neighbours, consistently oriented."""

from __future__ import annotations

from collections.abc import Callable

import torch

from edge import cuda_graphs
from edge.geometry import compiled
from edge.geometry.knn import knn


_EIGH_BATCH = 32768
"""Largest batch per eigen-decomposition call: cuSOLVER's batched syev failed with an internal error on 100k
3x3 float64 matrices (torch 2.11, CUDA 13, H100)."""


def local_pca(points: torch.Tensor, neighbors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (N, 3), ascending, and eigenvectors (N, 3, 3), as columns, of each neighbourhood's covariance,
    float64. On the CPU one compiled pass (Jacobi rotations per point, :func:`edge.geometry.compiled.neighbourhood_pca`),
    elsewhere a batched ``eigh``; the two agree to rounding (eigenvector signs are arbitrary in both)."""
    if points.device.type == "cpu" and compiled.AVAILABLE:
        values, vectors = compiled.neighbourhood_pca(points.detach().numpy(), neighbors.numpy())
        return torch.from_numpy(values), torch.from_numpy(vectors)
    nbr = points.index_select(0, neighbors.reshape(-1)).view(*neighbors.shape, points.shape[1]).double()
    centered = nbr - nbr.mean(dim=1, keepdim=True)
    cov = centered.transpose(1, 2) @ centered / max(1, nbr.shape[1])
    if cov.shape[0] <= _EIGH_BATCH:
        return torch.linalg.eigh(cov)
    parts = [torch.linalg.eigh(block) for block in cov.split(_EIGH_BATCH)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def surface_variation(eigenvalues: torch.Tensor) -> torch.Tensor:
    """Curvature proxy ``l0 / (l0 + l1 + l2)`` (Pauly et al.), in [0, 1/3]; 0 on a plane."""
    total = eigenvalues.sum(dim=1)
    return torch.where(total > 0, eigenvalues[:, 0] / total.clamp_min(1e-300), torch.zeros_like(total))


def estimate_normals(
    points: torch.Tensor,
    k: int = 30,
    *,
    viewpoint: torch.Tensor | None = None,
    neighbors: torch.Tensor | None = None,
    orient_iterations: int = 8,
) -> torch.Tensor:
    """Unit normals (N, 3) of ``points`` (N, 3): the smallest-eigenvalue axis of each k-NN covariance.

    Orientation: towards ``viewpoint`` when given (a sensor position: right for single range
    scans). Otherwise by propagation over the k-NN graph (:func:`propagate_orientation`), which
    is consistent on concave and convex parts alike, then ``orient_iterations`` rounds of
    neighbour-majority flipping to clean up isolated disagreements.
    ``neighbors`` (N, k) may be passed when the caller already has the k-NN indices.
    """
    if neighbors is None:
        _, neighbors = knn(points, points, min(k, points.shape[0]))
    _, vecs = local_pca(points, neighbors)
    normals = vecs[:, :, 0].to(points.dtype)
    if viewpoint is not None:
        to_view = viewpoint.to(points) - points
        return torch.where(((normals * to_view).sum(1) < 0).unsqueeze(1), -normals, normals)
    normals = propagate_orientation(points, normals, neighbors)
    return orient_consistently(normals, neighbors, orient_iterations)


def propagate_orientation(points: torch.Tensor, normals: torch.Tensor, neighbors: torch.Tensor) -> torch.Tensor:
    """Orient normals by breadth-first propagation over the symmetrised k-NN graph.

    Each connected component is seeded at its point farthest from the cloud's centroid, whose
    normal must point outwards on a closed surface. Every round, the points adjacent to the
    last oriented front take the sign that agrees with the vote ``sum n_j . n_i`` of their
    already-oriented neighbours (near-parallel neighbours weigh most, as in Hoppe et al.'s
    spanning-tree propagation). On CPU a compiled breadth-first search and level sweep (:func:`_propagate_by_levels`);
    on CUDA, or without numba, fixed-shape sweeps over all edges (:func:`_propagate_by_sweeps`) give the same signs
    with a host round trip every few sweeps instead of several per level.
    """
    if points.device.type == "cpu" and compiled.AVAILABLE:
        return _propagate_by_levels(points, normals, neighbors)
    return _propagate_by_sweeps(points, normals, neighbors)


_LEVEL_CHECK_EVERY = 16
"""Sweeps per block: the host checks whether the breadth-first levels have settled once per block (CUDA path)."""
_UNREACHED = 1 << 62
_MIN_LISTING_WIDTH = 64
"""Smallest in-edge table width of a CUDA graph: the widest listing varies from frame to frame around 30-50 for k = 16,
and every new width bucket is a new capture."""
_SWEEP_GRAPHS: cuda_graphs.GraphCache[tuple["_Sweeps", torch.cuda.CUDAGraph, torch.cuda.CUDAGraph]] = cuda_graphs.GraphCache()


class _Sweeps:
    """Static buffers of :func:`_propagate_by_sweeps` for up to ``capacity - 1`` points: each point's own ``k``
    neighbours and the up to ``width`` points that list it (its in-edges of the symmetrised graph, padded with the
    last, unused point, whose key never lowers anyone's), each point's seed-rank-and-hops key, the edge weights and
    the sign votes. Every sweep gathers over these fixed-shape tables (no atomics); ``relax`` and ``vote`` each run
    ``block`` sweeps in place, so on CUDA each block is one graph."""

    def __init__(self, capacity: int, k: int, width: int, block: int, device: torch.device) -> None:
        self.block = block
        self.own = torch.full((capacity, k), capacity - 1, dtype=torch.int64, device=device)
        self.listing = torch.full((capacity, width), capacity - 1, dtype=torch.int64, device=device)
        self.key = torch.full((capacity,), _UNREACHED, dtype=torch.int64, device=device)
        self.settled = torch.zeros(capacity, dtype=torch.int64, device=device)
        self.own_weight = torch.zeros((capacity, k), dtype=torch.float64, device=device)
        self.listing_weight = torch.zeros((capacity, width), dtype=torch.float64, device=device)
        self.seed = torch.ones(capacity, dtype=torch.bool, device=device)
        self.seed_sign = torch.ones(capacity, dtype=torch.float64, device=device)
        self.sign = torch.ones(capacity, dtype=torch.float64, device=device)
        self.minus = torch.full((), -1.0, dtype=torch.float64, device=device)
        self.plus = torch.full((), 1.0, dtype=torch.float64, device=device)

    def relax(self) -> None:
        """``block`` rounds of ``key = min(key, min over in-edges of key[src] + 1)``."""
        for _ in range(self.block):
            nearest = torch.minimum(self.key[self.own].amin(dim=1), self.key[self.listing].amin(dim=1))
            torch.minimum(self.key, nearest + 1, out=self.key)

    def vote(self) -> None:
        """``block`` rounds of each non-seed point taking the sign of its forward in-edges' weighted vote."""
        for _ in range(self.block):
            total = (self.sign[self.own] * self.own_weight).sum(dim=1)
            total = total + (self.sign[self.listing] * self.listing_weight).sum(dim=1)
            self.sign.copy_(torch.where(self.seed, self.seed_sign, torch.where(total < 0, self.minus, self.plus)))


def _sweeps(
    n: int, k: int, width: int, block: int, device: torch.device
) -> tuple[_Sweeps, Callable[[], None], Callable[[], None]]:
    """Buffers for ``n`` points listed by at most ``width`` others and the two block runners: graph replays on CUDA
    (one capture per thread, power-of-two capacity and width of at least ``_MIN_LISTING_WIDTH``, kept), the eager
    methods elsewhere."""
    capacity = 1 << n.bit_length()
    if not cuda_graphs.enabled(device):
        state = _Sweeps(capacity, k, width, block, device)
        return state, state.relax, state.vote
    width = max(_MIN_LISTING_WIDTH, 1 << max(width - 1, 1).bit_length())

    def record() -> tuple[_Sweeps, torch.cuda.CUDAGraph, torch.cuda.CUDAGraph]:
        state = _Sweeps(capacity, k, width, block, device)
        state.relax()
        state.vote()
        relax, vote = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
        with cuda_graphs.capture(relax, device):
            state.relax()
        with cuda_graphs.capture(vote, device):
            state.vote()
        return state, relax, vote

    state, relax, vote = _SWEEP_GRAPHS.get((device, capacity, k, width, block), record)
    return state, relax.replay, vote.replay


def _propagate_by_sweeps(
    points: torch.Tensor, normals: torch.Tensor, neighbors: torch.Tensor, check_every: int = _LEVEL_CHECK_EVERY
) -> torch.Tensor:
    """:func:`propagate_orientation` in fixed-shape tensor sweeps over all edges (the CUDA path).

    Every point starts as its own seed candidate, ranked by distance from the centroid (farthest first, lowest
    index on ties), and relaxes ``rank * (N + 1) + hops`` over the symmetrised k-NN edges until nothing changes:
    each point then holds its component's seed and its breadth-first level. The signs follow in ``max level``
    sweeps, each point voting with the signs of its neighbours one level up (a point's sign is final once the
    level before it is; later sweeps change nothing). A point's in-edges are its own neighbours and the points
    that list it (a padded table built once): each sweep is a gather and a row reduction, no atomics. Sweeps run
    in blocks of ``check_every`` (a replayed CUDA graph each on the GPU); the host waits for the widest listing,
    a settled-check per block and the largest level: no round trip per level, the same signs as
    :func:`_propagate_by_levels`.
    """
    n, k = neighbors.shape
    device = points.device
    lister = torch.arange(n, device=device).repeat_interleave(k)
    listed = neighbors.reshape(-1)
    order = torch.argsort(listed, stable=True)
    lister, listed = lister[order], listed[order]
    count = torch.zeros(n, dtype=torch.int64, device=device).index_add_(0, listed, torch.ones_like(listed))
    slot = torch.arange(listed.numel(), device=device) - (torch.cumsum(count, 0) - count)[listed]
    state, relax, vote = _sweeps(n, k, max(int(count.max()), 1), check_every, device)
    pad = state.key.shape[0] - 1
    state.own.fill_(pad)
    state.own[:n] = neighbors
    state.listing.fill_(pad)
    state.listing[listed, slot] = lister
    centroid = points.mean(dim=0, keepdim=True)
    outward = ((points - centroid) ** 2).sum(dim=1)
    rank = torch.empty(n, dtype=torch.int64, device=device)
    rank[torch.argsort(outward, descending=True, stable=True)] = torch.arange(n, device=device)
    span = n + 1
    state.key.fill_(_UNREACHED)
    state.key[:n] = rank * span
    while True:
        state.settled.copy_(state.key)
        relax()
        if torch.equal(state.key, state.settled):
            break
    key = state.key[:n]
    level = torch.cat([key % span, key.new_full((state.key.shape[0] - n,), -2)])
    seed = key // span == rank
    unit = torch.cat([normals, normals.new_zeros((state.key.shape[0] - n, 3))])
    for table, weight in ((state.own, state.own_weight), (state.listing, state.listing_weight)):
        forward = level[:, None] == level[table] + 1
        weight.copy_(torch.where(forward, (unit[table] * unit[:, None, :]).sum(dim=2).to(torch.float64), 0.0))
    state.seed.fill_(True)
    state.seed[:n] = seed
    state.seed_sign.fill_(1.0)
    state.seed_sign[:n] = torch.where((normals * (points - centroid)).sum(dim=1) < 0, -1.0, 1.0).to(torch.float64)
    state.sign.copy_(state.seed_sign)
    for _ in range(-(-int(level[:n].max()) // check_every)):
        vote()
    return normals * state.sign[:n].to(normals.dtype).unsqueeze(1)


def _propagate_by_levels(points: torch.Tensor, normals: torch.Tensor, neighbors: torch.Tensor) -> torch.Tensor:
    """:func:`propagate_orientation` on CPU, compiled (:func:`edge.geometry.compiled.propagate_signs`): one
    breadth-first search over the symmetrised k-NN graph per component gives each point's level; each level's
    signs then follow from the votes of the level before over the k-NN edges between them (the edges a point is
    listed by first, then those it lists, each in row order; votes summed in float64, as one ``bincount``)."""
    sign = compiled.propagate_signs(points.detach().numpy(), normals.detach().numpy(), neighbors.numpy())
    return normals * torch.from_numpy(sign).to(normals.dtype).unsqueeze(1)


def orient_consistently(normals: torch.Tensor, neighbors: torch.Tensor, iterations: int = 8) -> torch.Tensor:
    """Flip each normal that disagrees with the weighted majority of its neighbours, until stable.

    A stable round changes nothing, so on CUDA all ``iterations`` rounds run without asking the host whether to
    stop (no synchronisation); the CPU stops at the first stable round. Flipping normals only flips the signs of
    their dot products, exactly, so the (N, k) dot products are taken once and every round weighs them by the
    current signs: the same agreements, bit for bit, as recomputing them from the flipped (N, k, 3) normals.
    """
    if iterations <= 0:
        return normals
    n, k = neighbors.shape
    dots = (normals.unsqueeze(1) * normals.index_select(0, neighbors.reshape(-1)).view(n, k, 3)).sum(dim=2)
    sign = torch.ones(n, dtype=normals.dtype, device=normals.device)
    for _ in range(iterations):
        agreement = (dots * sign.index_select(0, neighbors.reshape(-1)).view(n, k)).sum(dim=1) * sign
        flip = agreement < 0
        if not normals.is_cuda and not bool(flip.any()):
            break
        sign = torch.where(flip, -sign, sign)
    return torch.where((sign < 0).unsqueeze(1), -normals, normals)
