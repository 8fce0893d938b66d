"""Normal orientation: one breadth-first search per component, then the level-by-level vote (:mod:`edge.geometry.normals`)."""

from __future__ import annotations

import numpy as np

from edge.geometry.compiled._numba import _jit


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
