"""`pcinspect train`, `eval` and `inspect` on a small Real3D-AD-layout dataset made of procedural parts."""

import json
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.io import PointCloud, write_cloud
from trainer.data import synthetic_sample

FAST = ["--quick", "--target-points", "3000", "--set", "features.groups=96", "--set", "features.fpfh_radii_voxels=[3, 6]",
        "--set", "reconstruction.groups=128"]
METRIC_KEYS = {"o_auroc", "p_auroc", "o_aupr", "p_aupr", "au_pro", "train_sec", "sec_per_cloud", "per_kind"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bench")
    rng = np.random.default_rng(11)
    cls = root / "bracket"
    for folder in ("train", "test", "gt"):
        (cls / folder).mkdir(parents=True)
    for i in range(3):
        write_cloud(cls / "train" / f"{i}_template.pcd", PointCloud(synthetic_sample("bracket", "good", rng, 5000).points))
    for j, kind in enumerate(["good", "good", "bulge", "hole"]):
        sample = synthetic_sample("bracket", kind, rng, 5000, **({"radius": 0.08} if kind == "hole" else {}))
        write_cloud(cls / "test" / f"{j}_{kind}.pcd", PointCloud(sample.points))
        if kind != "good":
            np.savetxt(cls / "gt" / f"{j}_{kind}.txt", np.column_stack([sample.points, sample.labels]), fmt="%.5f")
    return root


def test_train_writes_a_bundle_that_inspect_loads(dataset: Path, tmp_path: Path, capsys) -> None:
    bundle = tmp_path / "bundle"
    assert main(["train", "--data", str(dataset), "--format", "real3d", "--class", "bracket", "--out", str(bundle), *FAST]) == 0
    summary = capsys.readouterr().out
    assert "golden sample" in summary and "fusion" in summary
    good = dataset / "bracket" / "test" / "0_good.pcd"
    assert main(["inspect", str(good), "--bundle", str(bundle), "--json"]) == 0
    wire = json.loads(capsys.readouterr().out)
    assert wire["verdict"] == "PASS" and wire["bundle"]["id"].startswith("bracket-")
    png = tmp_path / "bulge.png"
    bulge = dataset / "bracket" / "test" / "2_bulge.pcd"
    assert main(["inspect", str(bulge), "--bundle", str(bundle), "--png", str(png)]) == 1
    assert "FAIL" in capsys.readouterr().out and png.stat().st_size > 10_000


@pytest.fixture(scope="module")
def evaluated(dataset: Path, tmp_path_factory) -> Path:
    """The report folder of one `pcinspect eval --baseline` run on the dataset."""
    out = tmp_path_factory.mktemp("eval") / "report"
    assert main(["eval", "--data", str(dataset), "--format", "real3d", "--classes", "all", "--out", str(out), "--baseline", *FAST]) == 0
    return out


def test_eval_writes_report_json_of_the_agreed_shape_with_a_baseline(evaluated: Path) -> None:
    out = evaluated
    report = json.loads((out / "report.json").read_text())
    assert set(report["classes"]) == {"bracket"}
    assert METRIC_KEYS <= set(report["classes"]["bracket"]) and METRIC_KEYS <= set(report["mean"])
    assert set(report["classes"]["bracket"]["per_kind"]) == {"bulge", "hole"}
    assert len(report["variants"]) == 2
    assert "| bracket |" in (out / "report.md").read_text()
    assert list((out / "heatmaps").glob("*.png"))


def test_eval_reports_how_well_registration_undoes_a_fixture_sized_motion(evaluated: Path) -> None:
    out = evaluated
    registration = json.loads((out / "report.json").read_text())["classes"]["bracket"]["registration"]
    assert 0.0 <= registration["rotation_deg_median"] <= registration["rotation_deg_max"] < 0.5
    assert 0.0 <= registration["translation_median"] <= registration["translation_max"] < 0.5
    assert "## Registration (self-consistency)" in (out / "report.md").read_text()


def test_eval_counts_the_verdicts_the_line_would_have_had(evaluated: Path) -> None:
    verdicts = json.loads((evaluated / "report.json").read_text())["classes"]["bracket"]["verdicts"]
    assert verdicts["normal"] == 2 and verdicts["defective"] == 2
    assert 0 <= verdicts["normal_rejected"] <= 2 and 0 <= verdicts["defective_passed"] <= 2
    assert "| bracket | " + f"{verdicts['normal_rejected']} of 2 | {verdicts['defective_passed']} of 2 |" in (
        evaluated / "report.md").read_text()


def test_eval_reports_the_full_scan_gap_radius_each_class_trained_with(evaluated: Path) -> None:
    gap = json.loads((evaluated / "report.json").read_text())["classes"]["bracket"]["gap_radius"]
    assert gap["voxels"] in (2.0, 3.0) and gap["widest_held_back_gap_voxels"] > 0 and gap["reason"]
    table = (evaluated / "report.md").read_text().split("## Full-scan gap radius (chosen by training)")[1]
    assert f"| bracket | {gap['voxels']:.3f} | {gap['widest_held_back_gap_voxels']:.3f} |" in table


def test_train_rejects_an_unknown_parameter_override(dataset: Path, tmp_path: Path, capsys) -> None:
    code = main(["train", "--data", str(dataset), "--class", "bracket", "--out", str(tmp_path / "b"), "--set", "features.nope=1"])
    assert code == 1 and "unknown parameter 'features.nope'" in capsys.readouterr().err


def test_eval_ablation_reports_a_row_per_fusion_from_one_training(dataset: Path, tmp_path: Path) -> None:
    from trainer.evaluate.ablation import FUSIONS

    out = tmp_path / "report"
    assert main(["eval", "--data", str(dataset), "--format", "real3d", "--classes", "all", "--out", str(out),
                 "--ablation", "fusion", *FAST]) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["variants"]) == {"fused", *FUSIONS}
    assert {"template only", "feature only", "reconstruction only", "fused without reconstruction"} <= set(FUSIONS)
    trained = {v["classes"]["bracket"]["train_sec"] for v in report["variants"].values()}
    assert len(trained) == 1
    validation = {name: v["classes"]["bracket"]["validation"] for name, v in report["variants"].items()}
    assert all(0.0 <= figures["object_auroc"] <= 1.0 and 0.0 <= figures["point_auroc"] <= 1.0
               for figures in validation.values())


def test_eval_reports_the_median_time_of_each_stage(evaluated: Path) -> None:
    stage_ms = json.loads((evaluated / "report.json").read_text())["classes"]["bracket"]["stage_ms"]
    assert {"preprocess", "align", "deviation", "features", "total"} <= set(stage_ms)
    assert 0 < stage_ms["align"] < stage_ms["total"]
    assert "## Time per stage" in (evaluated / "report.md").read_text()
