import math

import torch

from edge.geometry.visibility import cone_directions, estimate_view, sphere_directions, visible_from
from edge.scoring.deviation import ViewModel, missing_evidence


def _ellipsoid(n: int = 6000) -> torch.Tensor:
    """Evenly spread points on an ellipsoid with axes 30, 20, 12 (no two views look alike)."""
    return sphere_directions(n) * torch.tensor([30.0, 20.0, 12.0])


def _angle(a: torch.Tensor, b: torch.Tensor) -> float:
    return math.degrees(math.acos(float(torch.nn.functional.normalize(a, dim=0) @ torch.nn.functional.normalize(b, dim=0))))


def test_sphere_directions_are_unit_vectors_covering_both_hemispheres() -> None:
    dirs = sphere_directions(200)
    assert torch.allclose(dirs.norm(dim=1), torch.ones(200), atol=1e-5)
    assert (dirs[:, 2] > 0.5).sum() > 40 and (dirs[:, 2] < -0.5).sum() > 40


def test_cone_directions_stay_within_their_half_angle_of_the_axis() -> None:
    axis = torch.tensor([0.0, 1.0, 1.0])
    dirs = cone_directions(axis, math.radians(10), 50)
    assert max(_angle(d, axis) for d in dirs) <= 10.01


def test_a_sphere_seen_from_above_shows_its_upper_half_only() -> None:
    normals = sphere_directions(4000)
    sphere = normals * 10.0
    visible = visible_from(sphere, torch.tensor([[0.0, 0.0, 1.0]]), cell=1.0, depth_tolerance=1.0, normals=normals)[0]
    assert bool(visible[sphere[:, 2] > 3.0].all())
    assert not bool(visible[sphere[:, 2] < -3.0].any())


def test_visible_from_gives_each_direction_the_mask_it_gives_alone() -> None:
    points = _ellipsoid(3000)
    normals = torch.nn.functional.normalize(points / torch.tensor([30.0, 20.0, 12.0]) ** 2, dim=1)
    dirs = sphere_directions(21)
    together = visible_from(points, dirs, cell=1.5, depth_tolerance=1.0, normals=normals)
    alone = torch.cat([visible_from(points, d.unsqueeze(0), cell=1.5, depth_tolerance=1.0, normals=normals)
                       for d in dirs])
    assert torch.equal(together, alone)


def test_the_viewing_direction_of_a_single_view_is_recovered_from_the_scan() -> None:
    template = _ellipsoid()
    truth = torch.tensor([0.3, -0.5, 0.8])
    scan = template[visible_from(template, truth.unsqueeze(0), cell=1.5, depth_tolerance=1.5)[0]]
    view = estimate_view(template, scan, cell=1.5, depth_tolerance=1.5, cover_radius=1.0)
    assert _angle(view.direction, truth) < 15.0
    assert view.agreement > 0.9


def test_template_regions_hidden_from_the_scanner_are_not_missing_material() -> None:
    template = _ellipsoid()
    normals = torch.nn.functional.normalize(template / torch.tensor([30.0, 20.0, 12.0]) ** 2, dim=1)
    seen = visible_from(template, torch.tensor([[0.0, 0.0, 1.0]]), cell=1.5, depth_tolerance=1.5, normals=normals)[0]
    scan = template[seen]
    evidence, template_gap, coverage = missing_evidence(
        scan, template, normals, gap_radius=2.0, view=ViewModel(cell=1.5, depth_tolerance=1.5)
    )
    assert bool((template_gap == 0).all()) and bool((evidence == 0).all())
    assert coverage < 0.85


def test_a_hole_inside_the_visible_part_is_still_missing_material() -> None:
    template = _ellipsoid()
    normals = torch.nn.functional.normalize(template / torch.tensor([30.0, 20.0, 12.0]) ** 2, dim=1)
    seen = visible_from(template, torch.tensor([[0.0, 0.0, 1.0]]), cell=1.5, depth_tolerance=1.5, normals=normals)[0]
    hole = (template - torch.tensor([0.0, 0.0, 12.0])).norm(dim=1) < 6.0
    scan = template[seen & ~hole]
    evidence, template_gap, _ = missing_evidence(
        scan, template, normals, gap_radius=2.0, view=ViewModel(cell=1.5, depth_tolerance=1.5)
    )
    assert bool((template_gap[hole] > 0).any())
    assert bool((template_gap[~seen] == 0).all())
    assert evidence.max().item() > 2.0
