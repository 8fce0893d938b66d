"""Ablation rows with trainings of their own: the identity Down-Net control, masked reconstruction and GPS."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from edge.inspector import Inspector
from edge.params import with_overrides
from trainer.data import synthetic_sample
from trainer.evaluate.ablation import RECONSTRUCTION_ONLY, TRAININGS
from trainer.fit.recipe import TrainOptions

ROWS = ("reconstruction, identity Down-Net", "masked reconstruction only", "GPS")


def test_the_issue_13_rows_are_ablation_trainings_under_their_report_names() -> None:
    assert set(ROWS) <= set(TRAININGS)
    assert TRAININGS["reconstruction, identity Down-Net"].overrides == {"reconstruction.down_net": "identity"}
    assert TRAININGS["masked reconstruction only"].overrides == {"reconstruction.mode": "masked"}
    assert TRAININGS["GPS"].overrides == {"features.sampler": "gps"}


def test_a_reconstruction_only_row_reports_its_reconstruction_only_fusion_not_the_recipes_own() -> None:
    row = "masked reconstruction only"
    training = TRAININGS[row]
    assert training.options(row, TrainOptions()).variants == {row: RECONSTRUCTION_ONLY}
    assert training.reports(row, row) and not training.reports(row, None)
    assert TRAININGS["GPS"].reports("GPS", None)


@pytest.mark.parametrize("overrides", [
    {"reconstruction.mode": "masked"},
    {"reconstruction.down_net": "identity"},
    {"reconstruction.mode": "masked", "reconstruction.down_net": "identity", "features.sampler": "gps"},
])
def test_a_trained_recipe_inspects_with_the_ablation_settings(trained_bundle, overrides: dict[str, object]) -> None:
    trained = Inspector.from_bundle(trained_bundle, smoke_test=False).model
    bulge = torch.as_tensor(synthetic_sample("bracket", "bulge", np.random.default_rng(3), 5000).points,
                            dtype=torch.float32)
    dense = Inspector(trained).analyze(bulge)
    ablated = Inspector(replace(trained, params=with_overrides(trained.params, overrides))).analyze(bulge)
    assert ablated.reconstruction.shape == (ablated.aligned.shape[0],)
    assert bool(torch.isfinite(ablated.reconstruction).all()) and float(ablated.reconstruction.max()) > 0
    assert not torch.equal(ablated.reconstruction, dense.reconstruction)
