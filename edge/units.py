"""Length units of scans: frames declare theirs, every recipe works in millimetres.

A scan in metres scored against a template in millimetres collapses to a handful of voxels and failed with
"only 1 points after preprocessing"; now the header's ``units`` is converted (or refused, by station
setting), and a scan whose size differs from the template's by a factor near a unit ratio (10, 25.4, 1000)
is an ERROR that names the likely unit.
"""

from __future__ import annotations

import math

import numpy as np

MM_PER_UNIT = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "um": 0.001, "in": 25.4}
"""Millimetres per declared unit."""
SUSPECT_RATIOS = {1000.0: ("metres", "micrometres"), 25.4: ("inches", None), 10.0: ("centimetres", "tenths of a mm")}
"""Scale ratio -> (unit the scan is likely in when it is that much smaller, when it is that much larger)."""
RATIO_TOLERANCE = 0.25
"""How close (relative, in log scale) a size ratio must come to a unit ratio to be called a unit mistake."""


def to_mm(points: np.ndarray, units: str) -> np.ndarray:
    """``points`` converted from ``units`` to millimetres (the array itself when already mm)."""
    if units not in MM_PER_UNIT:
        raise ValueError(f"unknown units {units!r} (expected one of {', '.join(MM_PER_UNIT)})")
    if units == "mm":
        return points
    return (points * np.float32(MM_PER_UNIT[units])).astype(np.float32)


SIZE_SAMPLE = 20_000
"""Points (every k-th) used to measure a size: enough for percentiles, cheap on a million-point scan."""


def robust_size(points: np.ndarray) -> float:
    """Diagonal of the 2nd-98th percentile box: the part's size, insensitive to stray points."""
    points = points[:: max(1, len(points) // SIZE_SAMPLE)]
    finite = points[np.isfinite(points).all(axis=1)]
    if len(finite) < 2:
        return 0.0
    lo, hi = np.percentile(finite, [2, 98], axis=0)
    return float(np.linalg.norm(hi - lo))


def unit_mismatch(scan_size: float, template_size: float) -> str | None:
    """A plain-words explanation when the scan is about 10x, 25.4x or 1000x smaller or larger than the template
    (the usual unit mistakes), else None."""
    if scan_size <= 0 or template_size <= 0:
        return None
    ratio = template_size / scan_size
    for factor, (smaller, larger) in SUSPECT_RATIOS.items():
        for direction, unit in ((1.0, smaller), (-1.0, larger)):
            if unit is not None and abs(math.log(ratio) - direction * math.log(factor)) < RATIO_TOLERANCE:
                how = "smaller" if direction > 0 else "larger"
                return (f"scan is {max(ratio, 1 / ratio):.3g} times {how} than the recipe's template "
                        f"({scan_size:.4g} vs {template_size:.4g} across): it looks like it is in {unit}, the recipe "
                        f"works in millimetres; convert the scan to mm (or declare \"units\" in the frame header)")
    return None
