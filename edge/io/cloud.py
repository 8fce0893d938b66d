"""The in-memory point cloud that every reader returns and every writer takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class PointCloud:
    """Float32 points with optional per-point attributes.

    ``points`` is (N, 3) float32 and may contain non-finite rows (organized clouds keep
    their NaN slots so that ``height * width == N``); ``normals`` is (N, 3) float32 and
    ``intensity`` (N,) float32 when the source carries them.
    """

    points: np.ndarray
    normals: np.ndarray | None = None
    intensity: np.ndarray | None = None
    width: int | None = None
    height: int | None = None
    path: Path | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points = np.ascontiguousarray(self.points, dtype=np.float32).reshape(-1, 3)
        n = len(self.points)
        if self.normals is not None:
            self.normals = np.ascontiguousarray(self.normals, dtype=np.float32).reshape(n, 3)
        if self.intensity is not None:
            self.intensity = np.ascontiguousarray(self.intensity, dtype=np.float32).reshape(n)

    def __len__(self) -> int:
        return len(self.points)

    @property
    def finite_mask(self) -> np.ndarray:
        """True for rows whose three coordinates are finite."""
        return np.isfinite(self.points).all(axis=1)

    def finite(self) -> "PointCloud":
        """A copy without non-finite points (no longer organized)."""
        keep = self.finite_mask
        return PointCloud(
            points=self.points[keep],
            normals=None if self.normals is None else self.normals[keep],
            intensity=None if self.intensity is None else self.intensity[keep],
            path=self.path,
            extra={k: v[keep] for k, v in self.extra.items() if len(v) == len(keep)},
        )
