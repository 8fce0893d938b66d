"""Group3AD losses on clustered group features, and the K-means clustering with elbow K that feeds them.

With group features ``f_i`` assigned to K-means clusters ``C_1..C_K`` and cluster centers
``mu_k = mean_{i in C_k} f_i`` (recomputed from the current features, so gradients reach the encoder):

- IUN, inter-cluster uniformity: ``L_IUN = 1 / min_{k != l} ||mu_k - mu_l||``; pushes the two closest
  clusters apart, so clusters (normal parts of the surface, fake anomalies) spread over the feature sphere;
- IAN, intra-cluster alignment: ``L_IAN = T / K * sum_k max_{i, j in C_k} ||f_i - f_j||^2``; pulls each
  cluster's two farthest members together, so clusters get tight.

K is chosen by the elbow of the K-means inertia curve over a range of K: the K whose point, both axes
scaled to [0, 1], lies farthest from the chord joining the curve's first and last points (the "kneedle"
construction). The chord's ends are never chosen, so a range starting at 1 always yields K >= 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from sklearn.cluster import KMeans


class Clustering(NamedTuple):
    """K-means with elbow-chosen ``k``: ``labels`` (N,) int64 in [0, k) and the ``inertias`` over ``ks``."""

    k: int
    labels: torch.Tensor
    ks: list[int]
    inertias: list[float]


def cluster_centers(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean feature (C, D) of every cluster present in ``labels`` (N,), in increasing label order."""
    present, inverse = torch.unique(labels, return_inverse=True)
    sums = features.new_zeros(present.shape[0], features.shape[1]).index_add_(0, inverse, features)
    counts = torch.bincount(inverse, minlength=present.shape[0]).to(features.dtype)
    return sums / counts.unsqueeze(1)


def iun_loss(features: torch.Tensor, labels: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Inter-cluster uniformity ``1 / min_{k != l} ||mu_k - mu_l||`` of ``features`` (N, D) clustered by ``labels``."""
    centers = cluster_centers(features, labels)
    if centers.shape[0] < 2:
        raise ValueError("iun_loss needs at least two non-empty clusters")
    diff = centers.unsqueeze(0) - centers.unsqueeze(1)
    upper = torch.triu_indices(centers.shape[0], centers.shape[0], offset=1, device=centers.device)
    distances = diff[upper[0], upper[1]].norm(dim=1)
    return 1.0 / distances.min().clamp_min(eps)


def ian_loss(features: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Intra-cluster alignment ``T * mean_k max_{i, j in C_k} ||f_i - f_j||^2`` (0 for singleton clusters)."""
    maxima = []
    for label in torch.unique(labels).tolist():
        members = features[labels == label]
        squared = (members * members).sum(dim=1)
        d2 = squared.unsqueeze(0) + squared.unsqueeze(1) - 2.0 * members @ members.T
        maxima.append(d2.max().clamp_min(0.0))
    return temperature * torch.stack(maxima).mean()


def elbow(ks: Sequence[int], inertias: Sequence[float]) -> int:
    """The K of the inertia curve's elbow: farthest (axes scaled to [0, 1]) from the chord of its end points."""
    if len(ks) != len(inertias) or len(ks) < 3:
        raise ValueError("elbow needs at least three (k, inertia) points")
    x = np.asarray(ks, dtype=np.float64)
    y = np.asarray(inertias, dtype=np.float64)
    x = (x - x[0]) / (x[-1] - x[0])
    span = y.max() - y.min()
    y = (y - y.min()) / span if span > 0 else np.zeros_like(y)
    chord = np.array([x[-1] - x[0], y[-1] - y[0]])
    chord /= np.linalg.norm(chord)
    distance = np.abs((x - x[0]) * chord[1] - (y - y[0]) * chord[0])
    return int(ks[int(np.argmax(distance[1:-1])) + 1])


def cluster_groups(features: torch.Tensor, k_range: tuple[int, int], seed: int = 0) -> Clustering:
    """K-means (scikit-learn) of ``features`` (N, D) for every K in ``k_range`` (inclusive), labels of the elbow K."""
    k_low, k_high = k_range
    k_high = min(k_high, features.shape[0])
    if not 1 <= k_low <= k_high - 2:
        raise ValueError(f"cluster_groups: k_range {k_range} needs at least three values of K (N={features.shape[0]})")
    data = features.detach().cpu().double().numpy()
    ks = list(range(k_low, k_high + 1))
    fits = {k: KMeans(n_clusters=k, n_init=1, random_state=seed).fit(data) for k in ks}
    inertias = [float(fits[k].inertia_) for k in ks]
    k = elbow(ks, inertias)
    labels = torch.as_tensor(fits[k].labels_, dtype=torch.int64, device=features.device)
    return Clustering(k=k, labels=labels, ks=ks, inertias=inertias)
