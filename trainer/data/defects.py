"""Synthetic surface defects with per-point labels, shaped like the dev-bench's injected ones.

Every defect takes a clean cloud (millimetres), a `np.random.Generator` and optional
sizes given as fractions of the cloud's bounding-box diagonal `D`; a size left as None is
drawn from the default range, measured on the dev-bench defects (D = 100 mm):

| kind      | what                                     | default size (fraction of D)                    |
|-----------|------------------------------------------|-------------------------------------------------|
| bulge     | smooth bump along the surface normal     | radius 0.05-0.075, height 0.015-0.025           |
| concavity | smooth dent (inverse bulge)              | radius 0.05-0.075, depth 0.015-0.025            |
| crack     | narrow V groove along a bent surface path| length 0.10-0.18, half-width 0.01-0.015, depth 0.015-0.025 |
| scratch   | shallow, thinner, nearly straight groove | length 0.10-0.25, half-width 0.005-0.008, depth 0.005-0.01 |
| hole      | points removed in a ball; rim labelled   | radius 0.03-0.05, rim 0.015-0.025               |
| broken    | extremity cut off by a plane; rim labelled | fraction of points 0.03-0.07, rim 0.02-0.035 |

Widths, radii and rims never drop below the cloud's point spacing, so a defect always
labels points even on sparse clouds. The result keeps the surviving points in their
original order. Known `normals` (outward) make the displacement direction exact and keep
a defect on one face of a thin wall; without them normals are estimated (see
`geometry.estimate_normals`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.spatial import cKDTree

from trainer.data.geometry import (
    bbox_diagonal,
    estimate_normals,
    point_spacing,
    rotation_about,
    tangent_frame,
    unit,
)

DEFECT_KINDS = ("bulge", "concavity", "crack", "hole", "broken", "scratch")


class DefectResult(NamedTuple):
    """The defective cloud: points (M, 3) float32 and labels (M,) uint8, 1 on the defect."""

    points: np.ndarray
    labels: np.ndarray


class _Cloud:
    """A cloud prepared for defect injection: float64 points, KD-tree, scale, normals on demand."""

    def __init__(self, points: np.ndarray, normals: np.ndarray | None) -> None:
        self.points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        if len(self.points) < 16:
            raise ValueError(f"a defect needs at least 16 points, got {len(self.points)}")
        self.given_normals = None if normals is None else unit(np.asarray(normals, np.float64).reshape(-1, 3))
        self.tree = cKDTree(self.points)
        self.diagonal = bbox_diagonal(self.points)
        self.spacing = point_spacing(self.points, self.tree)

    def normals(self, index: np.ndarray) -> np.ndarray:
        """Outward unit normals at `points[index]`."""
        if self.given_normals is not None:
            return self.given_normals[index]
        return estimate_normals(self.points, self.tree, index)

    def size(self, fraction: float | None, default: tuple[float, float], rng: np.random.Generator,
             floor_spacings: float = 0.0) -> float:
        """A length in mm: `fraction` (or one drawn from `default`) of the diagonal, at least a few spacings."""
        value = rng.uniform(*default) if fraction is None else float(fraction)
        if value <= 0:
            raise ValueError(f"defect sizes must be positive, got {value}")
        return max(value * self.diagonal, floor_spacings * self.spacing)

    def anchor(self, center: np.ndarray | None, rng: np.random.Generator) -> int:
        """Index of the cloud point nearest `center`, or of a random point."""
        if center is None:
            return int(rng.integers(len(self.points)))
        return int(self.tree.query(np.asarray(center, dtype=np.float64).reshape(3))[1])

    def result(self, points: np.ndarray, labels: np.ndarray, keep: np.ndarray | None = None) -> DefectResult:
        if keep is not None:
            points, labels = points[keep], labels[keep]
        return DefectResult(points.astype(np.float32), labels.astype(np.uint8))


def _same_side(cloud: _Cloud, index: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Mask of `index` whose normal faces within 90 degrees of `direction` (one face of a wall)."""
    return cloud.normals(index) @ direction > 0.0


def _patch_displacement(cloud: _Cloud, rng: np.random.Generator, center: np.ndarray | None,
                        radius: float | None, amount: float | None, sign: float) -> DefectResult:
    """A smooth bump (sign +1) or dent (sign -1): offset `amount * (1 - (d/r)^2)^2` along the patch normal."""
    r = cloud.size(radius, (0.05, 0.075), rng, floor_spacings=2.0)
    h = cloud.size(amount, (0.015, 0.025), rng)
    anchor = cloud.anchor(center, rng)
    origin = cloud.points[anchor]
    axis = cloud.normals(np.array([anchor]))[0]
    near = np.asarray(cloud.tree.query_ball_point(origin, r), dtype=np.int64)
    near = near[_same_side(cloud, near, axis)]
    core = near[np.linalg.norm(cloud.points[near] - origin, axis=1) < r / 2]
    axis = unit(cloud.normals(core).mean(axis=0)) if len(core) else axis
    distance = np.linalg.norm(cloud.points[near] - origin, axis=1)
    profile = (1.0 - (distance / r) ** 2) ** 2
    points = cloud.points.copy()
    points[near] += sign * h * profile[:, None] * axis
    labels = np.zeros(len(points), np.uint8)
    labels[near] = 1
    return cloud.result(points, labels)


def bulge(points: np.ndarray, rng: np.random.Generator, *, normals: np.ndarray | None = None,
          center: np.ndarray | None = None, radius: float | None = None,
          height: float | None = None) -> DefectResult:
    """Extra material: a smooth bump of `radius` and peak `height` (fractions of D) pushed outward."""
    return _patch_displacement(_Cloud(points, normals), rng, center, radius, height, +1.0)


def concavity(points: np.ndarray, rng: np.random.Generator, *, normals: np.ndarray | None = None,
              center: np.ndarray | None = None, radius: float | None = None,
              depth: float | None = None) -> DefectResult:
    """A dent: a smooth depression of `radius` and peak `depth` (fractions of D) pushed inward."""
    return _patch_displacement(_Cloud(points, normals), rng, center, radius, depth, -1.0)


def _surface_path(cloud: _Cloud, anchor: int, length: float, bend_degrees: float,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A polyline of `length` centred on `points[anchor]` that follows the surface, and its vertex normals.

    Each step goes along the current tangent, is projected onto the local surface plane,
    and turns by up to `bend_degrees` about the normal.
    """
    step = max(length / 24.0, cloud.spacing)
    steps = max(1, int(np.ceil(length / 2.0 / step)))
    start = cloud.points[anchor]
    start_normal = cloud.normals(np.array([anchor]))[0]
    heading = tangent_frame(start_normal)[0] @ rotation_about(start_normal, rng.uniform(0, 2 * np.pi)).T
    halves = []
    for direction in (heading, -heading):
        position, normal, tangent = start, start_normal, direction
        vertices, normals = [], []
        for _ in range(steps):
            target = position + step * tangent
            _, nearest = cloud.tree.query(target, k=min(8, len(cloud.points)))
            normal_here = cloud.normals(nearest[:1])[0]
            if normal_here @ normal < 0:
                break
            target = target - ((target - cloud.points[nearest].mean(axis=0)) @ normal_here) * normal_here
            tangent = target - position
            tangent = unit(tangent - (tangent @ normal_here) * normal_here)
            tangent = rotation_about(normal_here, np.deg2rad(rng.uniform(-bend_degrees, bend_degrees))) @ tangent
            position, normal = target, normal_here
            vertices.append(position)
            normals.append(normal)
        halves.append((vertices, normals))
    (back, back_normals), (forth, forth_normals) = halves[1], halves[0]
    vertices = np.array(back[::-1] + [start] + forth)
    normals = np.array(back_normals[::-1] + [start_normal] + forth_normals)
    return vertices, normals


def _segment_distances(points: np.ndarray, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each point to a polyline, and the index of the nearest vertex's segment start."""
    if len(vertices) == 1:
        return np.linalg.norm(points - vertices[0], axis=1), np.zeros(len(points), np.int64)
    a, b = vertices[:-1], vertices[1:]
    ab = b - a
    t = np.einsum("psi,si->ps", points[:, None, :] - a[None], ab) / np.maximum((ab * ab).sum(axis=1), 1e-12)
    closest = a[None] + np.clip(t, 0.0, 1.0)[..., None] * ab[None]
    distances = np.linalg.norm(points[:, None, :] - closest, axis=2)
    segment = distances.argmin(axis=1)
    nearest_vertex = segment + (np.take_along_axis(t, segment[:, None], axis=1)[:, 0] > 0.5)
    return distances[np.arange(len(points)), segment], nearest_vertex


def _groove(cloud: _Cloud, rng: np.random.Generator, center: np.ndarray | None, length: float | None,
            width: float | None, depth: float | None, ranges: dict[str, tuple[float, float]],
            bend_degrees: float) -> DefectResult:
    """A V-shaped groove of half-width `width` and `depth` along a surface path of `length`."""
    path_length = cloud.size(length, ranges["length"], rng, floor_spacings=2.0)
    half_width = cloud.size(width, ranges["width"], rng, floor_spacings=1.5)
    d = cloud.size(depth, ranges["depth"], rng)
    anchor = cloud.anchor(center, rng)
    vertices, vertex_normals = _surface_path(cloud, anchor, path_length, bend_degrees, rng)
    reach = np.linalg.norm(vertices - cloud.points[anchor], axis=1).max() + half_width
    near = np.asarray(cloud.tree.query_ball_point(cloud.points[anchor], reach), dtype=np.int64)
    distance, vertex = _segment_distances(cloud.points[near], vertices)
    inside = distance < half_width
    near, distance, vertex = near[inside], distance[inside], vertex[inside]
    point_normals = cloud.normals(near)
    facing = np.einsum("ni,ni->n", point_normals, vertex_normals[vertex]) > 0.0
    near, distance, point_normals = near[facing], distance[facing], point_normals[facing]
    points = cloud.points.copy()
    points[near] -= (d * (1.0 - distance / half_width))[:, None] * point_normals
    labels = np.zeros(len(points), np.uint8)
    labels[near] = 1
    return cloud.result(points, labels)


def crack(points: np.ndarray, rng: np.random.Generator, *, normals: np.ndarray | None = None,
          center: np.ndarray | None = None, length: float | None = None, width: float | None = None,
          depth: float | None = None) -> DefectResult:
    """A crack: a narrow, deep V groove along a wandering surface path (sizes as fractions of D)."""
    ranges = {"length": (0.10, 0.18), "width": (0.01, 0.015), "depth": (0.015, 0.025)}
    return _groove(_Cloud(points, normals), rng, center, length, width, depth, ranges, bend_degrees=12.0)


def scratch(points: np.ndarray, rng: np.random.Generator, *, normals: np.ndarray | None = None,
            center: np.ndarray | None = None, length: float | None = None, width: float | None = None,
            depth: float | None = None) -> DefectResult:
    """A scratch: a shallow, thin, nearly straight groove (sizes as fractions of D)."""
    ranges = {"length": (0.10, 0.25), "width": (0.005, 0.008), "depth": (0.005, 0.01)}
    return _groove(_Cloud(points, normals), rng, center, length, width, depth, ranges, bend_degrees=2.0)


def _remove_with_rim(cloud: _Cloud, removed: np.ndarray, rim: float) -> DefectResult:
    """Drop `removed` points and label the survivors within `rim` of any of them.

    Where the cloud is too sparse for any survivor to lie that close, the rim widens to
    reach the nearest survivors, so that the defect is always labelled.
    """
    keep = np.ones(len(cloud.points), bool)
    keep[removed] = False
    labels = np.zeros(len(cloud.points), np.uint8)
    if removed.size and keep.any():
        survivors = np.flatnonzero(keep)
        distance, _ = cKDTree(cloud.points[removed]).query(cloud.points[survivors])
        labels[survivors[distance <= max(rim, 1.25 * distance.min())]] = 1
    return cloud.result(cloud.points, labels, keep)


def hole(points: np.ndarray, rng: np.random.Generator, *, normals: np.ndarray | None = None,
         center: np.ndarray | None = None, radius: float | None = None, rim: float | None = None) -> DefectResult:
    """Missing material: every point within `radius` of the centre removed (through a thin wall too);
    the surviving points within `rim` of the opening are labelled."""
    cloud = _Cloud(points, normals)
    r = cloud.size(radius, (0.03, 0.05), rng, floor_spacings=1.5)
    rim_mm = cloud.size(rim, (0.015, 0.025), rng, floor_spacings=1.5)
    origin = cloud.points[cloud.anchor(center, rng)]
    removed = np.asarray(cloud.tree.query_ball_point(origin, r), dtype=np.int64)
    return _remove_with_rim(cloud, removed, rim_mm)


def broken(points: np.ndarray, rng: np.random.Generator, *, normals: np.ndarray | None = None,
           center: np.ndarray | None = None, fraction: float | None = None, radius: float | None = None,
           rim: float | None = None) -> DefectResult:
    """A broken-off piece: the `fraction` of points lying furthest beyond a plane cut near an extremity.

    The extremity (`center`, default one of the 10 % of points furthest from the centroid)
    sets the cut direction (centroid -> extremity, tilted up to 25 degrees); the cut stays
    within `radius` (fraction of D, default 0.3) of it. Survivors within `rim` of the cut are labelled.
    """
    cloud = _Cloud(points, normals)
    share = rng.uniform(0.03, 0.07) if fraction is None else float(fraction)
    if not 0.0 < share < 1.0:
        raise ValueError(f"broken fraction must be in (0, 1), got {share}")
    limit = (0.3 if radius is None else float(radius)) * cloud.diagonal
    rim_mm = cloud.size(rim, (0.02, 0.035), rng, floor_spacings=1.5)
    centroid = cloud.points.mean(axis=0)
    if center is None:
        spread = np.linalg.norm(cloud.points - centroid, axis=1)
        extremities = np.flatnonzero(spread >= np.quantile(spread, 0.9))
        anchor = int(rng.choice(extremities))
    else:
        anchor = cloud.anchor(center, rng)
    tip = cloud.points[anchor]
    outward = unit(tip - centroid)
    axis = unit(outward + np.tan(np.deg2rad(rng.uniform(0, 25))) * tangent_frame(outward)[0]
                @ rotation_about(outward, rng.uniform(0, 2 * np.pi)).T)
    near = np.asarray(cloud.tree.query_ball_point(tip, limit), dtype=np.int64)
    count = min(len(near), max(1, int(round(share * len(cloud.points)))))
    height = (cloud.points[near] - tip) @ axis
    removed = near[np.argsort(-height, kind="stable")[:count]]
    return _remove_with_rim(cloud, removed, rim_mm)


_DEFECTS: dict[str, Callable[..., DefectResult]] = {
    "bulge": bulge,
    "concavity": concavity,
    "crack": crack,
    "hole": hole,
    "broken": broken,
    "scratch": scratch,
}


def apply_defect(kind: str, points: np.ndarray, rng: np.random.Generator, *,
                 normals: np.ndarray | None = None, **sizes: float | np.ndarray | None) -> DefectResult:
    """Inject the defect `kind` (one of `DEFECT_KINDS`); `sizes` are that defect's keyword arguments."""
    try:
        defect = _DEFECTS[kind]
    except KeyError:
        raise ValueError(f"unknown defect kind {kind!r}; expected one of {DEFECT_KINDS}") from None
    return defect(points, rng, normals=normals, **sizes)
