"""Training clouds of the DUS-Net shape prior: procedural parts and the shared source objects, never a benchmark.

Every cloud is normalised to the unit sphere (``ShapeFrame``) and turned by a uniformly random rotation, so the
prior learns generic surfaces (planes, fillets, holes, free-form scans) rather than one pose of one object:

- procedural parts: every kind of ``trainer.data.PART_KINDS`` with each dimension drawn independently between
  ``dim_range`` times its nominal value (far wider than a family's tolerance);
- meshes ``casting.obj``, ``fandisk.obj``, ``rocker-arm.obj``: uniform area sampling with open3d;
- ``igea.ply`` (a Cyberware scan stored as triangle strips, which open3d reads as vertices only): its vertices;
- ``bunny-scans``: the ten range scans merged with the poses of ``bun.conf`` (a complete object) and each scan
  on its own (partial views with real sensor noise).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from edge.scoring.reconstruction import ShapeFrame
from trainer.data import PART_KINDS, make_part
from trainer.data.parts import NOMINAL

MESHES = ("casting.obj", "fandisk.obj", "rocker-arm.obj")
SCANS = ("igea.ply",)
BUNNY = "bunny-scans"


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly distributed 3x3 rotation (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def normalised(points: np.ndarray, rng: np.random.Generator, rotate: bool = True) -> torch.Tensor:
    """``points`` in the unit-sphere frame, randomly rotated about the origin (float32 tensor)."""
    cloud = torch.as_tensor(np.asarray(points, dtype=np.float32))
    cloud = ShapeFrame.from_points(cloud).normalize(cloud)
    if rotate:
        cloud = cloud @ torch.as_tensor(random_rotation(rng).T, dtype=torch.float32)
    return cloud


def procedural_part(kind: str, rng: np.random.Generator, n_points: int, dim_range: tuple[float, float]) -> np.ndarray:
    """One ``kind`` part whose every dimension is its nominal value times a factor drawn from ``dim_range``."""
    dims = {name: value * float(rng.uniform(*dim_range)) for name, value in NOMINAL[kind].items()}
    return make_part(kind, rng, n_points, dimensions=dims).points


def source_shapes(sources: Path, rng: np.random.Generator, n_points: int) -> list[np.ndarray]:
    """The shared source objects as clouds of ``n_points`` (partial bunny scans keep at most that many)."""
    import open3d as o3d

    shapes = []
    for name in MESHES:
        mesh = o3d.io.read_triangle_mesh(str(sources / name))
        if len(mesh.triangles) == 0:
            raise ValueError(f"{sources / name} has no triangles")
        o3d.utility.random.seed(int(rng.integers(2**31)))
        shapes.append(np.asarray(mesh.sample_points_uniformly(n_points).points))
    for name in SCANS:
        shapes.append(_subsample(np.asarray(o3d.io.read_point_cloud(str(sources / name)).points), rng, n_points))
    scans = _bunny_scans(sources / BUNNY)
    shapes.append(_subsample(np.concatenate(scans), rng, n_points))
    shapes += [_subsample(scan, rng, n_points) for scan in scans]
    return shapes


def _subsample(points: np.ndarray, rng: np.random.Generator, n_points: int) -> np.ndarray:
    if len(points) <= n_points:
        return points
    return points[rng.choice(len(points), n_points, replace=False)]


def _bunny_scans(folder: Path) -> list[np.ndarray]:
    """Each range scan of ``bun.conf`` moved into the common frame: p' = R(q) p + t."""
    import open3d as o3d

    scans = []
    for line in (folder / "bun.conf").read_text().splitlines():
        fields = line.split()
        if not fields or fields[0] != "bmesh":
            continue
        t = np.array([float(v) for v in fields[2:5]])
        qx, qy, qz, qw = (float(v) for v in fields[5:9])
        rotation = np.array([
            [1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw)],
            [2 * (qx * qy + qz * qw), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw)],
            [2 * (qx * qz - qy * qw), 2 * (qy * qz + qx * qw), 1 - 2 * (qx * qx + qy * qy)],
        ])
        points = np.asarray(o3d.io.read_point_cloud(str(folder / fields[1])).points)
        scans.append(points @ rotation.T + t)
    if not scans:
        raise ValueError(f"no scans listed in {folder / 'bun.conf'}")
    return scans


def prior_clouds(
    sources: Path,
    *,
    parts_per_kind: int = 16,
    source_copies: int = 4,
    n_points: int = 12000,
    dim_range: tuple[float, float] = (0.7, 1.4),
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[torch.Tensor]:
    """The prior's training clouds, each (<= n_points, 3) in the unit sphere with a random rotation.

    ``parts_per_kind`` procedural parts of every kind, and ``source_copies`` randomly rotated copies of each
    source shape (fresh surface samples for the meshes).
    """
    say = progress or (lambda _msg: None)
    rng = np.random.default_rng(seed)
    clouds = []
    for kind in PART_KINDS:
        say(f"procedural {kind} parts")
        clouds += [normalised(procedural_part(kind, rng, n_points, dim_range), rng) for _ in range(parts_per_kind)]
    for copy in range(source_copies):
        say(f"source objects, copy {copy + 1}/{source_copies}")
        clouds += [normalised(shape, rng) for shape in source_shapes(sources, rng, n_points)]
    return clouds
