"""How `pcinspect train` and `eval` turn their training flags into TrainOptions."""

from __future__ import annotations

import argparse

import pytest

from edge.errors import UsageError
from trainer.cli.options import add_training_arguments, train_options
from trainer.fit.recipe import TrainOptions


def _options(*argv: str) -> TrainOptions:
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    return train_options(parser.parse_args(list(argv)))


def test_without_flags_the_defaults_train() -> None:
    assert _options() == TrainOptions()


def test_views_zero_trains_without_single_views() -> None:
    assert _options("--views", "0").views == 0


def test_views_apply_on_top_of_quick_training() -> None:
    options = _options("--quick", "--views", "3", "--target-points", "5000")
    assert options == TrainOptions.quick(views=3, target_points=5000)


def test_negative_views_are_refused_naming_the_flag() -> None:
    with pytest.raises(UsageError, match="--views must be 0 or more, got -1"):
        _options("--views", "-1")
