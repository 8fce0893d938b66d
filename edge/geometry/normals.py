"""Surface normals and surface variation by PCA over the k nearest neighbours, consistently oriented."""

from __future__ import annotations

import torch

from edge.geometry.knn import knn


def local_pca(points: torch.Tensor, neighbors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (N, 3), ascending, and eigenvectors (N, 3, 3), as columns, of each neighbourhood's covariance."""
    nbr = points[neighbors].double()
    centered = nbr - nbr.mean(dim=1, keepdim=True)
    cov = centered.transpose(1, 2) @ centered / max(1, nbr.shape[1])
    return torch.linalg.eigh(cov)


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
    spanning-tree propagation). Work is O(N k) in total plus a few small ops per round.
    """
    n = points.shape[0]
    device = points.device
    src = torch.arange(n, device=device).repeat_interleave(neighbors.shape[1])
    dst = neighbors.reshape(-1)
    keep = src != dst
    src, dst = torch.cat([src[keep], dst[keep]]), torch.cat([dst[keep], src[keep]])
    order = torch.argsort(src, stable=True)
    src, dst = src[order], dst[order]
    degree = torch.bincount(src, minlength=n)
    first_edge = torch.cumsum(degree, 0) - degree
    outward = ((points - points.mean(dim=0, keepdim=True)) ** 2).sum(dim=1)
    normals = normals.clone()
    oriented = torch.zeros(n, dtype=torch.bool, device=device)
    vote = torch.zeros(n, dtype=normals.dtype, device=device)
    front = torch.empty(0, dtype=torch.int64, device=device)
    while True:
        if front.numel() == 0:
            if bool(oriented.all()):
                return normals
            seed = torch.where(oriented, torch.full_like(outward, -1.0), outward).argmax().reshape(1)
            away = points[seed] - points.mean(dim=0, keepdim=True)
            if float((normals[seed] * away).sum()) < 0:
                normals[seed] = -normals[seed]
            oriented[seed] = True
            front = seed
        counts = degree[front]
        edge = torch.repeat_interleave(first_edge[front] - torch.cumsum(counts, 0) + counts, counts)
        edge = edge + torch.arange(edge.numel(), device=device)
        source, target = src[edge], dst[edge]
        open_edge = ~oriented[target]
        source, target = source[open_edge], target[open_edge]
        vote.index_add_(0, target, (normals[source] * normals[target]).sum(dim=1))
        front = torch.unique(target)
        flip = vote[front] < 0
        normals[front] = torch.where(flip.unsqueeze(1), -normals[front], normals[front])
        oriented[front] = True


def orient_consistently(normals: torch.Tensor, neighbors: torch.Tensor, iterations: int = 8) -> torch.Tensor:
    """Flip each normal that disagrees with the weighted majority of its neighbours, until stable."""
    for _ in range(iterations):
        agreement = (normals.unsqueeze(1) * normals[neighbors]).sum(dim=2).sum(dim=1)
        flip = agreement < 0
        if not bool(flip.any()):
            break
        normals = torch.where(flip.unsqueeze(1), -normals, normals)
    return normals
