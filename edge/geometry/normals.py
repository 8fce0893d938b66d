"""Surface normals by PCA over the k nearest neighbours, consistently oriented."""

from __future__ import annotations

import torch

from edge.geometry.knn import knn


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
    scans); otherwise away from the centroid, then made consistent by a few rounds of
    neighbour-majority flipping so concave regions agree with their surroundings.
    ``neighbors`` (N, k) may be passed when the caller already has the k-NN indices.
    """
    if neighbors is None:
        _, neighbors = knn(points, points, min(k, points.shape[0]))
    nbr = points[neighbors]
    centered = nbr - nbr.mean(dim=1, keepdim=True)
    cov = centered.transpose(1, 2) @ centered / max(1, nbr.shape[1])
    _, vecs = torch.linalg.eigh(cov.double())
    normals = vecs[:, :, 0].to(points.dtype)
    if viewpoint is not None:
        to_view = viewpoint.to(points) - points
        return torch.where(((normals * to_view).sum(1) < 0).unsqueeze(1), -normals, normals)
    outward = points - points.mean(dim=0, keepdim=True)
    normals = torch.where(((normals * outward).sum(1) < 0).unsqueeze(1), -normals, normals)
    return orient_consistently(normals, neighbors, orient_iterations)


def orient_consistently(normals: torch.Tensor, neighbors: torch.Tensor, iterations: int = 8) -> torch.Tensor:
    """Flip each normal that disagrees with the weighted majority of its neighbours, until stable."""
    for _ in range(iterations):
        agreement = (normals.unsqueeze(1) * normals[neighbors]).sum(dim=2).sum(dim=1)
        flip = agreement < 0
        if not bool(flip.any()):
            break
        normals = torch.where(flip.unsqueeze(1), -normals, normals)
    return normals
