"""numba for the compiled kernels: its import, a threading layer safe for concurrent callers, threads, ``jit``."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import torch

log = logging.getLogger(__name__)

try:
    import numba
except ImportError:  # pragma: no cover - exercised only where numba is absent
    numba = None
    log.info("numba is not installed: the CPU geometry ops run their torch code (slower, same results)")
else:
    warnings.filterwarnings("ignore", message="The TBB threading layer requires", category=numba.NumbaWarning)
    if "NUMBA_THREADING_LAYER" not in os.environ:
        # The service's workers call the kernels from several threads at once: only the OpenMP and TBB layers
        # allow that (numba's own workqueue aborts the process), OpenMP first (TBB needs a recent libtbb).
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
        numba.config.THREADING_LAYER = "threadsafe"

prange = numba.prange if numba is not None else range
AVAILABLE = numba is not None
"""Whether the compiled kernels can run; callers take their torch code otherwise."""

def set_threads() -> None:
    """Run the kernels on as many threads as torch's CPU ops (the service's per-worker setting)."""
    wanted = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != wanted:
        numba.set_num_threads(wanted)


def _jit(**options: Any) -> Any:
    """``numba.njit`` with on-disk caching (``NUMBA_CACHE_DIR``, else beside this file or in the user's cache), or
    without it where no cache directory is writable (a hardened service without ``NUMBA_CACHE_DIR``: every process
    then compiles once, some seconds); the plain function when numba is absent (never called then)."""
    if numba is None:
        return lambda f: f

    def compile_lazily(function: Any) -> Any:
        try:
            return numba.njit(cache=True, nogil=True, **options)(function)
        except RuntimeError as error:  # numba: "cannot cache function ...: no locator available"
            log.warning("numba cannot cache %s (%s): compiling it in every process", function.__name__, error)
            return numba.njit(nogil=True, **options)(function)

    return compile_lazily
