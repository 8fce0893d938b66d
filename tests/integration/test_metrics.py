"""`service.metrics`: the live service's Prometheus endpoint, scraped over HTTP and parsed."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from stationkit import Scanner, Station

from edge.metrics import reason_class


def scrape(station: Station) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value from GET /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{station.ports['metrics']}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_scrape_counts_the_streams_verdicts_by_result_and_reason_and_reports_state(
        station: Station, scanner: Scanner) -> None:
    before = scrape(station)
    seqs = scanner.stream(["tiny", "good", "tiny"])
    after = scrape(station)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("pcinspect_verdicts_total", recipe="bracket", result="ERROR") == 2
    assert delta("pcinspect_verdicts_total", recipe="bracket", result="PASS") == 1
    assert delta("pcinspect_errors_total", reason="limits") == 2
    assert delta("pcinspect_frames_received_total") == 3
    assert delta("pcinspect_stage_latency_seconds_count", stage="total") == 3
    assert delta("pcinspect_journal_write_seconds_count") == 3
    assert after[("pcinspect_journal_seq", ())] == seqs[-1]
    assert after[("pcinspect_state", (("state", "running"),))] == 1
    assert after[("pcinspect_fault", ())] == 0
    assert after[("pcinspect_queue_depth", ())] == 0
    assert any(name == "pcinspect_bundle_info" and dict(labels)["recipe"] == "bracket" for name, labels in after)


def test_error_reasons_fall_into_classes() -> None:
    assert reason_class("n=10 points outside recipe 'bracket' limits [1000, 2000000]") == "limits"
    assert reason_class("header missing key 'seq'") == "header"
    assert reason_class("deadline exceeded: waited 6000 ms before inspection (deadline 5000 ms)") == "deadline"
    assert reason_class("only 12 points after preprocessing") == "refused"


def test_the_grafana_dashboard_queries_only_metrics_the_service_exports(station: Station) -> None:
    import json
    import re
    from pathlib import Path

    dashboard = (Path(__file__).resolve().parents[2] / "config" / "grafana-dashboard.json").read_text()
    queried = {re.sub(r"_(bucket|count|sum)$", "", name) for name in re.findall(r"pcinspect_\w+", dashboard)}
    exported = {re.sub(r"_(bucket|count|sum|created)$", "", name) for name, _ in scrape(station)}
    assert json.loads(dashboard)["panels"] and queried <= exported, queried - exported
