"""Triton kernels behind the CUDA geometry ops whose torch form is bound by one large padded intermediate.

A kernel here replaces a chain of torch ops with one launch that keeps its working set in registers; the op's
public function stays in its geometry module and falls back to the torch form when Triton is missing (CPU-only
installs) or the tensors' dtype or size is outside what the kernel handles. With ``TRITON_INTERPRET=1`` in the
environment before import, the kernels also run on CPU tensors (Triton's interpreter: slow, for the parity tests).

A kernel that fails to compile or launch (a Triton or GPU the code was never built on) must not fail every frame:
:func:`run` then logs the error once, answers with the torch form, and the process keeps to the torch form for
that kernel from then on.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from typing import TypeVar

import torch

log = logging.getLogger(__name__)
T = TypeVar("T")

AVAILABLE = importlib.util.find_spec("triton") is not None
"""Triton is installed (torch's CUDA builds ship it); its import waits for the first kernel."""

KNN_MAX_K = 256
"""The neighbour-search kernel takes k up to this; ``2 KP`` int64 keys per program must fit a warp's registers."""

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
"""Triton's interpreter was asked for before import: the kernels run on CPU tensors too."""


_FAILED: dict[str, str] = {}
"""Kernels that failed in this process, with the error: their callers keep to the torch form."""


def usable(tensor: torch.Tensor, kernel: str) -> bool:
    """Whether Triton kernel ``kernel`` can run on ``tensor``'s device (and has not failed in this process)."""
    return AVAILABLE and (tensor.is_cuda or INTERPRETED) and kernel not in _FAILED


def run(kernel: str, launch: Callable[[], T], torch_form: Callable[[], T]) -> T:
    """``launch()``, the Triton kernel; if it raises, the error is logged once, ``kernel`` is marked failed and
    ``torch_form()`` (the same answer without Triton) is returned instead."""
    try:
        return launch()
    except Exception as exc:  # noqa: BLE001 - a compile or launch failure; the torch form must still answer
        _FAILED[kernel] = f"{type(exc).__name__}: {exc}"
        log.error("Triton kernel %s failed (%s); its torch form runs instead from now on", kernel,
                  _FAILED[kernel].splitlines()[0])
        return torch_form()
