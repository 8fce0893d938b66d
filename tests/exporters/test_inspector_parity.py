"""End-to-end parity: whole inspections served by ONNX Runtime agree with torch fp32 on the CPU."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.io import write_cloud
from edge.io.cloud import PointCloud
from edge.verdict import Decision, Verdict
from exporters.inspector_parity import cloud_files, compare_verdicts, inspector_parity
from exporters.onnx_export import add_onnx_models


@pytest.fixture(scope="module")
def onnx_bundle(trained_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = Path(shutil.copytree(trained_bundle, tmp_path_factory.mktemp("parity") / "bracket"))
    add_onnx_models(bundle, precisions=("fp32",))
    return bundle


@pytest.fixture(scope="module")
def clouds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trainer.data import synthetic_sample

    folder = tmp_path_factory.mktemp("clouds")
    rng = np.random.default_rng(5)
    for kind in ("good", "bulge"):
        points = synthetic_sample("bracket", kind, rng, 5000).points.astype(np.float32)
        write_cloud(folder / f"{kind}.pcd", PointCloud(points))
    write_cloud(folder / "too_few.pcd", PointCloud(np.zeros((10, 3), dtype=np.float32)))
    return folder


def _verdict(decision: Decision, raw: float) -> Verdict:
    return Verdict(decision, 0.5, raw)


def test_onnxruntime_gives_the_same_verdicts_and_scores_as_torch(onnx_bundle: Path, clouds: Path) -> None:
    report = inspector_parity(onnx_bundle, [clouds], backends=("onnxruntime",))
    assert [Path(r["cloud"]).name for r in report["clouds"]] == ["bulge.pcd", "good.pcd", "too_few.pcd"]
    assert report["verdicts_identical"] and report["passed"]
    assert report["max_relative_error"] <= 1e-3
    assert all("served by onnxruntime" in line for line in report["candidate"]["served_by"])


def test_cloud_that_cannot_be_inspected_is_an_error_on_both_sides(onnx_bundle: Path, clouds: Path) -> None:
    report = inspector_parity(onnx_bundle, [clouds / "too_few.pcd"])
    (row,) = report["clouds"]
    assert row["reference"] == row["candidate"] == "ERROR" and row["passed"]


def test_parity_command_with_clouds_exits_zero_and_reports_end_to_end(onnx_bundle: Path, clouds: Path, capsys) -> None:
    assert main(["parity", str(onnx_bundle), "--clouds", str(clouds), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and len(report["end_to_end"]["clouds"]) == 3


def test_different_decisions_fail_even_with_equal_scores() -> None:
    row = compare_verdicts("c", _verdict(Decision.PASS, 0.3), _verdict(Decision.FAIL, 0.3), 1e-3)
    assert not row.passed


def test_scores_apart_by_more_than_the_bound_fail() -> None:
    row = compare_verdicts("c", _verdict(Decision.PASS, 1.0), _verdict(Decision.PASS, 1.002), 1e-3)
    assert not row.passed and math.isclose(row.relative_error, 0.002, rel_tol=1e-6)


def test_error_on_one_side_only_fails() -> None:
    row = compare_verdicts("c", Verdict.error("too few points"), _verdict(Decision.PASS, 0.2), 1e-3)
    assert not row.passed and row.relative_error is None


def test_directory_without_point_clouds_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(ValueError, match="no point-cloud files"):
        cloud_files([tmp_path])
