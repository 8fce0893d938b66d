"""Per-stage wall-clock timings, synchronised with the device so CUDA work is counted where it runs."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

import torch


class StageTimer:
    """Collects milliseconds per named stage; ``total`` is the sum of the stages."""

    def __init__(self, device: torch.device | str | None = None) -> None:
        self.device = torch.device(device) if device is not None else None
        self.ms: dict[str, float] = {}

    def _sync(self) -> None:
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block and add it to stage ``name``."""
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1e3

    def as_dict(self) -> dict[str, float]:
        """Stage timings plus ``total``, in milliseconds."""
        return {**self.ms, "total": sum(self.ms.values())}
