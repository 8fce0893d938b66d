"""DUS-Net reconstruction branch (DESIGN.md section 1, step 6): rebuild an anomaly-free cloud, score the distance.

The networks work in a normalised frame (``ShapeFrame``: the recipe's template centred on its centroid and
scaled to the unit sphere), so one shape prior serves parts of any size. ``reconstruct`` takes a cloud
already in that frame: G farthest-point-sampled centers (FPS order, which the Up-Net's scale prefixes need),
their K-point patches, the Down-Net's anomaly-free centers, the Up-Net's dense cloud of G * gamma points.
``reconstruction_scores`` is each input point's distance to that cloud. Sampling and neighbour search are
tensor code here, outside the networks; everything runs on the device of the input points.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from edge.geometry.fps import farthest_point_sampling
from edge.geometry.grouping import group_points
from edge.geometry.knn import knn


@dataclass(frozen=True)
class ShapeFrame:
    """The unit-sphere frame of a recipe: ``normalize(p) = (p - center) / scale``."""

    center: tuple[float, float, float]
    scale: float

    def __post_init__(self) -> None:
        if len(self.center) != 3 or not self.scale > 0:
            raise ValueError(f"ShapeFrame needs a 3-vector center and a positive scale, got {self}")

    @classmethod
    def from_points(cls, template: torch.Tensor) -> ShapeFrame:
        """Centroid of ``template`` (N, 3) and the largest distance of a point from it."""
        centroid = template.double().mean(dim=0)
        radius = float((template.double() - centroid).norm(dim=1).max())
        return cls(center=tuple(float(v) for v in centroid), scale=radius if radius > 0 else 1.0)

    def normalize(self, points: torch.Tensor) -> torch.Tensor:
        """``points`` (N, 3) in the cloud's units -> the unit-sphere frame."""
        return (points - _center(tuple(self.center), points.device, points.dtype)) / self.scale

    def denormalize(self, points: torch.Tensor) -> torch.Tensor:
        """``points`` (N, 3) in the unit-sphere frame -> the cloud's units."""
        return points * self.scale + _center(tuple(self.center), points.device, points.dtype)


@functools.lru_cache(maxsize=16)
def _center(center: tuple[float, float, float], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A frame's center as a tensor on ``device``, made once (a host-to-GPU copy per frame would synchronise)."""
    return torch.tensor(center, dtype=dtype, device=device)


@dataclass(frozen=True)
class Reconstruction:
    """One reconstruction in the normalised frame: FPS centers (G, 3), Down-Net centers (G, 3), dense (G*gamma, 3)."""

    centers: torch.Tensor
    denoised: torch.Tensor
    dense: torch.Tensor


DownNetFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
UpNetFn = Callable[[torch.Tensor], torch.Tensor]


def reconstruct(
    points: torch.Tensor,
    down_net: DownNetFn,
    up_net: UpNetFn,
    *,
    groups: int,
    group_size: int,
    start: int = 0,
) -> Reconstruction:
    """Reconstruct the anomaly-free shape of ``points`` (P, 3), already normalised with the recipe's ShapeFrame.

    ``down_net(patches (1, G, K, 3), centers (1, G, 3)) -> (1, G, 3)`` and ``up_net(centers (1, G, 3)) ->
    (1, G * gamma, 3)`` are any callables with these batched signatures (torch modules, ONNX Runtime or
    TensorRT runners). FPS starts at point ``start``, so a given cloud always gives the same reconstruction.
    """
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"reconstruct expects (P, 3) points, got {tuple(points.shape)}")
    if points.shape[0] < max(groups, group_size):
        raise ValueError(f"reconstruct needs at least {max(groups, group_size)} points, got {points.shape[0]}")
    with torch.no_grad():
        idx = farthest_point_sampling(points, groups, start=start)
        centers = points[idx]
        patches, _ = group_points(points, idx, group_size)
        denoised = torch.as_tensor(down_net(patches.unsqueeze(0), centers.unsqueeze(0))).to(points)[0]
        dense = torch.as_tensor(up_net(denoised.unsqueeze(0))).to(points)[0]
    return Reconstruction(centers=centers, denoised=denoised, dense=dense)


def reconstruction_scores(
    points: torch.Tensor, dense: torch.Tensor, *, k: int = 3, temperature: float = 1.0
) -> torch.Tensor:
    """Score (P,) of each point: softmax-weighted distance to its ``k`` nearest reconstructed points.

    With ``d_j = ||p - r_j||`` for the k nearest reconstructed points r_1..r_k (eq. 15),
    ``w_j = exp(-d_j / T) / sum_l exp(-d_l / T)`` (eq. 16, T = ``temperature``, 1 in the paper) and
    ``s(p) = sum_j w_j d_j`` (eq. 17). With T = 1 and distances of a few hundredths in the unit frame the
    weights are nearly uniform (about the mean 3-NN distance, so one stray reconstructed point next to a
    defect does not hide it); a smaller T moves the score toward the nearest distance. Scores are in the
    units of the inputs (normalised: multiply by the frame's scale for the cloud's units).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    d2, _ = knn(points, dense.to(points), min(k, dense.shape[0]))
    d = d2.clamp_min(0).sqrt()
    weights = torch.softmax(-d / temperature, dim=1)
    return (weights * d).sum(dim=1)
