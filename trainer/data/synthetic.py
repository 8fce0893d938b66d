"""Labelled synthetic train/test sets: procedural parts with injected defects, no files needed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trainer.data.defects import DEFECT_KINDS, apply_defect
from trainer.data.parts import make_part
from trainer.data.sample import GOOD, Sample


def synthetic_sample(part_kind: str, defect: str, rng: np.random.Generator, n_points: int = 8192, *,
                     tolerance: float = 0.005, noise: float = 0.05, pose_degrees: float = 3.0,
                     pose_mm: float = 1.0, **sizes: float | np.ndarray | None) -> Sample:
    """One instance of `part_kind` (noise and pose as for `make_part`) with the defect `defect`
    (`GOOD` for none; `sizes` go to `apply_defect`)."""
    part = make_part(part_kind, rng, n_points, tolerance=tolerance, noise=noise,
                     pose_degrees=pose_degrees, pose_mm=pose_mm)
    if defect == GOOD:
        points, labels = part.points, np.zeros(len(part.points), np.uint8)
    else:
        points, labels = apply_defect(defect, part.points, rng, normals=part.normals, **sizes)
    return Sample(points=points, labels=labels, label=int(defect != GOOD), kind=defect, path=None,
                  class_name=part_kind)


def synthetic_dataset(part_kind: str, rng: np.random.Generator, *, n_train: int = 4, n_good: int = 4,
                      per_defect: int = 1, defects: Sequence[str] = DEFECT_KINDS, n_points: int = 8192,
                      **options: float) -> tuple[list[Sample], list[Sample]]:
    """A train split of `n_train` unlabelled normal instances and a test split of `n_good` normal
    instances followed by `per_defect` instances of every defect (options as for `synthetic_sample`)."""
    train = []
    for _ in range(n_train):
        sample = synthetic_sample(part_kind, GOOD, rng, n_points, **options)
        sample.labels = None
        train.append(sample)
    kinds = [GOOD] * n_good + [kind for kind in defects for _ in range(per_defect)]
    test = [synthetic_sample(part_kind, kind, rng, n_points, **options) for kind in kinds]
    return train, test
