"""Exact k-nearest-neighbour and radius-limited search, one function per query kind for CPU and CUDA.

On CPU the search is pykdtree's k-d tree (C, OpenMP over ``torch.get_num_threads()`` threads): 5-30x faster than
any tensor formulation on a few cores, and unlike scipy's ``cKDTree`` (same answers) it starts no Python thread per
query; the trees of the last few reference clouds are kept and reused for bit-identical coordinates. On CUDA, frames up to ``_GPU_BRUTE_FORCE_PAIRS`` query x ref
pairs use chunked brute force (matrix products and top-k, no host synchronisation) and larger ones the uniform
grid below, in torch. All return the same thing: squared distances recomputed from the coordinates in the query
dtype, nearest first.

CUDA search scheme (uniform grid with per-query certification):

1. ``ref`` is bucketed into cubic cells of side ``h`` and sorted by linear cell id, so the three
   cells ``x-1, x, x+1`` of one (y, z) row form a single contiguous range of the sorted array.
2. Every query keeps its k nearest among the nine row ranges of its 3x3x3 cell block: one Triton program per
   query (:mod:`edge.geometry.gpu_kernels.knn`, float32, k up to 256, no host round trip), else in torch
   through a block of ``9 x width`` candidate slots, ``width`` the longest row range of the frame (the one number
   the host waits for), in chunks of a size fixed by ``width`` and the memory budget.
3. Every reference point outside the block is at least ``h + (distance from the query to its own
   cell's nearest face)`` away: the *guaranteed radius*. A query whose k-th candidate lies within
   it has its exact answer. The others (a few percent) go to chunked brute force (float64 ranking, distances
   recomputed exactly) when they fit its size, else to a grid twice as coarse.

``h`` starts at a high quantile of the k-th neighbour distance of an evenly spaced query sample
(computed on the device, never read by the host), so most queries certify at the first level whatever
the cloud's dimensionality (surface, line, volume). A radius-limited search uses ``h >= radius``, which
certifies every query at once: a single level, with no host synchronisation in the Triton step (one, the width,
in the torch form).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import torch
from pykdtree.kdtree import KDTree
from threadpoolctl import ThreadpoolController

from edge.geometry import compiled, gpu_kernels

DEFAULT_MAX_BYTES = 64 << 20
_SLOT_BYTES = 64  # per candidate slot: position, row, coordinates, distance, masks
_GPU_BRUTE_FORCE_PAIRS = 1 << 28
"""On CUDA, up to this many query x ref pairs (a 16k-point frame against itself) go to chunked brute force: a
fixed sequence of matrix products and top-k with no host synchronisation, faster there than the grid's
data-dependent chunking."""
_KERNEL_BRUTE_FORCE_REF = 1 << 16
"""Up to this many reference points the brute force runs in the Triton kernel: one program scans them all."""
_GPU_BRUTE_FORCE_BYTES = 1 << 30  # a few large chunks rather than many launches; GPUs have the memory
_MAX_CELLS_PER_AXIS = 1 << 20  # keeps linear cell ids inside int64
_SAMPLE_QUERIES = 256
_CELL_QUANTILE = 0.9
_GRID_LEVELS = 3
_CERTIFY_MARGIN = 1.0 - 1e-5  # absorbs float rounding of the guaranteed radius
_TREE_CACHE = 16
_TREES: list[tuple[np.ndarray, KDTree]] = []
"""The most recently used k-d trees with their float64 coordinates, most recent last (:func:`_tree`)."""
_TREES_LOCK = threading.Lock()
_OPENMP_THREAD_SETTERS = [lib.dynlib.omp_set_num_threads
                          for lib in ThreadpoolController().select(user_api="openmp").lib_controllers]
"""``omp_set_num_threads`` of every OpenMP runtime loaded with pykdtree: its queries run on the calling thread's
OpenMP thread count, which is set to torch's before each query (the service's workers are threads of their own)."""


@dataclass(frozen=True)
class CandidateRanges:
    """Where each of M queries looks for its neighbours: ranges of ``points`` (N, 3), ``start``/``length`` (M, R)
    int64 (the grid's nine row ranges of a query's 3x3x3 cell block; one range over all points for the brute
    force), and ``own`` (M,) int64, a position each query skips (itself), or None."""

    points: torch.Tensor
    start: torch.Tensor
    length: torch.Tensor
    own: torch.Tensor | None = None


def knn(
    query: torch.Tensor,
    ref: torch.Tensor,
    k: int,
    *,
    exclude_self: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ``k`` nearest neighbours in ``ref`` (N, 3) of every ``query`` (M, 3) point.

    Returns squared distances (M, k) and int64 indices (M, k), nearest first. With
    ``exclude_self`` the query set must be ``ref`` itself and each point's own index is
    skipped (duplicates of it are still neighbours, at distance 0). Working memory stays
    around ``max_bytes`` per chunk.
    """
    _check_shapes(query, ref)
    n = ref.shape[0]
    if exclude_self and query.shape[0] != n:
        raise ValueError("knn: exclude_self needs query to be the reference set itself")
    if k < 0 or k + int(exclude_self) > n:
        raise ValueError(f"knn: k={k} but the reference set has only {n} points")
    return _search(query, ref, k, None, exclude_self, max_bytes)


def radius_knn(
    query: torch.Tensor,
    ref: torch.Tensor,
    radius: float,
    max_nn: int,
    *,
    exclude_self: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hybrid search: the up-to-``max_nn`` nearest ``ref`` points strictly within ``radius``.

    The semantics of a KD-tree hybrid search (open3d's ``KDTreeSearchParamHybrid``). Returns
    squared distances (M, max_nn) and int64 indices (M, max_nn), nearest first; slots beyond a
    query's neighbour count hold ``inf`` and ``-1``.
    """
    _check_shapes(query, ref)
    if exclude_self and query.shape[0] != ref.shape[0]:
        raise ValueError("radius_knn: exclude_self needs query to be the reference set itself")
    if radius <= 0 or max_nn < 1:
        raise ValueError(f"radius_knn: radius and max_nn must be positive, got {radius} and {max_nn}")
    available = ref.shape[0] - int(exclude_self)
    return _pad(*_search(query, ref, min(max_nn, available), float(radius), exclude_self, max_bytes), max_nn)


def knn_and_radius_knn(
    points: torch.Tensor, k: int, radius: float, max_nn: int, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """``knn(points, points, k)`` and ``radius_knn(points, points, radius, max_nn, exclude_self=True)``, bit-identical
    to the two calls.

    On the CPU one k-d tree and the hybrid search's query serve both: the search's raw answer holds each point
    itself and then its nearest others, so a row's k nearest are its first k hits whenever the (k + 1)-th hit lies
    within the radius and the first k + 1 distances strictly increase (no tie that another query could order or
    cut differently). Only the rows where that fails are queried again, as :func:`knn` queries them.
    """
    _check_shapes(points, points)
    n = points.shape[0]
    wanted = min(max_nn, n - 1) + 1
    if points.device.type != "cpu" or not 0 < k < wanted or radius <= 0:
        return knn(points, points, k, max_bytes=max_bytes), radius_knn(
            points, points, radius, max_nn, exclude_self=True, max_bytes=max_bytes
        )
    tree, p64 = _tree(points)
    d, i = _tree_query(tree, p64, wanted, float(radius))
    near = _pad(*_finish(points, points, d, i, wanted - 1, float(radius), True), max_nn)
    head_d, head_i = d[:, :k].copy(), i[:, :k].copy()
    again = ~(np.isfinite(d[:, k]) & np.all(d[:, 1 : k + 1] > d[:, :k], axis=1))
    if again.any():
        head_d[again], head_i[again] = _tree_query(tree, p64[again], k, None)
    return _finish(points, points, head_d, head_i, k, None, False), near


def _pad(dist: torch.Tensor, idx: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and indices (M, <= width) padded with ``inf`` and -1 to ``width`` columns."""
    if dist.shape[1] < width:
        pad = width - dist.shape[1]
        dist = torch.cat([dist, dist.new_full((dist.shape[0], pad), math.inf)], dim=1)
        idx = torch.cat([idx, idx.new_full((idx.shape[0], pad), -1)], dim=1)
    return dist, idx


def _check_shapes(query: torch.Tensor, ref: torch.Tensor) -> None:
    if query.ndim != 2 or ref.ndim != 2 or query.shape[1] != 3 or ref.shape[1] != 3:
        raise ValueError(f"knn expects (M, 3) and (N, 3) tensors, got {tuple(query.shape)} and {tuple(ref.shape)}")
    if query.device != ref.device:
        raise ValueError(f"knn: query on {query.device} but ref on {ref.device}")


def _search(
    query: torch.Tensor,
    ref: torch.Tensor,
    k: int,
    radius: float | None,
    exclude_self: bool,
    max_bytes: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid levels until every query is certified, then brute force for the rest."""
    m, n = query.shape[0], ref.shape[0]
    ref = ref.to(query.dtype)
    if query.device.type == "cpu":
        return _kdtree_search(query, ref, k, radius, exclude_self)
    out_d = query.new_full((m, k), math.inf)
    out_i = torch.full((m, k), -1, dtype=torch.int64, device=query.device)
    if m == 0 or k == 0:
        return out_d, out_i
    if m * n <= _GPU_BRUTE_FORCE_PAIRS:
        own = torch.arange(m, device=query.device) if exclude_self else None
        return _brute_force(query, ref, k, own, radius, max(max_bytes, _GPU_BRUTE_FORCE_BYTES))
    return _grid_search(query, ref, k, radius, exclude_self, max(max_bytes, _GPU_BRUTE_FORCE_BYTES))


def _kdtree_search(
    query: torch.Tensor, ref: torch.Tensor, k: int, radius: float | None, exclude_self: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """k-d tree search in float64; the query's own index is dropped (or the farthest hit when duplicates
    of the query crowd it out), then distances are recomputed in the query dtype."""
    m = query.shape[0]
    if m == 0 or k == 0:
        return query.new_empty((m, k)), torch.empty((m, k), dtype=torch.int64)
    tree, ref64 = _tree(ref)
    q64 = ref64 if exclude_self else query.detach().double().numpy()
    d, i = _tree_query(tree, q64, k + int(exclude_self), radius)
    return _finish(query, ref, d, i, k, radius, exclude_self)


def _tree(ref: torch.Tensor) -> tuple[KDTree, np.ndarray]:
    """A k-d tree of ``ref`` (N, 3) and its float64 coordinates (owned by the tree, never written).

    One frame searches the same clouds several times (the scan, each ICP target, the template of every frame),
    so the last ``_TREE_CACHE`` trees are kept with their coordinates. A tree is reused only when its coordinates
    are bit for bit those of ``ref``: the build is deterministic, so that tree is the one a new build would give.
    """
    ref64 = ref.detach().to(torch.float64, memory_format=torch.contiguous_format, copy=True).numpy()
    bits = ref64.view(np.int64)
    with _TREES_LOCK:
        for position, (data, tree) in enumerate(_TREES):
            if data.shape == ref64.shape and np.array_equal(data.view(np.int64), bits):
                _TREES.append(_TREES.pop(position))
                return tree, data
    tree = KDTree(ref64)
    with _TREES_LOCK:
        _TREES.append((ref64, tree))
        del _TREES[:-_TREE_CACHE]
    return tree, ref64


def _tree_query(tree: KDTree, q64: np.ndarray, wanted: int, radius: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The raw k-d tree answer (M, wanted): float64 distances (inf where none) and int64 indices (the reference
    size where none), nearest first."""
    threads = max(1, torch.get_num_threads())
    for set_threads in _OPENMP_THREAD_SETTERS:
        set_threads(threads)
    d, i = tree.query(q64, wanted, distance_upper_bound=radius)
    m = q64.shape[0]
    d, i = np.asarray(d, dtype=np.float64).reshape(m, wanted), np.asarray(i, dtype=np.int64).reshape(m, wanted)
    missing = i >= tree.n
    if missing.any():
        d[missing], i[missing] = math.inf, tree.n
    return d, i


def _finish(
    query: torch.Tensor, ref: torch.Tensor, d: np.ndarray, i: np.ndarray, k: int, radius: float | None,
    exclude_self: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_kdtree_search`'s result from the raw answer ``d``, ``i`` (M, k + exclude_self): the own index
    dropped (from the first column when every row has itself there, the common case, without a boolean gather),
    misses and hits outside ``radius`` set to -1, distances recomputed in the query dtype."""
    m = d.shape[0]
    if exclude_self:
        own = np.arange(m)
        if np.array_equal(i[:, 0], own):
            d, i = d[:, 1:], i[:, 1:]
        else:
            drop = i == own[:, None]
            drop[~drop.any(axis=1), -1] = True
            keep = ~drop
            d, i = d[keep].reshape(m, k), i[keep].reshape(m, k)
    found = np.isfinite(d)
    if radius is not None:
        found &= d < radius
    idx = torch.from_numpy(np.where(found, i, -1))
    return _squared_distances(query, ref, idx).masked_fill_(idx < 0, math.inf), idx


def _squared_distances(query: torch.Tensor, ref: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``|ref[idx] - query|^2`` (M, k) for indices (M, k) (negative ones read row 0), rounded as
    ``(diff * diff).sum(dim=2)`` of the (M, k, 3) differences but computed coordinate by coordinate: on the CPU the
    (M, k, 3) gather and the reduction over its short last axis cost several times the arithmetic; compiled there
    (:func:`edge.geometry.compiled.gathered_squared_distances`, the same roundings)."""
    if query.device.type == "cpu" and compiled.AVAILABLE and query.dtype in (torch.float32, torch.float64):
        return torch.from_numpy(compiled.gathered_squared_distances(
            query.detach().numpy(), ref.detach().to(query.dtype).numpy(), idx.numpy()))
    flat = idx.clamp_min(0).reshape(-1)
    total = None
    for axis in range(3):
        diff = ref[:, axis].index_select(0, flat).view(idx.shape) - query[:, axis].unsqueeze(1)
        total = diff * diff if total is None else total + diff * diff
    return total


def _grid_search(
    query: torch.Tensor,
    ref: torch.Tensor,
    k: int,
    radius: float | None,
    exclude_self: bool,
    max_bytes: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid levels (module docstring) until every query is certified or the rest fit one sync-free brute force."""
    m, n = query.shape[0], ref.shape[0]
    out_d = query.new_full((m, k), math.inf)
    out_i = torch.full((m, k), -1, dtype=torch.int64, device=query.device)
    lo = ref.min(dim=0).values
    floor_h = ((ref.max(dim=0).values - lo).max() / (_MAX_CELLS_PER_AXIS - 2)).clamp_min(1e-30)
    if radius is not None:
        levels = [floor_h.clamp_min(radius)]
    else:
        h = torch.maximum(_initial_cell_size(query, ref, k, exclude_self), floor_h)
        levels = [h * 2**level for level in range(_GRID_LEVELS)]
    pending: torch.Tensor | None = None
    for h in levels:
        if pending is not None and pending.numel() * n <= _GPU_BRUTE_FORCE_PAIRS:
            break
        rows = query if pending is None else query[pending]
        own = None if not exclude_self else (torch.arange(m, device=query.device) if pending is None else pending)
        d, i, certified = _grid_level(rows, own, ref, lo, h, k, radius, max_bytes)
        if pending is None:
            out_d, out_i = d, i
        else:
            out_d[pending], out_i[pending] = d, i
        if radius is not None:
            return out_d, out_i
        pending = torch.nonzero(~certified).squeeze(1) if pending is None else pending[~certified]
    if pending is None:
        pending = torch.arange(m, device=query.device)
    if pending.numel():
        d, i = _brute_force(query[pending], ref, k, pending if exclude_self else None, radius, max_bytes)
        out_d[pending], out_i[pending] = d, i
    return out_d, out_i


def _initial_cell_size(query: torch.Tensor, ref: torch.Tensor, k: int, exclude_self: bool) -> torch.Tensor:
    """A high quantile of the k-th neighbour distance over an evenly spaced query sample (0-dim, on the device)."""
    step = max(1, query.shape[0] // _SAMPLE_QUERIES)
    sample = torch.arange(0, query.shape[0], step, device=query.device)
    d, _ = _brute_force(query[sample], ref, k, sample if exclude_self else None, None, DEFAULT_MAX_BYTES)
    return torch.quantile(d[:, -1].double(), _CELL_QUANTILE).sqrt().to(query.dtype)


def _grid_level(
    query: torch.Tensor,
    query_index: torch.Tensor | None,
    ref: torch.Tensor,
    lo: torch.Tensor,
    h: torch.Tensor,
    k: int,
    radius: float | None,
    max_bytes: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One grid of cell side ``h`` (0-dim tensor): distances (M, k), indices (M, k) and the certified mask (M,)."""
    m, device = query.shape[0], query.device
    cells = torch.floor((ref - lo) / h).long()
    dims = cells.max(dim=0).values + 1
    nx, ny, nz = dims[0], dims[1], dims[2]
    ids, perm = torch.sort((cells[:, 2] * ny + cells[:, 1]) * nx + cells[:, 0], stable=True)
    points = ref[perm]
    rel = (query - lo) / h
    cell_f = torch.floor(rel)
    guaranteed = h * (1.0 + torch.minimum(rel - cell_f, cell_f + 1.0 - rel).min(dim=1).values)
    cell = torch.minimum(cell_f.clamp_min(-2.0), (dims + 1).to(cell_f.dtype)).long()
    offsets = torch.arange(-1, 2, device=device)
    y = cell[:, 1, None, None] + offsets[None, :, None]
    z = cell[:, 2, None, None] + offsets[None, None, :]
    x0 = (cell[:, 0] - 1).clamp(min=0)[:, None, None]
    x1 = torch.minimum(cell[:, 0] + 1, nx - 1)[:, None, None]
    valid = ((y >= 0) & (y < ny) & (z >= 0) & (z < nz) & (x0 <= x1)).reshape(m, 9)
    row = z * ny + y
    start = torch.searchsorted(ids, (row * nx + x0).reshape(m, 9).contiguous())
    end = torch.searchsorted(ids, (row * nx + x1).reshape(m, 9).contiguous(), right=True)
    length = torch.where(valid, end - start, torch.zeros_like(start))
    own = None
    if query_index is not None:
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(perm.shape[0], device=device)
        own = inverse[query_index]
    ranges = CandidateRanges(points, start, length, own)

    def padded() -> tuple[torch.Tensor, torch.Tensor]:
        return _padded_candidate_knn(ranges, query, k, radius, max_bytes)

    if _kernel_takes(query, k):
        from edge.geometry.gpu_kernels.knn import candidate_knn

        out_d, pos = gpu_kernels.run("knn", lambda: candidate_knn(ranges, query, k, radius), padded)
    else:
        out_d, pos = padded()
    out_i = torch.where(pos < 0, -1, perm[pos.clamp_min(0)])
    certified = out_d[:, -1] <= (guaranteed * _CERTIFY_MARGIN) ** 2
    return out_d, out_i, certified


def _padded_candidate_knn(
    ranges: CandidateRanges, query: torch.Tensor, k: int, radius: float | None, max_bytes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each query's k nearest in its candidate ``ranges`` (nine of them, the grid's): squared distances (M, k) and
    positions in ``ranges.points`` (M, k), ``inf`` and -1 where none. The torch form of
    :func:`edge.geometry.gpu_kernels.knn.candidate_knn`: candidates gathered into blocks padded to the widest range
    (the one number the host waits for), then a top-k."""
    points, start, length, own = ranges.points, ranges.start, ranges.length, ranges.own
    m, device = query.shape[0], query.device
    width = max(int(length.max()), 1) if m else 1
    slot = torch.arange(width, device=device)
    chunk = max(1, max_bytes // (9 * width * _SLOT_BYTES))
    dists, positions = [query.new_empty((0, k))], [torch.empty((0, k), dtype=torch.int64, device=device)]
    for first in range(0, m, chunk):
        rows = slice(first, first + chunk)
        real = (slot < length[rows, :, None]).reshape(-1, 9 * width)
        pos = torch.where(real, (start[rows, :, None] + slot).reshape(-1, 9 * width), 0)
        diff = points[pos] - query[rows].unsqueeze(1)
        exact = (diff * diff).sum(dim=2)
        invalid = ~real
        if own is not None:
            invalid |= pos == own[rows].unsqueeze(1)
        if radius is not None:
            invalid |= exact >= radius * radius
        exact = exact.masked_fill(invalid, math.inf)
        if exact.shape[1] < k:
            pad = k - exact.shape[1]
            exact = torch.cat([exact, exact.new_full((exact.shape[0], pad), math.inf)], dim=1)
            pos = torch.cat([pos, pos.new_zeros((pos.shape[0], pad))], dim=1)
        best, order = torch.topk(exact, k, dim=1, largest=False, sorted=True)
        dists.append(best)
        positions.append(torch.where(torch.isinf(best), -1, pos.gather(1, order)))
    return torch.cat(dists), torch.cat(positions)


def _kernel_takes(query: torch.Tensor, k: int) -> bool:
    """Whether the Triton kernel (:mod:`edge.geometry.gpu_kernels.knn`) searches for ``query``: float32 on CUDA."""
    return gpu_kernels.usable(query, "knn") and query.dtype == torch.float32 and 0 < k <= gpu_kernels.KNN_MAX_K


def _brute_force(
    query: torch.Tensor,
    ref: torch.Tensor,
    k: int,
    query_index: torch.Tensor | None,
    radius: float | None,
    max_bytes: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs: the Triton kernel scanning all of ``ref`` per query where it takes the search and ``ref`` is small
    enough for one program's scan, else :func:`_matrix_brute_force`."""
    def matrices() -> tuple[torch.Tensor, torch.Tensor]:
        return _matrix_brute_force(query, ref, k, query_index, radius, max_bytes)

    if _kernel_takes(query, k) and ref.shape[0] <= _KERNEL_BRUTE_FORCE_REF:
        from edge.geometry.gpu_kernels.knn import nearest

        return gpu_kernels.run("knn", lambda: nearest(query, ref, k, query_index, radius), matrices)
    return matrices()


def _matrix_brute_force(
    query: torch.Tensor,
    ref: torch.Tensor,
    k: int,
    query_index: torch.Tensor | None,
    radius: float | None,
    max_bytes: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs in query chunks of distance matrices: float64 ranking keeps near-ties in order, distances are
    exact. The single nearest neighbour is one arg-min pass instead of a top-k selection."""
    n = ref.shape[0]
    origin = ref.mean(dim=0, keepdim=True)
    r = (ref - origin).double()
    r_sq = (r * r).sum(dim=1)
    pick = min(n, k + 8)
    chunk = max(1, min(query.shape[0], max_bytes // max(1, 16 * n)))
    dists, idxs = [], []
    for first in range(0, query.shape[0], chunk):
        qc = (query[first : first + chunk] - origin).double()
        d = (qc * qc).sum(dim=1, keepdim=True) - 2.0 * qc @ r.T + r_sq
        if query_index is not None:
            d.scatter_(1, query_index[first : first + chunk].unsqueeze(1), math.inf)
        idx = d.argmin(dim=1, keepdim=True) if k == 1 else torch.topk(d, pick, dim=1, largest=False, sorted=True)[1]
        diff = ref[idx] - query[first : first + chunk].unsqueeze(1)
        exact = (diff * diff).sum(dim=2)
        if query_index is not None:
            exact = exact.masked_fill(idx == query_index[first : first + chunk].unsqueeze(1), math.inf)
        if radius is not None:
            exact = exact.masked_fill(exact >= radius * radius, math.inf)
        exact, order = torch.topk(exact, k, dim=1, largest=False, sorted=True)
        idx = idx.gather(1, order)
        dists.append(exact)
        idxs.append(torch.where(torch.isinf(exact), torch.full_like(idx, -1), idx))
    return torch.cat(dists), torch.cat(idxs)
