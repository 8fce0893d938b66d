"""Ablation rows on single views: each fusion row scores a single view with a single-view model of its own."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from edge.inspector import Inspector
from trainer.data import synthetic_sample
from trainer.fit.augment import single_view
from trainer.fit.recipe import FusionSpec, TrainOptions, train_recipe

ROWS = {"feature only": FusionSpec(("feature",), "sum"), "template only": FusionSpec(("deviation", "missing"), "sum")}
FAST = {"features.groups": 96, "features.fpfh_radii_voxels": [3.0, 6.0], "reconstruction.groups": 128}


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(7)
    scans = [synthetic_sample("bracket", "good", rng, 5000).points for _ in range(3)]
    options = replace(TrainOptions.quick(target_points=3000), variants=ROWS)
    return train_recipe(scans, options=options, overrides=FAST)


def test_every_fusion_row_fits_a_single_view_model_over_its_own_branches(trained) -> None:
    for name, spec in ROWS.items():
        view = trained.variants[name].view
        assert view is not None and view.fusion is not None and view.fusion.branches == spec.branches


def test_a_fusion_row_scores_a_single_view_with_its_own_single_view_model(trained) -> None:
    """Before, every row concluded a single view with the recipe's own single-view model: on dev-views all fusion
    rows of the ablation came out identical."""
    inspector = Inspector(trained.model)
    rng = np.random.default_rng(11)
    view = single_view(torch.as_tensor(synthetic_sample("bracket", "good", rng, 5000).points), rng, 1.0)
    analysis = inspector.analyze(view)
    assert analysis.partial
    scores = {}
    for name, variant in trained.variants.items():
        row = inspector.with_fusion(variant.fusion, variant.calibration, variant.view)
        assert row.model.view is not None and row.model.view.fusion.branches == ROWS[name].branches
        scores[name] = row.object_score(row.fuse(analysis))
    assert scores["feature only"] != scores["template only"]
