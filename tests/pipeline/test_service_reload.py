"""Hot reload and rollback: bundles swap between frames under traffic; a bad bundle never replaces a good one."""

from __future__ import annotations

import shutil
import threading

import pytest
from servicekit import variant_bundle


@pytest.fixture
def live(serve, trained_bundle, tmp_path):
    service, line = serve({"bracket": trained_bundle}, real=True)
    return service, line, variant_bundle(trained_bundle, tmp_path / "v2", "bracket-v2")


def test_reload_under_traffic_swaps_between_frames_and_rollback_returns_to_the_previous(live, scans) -> None:
    service, line, v2 = live
    first_id = service.recipes.current("bracket").inspector.bundle_id
    for _ in range(3):
        line.send(scans["good"])
    replies = []
    reloader = threading.Thread(target=lambda: replies.append(line.control({"op": "reload", "bundle": str(v2)})))
    reloader.start()
    reloader.join(timeout=30)
    line.send(scans["good2"])
    ids = [line.verdict()["bundle"]["id"] for _ in range(4)]
    assert replies[0]["ok"] and replies[0]["bundle"]["id"] == "bracket-v2"
    assert ids[-1] == "bracket-v2" and set(ids) <= {first_id, "bracket-v2"}
    assert ids == sorted(ids, key=lambda i: i == "bracket-v2"), "a swap back to the old bundle happened mid-stream"
    rollback = line.control({"op": "rollback"})
    assert rollback["ok"] and rollback["bundle"]["id"] == first_id
    line.send(scans["good"])
    assert line.verdict()["bundle"]["id"] == first_id


def test_failed_reload_keeps_the_running_bundle_and_reports_why(live, tmp_path) -> None:
    service, line, v2 = live
    before = line.control({"op": "status"})["recipes"]["bracket"]["bundle"]
    broken = tmp_path / "broken"
    shutil.copytree(v2, broken)
    (broken / "bank.npy").write_bytes(b"tampered")
    reply = line.control({"op": "reload", "bundle": str(broken)})
    assert not reply["ok"] and "bank.npy" in reply["error"] and "sha256 mismatch" in reply["error"]
    assert line.control({"op": "status"})["recipes"]["bracket"]["bundle"] == before
    assert not line.control({"op": "rollback"})["ok"]


def test_reload_without_a_bundle_reloads_the_configured_ones(live) -> None:
    service, line, _ = live
    reply = line.control({"op": "reload"})
    assert reply["ok"] and reply["recipes"]["bracket"]["ok"]
    assert line.control({"op": "status"})["recipes"]["bracket"]["previous"] is not None
