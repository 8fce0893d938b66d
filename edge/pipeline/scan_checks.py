"""Checks that name what is wrong with a degenerate scan before it reaches the Inspector.

A stray return far from the part (a reflection, a fixture edge, a scanner glitch) blows up the scan's bounding
box and with it every voxel grid downstream; the line needs to hear "outlier point far from the part", not an
exception from deep inside a geometry op. The test is scale-free (relative to the scan's own robust radius), so
it holds for any part and unit.
"""

from __future__ import annotations

import numpy as np

FAR_FACTOR = 20.0
BULK_QUANTILE = 0.99


def degenerate(points: np.ndarray) -> str | None:
    """The reason a scan cannot be inspected as it is, or None. ``points`` is (n, 3) and finite."""
    pts = np.asarray(points, dtype=np.float64)
    center = np.median(pts, axis=0)
    radius = np.linalg.norm(pts - center, axis=1)
    bulk = float(np.quantile(radius, BULK_QUANTILE))
    if bulk <= 0.0:  # (almost) all points coincide: no scale to judge outliers by; the Inspector decides
        return None
    far = radius > FAR_FACTOR * bulk
    if far.any():
        return (f"degenerate scan: {int(far.sum())} outlier point(s) far from the part (the farthest "
                f"{float(radius.max()):.6g} units from its median, while {BULK_QUANTILE:.0%} of the points lie within "
                f"{bulk:.6g}); remove stray returns before sending")
    return None
