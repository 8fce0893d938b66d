"""The ablation of `pcinspect eval --ablation`: which branches and which fusion earn their place (issue 13).

Rows are named as scripts read them from ``report.json``. The recipe's own row is ``fused`` (every active branch,
the fusion chosen on validation data: One-Class SVM or scaled sum). Every other fusion row is fitted in the same
training on the same held-back validation data, and each test cloud is analysed once and concluded by every
row. ``--ablation all`` adds one training per class for each row of :data:`TRAININGS`.
"""

from __future__ import annotations

from trainer.fit.recipe import FusionSpec

FUSED = "fused"
"""The recipe's own row in an ablation run."""

FUSIONS: dict[str, FusionSpec] = {
    "template only": FusionSpec(("deviation", "missing"), "sum"),
    "feature only": FusionSpec(("feature",), "sum"),
    "reconstruction only": FusionSpec(("reconstruction",), "sum"),
    "fused without reconstruction": FusionSpec(("feature", "deviation", "missing"), "auto"),
    "fused, OCSVM": FusionSpec(None, "ocsvm"),
    "fused, scaled sum": FusionSpec(None, "sum"),
}
"""Fusion rows fitted beside the recipe's own, from the same training."""

TRAININGS: dict[str, dict[str, object]] = {
    "AGCS alpha=0": {"features.alpha": 0.0},
    "Group3AD": {"features.encoder": True},
}
"""Rows that need a training of their own: the recipe's overrides plus these. Not yet rows (issue 13 open):
``reconstruction, identity Down-Net``, ``masked reconstruction only`` and ``GPS``."""
