"""Farthest point sampling, one loop per cloud (:mod:`edge.geometry.fps`).

Each pick lowers the running distance of the points near it only. Points are kept in spatially compact buckets of
``BUCKET`` points (consecutive along a Morton curve) with their bounding boxes, and a pick skips every bucket whose
box is at least as far as that bucket's largest running distance: no point there can change. After the first few
picks most buckets are skipped, so a pick costs far less than a pass over all points, and the picks are exactly
those of the pass over all points (the same float64 distances, the lowest index on ties): a box's squared
distance, rounded the same way, never exceeds that of a point inside it.
"""

from __future__ import annotations

import numpy as np

from edge.geometry.compiled._numba import _jit

BUCKET = 32
_MORTON_BITS = 10


@_jit()
def _fps_kernel(points: np.ndarray, m: int, start: int, seeds: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Picks of ``points`` (N, 3) float64 with the buckets taken as consecutive runs of ``order`` (a permutation)."""
    n = points.shape[0]
    buckets = (n + BUCKET - 1) // BUCKET
    pts = np.empty((n, 3))
    position = np.empty(n, dtype=np.int64)
    for j in range(n):
        pts[j] = points[order[j]]
        position[order[j]] = j
    lo = np.empty((buckets, 3))
    hi = np.empty((buckets, 3))
    for b in range(buckets):
        for axis in range(3):
            lo[b, axis], hi[b, axis] = np.inf, -np.inf
        for j in range(b * BUCKET, min(n, (b + 1) * BUCKET)):
            for axis in range(3):
                lo[b, axis] = min(lo[b, axis], pts[j, axis])
                hi[b, axis] = max(hi[b, axis], pts[j, axis])
    running = np.full(n, np.inf)
    top = np.full(buckets, np.inf)
    top_index = np.zeros(buckets, dtype=np.int64)
    for s in seeds:
        _lower(pts, order, running, lo, hi, top, top_index, points[s, 0], points[s, 1], points[s, 2], -1)
    for s in seeds:
        running[position[s]] = -1.0
    for s in seeds:
        _rescan(pts, order, running, top, top_index, position[s] // BUCKET, np.inf, np.inf, np.inf)
    current = _farthest(top, top_index) if seeds.shape[0] > 0 else start
    out = np.empty(m, dtype=np.int64)
    for step in range(m):
        out[step] = current
        running[position[current]] = -1.0
        _lower(pts, order, running, lo, hi, top, top_index, points[current, 0], points[current, 1],
               points[current, 2], position[current] // BUCKET)
        current = _farthest(top, top_index)
    return out


@_jit(inline="always")
def _lower(pts: np.ndarray, order: np.ndarray, running: np.ndarray, lo: np.ndarray, hi: np.ndarray, top: np.ndarray,
           top_index: np.ndarray, cx: float, cy: float, cz: float, forced: int) -> None:
    """Lower the running distances to the new pick (cx, cy, cz) in every bucket it can reach (and ``forced``)."""
    for b in range(top.shape[0]):
        gx = max(lo[b, 0] - cx, 0.0, cx - hi[b, 0])
        gy = max(lo[b, 1] - cy, 0.0, cy - hi[b, 1])
        gz = max(lo[b, 2] - cz, 0.0, cz - hi[b, 2])
        if b != forced and gx * gx + gy * gy + gz * gz >= top[b]:
            continue
        _rescan(pts, order, running, top, top_index, b, cx, cy, cz)


@_jit(inline="always")
def _rescan(pts: np.ndarray, order: np.ndarray, running: np.ndarray, top: np.ndarray, top_index: np.ndarray, b: int,
            cx: float, cy: float, cz: float) -> None:
    """Lower bucket ``b``'s running distances to the squared distance from (cx, cy, cz) and find the largest, the
    lowest index on ties (infinite coordinates only rescan it)."""
    best, best_index = -np.inf, -1
    for j in range(b * BUCKET, min(pts.shape[0], (b + 1) * BUCKET)):
        dx, dy, dz = pts[j, 0] - cx, pts[j, 1] - cy, pts[j, 2] - cz
        d = dx * dx + dy * dy + dz * dz
        if d < running[j]:
            running[j] = d
        if running[j] > best or (running[j] == best and order[j] < best_index):
            best, best_index = running[j], order[j]
    top[b], top_index[b] = best, best_index


@_jit(inline="always")
def _farthest(top: np.ndarray, top_index: np.ndarray) -> int:
    """The point with the largest running distance over all buckets, the lowest index on ties."""
    best, best_index = -np.inf, -1
    for b in range(top.shape[0]):
        if top[b] > best or (top[b] == best and top_index[b] < best_index):
            best, best_index = top[b], top_index[b]
    return best_index


@_jit()
def _morton_order(points: np.ndarray) -> np.ndarray:
    """A permutation of ``points`` (N, 3) along a Morton (Z-order) curve of a 2^10 grid over their bounding box;
    index order where a coordinate is not finite (the bucket boxes are then never skipped: correct, just slow)."""
    n = points.shape[0]
    if not np.isfinite(points).all():
        return np.arange(n)
    low = np.array([points[:, axis].min() for axis in range(3)])
    extent = max([points[:, axis].max() - low[axis] for axis in range(3)])
    top = (1 << _MORTON_BITS) - 1
    scale = top / extent if extent > 0 else 0.0
    code = np.zeros(n, dtype=np.int64)
    for i in range(n):
        for axis in range(3):
            cell = min(int((points[i, axis] - low[axis]) * scale), top)
            for bit in range(_MORTON_BITS):
                code[i] |= ((cell >> bit) & 1) << (3 * bit + axis)
    return np.argsort(code, kind="mergesort")


def farthest_points(points: np.ndarray, m: int, start: int, seeds: np.ndarray | None) -> np.ndarray:
    """``m`` farthest-point samples (m,) int64 of ``points`` (N, 3), squared distances in float64: the first is
    ``start``, or, with ``seeds``, the point farthest from those (never picked again); each next one the point
    farthest from all picks so far, the lowest index on ties (:func:`edge.geometry.fps.farthest_point_sampling`)."""
    seeds = np.zeros(0, dtype=np.int64) if seeds is None else np.ascontiguousarray(seeds, dtype=np.int64)
    points = np.ascontiguousarray(points, dtype=np.float64)
    return _fps_kernel(points, m, start, seeds, _morton_order(points))
