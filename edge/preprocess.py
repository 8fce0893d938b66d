"""Step 1 of the per-frame algorithm: finite points, voxel grid, optional outlier removal."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edge.geometry.sampling import statistical_outlier_mask, voxel_downsample
from edge.params import PreprocessParams


@dataclass
class Preprocessed:
    """The processing cloud and how every input point maps onto it.

    ``points`` (P, 3) are voxel centroids; ``source_index`` (N,) gives, for each input point, the row of
    ``points`` it was merged into, or -1 when the input point was not finite or removed as an outlier.
    """

    points: torch.Tensor
    source_index: torch.Tensor

    def lift(self, values: torch.Tensor, fill: float = float("nan")) -> torch.Tensor:
        """Per-input-point values from per-processed-point ``values`` (P,); ``fill`` where unmapped."""
        out = values.new_full((self.source_index.shape[0],), fill)
        mapped = self.source_index >= 0
        out[mapped] = values[self.source_index[mapped]]
        return out


def preprocess(points: torch.Tensor, params: PreprocessParams) -> Preprocessed:
    """Drop non-finite rows, merge points per voxel, then (optionally) drop statistical outliers."""
    finite = torch.isfinite(points).all(dim=1)
    finite_rows = torch.nonzero(finite).squeeze(1)
    merged, inverse = voxel_downsample(points[finite_rows], params.voxel_size)
    source_index = torch.full((points.shape[0],), -1, dtype=torch.int64, device=points.device)
    source_index[finite_rows] = inverse
    if params.outlier_k > 0 and merged.shape[0] > params.outlier_k:
        keep = statistical_outlier_mask(merged, params.outlier_k, params.outlier_std)
        new_row = torch.cumsum(keep.long(), 0) - 1
        remap = torch.where(keep, new_row, torch.full_like(new_row, -1))
        source_index = torch.where(source_index >= 0, remap[source_index.clamp_min(0)], source_index)
        merged = merged[keep]
    return Preprocessed(points=merged, source_index=source_index)
