"""The evaluation report's verdict counts: what the line would have been told at each recipe's threshold."""

from __future__ import annotations

import numpy as np

from trainer.evaluate.benchmark import ClassResult, CloudOutcome
from trainer.evaluate.report import render_markdown, summarize_variant


def _outcome(kind: str, decision: str) -> CloudOutcome:
    label = int(kind != "good")
    points = np.zeros((4, 3), np.float32)
    return CloudOutcome(f"0_{kind}", kind, label, points, np.full(4, label, np.uint8), np.zeros(4), 0.1, 0.1,
                        decision, 0.01)


def _result(name: str, *decisions: tuple[str, str]) -> ClassResult:
    return ClassResult(name, {}, {}, 1.0, 0.01, outcomes=[_outcome(kind, d) for kind, d in decisions])


def test_a_normal_cloud_that_fails_or_errors_counts_as_rejected_and_a_passed_defect_as_passed() -> None:
    result = _result("part", ("good", "PASS"), ("good", "FAIL"), ("good", "ERROR"), ("hole", "PASS"), ("hole", "FAIL"))
    assert result.verdicts == {"normal": 3, "normal_rejected": 2, "defective": 2, "defective_passed": 1}


def test_the_mean_row_counts_the_verdicts_of_every_class_and_the_report_shows_them() -> None:
    metrics = dict.fromkeys(("o_auroc", "p_auroc", "o_aupr", "p_aupr", "au_pro"), 0.5)
    a = _result("a", ("good", "FAIL"), ("hole", "PASS"))
    b = _result("b", ("good", "PASS"), ("crack", "FAIL"))
    a.metrics = b.metrics = metrics
    variant = summarize_variant([a, b])
    assert variant["mean"]["verdicts"] == {"normal": 2, "normal_rejected": 1, "defective": 2, "defective_passed": 1}
    text = render_markdown({**variant, "variants": {"fused": variant}})
    assert "| a | 1 of 1 | 1 of 1 |" in text and "| **mean** | 1 of 2 | 1 of 2 |" in text
