"""Threshold calibration: raw scores -> [0, 1] with 0.5 at the threshold (anomalib's convention).

A threshold is fitted on scores of normal parts held back from the model. The calibrated score maps the
median normal to 0, the threshold to 0.5 and ``2*threshold - median`` to 1 (clipped), so one number means the
same on every recipe. Sensitivity moves the operating point at run time without refitting: a part FAILs when
its calibrated score reaches ``1 - sensitivity`` (0.5 by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Calibration:
    """Threshold and the robust centre of normal raw scores."""

    threshold: float
    normal_median: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.threshold) and np.isfinite(self.normal_median)):
            raise ValueError(f"calibration values must be finite, got {self.threshold}, {self.normal_median}")
        if self.threshold <= self.normal_median:
            raise ValueError(f"threshold {self.threshold} must exceed the normal median {self.normal_median}")

    @property
    def scale(self) -> float:
        """Raw-score distance from calibrated 0.5 to calibrated 1.0."""
        return 2.0 * (self.threshold - self.normal_median)

    def normalize(
        self, raw: float | np.ndarray | torch.Tensor, *, clip: bool = True
    ) -> float | np.ndarray | torch.Tensor:
        """Calibrated score(s), clipped to [0, 1] unless ``clip`` is False (rankings need the unclipped
        values); works on floats, numpy arrays and tensors alike."""
        value = (raw - self.threshold) / self.scale + 0.5
        if not clip:
            return value
        if isinstance(value, torch.Tensor):
            return value.clamp(0.0, 1.0)
        return np.clip(value, 0.0, 1.0)

    def severity(self, raw: float | np.ndarray | torch.Tensor) -> float | np.ndarray | torch.Tensor:
        """Unbounded severity: 0 at the normal median, 1 at the threshold, linear in the raw score."""
        return (raw - self.normal_median) / (self.threshold - self.normal_median)

    def to_dict(self) -> dict[str, float]:
        return {"threshold": float(self.threshold), "normal_median": float(self.normal_median)}


def fit_calibration(normal_scores: np.ndarray, *, margin: float = 0.1) -> Calibration:
    """Threshold just above every held-back normal score.

    With few normal parts the maximum is the only defensible statistic; ``margin`` adds a fraction of the
    normal spread (max - median, or of the max itself when all scores coincide) so that unseen normals with
    slightly higher scores still pass.
    """
    scores = np.asarray(normal_scores, dtype=np.float64).reshape(-1)
    if scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError("calibration needs at least one finite normal score")
    median, top = float(np.median(scores)), float(scores.max())
    spread = top - median
    if spread <= 1e-12 * max(1.0, abs(top)):
        spread = max(abs(top), 1e-6)
    return Calibration(threshold=top + margin * spread, normal_median=median)


def is_anomalous(calibrated: float, sensitivity: float = 0.5) -> bool:
    """FAIL decision at run-time ``sensitivity`` in (0, 1): higher sensitivity fails more parts."""
    if not 0.0 < sensitivity < 1.0:
        raise ValueError(f"sensitivity must lie in (0, 1), got {sensitivity}")
    return bool(calibrated >= 1.0 - sensitivity)
