"""report.json, report.md and heatmaps of the worst misses for `pcinspect eval`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from edge.heatmap import render_heatmap
from trainer.data import GOOD
from trainer.evaluate.benchmark import ClassResult, CloudOutcome

METRICS = ("o_auroc", "p_auroc", "o_aupr", "p_aupr", "au_pro")
TIMINGS = ("train_sec", "sec_per_cloud")


def summarize_variant(results: list[ClassResult]) -> dict[str, object]:
    """``{"classes": {...}, "mean": {...}}`` for one configuration; the mean ignores undefined (NaN) values."""
    classes = {r.name: r.to_report() for r in results}
    mean: dict[str, object] = {key: _nanmean([c[key] for c in classes.values()]) for key in METRICS + TIMINGS}
    kinds = sorted({kind for c in classes.values() for kind in c["per_kind"]})
    mean["per_kind"] = {k: {"o_auroc": _nanmean([c["per_kind"][k]["o_auroc"] for c in classes.values() if k in c["per_kind"]])} for k in kinds}
    counted = [c["verdicts"] for c in classes.values() if c.get("verdicts")]
    if counted:
        mean["verdicts"] = {key: sum(v[key] for v in counted) for key in counted[0]}
    return {"classes": classes, "mean": mean}


def build_report(variants: dict[str, list[ClassResult]], main: str, settings: dict[str, object]) -> dict[str, object]:
    """The report: the ``main`` configuration at the top level, every configuration under ``variants``."""
    report = summarize_variant(variants[main])
    report["variants"] = {name: summarize_variant(results) for name, results in variants.items()}
    report["settings"] = settings
    return _finite_or_null(report)


def write_report(report: dict[str, object], out: Path) -> None:
    """Write ``report.json`` and ``report.md`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(report))


def render_markdown(report: dict[str, object]) -> str:
    """Tables per configuration: metrics and timings per class and their mean, then O-AUROC per defect kind."""
    lines = ["# pcinspect evaluation", ""]
    settings = report.get("settings", {})
    if settings:
        lines += ["Settings: " + ", ".join(f"`{k}={v}`" for k, v in settings.items()), ""]
    for name, variant in report["variants"].items():
        rows = {**variant["classes"], "**mean**": variant["mean"]}
        lines += [f"## {name}", "", "| class | " + " | ".join(METRICS + TIMINGS) + " |",
                  "|---|" + "---:|" * len(METRICS + TIMINGS)]
        for cls, entry in rows.items():
            lines.append(f"| {cls} | " + " | ".join(_fmt(entry[k], k) for k in METRICS + TIMINGS) + " |")
        kinds = sorted({k for entry in rows.values() for k in entry["per_kind"]})
        if kinds:
            lines += ["", "O-AUROC per defect kind:", "", "| class | " + " | ".join(kinds) + " |",
                      "|---|" + "---:|" * len(kinds)]
            for cls, entry in rows.items():
                cells = [_fmt(entry["per_kind"].get(k, {}).get("o_auroc"), "o_auroc") for k in kinds]
                lines.append(f"| {cls} | " + " | ".join(cells) + " |")
        lines += _verdict_table(rows)
        lines.append("")
    lines += _registration_table(report)
    lines += _gap_radius_table(report)
    lines += _stage_table(report)
    return "\n".join(lines)


def _stage_table(report: dict[str, object]) -> list[str]:
    """Median milliseconds of each analysis stage per class (the recipe's own row; fusion and verdict excluded)."""
    classes = {name: entry.get("stage_ms") or {} for name, entry in report["classes"].items()}
    stages = sorted({k for entry in classes.values() for k in entry if k != "total"})
    if not stages:
        return []
    lines = ["## Time per stage (median ms per cloud, analysis only)", "",
             "| class | " + " | ".join(stages) + " | total |", "|---|" + "---:|" * (len(stages) + 1)]
    for name, entry in classes.items():
        cells = [f"{entry[k]:.0f}" if entry.get(k) is not None else "-" for k in [*stages, "total"]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def _verdict_table(rows: dict[str, dict[str, object]]) -> list[str]:
    """Each class's verdicts at its own threshold: normal clouds not passed and defective clouds passed (the mean
    row counts every class)."""
    if not any(entry.get("verdicts") for entry in rows.values()):
        return []
    lines = ["", "Verdicts at the recipe's threshold (a normal cloud rejected: FAIL or ERROR):", "",
             "| class | normal rejected | defective passed |", "|---|---:|---:|"]
    for cls, entry in rows.items():
        v = entry.get("verdicts")
        if v:
            lines.append(f"| {cls} | {v['normal_rejected']} of {v['normal']} | {v['defective_passed']} of {v['defective']} |")
    return lines


def _gap_radius_table(report: dict[str, object]) -> list[str]:
    """The full-scan gap radius each class's training chose, the widest gap its held-back good scans left and, where
    that gap ruled nothing out by itself, the held-back defects each radius caught."""
    classes = {name: entry.get("gap_radius") or {} for name, entry in report["classes"].items()}
    if not any(classes.values()):
        return []
    lines = ["## Full-scan gap radius (chosen by training)", "",
             "| class | voxels | widest held-back gap (voxels) | held-back defects caught | reason |",
             "|---|---:|---:|---|---|"]
    for name, entry in classes.items():
        caught = entry.get("held_back_defects_caught") or {}
        counts = ", ".join(f"{k} voxels: {v}" for k, v in caught.items() if k != "of")
        counts = f"{counts} of {caught['of']}" if caught else "-"
        lines.append(f"| {name} | {_fmt(entry.get('voxels'), 'voxels')} | "
                     f"{_fmt(entry.get('widest_held_back_gap_voxels'), 'widest')} | {counts} | {entry.get('reason', '-')} |")
    return lines + [""]


REGISTRATION = ("rotation_deg_median", "rotation_deg_max", "translation_median", "translation_max")


def _registration_table(report: dict[str, object]) -> list[str]:
    """Registration self-consistency per class (normal test clouds moved by up to 3 degrees / 1 unit)."""
    classes = {name: entry.get("registration") or {} for name, entry in report["classes"].items()}
    if not any(classes.values()):
        return []
    lines = ["## Registration (self-consistency)", "",
             "Each normal test cloud registered as it comes and again after a random motion of up to 3 degrees and "
             "1 unit; the error between the two poses (`trainer/evaluate/registration.py`).", "",
             "| class | rotation median (deg) | rotation max (deg) | translation median | translation max |",
             "|---|---:|---:|---:|---:|"]
    for name, entry in classes.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(entry.get(k), k) for k in REGISTRATION) + " |")
    return lines + [""]


def write_worst_misses(results: list[ClassResult], out: Path) -> list[Path]:
    """Heatmaps of each class's lowest-scored anomalous cloud and highest-scored normal cloud."""
    written = []
    for result in results:
        anomalous = [o for o in result.outcomes if o.label == 1]
        normal = [o for o in result.outcomes if o.kind == GOOD]
        picks: list[tuple[str, CloudOutcome]] = []
        if anomalous:
            picks.append(("missed-anomaly", min(anomalous, key=lambda o: _rank(o.raw_score))))
        if normal:
            picks.append(("highest-normal", max(normal, key=lambda o: _rank(o.raw_score))))
        for tag, outcome in picks:
            title = f"{result.name}/{outcome.name}: {outcome.decision} score {outcome.score:.3f} (raw {outcome.raw_score:.3f}) - {tag}"
            path = out / "heatmaps" / f"{result.name}_{outcome.name}_{tag}.png"
            written.append(render_heatmap(outcome.points, outcome.point_scores, path, title=title, labels=outcome.labels))
    return written


def _rank(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _fmt(value: object, key: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.1f}" if key == "train_sec" else f"{value:.3f}"


def _finite_or_null(node: object) -> object:
    """JSON has no NaN: undefined metrics become null."""
    if isinstance(node, dict):
        return {k: _finite_or_null(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_finite_or_null(v) for v in node]
    if isinstance(node, float) and not math.isfinite(node):
        return None
    return node
