"""Per-stage timings: wall clock on CPU, CUDA events on a GPU, so CUDA work is counted where it runs."""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from typing import Iterator

import torch


class StageTimer:
    """Collects milliseconds per named stage; ``total`` is the sum of the stages.

    On CUDA each stage records an event pair on the device's current stream instead of synchronising the host
    at its borders: the frame runs without a host round trip per stage, and :meth:`as_dict` waits once for the
    last event and reads the elapsed GPU-timeline milliseconds between each pair.
    """

    def __init__(self, device: torch.device | str | None = None) -> None:
        self.device = torch.device(device) if device is not None else None
        self.ms: dict[str, float] = {}
        self._events: list[tuple[str, torch.cuda.Event, torch.cuda.Event]] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block and add it to stage ``name``; under the torch profiler the block is also a range
        named ``stage:<name>`` in its trace, so ops and kernels can be counted per stage."""
        traced = torch.profiler.record_function(f"stage:{name}") if torch.autograd.profiler._is_profiler_enabled \
            else nullcontext()
        with traced, self._timed(name):
            yield

    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        if self.device is not None and self.device.type == "cuda":
            stream = torch.cuda.current_stream(self.device)
            start = torch.cuda.Event(enable_timing=True)
            start.record(stream)
            try:
                yield
            finally:
                end = torch.cuda.Event(enable_timing=True)
                end.record(stream)
                self._events.append((name, start, end))
            return
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - begin) * 1e3

    def as_dict(self) -> dict[str, float]:
        """Stage timings plus ``total``, in milliseconds."""
        if self._events:
            self._events[-1][2].synchronize()
            for name, start, end in self._events:
                self.ms[name] = self.ms.get(name, 0.0) + start.elapsed_time(end)
            self._events.clear()
        return {**self.ms, "total": sum(self.ms.values())}
