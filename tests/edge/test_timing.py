import time

import torch

from edge.timing import StageTimer


def test_stage_timer_accumulates_repeated_stages_and_sums_total() -> None:
    timer = StageTimer("cpu")
    for _ in range(2):
        with timer.stage("sleep"):
            time.sleep(0.01)
    with timer.stage("other"):
        pass
    ms = timer.as_dict()
    assert ms["sleep"] >= 20.0
    assert ms["total"] == ms["sleep"] + ms["other"]


def test_stage_timer_records_a_stage_that_raised() -> None:
    timer = StageTimer()
    try:
        with timer.stage("boom"):
            raise RuntimeError
    except RuntimeError:
        pass
    assert "boom" in timer.as_dict()


def test_stages_are_named_ranges_in_a_profiler_trace() -> None:
    timer = StageTimer("cpu")
    with torch.profiler.profile() as prof:
        with timer.stage("features"):
            torch.ones(4).sum()
    names = [event.name for event in prof.events()]
    assert "stage:features" in names
    assert timer.as_dict()["features"] > 0
