"""The ablation of `pcinspect eval --ablation`: which branches and which fusion earn their place (issue 13).

Rows are named as scripts read them from ``report.json``. The recipe's own row is ``fused`` (every active branch,
the fusion chosen on validation data: One-Class SVM or scaled sum). Every other fusion row is fitted in the same
training on the same held-back validation data, and each test cloud is analysed once and concluded by every
row. ``--ablation all`` adds one training per class for each row of :data:`TRAININGS`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from trainer.fit.recipe import FusionSpec, TrainOptions

FUSED = "fused"
"""The recipe's own row in an ablation run."""

RECONSTRUCTION_ONLY = FusionSpec(("reconstruction",), "sum")

FUSIONS: dict[str, FusionSpec] = {
    "template only": FusionSpec(("deviation", "missing"), "sum"),
    "feature only": FusionSpec(("feature",), "sum"),
    "reconstruction only": RECONSTRUCTION_ONLY,
    "fused without reconstruction": FusionSpec(("feature", "deviation", "missing"), "auto"),
    "fused, OCSVM": FusionSpec(None, "ocsvm"),
    "fused, scaled sum": FusionSpec(None, "sum"),
}
"""Fusion rows fitted beside the recipe's own, from the same training."""


@dataclass(frozen=True)
class Training:
    """An ablation row with a training of its own: the recipe's overrides plus ``overrides``, reported through
    ``fusion`` when given (e.g. reconstruction only) instead of the recipe's own fusion."""

    overrides: dict[str, object]
    fusion: FusionSpec | None = None

    def options(self, row: str, base: TrainOptions) -> TrainOptions:
        """The training options of this row: ``base``, fitting this row's fusion as the variant named ``row``."""
        return base if self.fusion is None else replace(base, variants={row: self.fusion})

    def reports(self, row: str, variant: str | None) -> bool:
        """Whether the result of ``variant`` (None: the recipe's own fusion) of this training is the row ``row``."""
        return variant == (None if self.fusion is None else row)


TRAININGS: dict[str, Training] = {
    "AGCS alpha=0": Training({"features.alpha": 0.0}),
    "GPS": Training({"features.sampler": "gps"}),
    "Group3AD": Training({"features.encoder": True}),
    "reconstruction, identity Down-Net": Training({"reconstruction.down_net": "identity"}, RECONSTRUCTION_ONLY),
    "masked reconstruction only": Training({"reconstruction.mode": "masked"}, RECONSTRUCTION_ONLY),
}
"""Rows that need a training of their own. ``reconstruction, identity Down-Net`` is the control the trained
Down-Net must beat (issue 13); ``masked reconstruction only`` is :mod:`edge.scoring.masked_reconstruction`."""
