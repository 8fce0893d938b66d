"""Triton kernels behind the CUDA geometry ops whose torch form is bound by one large padded intermediate.

A kernel here replaces a chain of torch ops with one launch that keeps its working set in registers; the op's
public function stays in its geometry module and falls back to the torch form when Triton is missing (CPU-only
installs) or the tensors' dtype or size is outside what the kernel handles. With ``TRITON_INTERPRET=1`` in the
environment before import, the kernels also run on CPU tensors (Triton's interpreter: slow, for the parity tests).
"""

from __future__ import annotations

import importlib.util
import os

import torch

AVAILABLE = importlib.util.find_spec("triton") is not None
"""Triton is installed (torch's CUDA builds ship it); its import waits for the first kernel."""

KNN_MAX_K = 256
"""The neighbour-search kernel takes k up to this; ``2 KP`` int64 keys per program must fit a warp's registers."""

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
"""Triton's interpreter was asked for before import: the kernels run on CPU tensors too."""


def usable(tensor: torch.Tensor) -> bool:
    """Whether a Triton kernel can run on ``tensor``'s device."""
    return AVAILABLE and (tensor.is_cuda or INTERPRETED)
