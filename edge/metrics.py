"""Prometheus metrics of the edge service (``service.metrics: HOST:PORT`` serves ``/metrics``).

Per-verdict metrics are observed where each verdict is journaled (``ServiceMetrics.instrument`` wraps the
journal writer, so the write latency is measured at the same place); the service's state (queue depth,
received frames, bundles, stalled stages) is read at scrape time by a collector, so nothing is polled and
the frame path pays one dictionary walk per verdict. Names are listed in docs/integration.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WRITE_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
STATES = ("starting", "running", "paused", "fault", "draining", "stopped")
# ERROR reasons (docs/protocol.md) by class: the first matching prefix wins; anything else is the Inspector's
# own refusal of a scan it cannot judge.
REASON_CLASSES = (
    ("bad JSON header", "header"), ("header ", "header"), ("unsupported protocol", "header"),
    ("unsupported dtype", "header"), ("bad fields", "header"), ("unknown recipe", "recipe"), ("n=", "limits"),
    ("missing payload", "payload"), ("message has", "payload"), ("payload has", "payload"),
    ("non-finite", "payload"), ("deadline exceeded", "deadline"), ("inspection failed", "exception"),
)


def reason_class(reason: str | None) -> str:
    """The class of an ERROR verdict's reason: header, recipe, limits, payload, deadline, exception or refused."""
    for prefix, name in REASON_CLASSES:
        if (reason or "").startswith(prefix):
            return name
    return "refused"


class _StateCollector(Collector):
    """State, queue, received frames, bundles and stalled stages, read from the service when scraped."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def collect(self) -> Iterator[Any]:
        service = self.service
        status = service.status()
        received = CounterMetricFamily("pcinspect_frames_received", "frames received from the scanner")
        received.add_metric([], status["received"])
        yield received
        queue = GaugeMetricFamily("pcinspect_queue_depth", "frames decoded and waiting for a worker")
        queue.add_metric([], status["queue"]["depth"])
        yield queue
        capacity = GaugeMetricFamily("pcinspect_queue_capacity", "capacity of the frame queue (ingest.queue)")
        capacity.add_metric([], status["queue"]["capacity"])
        yield capacity
        seq = GaugeMetricFamily("pcinspect_journal_seq", "last journaled verdict seq")
        seq.add_metric([], status["last_seq"])
        yield seq
        state = GaugeMetricFamily("pcinspect_state", "1 for the service's current state", labels=["state"])
        for name in STATES:
            state.add_metric([name], float(status["state"] == name))
        yield state
        stalled = service.liveness.stalled(service.config.service.stall_s)
        fault = GaugeMetricFamily("pcinspect_fault", "1 while the service is in fault: a stalled or dead thread or "
                                  "an unwritable journal (the systemd watchdog is withheld)")
        fault.add_metric([], float(bool(stalled) or status["state"] == "fault"))
        yield fault
        bundle = InfoMetricFamily("pcinspect_bundle", "bundle served per recipe", labels=["recipe"])
        for recipe, described in status["recipes"].items():
            current = described.get("bundle") or {}
            bundle.add_metric([recipe], {"bundle_id": str(current.get("id")), "sha256": str(current.get("sha256"))})
        yield bundle
        uptime = GaugeMetricFamily("pcinspect_uptime_seconds", "seconds since the service started")
        uptime.add_metric([], status["uptime_s"])
        yield uptime


class _TimedJournal:
    """The journal writer, with every append timed and its verdict counted."""

    def __init__(self, journal: Any, metrics: ServiceMetrics) -> None:
        self._journal = journal
        self._metrics = metrics

    def append(self, message: Any) -> int:
        """Append a :class:`~edge.pipeline.codec.VerdictMessage`; count it only once it is journaled."""
        start = time.perf_counter()
        try:
            seq = self._journal.append(message)
        except Exception:
            self._metrics.journal_failures.inc()
            raise
        self._metrics.journal_write.observe(time.perf_counter() - start)
        self._metrics.observe_verdict(message.to_dict())
        return seq

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


class ServiceMetrics:
    """The service's registry; ``serve(service)`` starts the HTTP endpoint when ``address`` is set."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.registry = CollectorRegistry()
        labels = {"registry": self.registry}
        self.verdicts = Counter("pcinspect_verdicts", "verdicts by recipe and result", ["recipe", "result"], **labels)
        self.errors = Counter("pcinspect_errors", "ERROR verdicts by reason class", ["reason"], **labels)
        self.stage = Histogram("pcinspect_stage_latency_seconds", "time per stage (timing_ms of each verdict)",
                               ["stage"], buckets=LATENCY_BUCKETS_S, **labels)
        self.journal_write = Histogram("pcinspect_journal_write_seconds", "journal append (commit) latency",
                                       buckets=WRITE_BUCKETS_S, **labels)
        self.journal_failures = Counter("pcinspect_journal_failures", "verdicts published without a seq "
                                        "because the journal write failed", **labels)
        self._server: Any = None

    def instrument(self, journal: Any) -> Any:
        """The journal writer to hand to the publisher: same interface, timed and counted."""
        return _TimedJournal(journal, self)

    def observe_verdict(self, message: dict[str, Any]) -> None:
        """Count one published verdict (wire format, docs/protocol.md) and its stage timings."""
        result = message.get("verdict") or "ERROR"
        self.verdicts.labels(message.get("recipe") or "", result).inc()
        if result == "ERROR":
            self.errors.labels(reason_class(message.get("reason"))).inc()
        for stage, ms in (message.get("timing_ms") or {}).items():
            if isinstance(ms, (int, float)):
                self.stage.labels(stage).observe(ms / 1000.0)

    def serve(self, service: Any) -> None:
        """Register the scrape-time collector and listen on ``address`` (nothing when it is None)."""
        if self.address is None:
            return
        self.registry.register(_StateCollector(service))
        host, port = self.address.rsplit(":", 1)
        try:
            self._server, _ = start_http_server(int(port), addr=host.strip("[]"), registry=self.registry)
        except OSError as exc:
            raise OSError(f"service.metrics: cannot listen on {self.address}: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
