import numpy as np
import pytest
import torch

from edge.scoring.calibration import Calibration, fit_calibration, is_anomalous


def test_calibrated_score_is_half_at_the_threshold_and_zero_at_the_normal_median() -> None:
    cal = Calibration(threshold=2.0, normal_median=1.0)
    assert cal.normalize(2.0) == pytest.approx(0.5)
    assert cal.normalize(1.0) == pytest.approx(0.0)
    assert cal.normalize(3.0) == pytest.approx(1.0)
    assert cal.normalize(100.0) == pytest.approx(1.0)


def test_normalize_accepts_tensors_and_clamps_them() -> None:
    cal = Calibration(threshold=2.0, normal_median=1.0)
    out = cal.normalize(torch.tensor([0.0, 2.0, 9.0]))
    assert torch.allclose(out, torch.tensor([0.0, 0.5, 1.0]))


def test_fitted_threshold_passes_every_held_back_normal() -> None:
    scores = np.array([1.0, 1.2, 0.9, 1.5])
    cal = fit_calibration(scores, margin=0.1)
    assert cal.threshold > scores.max()
    assert all(not is_anomalous(cal.normalize(s)) for s in scores)


def test_identical_normal_scores_still_give_a_usable_threshold() -> None:
    cal = fit_calibration(np.array([0.7, 0.7, 0.7]))
    assert cal.threshold > 0.7


def test_higher_sensitivity_fails_parts_with_lower_scores() -> None:
    assert not is_anomalous(0.4, sensitivity=0.5)
    assert is_anomalous(0.4, sensitivity=0.7)


def test_sensitivity_outside_the_open_unit_interval_is_rejected() -> None:
    with pytest.raises(ValueError, match="sensitivity"):
        is_anomalous(0.4, sensitivity=1.0)


def test_threshold_not_above_the_median_is_rejected() -> None:
    with pytest.raises(ValueError, match="must exceed"):
        Calibration(threshold=1.0, normal_median=1.0)


def test_unclipped_normalization_keeps_the_ranking_of_strong_anomalies() -> None:
    cal = Calibration(threshold=2.0, normal_median=1.0)
    assert cal.normalize(5.0, clip=False) > cal.normalize(4.0, clip=False) > 1.0
