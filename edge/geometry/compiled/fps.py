"""Farthest point sampling, one loop per cloud (:mod:`edge.geometry.fps`)."""

from __future__ import annotations

import numpy as np

from edge.geometry.compiled._numba import _jit


@_jit()
def _fps_kernel(points: np.ndarray, m: int, start: int, seeds: np.ndarray) -> np.ndarray:
    n = points.shape[0]
    min_dist = np.full(n, np.inf)
    for s in seeds:
        for i in range(n):
            dx, dy, dz = points[i, 0] - points[s, 0], points[i, 1] - points[s, 1], points[i, 2] - points[s, 2]
            min_dist[i] = min(min_dist[i], dx * dx + dy * dy + dz * dz)
    current = start
    if seeds.shape[0] > 0:
        for s in seeds:
            min_dist[s] = -1.0
        current = int(np.argmax(min_dist))
    out = np.empty(m, dtype=np.int64)
    for step in range(m):
        out[step] = current
        min_dist[current] = -1.0
        cx, cy, cz = points[current, 0], points[current, 1], points[current, 2]
        best, best_value = 0, -np.inf
        for i in range(n):
            dx, dy, dz = points[i, 0] - cx, points[i, 1] - cy, points[i, 2] - cz
            d = dx * dx + dy * dy + dz * dz
            if d < min_dist[i]:
                min_dist[i] = d
            if min_dist[i] > best_value:
                best, best_value = i, min_dist[i]
        current = best
    return out


def farthest_points(points: np.ndarray, m: int, start: int, seeds: np.ndarray | None) -> np.ndarray:
    """``m`` farthest-point samples (m,) int64 of ``points`` (N, 3), squared distances in float64: the first is
    ``start``, or, with ``seeds``, the point farthest from those (never picked again); each next one the point
    farthest from all picks so far, the lowest index on ties (:func:`edge.geometry.fps.farthest_point_sampling`)."""
    seeds = np.zeros(0, dtype=np.int64) if seeds is None else np.ascontiguousarray(seeds, dtype=np.int64)
    return _fps_kernel(np.ascontiguousarray(points, dtype=np.float64), m, start, seeds)
