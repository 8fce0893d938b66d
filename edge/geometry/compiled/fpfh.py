"""FPFH histograms of every radius from one hybrid neighbour search (:mod:`edge.geometry.fpfh`)."""

from __future__ import annotations

import math

import numpy as np

from edge.geometry.compiled._numba import _jit, prange, set_threads

BINS = 11
FEATURES = 3 * BINS


@_jit(fastmath=False, inline="always")
def _bin(unit: float) -> int:
    """open3d's binning: ``floor(11 * unit)`` clamped to ``[0, 10]``."""
    b = int(math.floor(BINS * unit))
    return 0 if b < 0 else (BINS - 1 if b > BINS - 1 else b)


@_jit(fastmath=False, inline="always")
def _pair_features(dx: float, dy: float, dz: float, n1x: float, n1y: float, n1z: float, n2x: float, n2y: float,
                   n2z: float) -> tuple[float, float, float]:
    """Darboux-frame features (theta, alpha, phi) of a pair with offset (dx, dy, dz) from source to target and
    unit normals n1, n2: :func:`edge.geometry.fpfh.pair_features` (open3d's swap rule; a pair at distance 0 or
    with a normal along the connecting line gives (0, 0, 0))."""
    dist = math.sqrt(dx * dx + dy * dy + dz * dz)
    if dist == 0.0:
        return 0.0, 0.0, 0.0
    a1 = (n1x * dx + n1y * dy + n1z * dz) / dist
    a2 = (n2x * dx + n2y * dy + n2z * dz) / dist
    if min(abs(a1), 1.0) < min(abs(a2), 1.0):
        sx, sy, sz, tx, ty, tz = n2x, n2y, n2z, n1x, n1y, n1z
        lx, ly, lz = -dx, -dy, -dz
        phi = -a2
    else:
        sx, sy, sz, tx, ty, tz = n1x, n1y, n1z, n2x, n2y, n2z
        lx, ly, lz = dx, dy, dz
        phi = a1
    vx, vy, vz = ly * sz - lz * sy, lz * sx - lx * sz, lx * sy - ly * sx
    v_norm = math.sqrt(vx * vx + vy * vy + vz * vz)
    if v_norm == 0.0:
        return 0.0, 0.0, 0.0
    vx, vy, vz = vx / v_norm, vy / v_norm, vz / v_norm
    wx, wy, wz = sy * vz - sz * vy, sz * vx - sx * vz, sx * vy - sy * vx
    alpha = vx * tx + vy * ty + vz * tz
    theta = math.atan2(wx * tx + wy * ty + wz * tz, sx * tx + sy * ty + sz * tz)
    return theta, alpha, phi


@_jit(parallel=True, fastmath=False)
def _spfh_kernel(points: np.ndarray, normals: np.ndarray, idx: np.ndarray, search_d2: np.ndarray,
                 d2_bound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SPFH (N, S, 33) of every point at each scale and the pairs' squared distances (N, K)."""
    n, k = idx.shape
    scales = d2_bound.shape[0]
    spfh = np.zeros((n, scales, FEATURES))
    pair_d2 = np.empty((n, k))
    for i in prange(n):
        slots = np.empty((k, 3), dtype=np.int64)
        counts = np.zeros(scales)
        for j in range(k):
            m = idx[i, j]
            if m < 0:
                break
            dx, dy, dz = points[m, 0] - points[i, 0], points[m, 1] - points[i, 1], points[m, 2] - points[i, 2]
            theta, alpha, phi = _pair_features(dx, dy, dz, normals[i, 0], normals[i, 1], normals[i, 2],
                                               normals[m, 0], normals[m, 1], normals[m, 2])
            slots[j, 0] = _bin((theta + math.pi) / (2.0 * math.pi))
            slots[j, 1] = _bin((alpha + 1.0) * 0.5) + BINS
            slots[j, 2] = _bin((phi + 1.0) * 0.5) + 2 * BINS
            pair_d2[i, j] = dx * dx + dy * dy + dz * dz
            for s in range(scales):
                if search_d2[i, j] < d2_bound[s]:
                    counts[s] += 1.0
        for s in range(scales):
            if counts[s] == 0.0:
                continue
            increment = 100.0 / counts[s]
            for j in range(k):
                if idx[i, j] < 0:
                    break
                if search_d2[i, j] < d2_bound[s]:
                    spfh[i, s, slots[j, 0]] += increment
                    spfh[i, s, slots[j, 1]] += increment
                    spfh[i, s, slots[j, 2]] += increment
    return spfh, pair_d2


@_jit(parallel=True, fastmath=False)
def _fpfh_from_spfh(spfh: np.ndarray, pair_d2: np.ndarray, idx: np.ndarray, search_d2: np.ndarray,
                    d2_bound: np.ndarray) -> np.ndarray:
    """FPFH (S, N, 33) float32: each point's SPFH plus its neighbours' weighted by 1 / squared distance, each
    11-bin block of that sum scaled to 100; zeros for a point with no neighbour at a scale."""
    n, k = idx.shape
    scales = d2_bound.shape[0]
    out = np.zeros((scales, n, FEATURES), dtype=np.float32)
    for i in prange(n):
        acc = np.zeros((scales, FEATURES))
        found = np.zeros(scales, dtype=np.bool_)
        for j in range(k):
            m = idx[i, j]
            if m < 0:
                break
            d2 = pair_d2[i, j]
            for s in range(scales):
                if search_d2[i, j] < d2_bound[s]:
                    found[s] = True
                    if d2 > 0.0:
                        weight = 1.0 / d2
                        for f in range(FEATURES):
                            acc[s, f] += weight * spfh[m, s, f]
        for s in range(scales):
            if not found[s]:
                continue
            for block in range(3):
                total = 0.0
                for f in range(block * BINS, (block + 1) * BINS):
                    total += acc[s, f]
                scale = 100.0 / total if total != 0.0 else 1.0
                for f in range(block * BINS, (block + 1) * BINS):
                    out[s, i, f] = acc[s, f] * scale + spfh[i, s, f]
    return out


def fpfh_histograms(points: np.ndarray, normals: np.ndarray, search: tuple[np.ndarray, np.ndarray],
                    radii: list[float]) -> np.ndarray:
    """FPFH (S, N, 33) float32 at each radius of ``radii`` from one hybrid search ``search`` = (squared distances,
    indices), each (N, K): the neighbours of each point nearest first, index -1 past the last
    (:func:`edge.geometry.knn.radius_knn` at the largest radius); a neighbour counts at a radius when its search
    distance is strictly within it. Same semantics as :func:`edge.geometry.fpfh.fpfh_multiscale`."""
    set_threads()
    search_d2, idx = search
    bounds = np.asarray([r * r for r in radii], dtype=search_d2.dtype).astype(np.float64)
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    search_d2 = np.ascontiguousarray(search_d2, dtype=np.float64)
    spfh, pair_d2 = _spfh_kernel(np.ascontiguousarray(points, dtype=np.float64),
                                 np.ascontiguousarray(normals, dtype=np.float64), idx, search_d2, bounds)
    return _fpfh_from_spfh(spfh, pair_d2, idx, search_d2, bounds)
