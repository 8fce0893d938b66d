import torch

from edge.scoring.regions import connected_components, extract_regions
from edge.verdict import RegionKind


def _line(offset: float, n: int = 101) -> torch.Tensor:
    t = torch.linspace(0, 10, n)
    return torch.stack([t, torch.full_like(t, offset), torch.zeros_like(t)], dim=1)


def test_points_closer_than_the_radius_form_one_component_per_chain() -> None:
    points = torch.cat([_line(5.0), _line(0.0), torch.tensor([[50.0, 50.0, 50.0]])])
    labels = connected_components(points, radius=0.15)
    assert labels.unique().numel() == 3
    assert labels[:101].unique().numel() == 1 and labels[101:202].unique().numel() == 1


def test_long_chain_given_in_shuffled_order_is_still_one_component() -> None:
    points = _line(0.0, 400)[torch.randperm(400)]
    assert connected_components(points, radius=0.05).unique().numel() == 1


def test_regions_report_centroid_extent_size_and_peak_strongest_first() -> None:
    points = torch.cat([_line(0.0), _line(5.0)])
    scores = torch.cat([torch.full((101,), 0.6), torch.full((101,), 0.9)])
    regions = extract_regions(points, scores, torch.zeros(202, dtype=torch.bool), radius=0.15)
    assert [r.peak for r in regions] == [torch.tensor(0.9).item(), torch.tensor(0.6).item()]
    assert regions[0].centroid == (5.0, 5.0, 0.0)
    assert regions[0].extent == (10.0, 0.0, 0.0)
    assert regions[0].points == 101


def test_region_dominated_by_missing_evidence_is_of_kind_missing() -> None:
    points = _line(0.0)
    missing = torch.arange(101) < 80
    (region,) = extract_regions(points, torch.ones(101), missing, radius=0.15)
    assert region.kind is RegionKind.MISSING


def test_clusters_below_the_minimum_size_are_dropped() -> None:
    points = torch.tensor([[0.0, 0, 0], [0.1, 0, 0], [9.0, 9, 9]])
    regions = extract_regions(points, torch.ones(3), torch.zeros(3, dtype=torch.bool), radius=0.5, min_points=2)
    assert len(regions) == 1 and regions[0].points == 2


def test_fragments_of_one_defect_closer_than_the_merge_gap_are_one_region() -> None:
    arcs = [torch.tensor([[0.0, 0, 0], [0.1, 0, 0]]), torch.tensor([[0.8, 0, 0], [0.9, 0, 0]]),
            torch.tensor([[9.0, 0, 0], [9.1, 0, 0]])]
    points = torch.cat(arcs)
    separate = extract_regions(points, torch.ones(6), torch.zeros(6, dtype=torch.bool), radius=0.15, min_points=1)
    merged = extract_regions(points, torch.ones(6), torch.zeros(6, dtype=torch.bool), radius=0.15, min_points=1,
                             merge_gap=1.0)
    assert len(separate) == 3
    assert sorted(r.points for r in merged) == [2, 4]


def test_regions_carry_unclipped_severity_and_max_deviation() -> None:
    points = torch.cat([_line(0.0), _line(5.0)])
    severity = torch.cat([torch.full((101,), 1.5), torch.linspace(2.0, 7.0, 101)])
    deviation = torch.cat([torch.full((101,), 0.2), torch.linspace(0.1, 1.3, 101)])
    regions = extract_regions(points, torch.ones(202), torch.zeros(202, dtype=torch.bool), radius=0.15,
                              severity=severity, deviation=deviation)
    assert [round(r.severity, 5) for r in regions] == [7.0, 1.5]
    assert [round(r.max_deviation_mm, 5) for r in regions] == [1.3, 0.2]
    assert regions[0].to_wire()["max_deviation_mm"] == 1.3
