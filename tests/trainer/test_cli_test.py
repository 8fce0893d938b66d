"""`pcinspect test`: a saved bundle on a folder of new scans, run as a user would (subprocess, real files)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.io import PointCloud, write_cloud
from trainer.data import synthetic_sample

PCINSPECT = [sys.executable, "-m", "edge"]
STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ testing 2 files: \[[12]/2\] g\d\.(ply|pcd) (PASS|FAIL)",
                     re.MULTILINE)


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    """good/ (one PLY, one PCD), bad/ (bulge PLY, hole PCD) and a corrupt PLY in unknown/."""
    root = tmp_path_factory.mktemp("scans")
    rng = np.random.default_rng(21)
    for folder in ("good", "bad", "unknown"):
        (root / folder).mkdir()
    write_cloud(root / "good" / "g1.ply", PointCloud(synthetic_sample("bracket", "good", rng, 5000).points))
    write_cloud(root / "good" / "g2.pcd", PointCloud(synthetic_sample("bracket", "good", rng, 5000).points),
                data="binary_compressed")
    write_cloud(root / "bad" / "b1.ply", PointCloud(synthetic_sample("bracket", "bulge", rng, 5000).points))
    hole = synthetic_sample("bracket", "hole", rng, 5000, radius=0.08)
    write_cloud(root / "bad" / "b2.pcd", PointCloud(hole.points))
    (root / "unknown" / "broken.ply").write_bytes(b"ply\nformat ascii 1.0\nelement vertex 3\n")
    return root


def pcinspect(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*PCINSPECT, *args], capture_output=True, text=True, timeout=300, env=env)


def test_every_file_gets_one_verdict_with_confusion_counts_for_labelled_folders(trained_bundle, scans):
    done = pcinspect("test", "--bundle", str(trained_bundle), str(scans / "unknown"),
                     "--good", str(scans / "good"), "--bad", str(scans / "bad"), "--json")
    report = json.loads(done.stdout)
    rows = {Path(r["file"]).name: r for r in report["results"]}
    assert set(rows) == {"broken.ply", "g1.ply", "g2.pcd", "b1.ply", "b2.pcd"}
    assert [rows[f]["label"] for f in ("broken.ply", "g1.ply", "b1.ply")] == [None, "good", "bad"]
    assert rows["broken.ply"]["verdict"] == "ERROR" and "broken.ply" in rows["broken.ply"]["reason"]
    s = report["summary"]
    assert s["good_passed"] + s["good_failed"] == 2 and s["bad_failed"] + s["bad_passed"] == 2
    assert s["errors"] == 1 and done.returncode == 1
    assert 0.0 <= s["o_auroc"] <= 1.0
    assert report["sensitivity"] == 0.5


def test_json_gives_each_scan_its_stage_times_and_branch_scores_and_each_branch_its_o_auroc(trained_bundle, scans):
    done = pcinspect("test", "--bundle", str(trained_bundle), "--good", str(scans / "good"), "--bad", str(scans / "bad"),
                     "--json")
    report = json.loads(done.stdout)
    for row in report["results"]:
        assert {"preprocess", "align", "deviation", "features", "total"} <= set(row["stage_ms"])
        assert {"feature", "deviation"} <= set(row["branches"])
    branch_auroc = report["summary"]["branch_o_auroc"]
    assert set(branch_auroc) == set(report["results"][0]["branches"])
    assert all(0.0 <= v <= 1.0 for v in branch_auroc.values())


def test_an_unreadable_scan_has_no_stage_times_or_branch_scores(trained_bundle, scans):
    report = json.loads(pcinspect("test", "--bundle", str(trained_bundle), str(scans / "unknown"), "--json").stdout)
    assert report["results"][0]["branches"] == {} and report["results"][0]["stage_ms"] == {}


def test_prints_a_table_and_timestamped_progress_lines_when_stdout_is_not_a_terminal(trained_bundle, scans, capsys):
    main(["test", "--bundle", str(trained_bundle), "--good", str(scans / "good")])
    out = capsys.readouterr().out
    assert len(STAMPED.findall(out)) == 2
    assert "false rejects" in out and "O-AUROC n/a" in out and "g2.pcd" in out


def test_reads_the_real3d_layout_with_labels_from_file_names_and_writes_csv(trained_bundle, tmp_path, capsys):
    cls = tmp_path / "bracket"
    (cls / "test").mkdir(parents=True)
    (cls / "gt").mkdir()
    rng = np.random.default_rng(5)
    write_cloud(cls / "test" / "0_good.ply", PointCloud(synthetic_sample("bracket", "good", rng, 5000).points))
    bulge = synthetic_sample("bracket", "bulge", rng, 5000)
    write_cloud(cls / "test" / "1_bulge.pcd", PointCloud(bulge.points))
    np.savetxt(cls / "gt" / "1_bulge.txt", np.column_stack([bulge.points, bulge.labels]), fmt="%.5f")
    code = main(["test", "--bundle", str(trained_bundle), str(cls), "--format", "real3d", "--csv", "--sensitivity", "0.4"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("file,label,verdict,score")
    assert [line.split(",")[1] for line in lines[1:]] == ["good", "bad"]
    assert code == 0


def test_a_sensitivity_outside_zero_to_one_is_refused_before_anything_is_loaded(tmp_path, scans, capsys):
    assert main(["test", "--bundle", str(tmp_path / "absent"), str(scans / "good"), "--sensitivity", "1.5"]) == 1
    assert "--sensitivity must lie strictly between 0 and 1, got 1.5" in capsys.readouterr().err


def test_a_wrong_class_name_lists_the_valid_ones(tmp_path, capsys):
    for name in ("bracket", "casting"):
        (tmp_path / name / "train").mkdir(parents=True)
    assert main(["train", "--data", str(tmp_path), "--class", "bracet", "--out", str(tmp_path / "b")]) == 1
    assert "class folder 'bracet' not found; valid classes: bracket, casting" in capsys.readouterr().err


def test_eval_folder_layout_labels_test_scans_by_their_kind_folder(tmp_path):
    from trainer.data import load_split

    rng = np.random.default_rng(8)
    for folder in ("train", "test/good", "test/hole"):
        (tmp_path / "bracket" / folder).mkdir(parents=True)
    write_cloud(tmp_path / "bracket" / "train" / "a.ply", PointCloud(rng.normal(size=(50, 3))))
    write_cloud(tmp_path / "bracket" / "test" / "good" / "g.pcd", PointCloud(rng.normal(size=(50, 3))))
    write_cloud(tmp_path / "bracket" / "test" / "hole" / "h.ply", PointCloud(rng.normal(size=(50, 3))))
    test = load_split(tmp_path, "folder", "bracket", "test")
    assert [(s.kind, s.label) for s in test] == [("good", 0), ("hole", 1)]
    assert len(load_split(tmp_path, "folder", "bracket", "train")) == 1


def test_a_broken_bundle_edit_is_a_one_line_error_naming_the_key_not_a_traceback(trained_bundle, scans, tmp_path,
                                                                                  capsys):
    import shutil

    bundle = Path(shutil.copytree(trained_bundle, tmp_path / "edited"))
    manifest = bundle / "bundle.yaml"
    assert "sensitivity: 0.5" in manifest.read_text()
    manifest.write_text(manifest.read_text().replace("sensitivity: 0.5", "sensitivity: 1.5"))
    assert main(["inspect", str(scans / "good" / "g1.ply"), "--bundle", str(bundle)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pcinspect inspect: error:") and "sensitivity" in err and "Traceback" not in err
