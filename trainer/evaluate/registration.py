"""Registration error where no ground-truth pose is given (dev-views, Real3D-AD): self-consistency.

Each test cloud is registered to the class's template as it comes (reference pose), then again after a known
random rigid motion; the error is the rotation (degrees) and translation (cloud units) between the second result
composed with the motion and the reference. It measures how well registration undoes a pose change of the given
size, not the absolute accuracy of the reference. ``python -m trainer.evaluate.registration DATA CLASS`` prints it.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edge.geometry.alignment import Coarse, align, apply_transform
from edge.geometry.sampling import voxel_downsample
from trainer.data import load_split
from trainer.fit.recipe import resolve_voxel_size


@dataclass(frozen=True)
class RegistrationError:
    """One cloud's registration error after a known motion: rotation in degrees, translation in cloud units."""

    name: str
    rotation_deg: float
    translation: float


def registration_errors(root: Path, format: str, class_name: str, *, degrees: float, shift: float,
                        coarse: Coarse = "none", limit: int | None = None, seed: int = 0) -> list[RegistrationError]:
    """Self-consistency errors of every test cloud (or the first ``limit``) of ``class_name``."""
    train = load_split(root, format, class_name, "train")
    first = torch.as_tensor(np.asarray(train[0].points, np.float32))
    voxel = resolve_voxel_size(first, 12000)
    template, _ = voxel_downsample(first, voxel)
    schedule = (8.0 * voxel, 2.0 * voxel, voxel)
    rng = np.random.default_rng(seed)
    errors = []
    for sample in list(load_split(root, format, class_name, "test"))[:limit]:
        scan, _ = voxel_downsample(torch.as_tensor(np.asarray(sample.points, np.float32)), voxel)
        reference = align(scan, template, coarse="none", voxel_size=voxel, max_correspondence_distance=schedule)
        motion = _motion(rng, degrees, shift)
        moved = apply_transform(scan, motion.float())
        result = align(moved, template, coarse=coarse, voxel_size=voxel, max_correspondence_distance=schedule)
        error = torch.linalg.inv(reference.transform.double()) @ result.transform.double() @ motion
        angle = math.degrees(float(torch.arccos(((error[:3, :3].trace() - 1) / 2).clamp(-1, 1))))
        name = sample.path.stem if sample.path else str(len(errors))
        errors.append(RegistrationError(name, angle, float(error[:3, 3].norm())))
    return errors


def _motion(rng: np.random.Generator, degrees: float, shift: float) -> torch.Tensor:
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = math.radians(rng.uniform(-degrees, degrees))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    out = np.eye(4)
    out[:3, :3] = np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)
    direction = rng.normal(size=3)
    out[:3, 3] = direction / np.linalg.norm(direction) * rng.uniform(0, shift)
    return torch.as_tensor(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("class_name")
    parser.add_argument("--format", default="real3d")
    parser.add_argument("--degrees", type=float, default=3.0)
    parser.add_argument("--shift", type=float, default=1.0)
    parser.add_argument("--coarse", default="none", choices=["none", "pca", "fpfh"])
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    errors = registration_errors(args.data, args.format, args.class_name, degrees=args.degrees, shift=args.shift,
                                 coarse=args.coarse, limit=args.limit)
    for e in errors:
        print(f"{e.name:16s} rotation {e.rotation_deg:7.3f} deg  translation {e.translation:7.3f}")
    rot, trans = [e.rotation_deg for e in errors], [e.translation for e in errors]
    print(f"median rotation {np.median(rot):.3f} deg (max {max(rot):.3f}), "
          f"median translation {np.median(trans):.3f} (max {max(trans):.3f})")


if __name__ == "__main__":
    main()
