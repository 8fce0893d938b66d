"""Units: frame headers are converted or refused, never ignored; a scan in the wrong unit is an ERROR that says so."""

from __future__ import annotations

import numpy as np
import pytest

from edge.pipeline.codec import ProtocolError, decode, encode, make_header
from edge.units import to_mm, unit_mismatch


def limits(recipe: str) -> tuple[int, int] | None:
    return (3, 1000) if recipe == "bracket" else None


def frame(units: str) -> list:
    points = np.arange(12, dtype=np.float32).reshape(4, 3)
    header = make_header(frame_id="f1", part_id="p1", recipe="bracket", seq=1, n=4, ts=1.0, units=units)
    return encode(header, points)


def test_a_frame_in_metres_is_converted_to_millimetres() -> None:
    decoded = decode(frame("m"), limits)
    np.testing.assert_array_equal(decoded.points, np.arange(12, dtype=np.float32).reshape(4, 3) * 1000)


def test_a_frame_in_metres_is_refused_when_the_station_takes_only_mm() -> None:
    with pytest.raises(ProtocolError, match="units 'm' refused: this station takes mm only"):
        decode(frame("m"), limits, convert_units=False)


def test_an_unknown_unit_is_named_with_the_accepted_ones() -> None:
    with pytest.raises(ProtocolError, match="unknown units 'furlong' \\(expected one of mm, cm, m, um, in\\)"):
        decode(frame("furlong"), limits)


def test_to_mm_scales_by_the_unit() -> None:
    assert np.allclose(to_mm(np.ones((1, 3), np.float32), "in"), 25.4)
    assert to_mm(np.ones((1, 3), np.float32), "um")[0, 0] == np.float32(0.001)


@pytest.mark.parametrize(("scan", "template", "unit"), [(0.1, 100.0, "metres"), (3.9, 100.0, "inches"),
                                                        (10.5, 100.0, "centimetres"), (1e5, 100.0, "micrometres")])
def test_a_size_off_by_a_unit_ratio_names_the_likely_unit(scan, template, unit) -> None:
    assert f"looks like it is in {unit}" in unit_mismatch(scan, template)


@pytest.mark.parametrize("scan", [100.0, 70.0, 140.0, 40.0])
def test_a_size_not_near_a_unit_ratio_is_not_called_a_unit_mistake(scan) -> None:
    assert unit_mismatch(scan, 100.0) is None


def test_inspecting_a_scan_in_metres_gives_an_error_verdict_that_says_so(trained_bundle) -> None:
    from edge.inspector import Inspector
    from trainer.data import synthetic_sample

    inspector = Inspector.from_bundle(trained_bundle)
    scan = synthetic_sample("bracket", "good", np.random.default_rng(2), 3000).points / 1000.0
    verdict = inspector.inspect(scan)
    assert verdict.decision.value == "ERROR" and "looks like it is in metres" in verdict.reason
