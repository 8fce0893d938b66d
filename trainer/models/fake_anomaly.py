"""Fake anomalies for Group3AD training: smooth, noisy local bumps and dents where the geometry varies most.

Group3AD (Zhu et al., ACM MM 2024, eq. 1-6) perturbs a normal scan around its point of highest FPFH
variation so that the groups overlapping it are anomalous training examples. Our reading, per anomaly j:

1. variation ``F_p = sum_i ||FPFH(p) - FPFH(n_i)||`` over the k nearest neighbours (``edge.geometry.agcs``);
2. anchors: ``a_1 = argmax_p F_p``, then ``a_j = argmax F_p`` over the points farther than ``min_separation``
   from every earlier anchor (greedy non-maximum suppression, so one scan yields several distinct anomalies);
3. region ``N(a) = {p : ||p - a|| < r, |(p - a) . n_a| < r / 2}`` (the slab keeps a thin wall's far face still);
4. smooth falloff ``w_p = (1 - (||p - a|| / r)^2)^2`` on ``N(a)``, 0 elsewhere;
5. displacement ``p' = p + w_p (s h n_a + sigma eps_p)``, sign ``s = +-1`` (bump or dent), height ``h`` and
   radius ``r`` drawn uniformly from their ranges, ``eps_p ~ N(0, I)`` isotropic noise;
6. a point is anomalous where ``w_p > 0``; overlapping regions add their displacements and keep the largest weight.

Deviation: the paper adds noise to the neighbourhood only; the smooth signed offset along the normal is
ours, so fake anomalies also look like the bulges and dents of real parts. All randomness comes from one
seeded ``torch.Generator`` on the CPU, so results are identical on CPU and CUDA.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class FakeAnomaly(NamedTuple):
    """A perturbed copy of a cloud: ``points`` (P, 3), falloff ``weight`` (P,) in [0, 1] (0 = untouched) and
    the ``anchors`` (m,) int64 the anomalies are centred on."""

    points: torch.Tensor
    weight: torch.Tensor
    anchors: torch.Tensor


def anomaly_anchors(points: torch.Tensor, variation: torch.Tensor, count: int, min_separation: float) -> torch.Tensor:
    """Indices (m,) int64, m <= ``count``: the highest-variation point, then the highest farther than
    ``min_separation`` from every anchor chosen before (eq. 2)."""
    if count < 1:
        raise ValueError(f"anomaly_anchors: count must be positive, got {count}")
    score = variation.double().clone()
    chosen = []
    for _ in range(count):
        best = int(torch.argmax(score))
        if score[best] == float("-inf"):
            break
        chosen.append(best)
        score[(points - points[best]).norm(dim=1) < min_separation] = float("-inf")
    return torch.tensor(chosen, dtype=torch.int64, device=points.device)


def bump_displacement(
    points: torch.Tensor, normals: torch.Tensor, anchor: int, radius: float, height: float, noise: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Displacement (P, 3) and falloff weight (P,) of one anomaly at ``points[anchor]`` (eq. 3-5).

    ``height`` is signed (negative: a dent); ``noise`` is the standard deviation of the isotropic noise at
    the center, in cloud units.
    """
    axis = normals[anchor]
    offset = points - points[anchor]
    distance = offset.norm(dim=1)
    inside = (distance < radius) & ((offset @ axis).abs() < radius / 2)
    weight = torch.where(inside, (1.0 - (distance / radius) ** 2) ** 2, torch.zeros_like(distance))
    eps = torch.randn(points.shape, generator=generator, dtype=torch.float32).to(points)
    displacement = weight.unsqueeze(1) * (height * axis + noise * eps)
    return displacement, weight


def make_fake_anomalies(
    points: torch.Tensor,
    normals: torch.Tensor,
    variation: torch.Tensor,
    *,
    count: int,
    radius: tuple[float, float],
    height: tuple[float, float],
    noise: float,
    generator: torch.Generator,
) -> FakeAnomaly:
    """Up to ``count`` fake anomalies on ``points`` (P, 3) with unit ``normals`` (P, 3), at the anchors of
    :func:`anomaly_anchors` over ``variation`` (P,) (eq. 1-6).

    ``radius`` and ``height`` are (low, high) ranges in cloud units; anchors are at least the largest radius
    apart so regions rarely overlap. ``generator`` (CPU) draws radii, heights, signs and noise.
    """
    if not 0 < radius[0] <= radius[1] or not 0 <= height[0] <= height[1] or noise < 0:
        raise ValueError(f"make_fake_anomalies: bad sizes {radius=}, {height=}, {noise=}")
    anchors = anomaly_anchors(points, variation, count, min_separation=2.0 * radius[1])
    moved = points.clone()
    weight = torch.zeros(points.shape[0], dtype=points.dtype, device=points.device)
    for anchor in anchors.tolist():
        draws = torch.rand(3, generator=generator, dtype=torch.float64).tolist()
        r = radius[0] + (radius[1] - radius[0]) * draws[0]
        h = (height[0] + (height[1] - height[0]) * draws[1]) * (1.0 if draws[2] < 0.5 else -1.0)
        displacement, w = bump_displacement(points, normals, anchor, r, h, noise, generator)
        moved += displacement
        weight = torch.maximum(weight, w.to(weight.dtype))
    return FakeAnomaly(points=moved, weight=weight, anchors=anchors)
