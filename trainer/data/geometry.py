"""Small numpy geometry helpers shared by the synthetic parts and defects."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def bbox_diagonal(points: np.ndarray) -> float:
    """Length of the axis-aligned bounding box's diagonal."""
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))


def point_spacing(points: np.ndarray, tree: cKDTree, probes: int = 512) -> float:
    """Median nearest-neighbour distance, measured on an evenly strided subset of points."""
    stride = max(1, len(points) // probes)
    distances, _ = tree.query(points[::stride], k=2)
    return float(np.median(distances[:, 1]))


def estimate_normals(points: np.ndarray, tree: cKDTree, index: np.ndarray, k: int = 12) -> np.ndarray:
    """Unit normals at `points[index]` by local PCA over `k` neighbours, oriented away from the centroid.

    The orientation is a heuristic for parts without known normals; it is right for the
    outer surfaces of compact parts.
    """
    index = np.atleast_1d(index)
    k = min(k, len(points))
    _, neighbours = tree.query(points[index], k=k)
    local = points[neighbours.reshape(len(index), k)]
    local = local - local.mean(axis=1, keepdims=True)
    _, vectors = np.linalg.eigh(np.einsum("nki,nkj->nij", local, local))
    normals = vectors[:, :, 0]
    outward = points[index] - points.mean(axis=0)
    normals *= np.where(np.einsum("ni,ni->n", normals, outward) < 0, -1.0, 1.0)[:, None]
    return normals


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows (or a single vector) scaled to unit length."""
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norm, 1e-12)


def tangent_frame(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors orthogonal to `normal` and to each other."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    first = unit(np.cross(normal, helper))
    return first, np.cross(normal, first)


def rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    """3x3 rotation matrix by `angle` radians about the unit `axis` (Rodrigues)."""
    x, y, z = unit(np.asarray(axis, dtype=np.float64))
    skew = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * skew + (1.0 - np.cos(angle)) * skew @ skew


def random_rotation(rng: np.random.Generator, max_degrees: float) -> np.ndarray:
    """A rotation about a uniformly random axis by an angle uniform in [0, max_degrees]."""
    axis = unit(rng.normal(size=3))
    return rotation_about(axis, np.deg2rad(rng.uniform(0.0, max_degrees)))
