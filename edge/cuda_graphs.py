"""Where and how the per-frame ops capture CUDA graphs: per thread, one capture at a time, other threads unhindered.

FPS, the orientation sweeps, ICP blocks and the torch networks each record a fixed-shape piece of work once as a
CUDA graph over static buffers and replay it on later frames. The service inspects in several worker threads, so:

- every thread keeps its own graphs and buffers (:class:`GraphCache`): two workers never replay into the same
  static tensors at once;
- a capture runs in ``thread_local`` mode: the other workers may synchronise, allocate and launch while one
  thread captures (the default, ``global`` mode, made a second worker's synchronisation fail);
- captures are serialised by one lock (they are rare: once per shape bucket and thread) so no two graphs are
  recorded at once;
- each worker launches on a stream of its own (:func:`own_stream`): a host synchronisation in one worker waits
  for that worker's kernels only, and the two workers' kernels can run side by side.

:func:`eager` turns graphs off in the calling thread (tests compare the two; an operator can turn them off with
``inspect.cuda_graphs: false``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

import torch

T = TypeVar("T")

_CAPTURE_LOCK = threading.Lock()
_LOCAL = threading.local()


def enabled(device: torch.device) -> bool:
    """Whether work on ``device`` in this thread replays CUDA graphs (CUDA devices unless :func:`eager` is in force)."""
    return device.type == "cuda" and not getattr(_LOCAL, "eager", False)


@contextmanager
def eager(active: bool = True) -> Iterator[None]:
    """Within the block this thread runs every op eagerly (no capture, no replay) when ``active``."""
    before = getattr(_LOCAL, "eager", False)
    _LOCAL.eager = before or active
    try:
        yield
    finally:
        _LOCAL.eager = before


@contextmanager
def capture(graph: torch.cuda.CUDAGraph, device: torch.device) -> Iterator[None]:
    """Record the block's work on ``device`` into ``graph``: one capture in the process at a time, in
    ``thread_local`` mode so that other threads keep running their own CUDA work meanwhile."""
    with _CAPTURE_LOCK, torch.cuda.device(device), torch.cuda.graph(graph, capture_error_mode="thread_local"):
        yield


@contextmanager
def own_stream(device: torch.device) -> Iterator[None]:
    """Run the block's CUDA work on this thread's own stream for ``device`` (made on first use; no-op off CUDA).

    The stream first waits for the device's default stream, where recipes are loaded: whatever a load copied to
    the GPU is there before the block reads it.
    """
    if device.type != "cuda":
        yield
        return
    streams = _LOCAL.__dict__.setdefault("streams", {})
    if device not in streams:
        streams[device] = torch.cuda.Stream(device)
    stream = streams[device]
    stream.wait_stream(torch.cuda.default_stream(device))
    with torch.cuda.stream(stream):
        yield


class GraphCache(Generic[T]):
    """Captured graphs and their static state by key, one dictionary per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def entries(self) -> dict[Hashable, T]:
        """This thread's entries."""
        if not hasattr(self._local, "entries"):
            self._local.entries = {}
        return self._local.entries

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """This thread's entry for ``key``, made (captured) on first use."""
        entries = self.entries()
        if key not in entries:
            entries[key] = make()
        return entries[key]
