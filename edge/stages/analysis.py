"""What the per-scan stages (preprocess to reconstruction) hand to fusion and decision."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edge.preprocess import Preprocessed


@dataclass
class Analysis:
    """Raw per-branch scores of the processed points of one scan (before fusion and calibration), and each
    processed point's nearest neighbours (itself first), shared by the normals, AGCS and smoothing."""

    pre: Preprocessed
    aligned: torch.Tensor
    neighbors: torch.Tensor
    feature: torch.Tensor
    deviation: torch.Tensor
    missing: torch.Tensor
    coverage: float
    fitness: float
    reconstruction: torch.Tensor
    recon_missing: torch.Tensor
    partial: bool = False
