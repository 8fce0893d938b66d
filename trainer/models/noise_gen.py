"""DUS-Net Noise-Gen: noisy patches whose clean centers the Down-Net learns to recover.

All positions are in the normalised frame (``edge.scoring.reconstruction.ShapeFrame``: the shape centred on its
centroid and scaled so that its farthest point is at distance 1, the unit sphere). For each training sample a
random share ``ratio`` of the G groups is corrupted, each like a small bulge or dent:

- the center moves by ``d ~ N(0, alpha^2 I)``: ``alpha`` is a standard deviation per axis in units of the
  unit-sphere radius (0.08: 8 % of the shape's radius, a few times a typical bulge or dent);
- each neighbour follows with the smooth bump weight ``(1 - (r / R)^2)^2`` of its distance r from the clean
  center (R = the patch radius, the distance to the farthest neighbour): near points move almost with the
  center, the rim stays; the profile of ``trainer.data`` bulges;
- each neighbour additionally gets independent jitter ``N(0, (beta * R)^2 I)``: ``beta`` = 0.15 is 15 % of the
  patch radius (a rough surface or a noisy sensor).

The other groups stay clean. The Down-Net sees the noisy patches relative to their noisy centers plus the
noisy centers, and must return the clean centers.

Interpretation (docs/reconstruction.md, "Deviations"): the paper names a center level alpha and a neighbour
level beta (defaults 0.08 and 0.15). Independent noise of 0.15 shape radii on every neighbour of every group
turns each patch (radius ~0.05) into a blob unlike anything met at inspection time, and the network then moves
normal centers off the surface (measured: 0.02 on held-out parts, as far as it corrects bulges); a bump on a
quarter of the groups keeps normal patches in the training distribution and gives the network local evidence
(the patch's shape) of what to undo. Smooth normal bumps spanning one to three patches (closer to real bulges)
were tried and dropped: the pretrained network learned nothing from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class NoiseGen:
    """Noise levels (see the module docstring for their units) and the share of corrupted groups."""

    alpha: float = 0.08
    beta: float = 0.15
    ratio: float = 0.25

    def __post_init__(self) -> None:
        if self.alpha < 0 or self.beta < 0 or not 0.0 <= self.ratio <= 1.0:
            raise ValueError(f"NoiseGen needs alpha, beta >= 0 and ratio in [0, 1], got {self}")

    def __call__(
        self, centers: torch.Tensor, neighbours: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Noisy ``(centers (B, G, 3), patches (B, G, K, 3) relative to the noisy centers)``.

        ``centers`` are the clean centers and ``neighbours`` their K nearest points in absolute coordinates.
        """
        b, g, _ = centers.shape
        opts = {"device": centers.device, "dtype": centers.dtype}
        corrupt = (torch.rand((b, g, 1), generator=generator, **opts) < self.ratio).to(centers.dtype)
        shift = torch.randn((b, g, 3), generator=generator, **opts) * (self.alpha * corrupt)
        relative = neighbours - centers.unsqueeze(2)
        distance = relative.norm(dim=-1)
        radius = distance.amax(dim=2, keepdim=True).clamp_min(1e-12)
        weight = (1.0 - (distance / radius).square()).clamp_min(0.0).square()
        jitter = torch.randn(neighbours.shape, generator=generator, **opts)
        jitter = jitter * (self.beta * radius * corrupt).unsqueeze(-1)
        patches = relative + shift.unsqueeze(2) * (weight.unsqueeze(-1) - 1.0) + jitter
        return centers + shift, patches
