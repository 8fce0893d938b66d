"""Write a trained recipe as a bundle: :func:`edge.recipe.save_model` with the training's provenance."""

from __future__ import annotations

from pathlib import Path

from edge.recipe import save_model
from trainer.fit.recipe import TrainedRecipe


def save_recipe(trained: TrainedRecipe, recipe: str, out: str | Path) -> Path:
    """Bundle directory at ``out`` for ``trained``, its provenance recorded in ``bundle.yaml``."""
    return save_model(trained.model, trained.golden, recipe, out, provenance=trained.provenance)
