"""`pcinspect info`: counts, fields, organization, bounds and spacing of a file; exit 1 on bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.cli import main
from edge.cli.info import mean_spacing
from edge.io import PointCloud, write_cloud


def grid(n: int = 20, step: float = 0.5) -> np.ndarray:
    ij = np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), axis=-1).reshape(-1, 2)
    return np.hstack([ij * step, np.zeros((n * n, 1))]).astype(np.float32)


def test_mean_spacing_of_a_regular_grid_is_its_step():
    assert mean_spacing(grid(), sample=100) == pytest.approx(0.5, abs=1e-6)


def test_mean_spacing_needs_two_points():
    assert mean_spacing(np.zeros((1, 3), np.float32)) is None


def test_prints_counts_fields_bounds_and_spacing_of_a_real_file(shared_data, capsys):
    assert main(["info", str(shared_data / "formats" / "bun0.pcd")]) == 0
    out = capsys.readouterr().out
    assert "points     397" in out and "finite     397" in out
    assert "fields     x y z normal_x normal_y normal_z curvature" in out
    assert "x          [-0.093938, 0.059562]" in out
    assert "spacing" in out and "organized" not in out


def test_reports_organized_dimensions_and_finite_count_as_json(tmp_path, capsys):
    points = grid(10)
    points[::3] = np.nan
    write_cloud(tmp_path / "org.pcd", PointCloud(points, width=25, height=4))
    assert main(["info", str(tmp_path / "org.pcd"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["points"] == 100 and summary["finite"] == 66
    assert summary["organized"] == [25, 4]
    assert summary["bounds"]["max"] == [4.5, 4.5, 0.0]
    assert summary["mean_spacing"] == pytest.approx(0.5, abs=1e-6)


def test_exits_1_with_the_problem_on_a_malformed_file(tmp_path, capsys):
    (tmp_path / "bad.pcd").write_bytes(b"VERSION 0.7\nFIELDS x y z\nDATA binary\n")
    assert main(["info", str(tmp_path / "bad.pcd")]) == 1
    err = capsys.readouterr().err
    assert "bad.pcd" in err and "no SIZE line" in err
