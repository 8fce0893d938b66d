"""Surface normals and surface variation by PCA over the k nearest neighbours, consistently oriented."""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse
from scipy.sparse import csgraph

from edge.geometry.knn import knn


_EIGH_BATCH = 32768
"""Largest batch per eigen-decomposition call: cuSOLVER's batched syev failed with an internal error on 100k
3x3 float64 matrices (torch 2.11, CUDA 13, H100)."""


def local_pca(points: torch.Tensor, neighbors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (N, 3), ascending, and eigenvectors (N, 3, 3), as columns, of each neighbourhood's covariance."""
    nbr = points[neighbors].double()
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
    spanning-tree propagation). On CPU the rounds are the breadth-first levels from scipy's graph search, swept in
    numpy (:func:`_propagate_by_levels`); on CUDA fixed-shape sweeps over all edges (:func:`_propagate_by_sweeps`)
    give the same signs with a host round trip every few sweeps instead of several per level.
    """
    if points.device.type == "cpu":
        return _propagate_by_levels(points, normals, neighbors)
    return _propagate_by_sweeps(points, normals, neighbors)


_LEVEL_CHECK_EVERY = 16
"""Relaxation sweeps between two host checks of whether the breadth-first levels have settled (CUDA path)."""


def _propagate_by_sweeps(
    points: torch.Tensor, normals: torch.Tensor, neighbors: torch.Tensor, check_every: int = _LEVEL_CHECK_EVERY
) -> torch.Tensor:
    """:func:`propagate_orientation` in fixed-shape tensor sweeps over all edges (the CUDA path).

    Every point starts as its own seed candidate, ranked by distance from the centroid (farthest first, lowest
    index on ties), and relaxes ``rank * (N + 1) + hops`` over the symmetrised k-NN edges until nothing changes:
    each point then holds its component's seed and its breadth-first level. The signs follow in ``max level``
    sweeps, each point voting with the signs of its neighbours one level up (a point's sign is final once the
    level before it is). The host waits only for a settled-check every ``check_every`` sweeps and for the
    largest level: no round trip per level, the same signs as :func:`_propagate_by_levels`.
    """
    n, k = neighbors.shape
    device = points.device
    src = torch.arange(n, device=device).repeat_interleave(k)
    dst = neighbors.reshape(-1)
    src, dst = torch.cat([src, dst]), torch.cat([dst, src])
    centroid = points.mean(dim=0, keepdim=True)
    outward = ((points - centroid) ** 2).sum(dim=1)
    rank = torch.empty(n, dtype=torch.int64, device=device)
    rank[torch.argsort(outward, descending=True, stable=True)] = torch.arange(n, device=device)
    span = n + 1
    key = rank * span
    while True:
        before = key
        for _ in range(check_every):
            key = key.scatter_reduce(0, dst, key[src] + 1, reduce="amin")
        if torch.equal(key, before):
            break
    level = key % span
    seed = key // span == rank
    away = points - centroid
    seed_sign = torch.where((normals * away).sum(dim=1) < 0, -1.0, 1.0).to(torch.float64)
    forward = level[dst] == level[src] + 1
    weight = torch.where(forward, (normals[src] * normals[dst]).sum(dim=1).to(torch.float64), 0.0)
    sign = torch.where(seed, seed_sign, 1.0)
    for _ in range(int(level.max())):
        vote = torch.zeros(n, dtype=torch.float64, device=device).index_add_(0, dst, sign[src] * weight)
        sign = torch.where(seed, seed_sign, torch.where(vote < 0, -1.0, 1.0))
    return normals * sign.to(normals.dtype).unsqueeze(1)


def _propagate_by_levels(points: torch.Tensor, normals: torch.Tensor, neighbors: torch.Tensor) -> torch.Tensor:
    """:func:`propagate_orientation` on CPU: one multi-source breadth-first search (a virtual root joined to
    every component's seed) gives each point's round; each round's signs then follow from the votes of the
    round before over the edges between them."""
    n, k = neighbors.shape
    pts = points.detach().numpy()
    nrm = normals.detach().numpy()
    src = np.repeat(np.arange(n), k)
    dst = neighbors.reshape(-1).numpy()
    keep = src != dst
    src, dst = np.concatenate([src[keep], dst[keep]]), np.concatenate([dst[keep], src[keep]])
    graph = sparse.csr_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n, n))
    _, component = csgraph.connected_components(graph, directed=False)
    outward = ((pts - pts.mean(axis=0, keepdims=True)) ** 2).sum(axis=1)
    order = np.lexsort((np.arange(n), -outward, component))
    first = np.ones(n, dtype=bool)
    first[1:] = component[order[1:]] != component[order[:-1]]
    seeds = order[first]
    rooted = sparse.vstack([
        sparse.hstack([graph, sparse.csr_matrix((n, 1), dtype=np.int8)]),
        sparse.csr_matrix((np.ones(seeds.size, dtype=np.int8), (np.zeros(seeds.size, dtype=np.int64), seeds)), shape=(1, n + 1)),
    ]).tocsr()
    level = csgraph.shortest_path(rooted, directed=True, unweighted=True, indices=n)[:n].astype(np.int64)
    sign = np.ones(n, dtype=nrm.dtype)
    away = pts[seeds] - pts.mean(axis=0, keepdims=True)
    sign[seeds] = np.where((nrm[seeds] * away).sum(axis=1) < 0, -1.0, 1.0)
    forward = level[dst] == level[src] + 1
    src, dst = src[forward], dst[forward]
    by_level = np.argsort(level[dst], kind="stable")
    src, dst = src[by_level], dst[by_level]
    agreement = (nrm[src] * nrm[dst]).sum(axis=1)
    bounds = np.searchsorted(level[dst], np.arange(2, int(level.max()) + 2))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        vote = np.bincount(dst[lo:hi], weights=sign[src[lo:hi]] * agreement[lo:hi], minlength=n)
        targets = np.unique(dst[lo:hi])
        sign[targets] = np.where(vote[targets] < 0, -1.0, 1.0)
    return normals * torch.from_numpy(sign).to(normals.dtype).unsqueeze(1)


def orient_consistently(normals: torch.Tensor, neighbors: torch.Tensor, iterations: int = 8) -> torch.Tensor:
    """Flip each normal that disagrees with the weighted majority of its neighbours, until stable.

    A stable round changes nothing, so on CUDA all ``iterations`` rounds run without asking the host whether to
    stop (no synchronisation); the CPU stops at the first stable round."""
    for _ in range(iterations):
        agreement = (normals.unsqueeze(1) * normals[neighbors]).sum(dim=2).sum(dim=1)
        flip = agreement < 0
        if not normals.is_cuda and not bool(flip.any()):
            break
        normals = torch.where(flip.unsqueeze(1), -normals, normals)
    return normals
