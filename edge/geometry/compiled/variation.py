"""AGCS feature variation: each point's summed feature distance to its neighbours (:mod:`edge.geometry.agcs`)."""

from __future__ import annotations

import math

import numpy as np

from edge.geometry.compiled._numba import _jit, prange, set_threads


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
