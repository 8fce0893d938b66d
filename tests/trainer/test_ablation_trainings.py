"""Ablation rows with trainings of their own: the identity Down-Net control, masked reconstruction and GPS."""

import numpy as np
import torch

from edge.inspector import Inspector
from trainer.data import synthetic_sample
from trainer.evaluate.ablation import RECONSTRUCTION_ONLY, TRAININGS
from trainer.fit.recipe import TrainOptions, train_recipe

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


def test_a_masked_identity_gps_recipe_trains_and_scores_with_its_reconstruction_only_fusion() -> None:
    rng = np.random.default_rng(3)
    scans = [synthetic_sample("bracket", "good", rng, 4000).points for _ in range(2)]
    overrides = {"features.groups": 64, "features.fpfh_radii_voxels": [3.0, 6.0], "reconstruction.groups": 128,
                 **{k: v for row in ROWS for k, v in TRAININGS[row].overrides.items()}}
    row = "masked reconstruction only"
    options = TRAININGS[row].options(row, TrainOptions.quick(target_points=2500, views=0))
    trained = train_recipe(scans, options=options, overrides=overrides)
    assert trained.variants[row].fusion.branches == ("reconstruction",)
    bulge = synthetic_sample("bracket", "bulge", rng, 4000)
    analysis = Inspector(trained.model).analyze(torch.as_tensor(bulge.points, dtype=torch.float32))
    assert analysis.reconstruction.shape == (analysis.aligned.shape[0],)
    assert float(analysis.reconstruction.max()) > 0
