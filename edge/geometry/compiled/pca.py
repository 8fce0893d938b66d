"""Local PCA by cyclic Jacobi rotations of each neighbourhood's covariance (:mod:`edge.geometry.normals`)."""

from __future__ import annotations

import math

import numpy as np

from edge.geometry.compiled._numba import _jit, prange, set_threads


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
