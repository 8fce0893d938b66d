"""Verdicts of real inspections carry every field of protocol v1, journaled exactly as published."""

from __future__ import annotations

import math

import numpy as np
import pytest

VERDICT_KEYS = {"v", "station", "frame_id", "part_id", "recipe", "seq", "frame_seq", "verdict", "reason", "score",
                "raw_score", "severity", "sensitivity", "regions", "bundle", "timing_ms", "ts_in", "ts_out"}


@pytest.fixture(scope="module")
def verdicts(trained_bundle, scans, tmp_path_factory):
    """PASS and FAIL verdicts from a service with the trained bundle (the good scan sent with extra fields)."""
    from servicekit import Line, station

    from edge.service import Service

    service = Service(station(tmp_path_factory.mktemp("svc"), {"bracket": trained_bundle}, endpoints="ipc"))
    service.start()
    line = Line(service)
    try:
        good = scans["good"]
        with_normals = np.hstack([good, np.zeros((len(good), 4), np.float32)])
        sent = [line.send(with_normals, fields=["x", "y", "z", "nx", "ny", "nz", "i"]), line.send(scans["bulge"])]
        got = [line.verdict(), line.verdict()]
        journaled = [line.query({"op": "get", "frame_id": h["frame_id"]})["verdicts"] for h in sent]
        yield sent, got, journaled, service
    finally:
        line.close()
        service.request_stop()
        service.shutdown()


def test_verdict_has_every_protocol_field_with_its_type(verdicts) -> None:
    sent, got, _, service = verdicts
    for header, verdict in zip(sent, got):
        assert set(verdict) == VERDICT_KEYS
        assert verdict["v"] == 1 and verdict["station"] == "test"
        assert (verdict["frame_id"], verdict["part_id"], verdict["recipe"], verdict["frame_seq"]) == (
            header["frame_id"], header["part_id"], "bracket", header["seq"])
        assert isinstance(verdict["score"], float) and isinstance(verdict["raw_score"], float)
        bundle = service.recipes.current("bracket").inspector
        assert verdict["bundle"] == {"id": bundle.bundle_id, "sha256": bundle.bundle_sha256}
        assert verdict["ts_in"] <= verdict["ts_out"]
        timing = verdict["timing_ms"]
        assert {"decode", "queue", "preprocess", "features", "total"} <= set(timing)
        assert math.isclose(timing["total"], sum(v for k, v in timing.items() if k != "total"), abs_tol=0.05)
    assert [v["seq"] for v in got] == [1, 2]


def test_good_part_passes_and_bulged_part_fails_with_regions(verdicts) -> None:
    _, (good, bulge), _, _ = verdicts
    assert good["verdict"] == "PASS" and good["reason"] is None and good["score"] < 0.5 and good["regions"] == []
    assert bulge["verdict"] == "FAIL" and bulge["score"] >= 0.5 and bulge["regions"]
    for region in bulge["regions"]:
        assert set(region) == {"kind", "centroid", "extent", "points", "peak", "severity", "max_deviation_mm"}
        assert region["kind"] in ("surface", "missing") and len(region["centroid"]) == len(region["extent"]) == 3
        assert isinstance(region["points"], int) and isinstance(region["peak"], float)


def test_journal_returns_exactly_what_was_published(verdicts) -> None:
    _, got, journaled, _ = verdicts
    assert journaled == [[got[0]], [got[1]]]
