import pytest
import torch

from edge.geometry.sampling import voxel_downsample
from edge.scoring.deviation import fine_deviation, fine_missing, missing_evidence, surface_deviation


def _plane(n: int = 60, spacing: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.arange(n, dtype=torch.float32) * spacing
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1), torch.zeros(n * n)], dim=1)
    normals = torch.zeros_like(points)
    normals[:, 2] = 1.0
    return points, normals


def test_points_on_the_template_surface_between_samples_deviate_by_zero() -> None:
    template, normals = _plane()
    probes = torch.tensor([[10.5, 10.5, 0.0], [20.25, 3.75, 0.0]])
    dev = surface_deviation(probes, template, normals, patch_radius=1.0)
    assert torch.allclose(dev, torch.zeros(2), atol=1e-5)


def test_deviation_equals_the_height_above_the_surface() -> None:
    template, normals = _plane()
    probes = torch.tensor([[10.5, 10.5, 2.0], [30.0, 30.0, -0.7]])
    dev = surface_deviation(probes, template, normals, patch_radius=1.0)
    assert torch.allclose(dev, torch.tensor([2.0, 0.7]), atol=1e-5)


def test_points_beside_the_template_edge_measure_their_lateral_distance() -> None:
    template, normals = _plane(20)
    dev = surface_deviation(torch.tensor([[19.0 + 5.0, 10.0, 0.0]]), template, normals, patch_radius=1.0)
    assert dev.item() == pytest.approx(4.0, abs=1e-4)


def test_hole_in_a_full_scan_marks_its_rim_with_the_gap_size() -> None:
    template, normals = _plane()
    centre = torch.tensor([30.0, 30.0, 0.0])
    keep = (template - centre).norm(dim=1) > 5.0
    scan = template[keep]
    evidence, template_gap, coverage = missing_evidence(scan, template, normals, gap_radius=1.5)
    assert coverage > 0.95
    assert template_gap.max().item() >= 4.0
    rim = (scan - centre).norm(dim=1) < 6.5
    assert bool((evidence[rim] > 0).any()) and bool((evidence[~rim] == 0).all())


def _holed_plane(radius: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    template, normals = _plane()
    return template[(template - torch.tensor([30.0, 30.0, 0.0])).norm(dim=1) > radius], template, normals


def test_a_full_scan_counts_a_hole_narrower_than_the_gap_radius_at_the_full_scan_gap_radius() -> None:
    scan, template, normals = _holed_plane(2.5)
    coarse, _, _ = missing_evidence(scan, template, normals, gap_radius=3.0)
    fine, template_gap, coverage = missing_evidence(scan, template, normals, gap_radius=3.0, full_scan_gap_radius=2.0)
    assert coarse.max().item() == 0.0
    assert fine.max().item() > 2.0 and template_gap.max().item() > 2.0
    assert coverage == 1.0


def test_the_full_scan_gap_radius_leaves_a_single_view_and_its_coverage_alone() -> None:
    template, normals = _plane()
    half = template[:, 0] < 30.0
    hole = (template - torch.tensor([15.0, 30.0, 0.0])).norm(dim=1) < 2.5
    scan = template[half & ~hole]
    wide = missing_evidence(scan, template, normals, gap_radius=3.0)
    both = missing_evidence(scan, template, normals, gap_radius=3.0, full_scan_gap_radius=2.0)
    assert both[2] == wide[2] < 0.85
    assert torch.equal(both[0], wide[0]) and torch.equal(both[1], wide[1])


def test_edge_of_a_partial_view_is_not_missing_material_but_an_enclosed_hole_is() -> None:
    template, normals = _plane()
    half = template[:, 0] < 30.0
    hole = (template - torch.tensor([15.0, 30.0, 0.0])).norm(dim=1) < 4.0
    scan = template[half & ~hole]
    evidence, template_gap, coverage = missing_evidence(scan, template, normals, gap_radius=1.5)
    assert coverage < 0.85
    assert bool((template_gap[~half] == 0).all())
    assert bool((template_gap[hole] > 0).any())
    assert evidence.max().item() > 1.5


def test_unscanned_far_side_of_a_thin_part_is_not_taken_for_a_hole() -> None:
    top, normals = _plane(40)
    bottom = top - torch.tensor([0.0, 0.0, 1.0])
    template = torch.cat([top, bottom])
    template_normals = torch.cat([normals, -normals])
    _, template_gap, coverage = missing_evidence(top, template, template_normals, gap_radius=0.5)
    assert coverage < 0.85
    assert bool((template_gap == 0).all())


def _dense_plate(spacing: float = 0.25, size: float = 20.0) -> torch.Tensor:
    ticks = torch.arange(0.0, size, spacing)
    x, y = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1), torch.zeros(x.numel())], dim=1)


def test_a_groove_narrower_than_a_voxel_keeps_its_depth_at_full_resolution() -> None:
    scan = _dense_plate()
    groove = (scan[:, 0] - 10.1).abs() < 0.15
    scan[groove, 2] = -0.6
    merged, rows = voxel_downsample(scan, 2.0)
    template = _dense_plate(spacing=1.0, size=21.0)
    normals = torch.tensor([[0.0, 0.0, 1.0]]).expand_as(template)
    coarse = surface_deviation(merged, template, normals, patch_radius=1.0)
    fine = fine_deviation(scan, rows, merged.shape[0], template, normals, patch_radius=1.0)
    on_groove = torch.unique(rows[groove])
    assert float(coarse[on_groove].max()) < 0.2
    assert torch.allclose(fine[on_groove], torch.full((on_groove.numel(),), 0.6), atol=1e-4)
    off = torch.ones(merged.shape[0], dtype=torch.bool)
    off[on_groove] = False
    assert float(fine[off].max()) < 1e-4


def test_input_points_dropped_by_preprocessing_do_not_count() -> None:
    scan = _dense_plate()
    merged, rows = voxel_downsample(scan, 2.0)
    scan[0, 2] = 50.0
    rows = rows.clone()
    rows[0] = -1
    template = _dense_plate(spacing=1.0, size=21.0)
    normals = torch.tensor([[0.0, 0.0, 1.0]]).expand_as(template)
    fine = fine_deviation(scan, rows, merged.shape[0], template, normals, patch_radius=1.0)
    assert float(fine.max()) < 1e-4


def _holed_plate(hole_radius: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A dense scan (spacing 0.25) of a 21 x 21 plate with a round hole at its centre, its 1.0 voxel grid (centroids
    and rows) and the plate's template at the voxel's spacing."""
    scan = _dense_plate(spacing=0.25, size=21.0)
    scan = scan[((scan[:, :2] - 10.5) ** 2).sum(dim=1).sqrt() > hole_radius]
    merged, rows = voxel_downsample(scan, 1.0)
    return scan, rows, merged, _dense_plate(spacing=1.0, size=21.0)


def test_a_hole_narrower_than_the_coarse_gap_radius_shows_among_the_input_points() -> None:
    scan, rows, merged, template = _holed_plate(2.2)
    normals = torch.tensor([[0.0, 0.0, 1.0]]).expand_as(template)
    coarse, _, _ = missing_evidence(merged, template, normals, gap_radius=3.0)
    fine = fine_missing(scan, rows, merged, template, gap_radius=3 * 0.25, cell=1.0)
    rim = ((merged[:, :2] - 10.5) ** 2).sum(dim=1).sqrt() < 4.0
    assert float(coarse.max()) == 0.0
    assert float(fine[rim].max()) > 1.5
    assert float(fine[~rim].max()) == 0.0


def test_a_whole_plate_has_no_missing_material_at_the_input_resolution() -> None:
    scan, rows, merged, template = _holed_plate(0.0)
    fine = fine_missing(scan, rows, merged, template, gap_radius=3 * 0.25, cell=1.0)
    assert float(fine.max()) == 0.0

