"""Registration error where no ground-truth pose is given (dev-views, Real3D-AD): self-consistency.

A normal test cloud is registered to the recipe's template by the Inspector's own registration stage as it
comes (the reference pose), then again after a known random rigid motion of the size a fixture allows; the error
is the rotation (degrees) and translation (cloud units) between the second result composed with the motion and
the reference. It measures how well registration undoes a pose change of that size (single views included),
not the absolute accuracy of the reference. `pcinspect eval` reports it per class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from edge.geometry.alignment import apply_transform
from edge.inspector import Inspector
from edge.preprocess import preprocess
from edge.stages.registration import register
from edge.timing import StageTimer
from trainer.data.geometry import random_rotation


@dataclass(frozen=True)
class Motion:
    """The largest random rigid motion applied: rotation about a random axis and a shift in a random direction."""

    degrees: float = 3.0
    shift: float = 1.0


@dataclass(frozen=True)
class RegistrationError:
    """One cloud's registration error after a known motion: rotation in degrees, translation in cloud units."""

    rotation_deg: float
    translation: float


def registration_error(inspector: Inspector, points: np.ndarray, rng: np.random.Generator,
                       motion: Motion = Motion()) -> RegistrationError:
    """Self-consistency error of registering ``points`` (N, 3) with ``inspector``'s recipe."""
    pre = preprocess(torch.as_tensor(np.asarray(points, np.float32), device=inspector.device),
                     inspector.params.preprocess)
    reference = register(pre.points, inspector.model, StageTimer(inspector.device)).transform.double()
    moved_by = random_motion(rng, motion).to(pre.points.device)
    moved = apply_transform(pre.points, moved_by.to(pre.points.dtype))
    result = register(moved, inspector.model, StageTimer(inspector.device)).transform.double()
    error = torch.linalg.inv(reference) @ result @ moved_by
    angle = math.degrees(float(torch.arccos(((error[:3, :3].trace() - 1) / 2).clamp(-1, 1))))
    return RegistrationError(angle, float(error[:3, 3].norm()))


def summarize(errors: list[RegistrationError]) -> dict[str, float]:
    """Median and maximum rotation (degrees) and translation (cloud units) of ``errors``; NaN when empty."""
    if not errors:
        return {key: math.nan for key in ("rotation_deg_median", "rotation_deg_max", "translation_median",
                                          "translation_max")}
    rotation = np.array([e.rotation_deg for e in errors])
    translation = np.array([e.translation for e in errors])
    return {"rotation_deg_median": float(np.median(rotation)), "rotation_deg_max": float(rotation.max()),
            "translation_median": float(np.median(translation)), "translation_max": float(translation.max())}


def random_motion(rng: np.random.Generator, motion: Motion) -> torch.Tensor:
    """A rigid transform (4, 4) float64: a rotation of up to ``motion.degrees`` about a random axis, then a shift of
    up to ``motion.shift`` in a random direction."""
    out = np.eye(4)
    out[:3, :3] = random_rotation(rng, motion.degrees)
    direction = rng.normal(size=3)
    out[:3, 3] = direction / np.linalg.norm(direction) * rng.uniform(0, motion.shift)
    return torch.as_tensor(out)
