"""What one inspection returns: the verdict, its scores, anomalous regions and per-stage timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np


class Decision(str, Enum):
    """The three outcomes a line controller acts on; ERROR means the part was not fully inspected."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"


class RegionKind(str, Enum):
    """``surface``: material where it should not be (or displaced); ``missing``: material that should be there."""

    SURFACE = "surface"
    MISSING = "missing"


@dataclass(frozen=True)
class Region:
    """A cluster of above-threshold points (fragments of one defect merged), in the input cloud's frame and units
    (mm for scans in mm): ``centroid`` the mean of its points, ``extent`` the size of their axis-aligned box,
    ``points`` how many processed points (voxel centroids) it holds, ``peak`` the highest calibrated point score
    (clipped to 1), ``severity`` the highest unclipped one on the severity scale of `Verdict`, and
    ``max_deviation_mm`` the largest distance of its points from the template surface (after alignment)."""

    kind: RegionKind
    centroid: tuple[float, float, float]
    extent: tuple[float, float, float]
    points: int
    peak: float
    severity: float | None = None
    max_deviation_mm: float | None = None

    def to_wire(self) -> dict[str, Any]:
        """The region as DESIGN.md section 4 publishes it."""
        return {
            "kind": self.kind.value,
            "centroid": [float(v) for v in self.centroid],
            "extent": [float(v) for v in self.extent],
            "points": int(self.points),
            "peak": float(self.peak),
            "severity": None if self.severity is None else round(float(self.severity), 4),
            "max_deviation_mm": None if self.max_deviation_mm is None else round(float(self.max_deviation_mm), 4),
        }


@dataclass
class Verdict:
    """One part's inspection result.

    ``score`` is calibrated (0.5 = threshold, anomalib's convention), ``raw_score`` the fused object score
    before calibration; ``severity`` does not saturate: ``(raw - normal median) / (threshold - normal median)``,
    0 for a typical normal part, 1 at the threshold, 3 three times as far from normal as the threshold (comparable
    between parts of one recipe); ``sensitivity`` the run-time sensitivity that decided (FAIL at ``score >= 1 - sensitivity``);
    ``point_scores`` are calibrated but unclipped per input point (0.5 = threshold; NaN
    for points that were not finite or were removed as outliers) when requested; ``timing_ms`` has one entry per stage and ``total``.
    """

    decision: Decision
    score: float
    raw_score: float
    regions: list[Region] = field(default_factory=list)
    timing_ms: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    point_scores: np.ndarray | None = None
    sensitivity: float | None = None
    severity: float | None = None

    @classmethod
    def error(cls, reason: str, timing_ms: dict[str, float] | None = None) -> "Verdict":
        """An ERROR verdict: never PASS for a part that could not be inspected."""
        return cls(Decision.ERROR, float("nan"), float("nan"), reason=reason, timing_ms=dict(timing_ms or {}))

    def to_wire(self) -> dict[str, Any]:
        """The inspection fields of a published verdict (the service adds station, ids and timestamps)."""
        return {
            "verdict": self.decision.value,
            "reason": self.reason,
            "score": None if np.isnan(self.score) else float(self.score),
            "raw_score": None if np.isnan(self.raw_score) else float(self.raw_score),
            "regions": [r.to_wire() for r in self.regions],
            "sensitivity": self.sensitivity,
            "severity": None if self.severity is None or np.isnan(self.severity) else round(float(self.severity), 4),
            "timing_ms": {k: round(float(v), 3) for k, v in self.timing_ms.items()},
        }
