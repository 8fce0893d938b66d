"""Sensitivity the operator owns: per recipe in the station file, changed at run time by the control socket."""

from __future__ import annotations

import numpy as np


def test_station_sensitivity_applies_and_a_control_change_takes_effect_without_reload(serve, trained_bundle, scans):
    service, line = serve({"bracket": trained_bundle}, real=True,
                          recipes={"bracket": {"bundle": str(trained_bundle), "sensitivity": 0.3}})
    bundle_id = service.recipes.current("bracket").inspector.bundle_id
    line.send(scans["good"])
    assert line.verdict()["sensitivity"] == 0.3
    reply = line.control({"op": "sensitivity", "recipe": "bracket", "value": 0.7})
    assert reply == {"ok": True, "recipe": "bracket", "sensitivity": 0.7, "previous": 0.3}
    line.send(scans["good"])
    verdict = line.verdict()
    assert verdict["sensitivity"] == 0.7 and verdict["bundle"]["id"] == bundle_id
    assert line.control({"op": "status"})["recipes"]["bracket"]["sensitivity"] == 0.7
    line.send(np.full((500, 3), np.nan, np.float32))
    error = line.verdict()
    assert error["verdict"] == "ERROR" and error["sensitivity"] == 0.7


def test_a_sensitivity_outside_zero_to_one_is_refused_and_changes_nothing(serve):
    service, line = serve()
    reply = line.control({"op": "sensitivity", "value": 1.0})
    assert not reply["ok"] and "strictly between 0 and 1" in reply["error"]
    assert line.control({"op": "sensitivity", "recipe": "nope", "value": 0.4})["ok"] is False
