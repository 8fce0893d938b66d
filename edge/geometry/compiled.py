"""Compiled CPU kernels (numba) behind the geometry ops whose torch form is a long chain of small element-wise ops.

On the CPU such a chain pays a dispatch and a pass over memory per op; one compiled loop per point does the same
arithmetic in registers. Each kernel here is the CPU kernel of one op whose public function (and CUDA kernel) lives
in its own module; when numba is not installed (the GPU image, which does not carry it) the op's torch code runs
instead, with one log line. Every kernel works in float64, which is also open3d's precision.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

try:
    import numba
except ImportError:  # pragma: no cover - exercised only where numba is absent
    numba = None
    log.info("numba is not installed: the CPU geometry ops run their torch code (slower, same results)")
else:
    warnings.filterwarnings("ignore", message="The TBB threading layer requires", category=numba.NumbaWarning)
    if "NUMBA_THREADING_LAYER" not in os.environ:
        # The service's workers call the kernels from several threads at once: only the OpenMP and TBB layers
        # allow that (numba's own workqueue aborts the process), OpenMP first (TBB needs a recent libtbb).
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
        numba.config.THREADING_LAYER = "threadsafe"

prange = numba.prange if numba is not None else range
AVAILABLE = numba is not None
"""Whether the compiled kernels can run; callers take their torch code otherwise."""

BINS = 11
FEATURES = 3 * BINS


def set_threads() -> None:
    """Run the kernels on as many threads as torch's CPU ops (the service's per-worker setting)."""
    wanted = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != wanted:
        numba.set_num_threads(wanted)


def _jit(**options: Any) -> Any:
    """``numba.njit`` with on-disk caching (``NUMBA_CACHE_DIR``, else beside this file or in the user's cache), or
    without it where no cache directory is writable (a hardened service without ``NUMBA_CACHE_DIR``: every process
    then compiles once, some seconds); the plain function when numba is absent (never called then)."""
    if numba is None:
        return lambda f: f

    def compile_lazily(function: Any) -> Any:
        try:
            return numba.njit(cache=True, nogil=True, **options)(function)
        except RuntimeError as error:  # numba: "cannot cache function ...: no locator available"
            log.warning("numba cannot cache %s (%s): compiling it in every process", function.__name__, error)
            return numba.njit(nogil=True, **options)(function)

    return compile_lazily


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


@_jit()
def _components_and_levels(neighbors: np.ndarray, outward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first levels (N,) over the symmetrised k-NN graph, 1 at each component's seed (its point farthest
    from the centroid, ``outward`` the squared distance; the lowest index on ties), and the seeds' indices."""
    n, k = neighbors.shape
    degree = np.full(n, k, dtype=np.int64)
    for i in range(n):
        for c in range(k):
            degree[neighbors[i, c]] += 1
    start = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        start[i + 1] = start[i] + degree[i]
    fill = start[:-1].copy()
    adjacent = np.empty(start[n], dtype=np.int64)
    for i in range(n):
        for c in range(k):
            j = neighbors[i, c]
            adjacent[fill[i]] = j
            fill[i] += 1
            adjacent[fill[j]] = i
            fill[j] += 1
    level = np.zeros(n, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    seeds = []
    for root in range(n):
        if level[root] != 0:
            continue
        level[root] = -1
        queue[0], head, tail, seed = root, 0, 1, root
        while head < tail:
            i = queue[head]
            head += 1
            if outward[i] > outward[seed] or (outward[i] == outward[seed] and i < seed):
                seed = i
            for e in range(start[i], start[i + 1]):
                j = adjacent[e]
                if level[j] == 0:
                    level[j] = -1
                    queue[tail] = j
                    tail += 1
        seeds.append(seed)
    level[:] = 0
    tail = 0
    for seed in seeds:
        level[seed] = 1
        queue[tail] = seed
        tail += 1
    head = 0
    while head < tail:
        i = queue[head]
        head += 1
        for e in range(start[i], start[i + 1]):
            j = adjacent[e]
            if level[j] == 0:
                level[j] = level[i] + 1
                queue[tail] = j
                tail += 1
    return level, np.array(seeds, dtype=np.int64)


@_jit(inline="always")
def _agreement(normals: np.ndarray, a: int, b: int) -> float:
    """``n_a . n_b`` in the normals' dtype, rounded ``(x + y) + z`` as numpy's sum over a row of three."""
    return normals[a, 0] * normals[b, 0] + normals[a, 1] * normals[b, 1] + normals[a, 2] * normals[b, 2]


@_jit()
def _vote_signs(neighbors: np.ndarray, normals: np.ndarray, level: np.ndarray, sign: np.ndarray) -> None:
    """Each non-seed point's sign, level by level, from the votes ``sign[src] * (n_src . n_dst)`` of its k-NN edges
    to the level before (edges it is listed by first, then edges it lists; each in row order), summed in float64."""
    n, k = neighbors.shape
    top = level.max()
    count = np.zeros(top + 2, dtype=np.int64)
    for i in range(n):
        count[level[i] + 1] += 1
    for lv in range(1, top + 2):
        count[lv] += count[lv - 1]
    by_level = np.empty(n, dtype=np.int64)
    fill = count.copy()
    for i in range(n):
        by_level[fill[level[i]]] = i
        fill[level[i]] += 1
    vote = np.zeros(n)
    one = normals.dtype.type(1.0)
    for lv in range(2, top + 1):
        for e in range(count[lv - 1], count[lv]):
            i = by_level[e]
            for c in range(k):
                j = neighbors[i, c]
                if level[j] == lv:
                    vote[j] += sign[i] * _agreement(normals, i, j)
        for e in range(count[lv], count[lv + 1]):
            i = by_level[e]
            for c in range(k):
                j = neighbors[i, c]
                if level[j] == lv - 1:
                    vote[i] += sign[j] * _agreement(normals, j, i)
        for e in range(count[lv], count[lv + 1]):
            i = by_level[e]
            sign[i] = -one if vote[i] < 0.0 else one


def propagate_signs(points: np.ndarray, normals: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
    """Orientation signs (N,) in ``normals``' dtype for :func:`edge.geometry.normals.propagate_orientation`: seeds
    point away from the centroid, every other point takes the sign of its weighted vote from the level before."""
    centroid = points.mean(axis=0, keepdims=True)
    outward = ((points - centroid) ** 2).sum(axis=1)
    level, seeds = _components_and_levels(np.ascontiguousarray(neighbors, dtype=np.int64), outward)
    sign = np.ones(points.shape[0], dtype=normals.dtype)
    sign[seeds] = np.where((normals[seeds] * (points[seeds] - centroid)).sum(axis=1) < 0, -1.0, 1.0)
    _vote_signs(np.ascontiguousarray(neighbors, dtype=np.int64), np.ascontiguousarray(normals), level, sign)
    return sign


@_jit(parallel=True)
def _variation_kernel(features: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
    n, k = neighbors.shape
    width = features.shape[1]
    out = np.empty(n)
    for i in prange(n):
        total = 0.0
        for c in range(k):
            m = neighbors[i, c]
            squared = 0.0
            for f in range(width):
                d = np.float64(features[i, f]) - np.float64(features[m, f])
                squared += d * d
            total += math.sqrt(squared)
        out[i] = total
    return out


def feature_variation(features: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
    """``sum_c ||f_i - f_neighbors[i, c]||`` (N,) float64 for features (N, D) and neighbour indices (N, k), summed in
    float64 (:func:`edge.geometry.agcs.local_feature_variation`)."""
    set_threads()
    return _variation_kernel(np.ascontiguousarray(features), np.ascontiguousarray(neighbors, dtype=np.int64))


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


@_jit(inline="always")
def _rotate(a: np.ndarray, v: np.ndarray, p: int, q: int) -> None:
    """One Jacobi rotation zeroing ``a[p, q]`` of the symmetric 3x3 ``a``, accumulated into the columns of ``v``."""
    apq = a[p, q]
    if apq == 0.0:
        return
    theta = (a[q, q] - a[p, p]) / (2.0 * apq)
    t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
    if theta < 0.0:
        t = -t
    c = 1.0 / math.sqrt(t * t + 1.0)
    s = t * c
    for r in range(3):
        arp, arq = a[r, p], a[r, q]
        a[r, p], a[r, q] = c * arp - s * arq, s * arp + c * arq
    for r in range(3):
        apr, aqr = a[p, r], a[q, r]
        a[p, r], a[q, r] = c * apr - s * aqr, s * apr + c * aqr
    a[p, q] = a[q, p] = 0.0
    for r in range(3):
        vrp, vrq = v[r, p], v[r, q]
        v[r, p], v[r, q] = c * vrp - s * vrq, s * vrp + c * vrq


@_jit(parallel=True)
def _pca_kernel(points: np.ndarray, neighbors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, k = neighbors.shape
    values = np.empty((n, 3))
    vectors = np.empty((n, 3, 3))
    for i in prange(n):
        mean = np.zeros(3)
        for c in range(k):
            for d in range(3):
                mean[d] += points[neighbors[i, c], d]
        mean /= k
        a = np.zeros((3, 3))
        for c in range(k):
            x, y, z = (points[neighbors[i, c], 0] - mean[0], points[neighbors[i, c], 1] - mean[1],
                       points[neighbors[i, c], 2] - mean[2])
            a[0, 0] += x * x
            a[0, 1] += x * y
            a[0, 2] += x * z
            a[1, 1] += y * y
            a[1, 2] += y * z
            a[2, 2] += z * z
        a[1, 0], a[2, 0], a[2, 1] = a[0, 1], a[0, 2], a[1, 2]
        a /= k
        v = np.eye(3)
        scale = abs(a[0, 0]) + abs(a[1, 1]) + abs(a[2, 2])
        for _ in range(32):
            off = abs(a[0, 1]) + abs(a[0, 2]) + abs(a[1, 2])
            if off <= 1e-18 * scale or off == 0.0:
                break
            _rotate(a, v, 0, 1)
            _rotate(a, v, 0, 2)
            _rotate(a, v, 1, 2)
        order = np.argsort(np.array([a[0, 0], a[1, 1], a[2, 2]]))
        for col in range(3):
            values[i, col] = a[order[col], order[col]]
            for r in range(3):
                vectors[i, r, col] = v[r, order[col]]
    return values, vectors


def neighbourhood_pca(points: np.ndarray, neighbors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (N, 3), ascending, and unit eigenvectors (N, 3, 3), as columns, of each neighbourhood's
    covariance (float64), by cyclic Jacobi rotations (:func:`edge.geometry.normals.local_pca`)."""
    set_threads()
    return _pca_kernel(np.ascontiguousarray(points, dtype=np.float64), np.ascontiguousarray(neighbors, dtype=np.int64))


@_jit(parallel=True)
def _gathered_squared_distances(query: np.ndarray, ref: np.ndarray, idx: np.ndarray) -> np.ndarray:
    m, k = idx.shape
    out = np.empty((m, k), dtype=query.dtype)
    for i in prange(m):
        for c in range(k):
            j = max(idx[i, c], 0)
            dx = ref[j, 0] - query[i, 0]
            dy = ref[j, 1] - query[i, 1]
            dz = ref[j, 2] - query[i, 2]
            out[i, c] = dx * dx + dy * dy + dz * dz
    return out


def gathered_squared_distances(query: np.ndarray, ref: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``|ref[idx] - query|^2`` (M, k) in the query's dtype (``ref`` must share it), each step rounded in that
    dtype as torch's element-wise ``(d * d).sum(-1)`` of the (M, k, 3) differences rounds it: ``(x + y) + z``.
    Negative indices read row 0 (the caller masks them)."""
    set_threads()
    return _gathered_squared_distances(np.ascontiguousarray(query), np.ascontiguousarray(ref),
                                       np.ascontiguousarray(idx, dtype=np.int64))

