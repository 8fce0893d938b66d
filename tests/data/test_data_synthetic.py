"""Synthetic labelled train/test sets built from parts and defects."""

from __future__ import annotations

from collections import Counter

import numpy as np

from trainer.data.defects import DEFECT_KINDS
from trainer.data.sample import GOOD
from trainer.data.synthetic import synthetic_dataset, synthetic_sample


def test_synthetic_dataset_has_normal_training_parts_and_every_defect_in_test() -> None:
    train, test = synthetic_dataset("flange", np.random.default_rng(0), n_train=2, n_good=2, n_points=2000)
    assert len(train) == 2 and all(s.labels is None and s.kind == GOOD for s in train)
    assert Counter(s.kind for s in test) == Counter({GOOD: 2, **{kind: 1 for kind in DEFECT_KINDS}})
    for sample in test:
        assert sample.labels.shape == (len(sample.points),)
        assert bool(sample.labels.any()) == (sample.kind != GOOD) == bool(sample.label)
        assert sample.class_name == "flange"


def test_synthetic_sample_is_deterministic_under_a_seed() -> None:
    first = synthetic_sample("housing", "crack", np.random.default_rng(9), 2000)
    again = synthetic_sample("housing", "crack", np.random.default_rng(9), 2000)
    np.testing.assert_array_equal(first.points, again.points)
    np.testing.assert_array_equal(first.labels, again.labels)


def test_synthetic_sample_passes_sizes_to_the_defect() -> None:
    small = synthetic_sample("housing", "hole", np.random.default_rng(9), 4000, radius=0.03)
    large = synthetic_sample("housing", "hole", np.random.default_rng(9), 4000, radius=0.06)
    assert len(large) < len(small)
