"""Squared distances of k-d tree hits, rounded as torch rounds them (:mod:`edge.geometry.knn`)."""

from __future__ import annotations

import numpy as np

from edge.geometry.compiled._numba import _jit, prange, set_threads


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
