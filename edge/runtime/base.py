"""The interface every inference backend implements, so the Inspector calls a network the same way on any of them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch

from edge.models import NetworkSpec

BACKENDS = ("tensorrt", "onnxruntime", "torch")
PRECISIONS = ("fp32", "fp16")


class BackendUnavailable(RuntimeError):
    """A backend cannot serve a network here; ``reason`` says why in words (it goes into the selection report)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EngineRefused(BackendUnavailable):
    """An engine exists but must not be loaded here (built for another box or ONNX export, or its plan changed)."""


class Network(ABC):
    """One loaded network: ``network(*inputs)`` with batched tensors in ``input_names`` order returns the
    ``output_name`` tensor (float32) on ``device``.

    Inputs are checked against the bundle's per-sample shapes first, so a wrong shape fails with the tensor's
    name on every backend instead of deep inside ONNX Runtime or TensorRT.
    """

    backend: ClassVar[str]

    def __init__(
        self,
        name: str,
        spec: NetworkSpec,
        input_shapes: Mapping[str, Sequence[int]],
        device: torch.device,
        precision: str,
        detail: str,
    ) -> None:
        self.name = name
        self.input_names: tuple[str, ...] = spec.inputs
        self.output_name: str = spec.output
        self.input_shapes = {key: tuple(int(d) for d in input_shapes[key]) for key in spec.inputs}
        self.device = device
        self.precision = precision
        self.detail = detail

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != len(self.input_names):
            raise ValueError(f"network {self.name!r} takes {len(self.input_names)} inputs {self.input_names}, got {len(inputs)}")
        batch = None
        for key, tensor in zip(self.input_names, inputs):
            expected = self.input_shapes[key]
            if tensor.ndim != len(expected) + 1 or tuple(tensor.shape[1:]) != expected:
                raise ValueError(
                    f"network {self.name!r}: input {key!r} must be (batch, {', '.join(map(str, expected))}), "
                    f"got {tuple(tensor.shape)}"
                )
            if batch is not None and tensor.shape[0] != batch:
                raise ValueError(f"network {self.name!r}: inputs disagree on the batch size ({batch} vs {tensor.shape[0]})")
            batch = tensor.shape[0]
            if not tensor.is_floating_point():
                raise ValueError(f"network {self.name!r}: input {key!r} must be floating point, got {tensor.dtype}")
        return self._run(*inputs)

    @abstractmethod
    def _run(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Run the checked inputs; return the output on ``self.device``."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.backend} {self.precision} on {self.device}: {self.detail}>"


def cuda_index(device: torch.device) -> int:
    """The CUDA ordinal of ``device`` (``cuda`` alone means the current device)."""
    return device.index if device.index is not None else torch.cuda.current_device()
