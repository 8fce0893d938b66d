"""Rigid alignment of a scan to a template: a coarse pose (principal axes or FPFH + RANSAC), then ICP.

Everything is torch and follows the device of the inputs (CPU or CUDA, one code path). Random
choices (subsets, RANSAC samples) are drawn from a CPU generator seeded by ``seed`` and then moved
to the device, so a seed gives the same result on every run. Transforms are 4x4 homogeneous
matrices mapping source coordinates into the target frame; the linear algebra (Kabsch, the ICP
normal equations) runs in float64 so that single-precision clouds in millimetres or metres both
converge to well below their sampling spacing.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from edge import cuda_graphs
from edge.geometry.fpfh import fpfh
from edge.geometry.knn import knn
from edge.geometry.normals import estimate_normals
from edge.geometry.sampling import voxel_downsample

Coarse = Literal["pca", "fpfh", "none"]
Method = Literal["point_to_plane", "point_to_point"]


@dataclass(frozen=True)
class Alignment:
    """Result of an alignment: ``transform`` (4, 4) maps source points into the target frame.

    ``rmse`` is the root mean square distance of the source points that found a target point within
    the final correspondence distance, ``fitness`` the fraction of source points that did (a low
    fitness means the scan does not match the template), ``iterations`` the ICP updates applied.
    """

    transform: torch.Tensor
    rmse: float
    fitness: float
    iterations: int


def apply_transform(points: torch.Tensor, transform: torch.Tensor) -> torch.Tensor:
    """Points (..., N, 3) mapped by homogeneous transform(s) (..., 4, 4): ``R @ p + t`` per point."""
    transform = transform.to(points)
    return points @ transform[..., :3, :3].transpose(-1, -2) + transform[..., None, :3, 3]


def align(
    source: torch.Tensor,
    target: torch.Tensor,
    *,
    target_normals: torch.Tensor | None = None,
    coarse: Coarse = "pca",
    method: Method = "point_to_plane",
    init: torch.Tensor | None = None,
    voxel_size: float | None = None,
    max_correspondence_distance: float | Sequence[float] | None = None,
    max_iterations: int = 30,
    tolerance: float = 1e-5,
    max_points: int = 3000,
    max_target_points: int = 10000,
    ransac_hypotheses: int = 20000,
    seed: int = 0,
) -> Alignment:
    """Align ``source`` (N, 3) to ``target`` (M, 3): optional coarse pose, then ICP refinement.

    ``coarse`` picks the global stage: ``"pca"`` (centroids + principal axes, the axis sign and
    order ambiguity settled by a short ICP from every candidate rotation), ``"fpfh"`` (FPFH
    correspondences + RANSAC, for parts whose axes are not distinctive or heavily cropped scans) or
    ``"none"`` (start from ``init``). The coarse stage works on voxel-downsampled copies with
    ``voxel_size`` (default: 1/50 of the target's bounding-box diagonal); ``init`` (4, 4) is
    applied before it. ``target_normals`` (M, 3) are used by point-to-plane ICP, estimated when
    absent. ``max_correspondence_distance`` defaults to a coarse-to-fine schedule of
    ``(2, 1, 0.4) * voxel_size``; see :func:`icp` for the remaining parameters.
    """
    _check_cloud(source, "source")
    _check_cloud(target, "target")
    if coarse not in ("pca", "fpfh", "none"):
        raise ValueError(f"coarse must be 'pca', 'fpfh' or 'none', got {coarse!r}")
    voxel = float(voxel_size) if voxel_size is not None else _diagonal(target) / 50.0
    if not voxel > 0.0:
        raise ValueError(f"voxel_size must be positive, got {voxel}")
    start = _identity(source) if init is None else init.to(source.device, torch.float64)
    if coarse != "none":
        moved = apply_transform(source, start)
        src_down = _downsample(moved, voxel, max_points, seed)
        tgt_down = _downsample(target, voxel, max_target_points, seed + 1)
        if coarse == "pca":
            pose = coarse_pca(src_down, tgt_down, max_correspondence_distance=4.0 * voxel, seed=seed)
        else:
            found = fpfh_hypotheses(src_down, tgt_down, voxel_size=voxel, hypotheses=ransac_hypotheses, seed=seed)
            pose = _verified(src_down, tgt_down, torch.cat([_identity(source).unsqueeze(0), found.double()]), voxel)
        start = pose.to(torch.float64) @ start
    schedule = max_correspondence_distance if max_correspondence_distance is not None else (2.0 * voxel, voxel, 0.4 * voxel)
    return icp(
        source,
        target,
        target_normals=target_normals,
        init=start,
        method=method,
        max_correspondence_distance=schedule,
        max_iterations=max_iterations,
        tolerance=tolerance,
        max_points=max_points,
        max_target_points=max_target_points,
        seed=seed,
    )


def _verified(source: torch.Tensor, target: torch.Tensor, poses: torch.Tensor, voxel: float) -> torch.Tensor:
    """The pose among ``poses`` (K, 4, 4) that fits best after a short point-to-point ICP from each at once: the
    largest share of source points within 2 voxels of the target, ties broken by the lower RMSE."""
    refined, rmse, fitness, _ = _icp_batch(source, target, None, poses.double(), 2.0 * voxel, 10, 0.0)
    score = fitness - 1e-6 * rmse / voxel
    return refined[int(torch.argmax(score))]


def icp(
    source: torch.Tensor,
    target: torch.Tensor,
    *,
    target_normals: torch.Tensor | None = None,
    init: torch.Tensor | None = None,
    method: Method = "point_to_plane",
    max_correspondence_distance: float | Sequence[float] | None = None,
    max_iterations: int = 30,
    tolerance: float = 1e-5,
    max_points: int = 3000,
    max_target_points: int = 10000,
    seed: int = 0,
    check_every: int | None = None,
) -> Alignment:
    """Refine ``init`` (4, 4; identity by default) by iterative closest point from source to target.

    Each iteration pairs every source point with its nearest target point, drops pairs farther than
    ``max_correspondence_distance`` and solves for the rigid update: point-to-plane minimises the
    distance along the template normal with a linearised (small-angle) 6x6 least-squares system,
    point-to-point uses the closed-form Kabsch fit. A sequence of distances runs coarse-to-fine
    stages of up to ``max_iterations`` each (default: 2%, 1% and 0.4% of the target's diagonal).
    A stage stops when the update's rotation (radians) and translation (relative to the source's
    RMS radius) both fall below ``tolerance``. For speed, at most ``max_points`` source points and
    ``max_target_points`` target points (random, seeded subsets) take part; normals estimated here
    come from the target subset. ``check_every``: how often the host asks whether a stage has converged (see
    :func:`_icp_batch`; the pose does not depend on it).
    """
    _check_cloud(source, "source")
    _check_cloud(target, "target")
    if method not in ("point_to_plane", "point_to_point"):
        raise ValueError(f"method must be 'point_to_plane' or 'point_to_point', got {method!r}")
    if target_normals is not None and target_normals.shape != target.shape:
        raise ValueError(f"target_normals must match target {tuple(target.shape)}, got {tuple(target_normals.shape)}")
    if max_correspondence_distance is None:
        diag = _diagonal(target)
        schedule: Sequence[float] = (0.02 * diag, 0.01 * diag, 0.004 * diag)
    elif isinstance(max_correspondence_distance, (int, float)):
        schedule = (float(max_correspondence_distance),)
    else:
        schedule = tuple(float(d) for d in max_correspondence_distance)
    if not schedule or min(schedule) <= 0.0:
        raise ValueError(f"max_correspondence_distance must be positive, got {max_correspondence_distance}")

    src = source[_subset(source.shape[0], max_points, seed, source.device)]
    keep = _subset(target.shape[0], max_target_points, seed + 1, target.device)
    tgt = target[keep]
    normals = None
    if method == "point_to_plane":
        normals = target_normals[keep].to(tgt) if target_normals is not None else estimate_normals(tgt)
    transform = (_identity(source) if init is None else init.to(source.device, torch.float64)).unsqueeze(0)
    total = torch.zeros((), dtype=torch.int64, device=source.device)
    rmse = fitness = torch.zeros(1, dtype=torch.float64, device=source.device)
    for distance in schedule:
        transform, rmse, fitness, steps = _icp_batch(
            src, tgt, normals, transform, distance, max_iterations, tolerance, check_every
        )
        total = total + steps
    rmse_value, fitness_value, total_value = torch.stack([rmse[0], fitness[0], total.double()]).tolist()
    return Alignment(
        transform=transform[0].to(source.dtype), rmse=rmse_value, fitness=fitness_value, iterations=int(total_value)
    )


def coarse_pca(
    source: torch.Tensor,
    target: torch.Tensor,
    *,
    max_correspondence_distance: float | None = None,
    iterations: int = 12,
    max_points: int = 256,
    seed: int = 0,
) -> torch.Tensor:
    """Coarse pose (4, 4) from centroids and principal axes.

    The principal axes fix a rotation only up to the sign and order of the axes, so all 24 proper
    rotations mapping source axes onto target axes are tried at once: each gets a short
    point-to-point ICP (``iterations`` steps on ``max_points`` source points, pairs within
    ``max_correspondence_distance``, default 10% of the target diagonal) and the one with the lowest
    truncated nearest-neighbour residual wins. Pass downsampled clouds; the cost is 24 small ICPs.
    """
    _check_cloud(source, "source")
    _check_cloud(target, "target")
    distance = max_correspondence_distance if max_correspondence_distance is not None else 0.1 * _diagonal(target)
    src64, tgt64 = source.double(), target.double()
    src_c, tgt_c = src64.mean(dim=0), tgt64.mean(dim=0)
    src_axes, tgt_axes = _principal_axes(src64 - src_c), _principal_axes(tgt64 - tgt_c)
    candidates = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            mapping = torch.zeros(3, 3, dtype=torch.float64, device=source.device)
            mapping[list(perm), [0, 1, 2]] = torch.tensor(signs, dtype=torch.float64, device=source.device)
            rotation = tgt_axes @ mapping @ src_axes.T
            if torch.linalg.det(rotation) > 0:
                candidates.append(rotation)
    rotations = torch.stack(candidates)
    transforms = _identity(source).repeat(rotations.shape[0], 1, 1)
    transforms[:, :3, :3] = rotations
    transforms[:, :3, 3] = tgt_c - rotations @ src_c
    src = source[_subset(source.shape[0], max_points, seed, source.device)]
    transforms, _, _, _ = _icp_batch(src, target, None, transforms, distance, iterations, 0.0)
    d2, _ = knn(apply_transform(src.unsqueeze(0), transforms).reshape(-1, 3), target, 1)
    residual = d2.reshape(transforms.shape[0], -1).clamp(max=distance**2).mean(dim=1)
    return transforms[int(torch.argmin(residual))].to(source.dtype)


def coarse_fpfh(
    source: torch.Tensor,
    target: torch.Tensor,
    *,
    voxel_size: float,
    hypotheses: int = 20000,
    batch: int = 2048,
    inlier_distance: float | None = None,
    edge_similarity: float = 0.9,
    refits: int = 3,
    seed: int = 0,
) -> torch.Tensor:
    """Coarse pose (4, 4) by FPFH feature matching and RANSAC; pass clouds downsampled at ``voxel_size``.

    Normals use the 30 nearest neighbours and FPFH a radius of 5 voxels. Correspondences are the
    mutual nearest neighbours in FPFH space (all source-to-target nearest neighbours when fewer than
    ten are mutual). ``hypotheses`` random 3-correspondence samples are scored ``batch`` at a time
    on the tensor device: samples whose pairwise edge lengths disagree by more than
    ``edge_similarity`` are rejected, the rest are fitted in closed form and scored by the number of
    correspondences within ``inlier_distance`` (default 1.5 voxels), ties broken by inlier RMSE.
    The best hypothesis is refitted on its inliers ``refits`` times.
    """
    return fpfh_hypotheses(source, target, voxel_size=voxel_size, keep=1, hypotheses=hypotheses, batch=batch,
                           inlier_distance=inlier_distance, edge_similarity=edge_similarity, refits=refits,
                           seed=seed)[0]


def fpfh_hypotheses(
    source: torch.Tensor,
    target: torch.Tensor,
    *,
    voxel_size: float,
    keep: int = 8,
    hypotheses: int = 20000,
    batch: int = 2048,
    inlier_distance: float | None = None,
    edge_similarity: float = 0.9,
    refits: int = 3,
    seed: int = 0,
) -> torch.Tensor:
    """The ``keep`` best RANSAC poses (K, 4, 4) of :func:`coarse_fpfh`, each refitted on its inliers.

    Correspondence counts alone mislead on a single view of a symmetric part (many poses explain a few
    matches), so :func:`align` verifies each hypothesis by a short ICP and keeps the one that fits best.
    """
    _check_cloud(source, "source")
    _check_cloud(target, "target")
    if source.shape[0] < 3 or target.shape[0] < 3:
        raise ValueError("fpfh_hypotheses needs at least 3 points in each cloud")
    threshold = inlier_distance if inlier_distance is not None else 1.5 * voxel_size
    ps, pt = _fpfh_matches(source, target, voxel_size)
    found, _ = _ransac(ps, pt, voxel_size, hypotheses, batch, threshold, edge_similarity, keep, seed)
    return torch.stack([_refit(ps, pt, pose, threshold, refits) for pose in found]).to(source.dtype)


def _fpfh_matches(source: torch.Tensor, target: torch.Tensor, voxel_size: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Matched points (C, 3) each, float64: mutual FPFH nearest neighbours (all forward ones when under ten)."""
    radius = 5.0 * voxel_size
    src_feat = fpfh(source, estimate_normals(source, k=min(30, source.shape[0])), radius=radius)
    tgt_feat = fpfh(target, estimate_normals(target, k=min(30, target.shape[0])), radius=radius)
    fwd = _nearest_feature(src_feat, tgt_feat)
    bwd = _nearest_feature(tgt_feat, src_feat)
    src_idx = torch.arange(source.shape[0], device=source.device)
    mutual = bwd[fwd] == src_idx
    if int(mutual.sum()) >= 10:
        src_idx, fwd = src_idx[mutual], fwd[mutual]
    return source[src_idx].double(), target[fwd].double()


def _ransac(ps: torch.Tensor, pt: torch.Tensor, voxel_size: float, hypotheses: int, batch: int, threshold: float,
            edge_similarity: float, keep: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``keep`` best 3-point RANSAC fits (K, 4, 4) of matches ``ps`` -> ``pt`` and their scores (K,)."""
    generator = torch.Generator().manual_seed(seed)
    best_scores = torch.full((1,), -math.inf, dtype=torch.float64, device=ps.device)
    best = _identity(ps).unsqueeze(0)
    for start in range(0, hypotheses, batch):
        count = min(batch, hypotheses - start)
        sample = torch.randint(0, ps.shape[0], (count, 3), generator=generator).to(ps.device)
        a, b = ps[sample], pt[sample]
        edges = [(0, 1), (1, 2), (0, 2)]
        la = torch.stack([(a[:, i] - a[:, j]).norm(dim=1) for i, j in edges], dim=1)
        lb = torch.stack([(b[:, i] - b[:, j]).norm(dim=1) for i, j in edges], dim=1)
        valid = ((torch.minimum(la, lb) >= edge_similarity * torch.maximum(la, lb)) & (la > voxel_size)).all(dim=1)
        if not bool(valid.any()):
            continue
        fits = _kabsch(a[valid], b[valid])
        d2 = ((apply_transform(ps.unsqueeze(0), fits) - pt) ** 2).sum(dim=2)
        inlier = d2 <= threshold**2
        count_in = inlier.sum(dim=1)
        rmse = torch.sqrt((d2 * inlier).sum(dim=1) / count_in.clamp(min=1))
        scores = torch.cat([best_scores, count_in.double() - rmse / threshold])
        poses = torch.cat([best, fits])
        top = torch.topk(scores, min(keep, scores.shape[0])).indices
        best_scores, best = scores[top], poses[top]
    return best, best_scores


def _refit(ps: torch.Tensor, pt: torch.Tensor, pose: torch.Tensor, threshold: float, refits: int) -> torch.Tensor:
    """``pose`` refitted in closed form on its inlier matches, ``refits`` times."""
    for _ in range(refits):
        d2 = ((apply_transform(ps, pose) - pt) ** 2).sum(dim=1)
        inlier = d2 <= threshold**2
        if int(inlier.sum()) < 3:
            break
        pose = _kabsch(ps[inlier].unsqueeze(0), pt[inlier].unsqueeze(0))[0]
    return pose


_CUDA_CHECK_EVERY = 4
"""ICP iterations per block on CUDA: one replayed CUDA graph, then one host check of whether every member has
converged; the CPU checks after each iteration."""
_ICP_GRAPHS: cuda_graphs.GraphCache[tuple["_IcpState", torch.cuda.CUDAGraph | None]] = cuda_graphs.GraphCache()


class _IcpState:
    """The tensors one ICP stage updates in place: static buffers, so a block of iterations can be a CUDA graph."""

    def __init__(self, src: torch.Tensor, tgt: torch.Tensor, normals: torch.Tensor | None, transforms: torch.Tensor,
                 distance: float, tolerance: float) -> None:
        self.src64 = src.to(torch.float64, copy=True)
        self.tgt = tgt.clone()
        self.tgt64 = tgt.to(torch.float64, copy=True)
        self.normals64 = normals.to(torch.float64, copy=True) if normals is not None else None
        self.transforms = transforms.clone()
        self.identity = _identity(src).expand_as(transforms)
        self.radius = torch.zeros((), dtype=torch.float64, device=src.device)
        self.active = torch.ones((), dtype=torch.bool, device=src.device)
        self.steps = torch.zeros((), dtype=torch.int64, device=src.device)
        self.distance, self.tolerance = distance, tolerance
        self.load(src, tgt, normals, transforms)

    def load(self, src: torch.Tensor, tgt: torch.Tensor, normals: torch.Tensor | None, transforms: torch.Tensor) -> None:
        """Start a stage on these clouds (same shapes as the buffers) from ``transforms``."""
        self.src64.copy_(src)
        self.tgt.copy_(tgt)
        self.tgt64.copy_(tgt)
        if self.normals64 is not None and normals is not None:
            self.normals64.copy_(normals)
        self.transforms.copy_(transforms)
        self.radius.copy_(torch.sqrt(((self.src64 - self.src64.mean(dim=0)) ** 2).sum(dim=1).mean()).clamp(min=1e-12))
        self.active.fill_(True)
        self.steps.zero_()

    def iterate(self, count: int) -> None:
        """``count`` ICP iterations; once the batch has converged (or lost its pairs) they change nothing."""
        for _ in range(count):
            moved, _, idx, weight, pairs = _pairs(self.src64, self.tgt, self.transforms, self.distance)
            paired = pairs >= 6
            active = self.active & paired.any()
            matched = self.tgt64[idx]
            if self.normals64 is None:
                update = _kabsch(moved, matched, weight)
            else:
                update = _point_to_plane_step(moved, matched, self.normals64[idx], weight)
            update = torch.where(paired.view(-1, 1, 1), update, self.identity)
            self.transforms.copy_(torch.where(active, update @ self.transforms, self.transforms))
            self.steps.add_(active.long())
            angle = torch.arccos(((update[:, 0, 0] + update[:, 1, 1] + update[:, 2, 2] - 1) / 2).clamp(-1, 1))
            shift = update[:, :3, 3].norm(dim=1) / self.radius
            self.active.copy_(active & ~((angle < self.tolerance) & (shift < self.tolerance)).all())


def _icp_batch(
    src: torch.Tensor,
    tgt: torch.Tensor,
    normals: torch.Tensor | None,
    transforms: torch.Tensor,
    distance: float,
    max_iterations: int,
    tolerance: float,
    check_every: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """ICP of one source against one target from B initial transforms (B, 4, 4) at once.

    Point-to-plane when ``normals`` is given, else point-to-point. Returns the refined transforms,
    their inlier RMSE and fitness (B,) evaluated at the returned transforms, and the number of
    updates applied (a 0-dim tensor). The batch stops updating once every member has converged (or no
    member has 6 pairs left): later iterations are masked to the identity, so the result does not depend on
    how often the host asks whether to stop. It asks after every ``check_every`` iterations (default: each on
    CPU, every ``_CUDA_CHECK_EVERY`` on CUDA, where each question is a device synchronisation);
    ``check_every >= max_iterations`` runs a fixed iteration count without any. On CUDA each
    block of ``check_every`` iterations is a CUDA graph, captured once per shape, distance and tolerance.
    """
    n_src = src.shape[0]
    every = check_every if check_every is not None else (_CUDA_CHECK_EVERY if src.is_cuda else 1)
    state, graph = _icp_state(src, tgt, normals, transforms, distance, tolerance, min(every, max_iterations))
    done = 0
    while done < max_iterations:
        block = min(every, max_iterations - done)
        if graph is not None and block == every:
            graph.replay()
        else:
            state.iterate(block)
        done += block
        if done < max_iterations and not bool(state.active):
            break
    _, d2, _, weight, count = _pairs(state.src64, state.tgt, state.transforms, distance)
    rmse = torch.sqrt((d2 * weight).sum(dim=1) / count.clamp(min=1))
    return state.transforms.clone(), rmse, count / n_src, state.steps.clone()


def _icp_state(
    src: torch.Tensor, tgt: torch.Tensor, normals: torch.Tensor | None, transforms: torch.Tensor,
    distance: float, tolerance: float, block: int,
) -> tuple[_IcpState, torch.cuda.CUDAGraph | None]:
    """A loaded ICP state and, on CUDA, the graph of ``block`` iterations on it (kept per thread, shape, distance and
    tolerance; None where no graph is used or its capture failed, which then runs eagerly)."""
    if not cuda_graphs.enabled(src.device):
        return _IcpState(src, tgt, normals, transforms, distance, tolerance), None

    def record() -> tuple[_IcpState, torch.cuda.CUDAGraph | None]:
        state = _IcpState(src, tgt, normals, transforms, distance, tolerance)
        graph: torch.cuda.CUDAGraph | None = torch.cuda.CUDAGraph()
        side = torch.cuda.Stream(src.device)
        side.wait_stream(torch.cuda.current_stream(src.device))
        with torch.cuda.stream(side):
            state.iterate(1)
        torch.cuda.current_stream(src.device).wait_stream(side)
        try:
            with cuda_graphs.capture(graph, src.device):
                state.iterate(block)
        except RuntimeError as exc:
            variant = "point-to-point" if normals is None else "point-to-plane"
            warnings.warn(f"ICP ({variant}, batch {transforms.shape[0]}) runs eagerly on {src.device}: its CUDA graph "
                          f"capture failed ({exc})", stacklevel=3)
            graph = None
        return state, graph

    key = (src.device, tuple(src.shape), tuple(tgt.shape), normals is None, tuple(transforms.shape), distance,
           tolerance, block)
    state, graph = _ICP_GRAPHS.get(key, record)
    state.load(src, tgt, normals, transforms)
    return state, graph


def _pairs(
    src64: torch.Tensor, tgt: torch.Tensor, transforms: torch.Tensor, distance: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source points moved by each transform (B, N, 3), their nearest target's squared distance and index (B, N),
    the inlier weight (B, N) (1 within ``distance``) and the inlier count (B,)."""
    n_batch, n_src = transforms.shape[0], src64.shape[0]
    moved = apply_transform(src64.unsqueeze(0), transforms)
    d2, idx = knn(moved.reshape(-1, 3).to(tgt.dtype), tgt, 1)
    d2, idx = d2.reshape(n_batch, n_src).double(), idx.reshape(n_batch, n_src)
    weight = (d2 <= distance**2).double()
    return moved, d2, idx, weight, weight.sum(dim=1)


def _point_to_plane_step(p: torch.Tensor, q: torch.Tensor, n: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Rigid update (B, 4, 4) minimising sum w * ((R p + t - q) . n)^2, linearised for small angles.

    The rotation is about the weighted centroid of ``p`` so the 6x6 system stays well conditioned
    far from the origin; the solved rotation vector is turned into an exact rotation matrix.
    """
    centroid = (p * w.unsqueeze(2)).sum(dim=1) / w.sum(dim=1).clamp(min=1).unsqueeze(1)
    pc = p - centroid.unsqueeze(1)
    jac = torch.cat([torch.linalg.cross(pc, n, dim=2), n], dim=2)
    res = ((q - p) * n).sum(dim=2)
    jw = jac * w.unsqueeze(2)
    lhs = jw.transpose(1, 2) @ jac
    rhs = (jw * res.unsqueeze(2)).sum(dim=1)
    damping = 1e-9 * lhs.diagonal(dim1=1, dim2=2).sum(dim=1).clamp(min=1e-30)
    lhs = lhs + damping.view(-1, 1, 1) * torch.eye(6, dtype=lhs.dtype, device=lhs.device)
    x = _solve_spd(lhs, rhs) if lhs.is_cuda else torch.linalg.solve_ex(lhs, rhs.unsqueeze(2))[0].squeeze(2)
    omega, t = x[:, :3], x[:, 3:]
    rotation = _rotation_from_vector(omega)
    update = torch.eye(4, dtype=p.dtype, device=p.device).repeat(p.shape[0], 1, 1)
    update[:, :3, :3] = rotation
    update[:, :3, 3] = centroid + t - (rotation @ centroid.unsqueeze(2)).squeeze(2)
    return update


def _solve_spd(lhs: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Solutions (B, n) of the symmetric positive definite systems ``lhs`` (B, n, n) ``x = rhs`` (B, n).

    Gauss-Jordan elimination without pivoting (stable for SPD matrices; the ICP system is damped) in ``n`` fixed
    tensor steps: no library call, so a CUDA graph can hold it. cuSOLVER's batched LU (``linalg.solve``) copies its
    pivots to the host, which broke the ICP block's graph capture in the service.
    """
    system = torch.cat([lhs, rhs.unsqueeze(2)], dim=2)
    for k in range(lhs.shape[1]):
        row = system[:, k : k + 1, :] / system[:, k : k + 1, k : k + 1]
        system = system - system[:, :, k : k + 1] * row
        system[:, k : k + 1, :] = row
    return system[:, :, -1]


def _rotation_from_vector(omega: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (B, 3, 3) ``exp([omega]x)`` of rotation vectors (B, 3).

    CPU: ``torch.linalg.matrix_exp``. CUDA: Rodrigues' formula ``I + a S + b S^2`` (``S = [omega]x``, ``a = sin t / t``,
    ``b = (1 - cos t) / t^2``, Taylor terms below ``t = 1e-4``), the same matrix to rounding: matrix_exp reads its
    norm on the host to pick a Pade degree, a synchronisation per ICP iteration.
    """
    skew = torch.zeros(omega.shape[0], 3, 3, dtype=omega.dtype, device=omega.device)
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -omega[:, 2], omega[:, 1], -omega[:, 0]
    skew = skew - skew.transpose(1, 2)
    return _rodrigues(omega, skew) if omega.is_cuda else torch.linalg.matrix_exp(skew)


def _rodrigues(omega: torch.Tensor, skew: torch.Tensor) -> torch.Tensor:
    """``exp(skew)`` (B, 3, 3) of the skew matrices ``skew`` of rotation vectors ``omega`` (B, 3), in closed form."""
    theta2 = (omega * omega).sum(dim=1)
    theta = theta2.sqrt()
    small = theta < 1e-4
    safe = torch.where(small, torch.ones_like(theta), theta)
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(safe)) / (safe * safe))
    eye = torch.eye(3, dtype=omega.dtype, device=omega.device)
    return eye + a.view(-1, 1, 1) * skew + b.view(-1, 1, 1) * (skew @ skew)


def _kabsch(p: torch.Tensor, q: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    """Least-squares rigid transforms (B, 4, 4) with R p + t ~ q for point sets (B, K, 3), optional weights (B, K)."""
    p, q = p.double(), q.double()
    w = torch.ones(p.shape[:2], dtype=p.dtype, device=p.device) if w is None else w.double()
    total = w.sum(dim=1).clamp(min=1e-12).view(-1, 1, 1)
    pc = (p * w.unsqueeze(2)).sum(dim=1, keepdim=True) / total
    qc = (q * w.unsqueeze(2)).sum(dim=1, keepdim=True) / total
    cov = ((p - pc) * w.unsqueeze(2)).transpose(1, 2) @ (q - qc)
    u, _, vh = torch.linalg.svd(cov)
    fix = torch.ones(p.shape[0], 3, dtype=p.dtype, device=p.device)
    fix[:, 2] = torch.sign(torch.linalg.det(vh.transpose(1, 2) @ u.transpose(1, 2)))
    rotation = vh.transpose(1, 2) @ torch.diag_embed(fix) @ u.transpose(1, 2)
    out = torch.eye(4, dtype=p.dtype, device=p.device).repeat(p.shape[0], 1, 1)
    out[:, :3, :3] = rotation
    out[:, :3, 3] = (qc - pc @ rotation.transpose(1, 2)).squeeze(1)
    return out


def _nearest_feature(query: torch.Tensor, ref: torch.Tensor, max_bytes: int = 64 << 20) -> torch.Tensor:
    """Index (M,) of the nearest ``ref`` row for every ``query`` row in descriptor space (any dimension)."""
    chunk = max(1, max_bytes // max(1, 4 * ref.shape[0]))
    return torch.cat([torch.cdist(q, ref).argmin(dim=1) for q in query.split(chunk)])


def _principal_axes(centered: torch.Tensor) -> torch.Tensor:
    """Eigenvectors (3, 3, columns, largest variance first) of a centred cloud's covariance."""
    _, vecs = torch.linalg.eigh(centered.T @ centered)
    return vecs.flip(1)


def _downsample(points: torch.Tensor, voxel: float, max_points: int, seed: int) -> torch.Tensor:
    """Voxel-grid downsample, then a seeded random subset if still above ``max_points``."""
    down, _ = voxel_downsample(points, voxel)
    return down[_subset(down.shape[0], max_points, seed, down.device)]


@functools.lru_cache(maxsize=32)
def _subset(n: int, max_points: int, seed: int, device: torch.device) -> torch.Tensor:
    """Sorted indices of a seeded random subset of at most ``max_points`` out of ``n`` (kept: a template's subset is
    drawn and copied to the device once, not every frame)."""
    if n <= max_points:
        return torch.arange(n, device=device)
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator)[:max_points].sort().values.to(device)


def _identity(like: torch.Tensor) -> torch.Tensor:
    return torch.eye(4, dtype=torch.float64, device=like.device)


def _diagonal(points: torch.Tensor) -> float:
    return float((points.amax(dim=0) - points.amin(dim=0)).norm())


def _check_cloud(points: torch.Tensor, name: str) -> None:
    if points.ndim != 2 or points.shape[1] != 3 or points.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (N, 3) tensor, got {tuple(points.shape)}")
