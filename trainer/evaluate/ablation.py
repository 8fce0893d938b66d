"""The ablation of `pcinspect eval --ablation`: which branches and which fusion earn their place.

Every fusion row is fitted in the recipe's own training on the same held-back validation data, and each test
cloud is analysed once and concluded by every row; the recipe's own row is the One-Class SVM over every branch
("fused + missing"). ``--ablation all`` adds one more training per class with the Group3AD encoder's features
in the memory bank.
"""

from __future__ import annotations

from trainer.fit.recipe import FusionSpec

WITH_ENCODER = {"features.encoder": True}
"""Overrides of the Group3AD row's training: the recipe plus the group encoder."""

ENCODER_ROW = "fused + missing + Group3AD"

FUSIONS: dict[str, FusionSpec] = {
    "feature only": FusionSpec(("feature",), "sum"),
    "reconstruction only": FusionSpec(("reconstruction",), "sum"),
    "fused (OCSVM)": FusionSpec(("feature", "deviation", "reconstruction"), "ocsvm"),
    "mean/std fusion": FusionSpec(("feature", "deviation", "reconstruction", "missing"), "meanstd"),
    "template sum (issue-3 detector)": FusionSpec(("feature", "deviation", "missing"), "sum"),
}
"""Fusion rows fitted beside the recipe's own."""
