"""Inspect stage: turn each job into exactly one verdict message.

A rejected frame, a frame past its deadline, a degenerate scan and an exception inside inspection each become
an ERROR verdict for that frame only; the worker keeps going. The Inspector is looked up per frame, so a
reload swaps bundles between frames. While the service stops, frames still queued after the inspection
budget (``inspect_until``) are answered ERROR "service stopping" instead of being inspected.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from edge.cuda_graphs import eager, own_stream
from edge.logs import fields
from edge.pipeline.codec import VerdictMessage, identity
from edge.pipeline.ingest import STOP, Job
from edge.pipeline.ledger import Ticket
from edge.pipeline.liveness import Liveness
from edge.pipeline.recipes import Recipes
from edge.pipeline.scan_checks import degenerate
from edge.pipeline.stage import POLL_S, StageThread
from edge.verdict import Verdict

log = logging.getLogger("edge.pipeline.worker")
STOPPING_REASON = "service stopping"


@dataclass
class Decided:
    """A verdict message on its way to the publisher, with the ticket whose waiters get an ack."""

    message: VerdictMessage
    ticket: Ticket | None


class Worker(StageThread):
    """Takes jobs until it gets STOP; hands verdict messages (without seq/ts_out) to the publisher queue."""

    def __init__(self, index: int, station: str, jobs: queue.Queue, verdicts: queue.Queue, recipes: Recipes,
                 deadline_ms: float, liveness: Liveness, inspect_until: Callable[[], float], *,
                 cuda_graphs: bool = True, device: str = "cpu") -> None:
        super().__init__(f"worker-{index}", liveness)
        self.station = station
        self.jobs = jobs
        self.verdicts = verdicts
        self.recipes = recipes
        self.deadline_ms = deadline_ms
        self.inspect_until = inspect_until
        self.stopping_errors = 0
        self.cuda_graphs = cuda_graphs
        self.device = torch.device(device)

    def loop(self) -> None:
        with eager(not self.cuda_graphs):
            self._take_jobs()

    def _take_jobs(self) -> None:
        while True:
            self.tick()
            try:
                job = self.jobs.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if job is STOP:
                return
            if not self.put(self.verdicts, Decided(self.process(job), job.ticket)):
                return

    def process(self, job: Job) -> VerdictMessage:
        """The verdict message of one job; never raises."""
        header = job.frame.header if job.frame is not None else (job.error.header if job.error else {})
        ident = identity(header)
        loaded = self.recipes.current(ident["recipe"]) if ident["recipe"] else None
        waited_ms = (time.monotonic() - job.received) * 1e3
        if job.error is not None:
            verdict = Verdict.error(job.error.reason)
        elif loaded is None:
            verdict = Verdict.error(f"unknown recipe '{ident['recipe']}'")
        elif time.monotonic() > self.inspect_until():
            self.stopping_errors += 1
            verdict = Verdict.error(STOPPING_REASON)
        elif waited_ms > self.deadline_ms:
            verdict = Verdict.error(f"deadline exceeded: waited {waited_ms:.0f} ms before inspection "
                                    f"(deadline {self.deadline_ms:.0f} ms)")
        else:
            verdict = self._inspect(loaded.inspector, job, ident)
        stages = {"decode": job.decode_ms, "queue": waited_ms}
        stages.update({k: v for k, v in verdict.timing_ms.items() if k != "total"})
        verdict.timing_ms = {**stages, "total": sum(stages.values())}
        if verdict.sensitivity is None and loaded is not None:
            verdict.sensitivity = loaded.inspector.sensitivity
        bundle = {"id": loaded.inspector.bundle_id, "sha256": loaded.inspector.bundle_sha256} if loaded else None
        return VerdictMessage(station=self.station, frame_id=ident["frame_id"], part_id=ident["part_id"],
                              recipe=ident["recipe"], frame_seq=ident["seq"], **verdict.to_wire(), bundle=bundle,
                              ts_in=job.ts_in)

    def _inspect(self, inspector: Any, job: Job, ident: dict[str, Any]) -> Verdict:
        problem = degenerate(job.frame.points)
        if problem is not None:
            return Verdict.error(problem)
        try:
            with own_stream(self.device):
                return inspector.inspect(job.frame.points, viewpoint=job.frame.viewpoint)
        except Exception as exc:  # one bad frame must not stop the line: it becomes this frame's ERROR
            log.exception("inspection failed", extra=fields(frame_id=ident["frame_id"], recipe=ident["recipe"]))
            return Verdict.error(f"inspection failed: {type(exc).__name__}: {exc}")
