"""Inspect stage: turn each job into exactly one verdict message.

A rejected frame, a frame past its deadline and an exception inside inspection each become an ERROR verdict
for that frame only; the worker keeps going. The Inspector is looked up per frame, so a reload swaps bundles
between frames.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from edge.logs import fields
from edge.pipeline.codec import VERSION, identity
from edge.pipeline.ingest import STOP, Job
from edge.pipeline.liveness import Liveness
from edge.pipeline.recipes import Recipes
from edge.verdict import Verdict

log = logging.getLogger("edge.pipeline.worker")
POLL_S = 0.1


class Worker(threading.Thread):
    """Takes jobs until it gets STOP; hands verdict messages (without seq/ts_out) to the publisher queue."""

    def __init__(self, index: int, station: str, jobs: queue.Queue, verdicts: queue.Queue, recipes: Recipes,
                 deadline_ms: float, liveness: Liveness) -> None:
        super().__init__(name=f"worker-{index}", daemon=True)
        self.station = station
        self.jobs = jobs
        self.verdicts = verdicts
        self.recipes = recipes
        self.deadline_ms = deadline_ms
        self.liveness = liveness

    def run(self) -> None:
        while True:
            self.liveness.tick(self.name)
            try:
                job = self.jobs.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if job is STOP:
                self.liveness.forget(self.name)
                return
            message = self.process(job)
            while True:
                try:
                    self.verdicts.put(message, timeout=POLL_S)
                    break
                except queue.Full:
                    self.liveness.tick(self.name)

    def process(self, job: Job) -> dict[str, Any]:
        """The verdict message of one job; never raises."""
        header = job.frame.header if job.frame is not None else (job.error.header if job.error else {})
        ident = identity(header)
        loaded = self.recipes.current(ident["recipe"]) if ident["recipe"] else None
        waited_ms = (time.monotonic() - job.received) * 1e3
        if job.error is not None:
            verdict = Verdict.error(job.error.reason)
        elif loaded is None:
            verdict = Verdict.error(f"unknown recipe '{ident['recipe']}'")
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
        wire = verdict.to_wire()
        return {
            "v": VERSION, "station": self.station, "frame_id": ident["frame_id"], "part_id": ident["part_id"],
            "recipe": ident["recipe"], "seq": None, "frame_seq": ident["seq"], **wire,
            "bundle": {"id": loaded.inspector.bundle_id, "sha256": loaded.inspector.bundle_sha256} if loaded else None,
            "ts_in": job.ts_in, "ts_out": None,
        }

    def _inspect(self, inspector: Any, job: Job, ident: dict[str, Any]) -> Verdict:
        try:
            return inspector.inspect(job.frame.points)
        except Exception as exc:  # one bad frame must not stop the line: it becomes this frame's ERROR
            log.exception("inspection failed", extra=fields(frame_id=ident["frame_id"], recipe=ident["recipe"]))
            return Verdict.error(f"inspection failed: {type(exc).__name__}: {exc}")
