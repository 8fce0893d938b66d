"""Benchmark a dataset: train each class on its normal scans, inspect every test cloud through the Inspector,
and report the metrics (`pcinspect eval`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from edge.inspector import InspectionError, Inspector
from edge.timing import StageTimer
from edge.verdict import Decision, Verdict
from trainer.data import GOOD, load_split
from trainer.evaluate.metrics import auroc, evaluate_class
from trainer.evaluate.registration import RegistrationError, registration_error, summarize
from trainer.fit.recipe import TrainedRecipe, TrainOptions, train_recipe, validation_figures

Progress = Callable[[str], None]


@dataclass
class CloudOutcome:
    """One inspected test cloud: its truth, its scores and the verdict."""

    name: str
    kind: str
    label: int
    points: np.ndarray
    labels: np.ndarray
    point_scores: np.ndarray
    raw_score: float
    score: float
    decision: str
    seconds: float


@dataclass
class ClassResult:
    """Metrics and timings of one class under one configuration."""

    name: str
    metrics: dict[str, float]
    per_kind: dict[str, dict[str, float]]
    train_sec: float
    sec_per_cloud: float
    outcomes: list[CloudOutcome] = field(default_factory=list)
    registration: dict[str, float] = field(default_factory=dict)
    stage_ms: dict[str, float] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)
    """The fusion's own figures on the training's held-back validation scans (what it was chosen by)."""
    gap_radius: dict[str, object] = field(default_factory=dict)
    """The full-scan gap radius the training chose and why (``bundle.yaml``'s ``provenance.full_scan_gap_radius``)."""

    @property
    def verdicts(self) -> dict[str, int]:
        """What the line would have been told at the recipe's threshold: normal test clouds not passed (FAIL, or
        ERROR: not fully inspected) and defective ones passed, with the counts of each."""
        normal = [o for o in self.outcomes if o.label == 0]
        defective = [o for o in self.outcomes if o.label == 1]
        return {"normal": len(normal), "normal_rejected": sum(o.decision != Decision.PASS.value for o in normal),
                "defective": len(defective), "defective_passed": sum(o.decision == Decision.PASS.value for o in defective)}

    def to_report(self) -> dict[str, object]:
        """The class entry of report.json."""
        return {**self.metrics, "train_sec": self.train_sec, "sec_per_cloud": self.sec_per_cloud,
                "per_kind": self.per_kind, "registration": self.registration, "stage_ms": self.stage_ms,
                "validation": self.validation, "gap_radius": self.gap_radius, "verdicts": self.verdicts}


def run_class(
    root: Path,
    format: str,
    class_name: str,
    *,
    overrides: dict[str, object] | None = None,
    options: TrainOptions | None = None,
    progress: Progress | None = None,
) -> dict[str | None, ClassResult]:
    """Train ``class_name`` on its train split and inspect its whole test split.

    Returns the recipe's own result under ``None`` and one result per fusion variant of ``options.variants``
    (the ablation): each test cloud is analysed once through the Inspector and concluded by every variant.
    Each normal test cloud also measures the registration's self-consistency
    (:mod:`trainer.evaluate.registration`).
    """
    say = progress or (lambda _msg: None)
    train = load_split(root, format, class_name, "train")
    test = load_split(root, format, class_name, "test")
    start = time.perf_counter()
    trained: TrainedRecipe = train_recipe([s.points for s in train], options=options, progress=say, overrides=overrides)
    train_sec = time.perf_counter() - start
    inspector = Inspector(trained.model)
    inspectors: dict[str | None, Inspector] = {None: inspector}
    for name, variant in trained.variants.items():
        inspectors[name] = inspector.with_fusion(variant.fusion, variant.calibration, variant.view)
    outcomes: dict[str | None, list[CloudOutcome]] = {name: [] for name in inspectors}
    validation = {None: validation_figures(trained.fusion_fit, trained.view_fit)}
    validation.update({name: variant.validation for name, variant in trained.variants.items()})
    rng = np.random.default_rng(0)
    errors: list[RegistrationError] = []
    stages: list[dict[str, float]] = []
    for i, sample in enumerate(test):
        say(f"{class_name}: inspecting {i + 1}/{len(test)}")
        labels = sample.labels if sample.labels is not None else np.zeros(len(sample.points), np.uint8)
        name_ = sample.path.stem if sample.path else str(i)
        t0 = time.perf_counter()
        timer = StageTimer(inspector.device)
        try:
            analysis = inspector.analyze(torch.as_tensor(np.asarray(sample.points, dtype=np.float32)), timer)
        except InspectionError as exc:
            analysis, error = None, Verdict.error(str(exc))
        analysed = time.perf_counter() - t0
        stages.append(timer.as_dict())
        if sample.kind == GOOD and analysis is not None:
            errors.append(registration_error(inspector, sample.points, rng))
        for name, variant in inspectors.items():
            t1 = time.perf_counter()
            verdict = error if analysis is None else variant.conclude(analysis, point_scores=True)
            seconds = analysed + time.perf_counter() - t1
            scores = verdict.point_scores if verdict.point_scores is not None else np.full(len(sample.points), np.nan)
            outcomes[name].append(CloudOutcome(name_, sample.kind, sample.label, sample.points, labels, scores,
                                               verdict.raw_score, verdict.score, verdict.decision.value, seconds))
    return {
        name: ClassResult(
            name=class_name,
            metrics=_metrics(items),
            per_kind=_per_kind(items),
            train_sec=train_sec,
            sec_per_cloud=float(np.mean([o.seconds for o in items])) if items else float("nan"),
            outcomes=items,
            registration=summarize(errors),
            stage_ms={k: float(np.median([t.get(k, 0.0) for t in stages])) for k in sorted({k for t in stages for k in t})},
            validation=validation[name],
            gap_radius=trained.gap_radius_choice,
        )
        for name, items in outcomes.items()
    }


def _filled(outcome: CloudOutcome) -> tuple[np.ndarray, float]:
    """Scores with ERROR clouds ranked as most anomalous: an uninspected part must never look normal."""
    top = np.inf
    scores = np.where(np.isfinite(outcome.point_scores), outcome.point_scores, top)
    raw = outcome.raw_score if np.isfinite(outcome.raw_score) else top
    return np.minimum(scores, np.finfo(np.float64).max), min(raw, np.finfo(np.float64).max)


def _metrics(outcomes: list[CloudOutcome]) -> dict[str, float]:
    filled = [_filled(o) for o in outcomes]
    metrics = evaluate_class(
        [o.points for o in outcomes],
        [f[0] for f in filled],
        [o.labels for o in outcomes],
        object_labels=[o.label for o in outcomes],
        object_scores=[f[1] for f in filled],
    )
    return {k: float(v) for k, v in metrics.as_dict().items()}


def _per_kind(outcomes: list[CloudOutcome]) -> dict[str, dict[str, float]]:
    """O-AUROC of each defect kind against the normal clouds."""
    kinds = sorted({o.kind for o in outcomes} - {GOOD})
    result = {}
    for kind in kinds:
        chosen = [o for o in outcomes if o.kind in (kind, GOOD)]
        result[kind] = {"o_auroc": float(auroc([o.label for o in chosen], [_filled(o)[1] for o in chosen]))}
    return result
