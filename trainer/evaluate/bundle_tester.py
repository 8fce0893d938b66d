"""Test a saved bundle on scans it has not seen: one verdict per file, and confusion counts where labels are known.

This is the `test` half of anomalib's train/test split: nothing is trained, the bundle's shipped threshold
and the sensitivity in force decide, through the same `Inspector` as the edge service.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge.inspector import Inspector
from edge.io import CloudFormatError, read_cloud
from edge.io.files import SUFFIXES
from trainer.data.catalog import load_split
from trainer.data.dataset import TEST, load_sample, natural_key
from trainer.data.errors import DatasetError
from trainer.data.sample import GOOD
from trainer.evaluate.metrics import auroc

GOOD_LABEL, BAD_LABEL = 0, 1


@dataclass(frozen=True)
class TestItem:
    """One scan to test: its file, its label (0 good, 1 defective, None unknown) and how to read its points."""

    __test__ = False  # not a pytest test class

    path: Path
    label: int | None
    read: Callable[[], np.ndarray]


@dataclass
class FileResult:
    """The verdict of one file, as the table, `--json` and `--csv` show it."""

    file: str
    label: str | None
    verdict: str
    score: float | None
    raw_score: float | None
    severity: float | None
    regions: int
    ms: float
    reason: str | None
    stage_ms: dict[str, float] = field(default_factory=dict)
    branches: dict[str, float] = field(default_factory=dict)
    """Each branch's own object score (:meth:`edge.inspector.Inspector.branch_object_scores`); empty on ERROR."""


@dataclass
class Summary:
    """Counts at the shipped threshold and sensitivity; AUROC over the labelled files that got a score."""

    files: int
    passed: int
    failed: int
    errors: int
    good_passed: int = 0
    good_failed: int = 0
    bad_failed: int = 0
    bad_passed: int = 0
    labelled_errors: int = 0
    o_auroc: float | None = None
    branch_o_auroc: dict[str, float] = field(default_factory=dict)
    """O-AUROC of each branch's own object score over the same files: which branch separates these scans."""


@dataclass
class TestReport:
    """Everything `pcinspect test` prints."""

    __test__ = False  # not a pytest test class

    bundle: str
    bundle_id: str
    sensitivity: float
    results: list[FileResult] = field(default_factory=list)
    summary: Summary | None = None

    def to_dict(self) -> dict:
        """Plain JSON-ready data."""
        return asdict(self)


def files_under(paths: Iterable[Path]) -> list[Path]:
    """Every readable cloud file under ``paths`` (folders searched recursively), in natural order per folder."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            inner = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES]
            if not inner:
                raise DatasetError(path, f"folder holds no {'/'.join(SUFFIXES)} files")
            found += sorted(inner, key=lambda p: (p.parent.parts, natural_key(p)))
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


def _cloud_reader(path: Path) -> Callable[[], np.ndarray]:
    return lambda: read_cloud(path).points


def folder_items(paths: Sequence[Path], good: Sequence[Path] = (), bad: Sequence[Path] = ()) -> list[TestItem]:
    """Unlabelled files under ``paths``, good ones under ``good`` and defective ones under ``bad``."""
    items = [TestItem(p, None, _cloud_reader(p)) for p in files_under(paths)]
    items += [TestItem(p, GOOD_LABEL, _cloud_reader(p)) for p in files_under(good)] if good else []
    items += [TestItem(p, BAD_LABEL, _cloud_reader(p)) for p in files_under(bad)] if bad else []
    return items


def layout_items(class_folders: Sequence[Path], format: str) -> list[TestItem]:
    """The labelled test split of each Real3D-AD / Anomaly-ShapeNet class folder (points as the layout defines)."""
    items = []
    for folder in class_folders:
        if not (folder / TEST).is_dir():
            raise DatasetError(folder, f"--format {format} expects a class folder holding {TEST}/ (e.g. DATA/fandisk)")
        for source in load_split(folder.parent, format, folder.name, TEST).sources:
            label = GOOD_LABEL if source.kind == GOOD else BAD_LABEL
            items.append(TestItem(source.cloud, label, lambda s=source: load_sample(s).points))
    return items


def run_test(inspector: Inspector, items: Sequence[TestItem], progress: Callable[[str], None] | None = None,
             *, bundle: str = "") -> TestReport:
    """Inspect every item; a file that cannot be read is an ERROR row, never skipped."""
    report = TestReport(bundle, inspector.bundle_id, inspector.sensitivity)
    for item in items:
        start = time.perf_counter()
        branches: dict[str, float] = {}
        try:
            verdict, analysis = inspector.examine(item.read())
            wire = verdict.to_wire()
            if analysis is not None:
                branches = {k: round(v, 6) for k, v in inspector.branch_object_scores(analysis).items()}
        except (CloudFormatError, DatasetError, OSError) as exc:
            wire = {"verdict": "ERROR", "score": None, "raw_score": None, "severity": None, "regions": [],
                    "reason": str(exc), "timing_ms": {}}
        ms = (time.perf_counter() - start) * 1000
        label = None if item.label is None else ("good" if item.label == GOOD_LABEL else "bad")
        report.results.append(FileResult(str(item.path), label, wire["verdict"], wire["score"], wire["raw_score"],
                                         wire["severity"], len(wire["regions"]), round(ms, 1), wire["reason"],
                                         wire["timing_ms"], branches))
        if progress is not None:
            progress(f"{item.path.name} {wire['verdict']}")
    report.summary = summarize(report.results)
    return report


def summarize(results: Sequence[FileResult]) -> Summary:
    """Verdict counts, the confusion counts of labelled files and their O-AUROC (None without both labels)."""
    summary = Summary(len(results), sum(r.verdict == "PASS" for r in results),
                      sum(r.verdict == "FAIL" for r in results), sum(r.verdict == "ERROR" for r in results))
    for r in results:
        if r.label is None:
            continue
        if r.verdict == "ERROR":
            summary.labelled_errors += 1
        elif r.label == "good":
            summary.good_passed += r.verdict == "PASS"
            summary.good_failed += r.verdict == "FAIL"
        else:
            summary.bad_failed += r.verdict == "FAIL"
            summary.bad_passed += r.verdict == "PASS"
    scored = [r for r in results if r.label is not None and r.raw_score is not None]
    value = auroc([r.label == "bad" for r in scored], [r.raw_score for r in scored]) if scored else math.nan
    summary.o_auroc = None if math.isnan(value) else round(value, 4)
    if scored and all(r.branches for r in scored):
        for name in scored[0].branches:
            value = auroc([r.label == "bad" for r in scored], [r.branches[name] for r in scored])
            if not math.isnan(value):
                summary.branch_o_auroc[name] = round(value, 4)
    return summary
