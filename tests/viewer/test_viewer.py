"""The views of a result: the HTML page in a real headless Chromium, the coloured PLY in Open3D, the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import open3d as o3d
import pytest

from edge.io import PointCloud, read_cloud, write_cloud
from edge.verdict import Region, RegionKind
from edge.viewer.html_view import write_scene_html
from edge.viewer.ply_view import write_scene_ply
from edge.viewer.scene import MISSING_COLOUR, Scene, rigid_fit
from trainer.data import synthetic_sample

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def plate_scene() -> Scene:
    """An 80 x 40 mm wavy plate scored 0.1, a hot disc scored 0.95, and a patch of missing material."""
    rng = np.random.default_rng(0)
    u = rng.uniform(0, 1, (20_000, 2))
    points = np.column_stack([u[:, 0] * 80, u[:, 1] * 40, np.sin(u[:, 0] * 6) * 5]).astype(np.float32)
    scores = np.full(len(points), 0.1, np.float32)
    hot = np.linalg.norm(points[:, :2] - [40, 20], axis=1) < 6
    scores[hot] = 0.95
    missing = np.column_stack([rng.uniform(10, 16, 300), rng.uniform(5, 11, 300), np.zeros(300)]).astype(np.float32)
    regions = [Region(RegionKind.SURFACE, (40, 20, 0), (12, 12, 2), int(hot.sum()), 0.95),
               Region(RegionKind.MISSING, (13, 8, 0), (6, 6, 1), 30, 0.8)]
    return Scene(points, scores, missing, regions, "plate FAIL")


def screenshot(page: Path, out: Path) -> np.ndarray:
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=800,600", f"--screenshot={out}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    import matplotlib.image

    return (matplotlib.image.imread(out)[:, :, :3] * 255).round().astype(int)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make install adds it when root)")
def test_html_page_draws_points_coloured_by_score_and_missing_material_offline(tmp_path):
    page = write_scene_html(plate_scene(), tmp_path / "plate.html")
    assert "http://" not in page.read_text() and "https://" not in page.read_text()
    image = screenshot(page, tmp_path / "shot.png")
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    low = (b > 150) & (r < 120) & (g < 160)  # turbo at 0.1: blue
    high = (r > 120) & (g < 60) & (b < 60)  # turbo at 0.95: dark red
    magenta = (r > 200) & (g < 60) & (b > 200)
    assert low.sum() > 5000 and high.sum() > 200 and magenta.sum() > 100


def test_ply_view_carries_score_colours_and_flags_missing_material_for_open3d(tmp_path):
    scene = plate_scene()
    path = write_scene_ply(scene, tmp_path / "plate.ply")
    back = read_cloud(path)
    assert len(back) == len(scene.points) + len(scene.missing)
    assert back.extra["missing"].sum() == len(scene.missing)
    assert np.array_equal(back.extra["score"][: len(scene.points)], scene.scores)
    pcd = o3d.io.read_point_cloud(str(path))
    colours = (np.asarray(pcd.colors) * 255).round()
    assert pcd.has_colors() and (colours[-1] == MISSING_COLOUR).all()
    assert colours[: len(scene.points)][scene.scores > 0.9, 0].min() > colours[: len(scene.points)][scene.scores < 0.2, 0].max()


def test_rigid_fit_recovers_the_alignment_transform():
    import torch

    rng = np.random.default_rng(1)
    source = torch.from_numpy(rng.normal(size=(200, 3)))
    angle = 0.4
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    target = source @ torch.from_numpy(rotation.T) + torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    fitted, shift = rigid_fit(source, target)
    assert np.allclose(fitted, rotation, atol=1e-9) and np.allclose(shift, [1, -2, 3], atol=1e-9)


def test_inspect_writes_png_ply_and_html_of_a_defective_part(trained_bundle, tmp_path):
    sample = synthetic_sample("bracket", "hole", np.random.default_rng(3), 5000, radius=0.08)
    scan = tmp_path / "hole.ply"
    write_cloud(scan, PointCloud(sample.points))
    done = subprocess.run([sys.executable, "-m", "edge", "inspect", str(scan), "--bundle", str(trained_bundle), "--json",
                           "--png", str(tmp_path / "h.png"), "--ply", str(tmp_path / "h.ply"),
                           "--html", str(tmp_path / "h.html")], capture_output=True, text=True, timeout=300)
    wire = json.loads(done.stdout)
    assert wire["verdict"] in ("PASS", "FAIL"), done.stderr
    view = read_cloud(tmp_path / "h.ply")
    missing_regions = sum(r["kind"] == "missing" for r in wire["regions"])
    assert len(view) - int(view.extra["missing"].sum()) == len(sample.points)
    assert (view.extra["missing"].sum() > 0) == (missing_regions > 0)
    assert (tmp_path / "h.png").stat().st_size > 10_000
    assert '"regions": [' in (tmp_path / "h.html").read_text()
