"""The torch backend: the network rebuilt from its architecture, config and verified safetensors weights.

It is the reference every other backend is checked against and the fallback that serves any bundle: it needs no
ONNX export and no engine. It always runs the float32 weights, whatever precision was asked for. On CUDA each
network's forward pass is captured once per input shape and thread as a CUDA graph and replayed (the inputs are
fixed-shape: G x K x 3 patches, G x 3 centers), one launch instead of hundreds.
"""

from __future__ import annotations

import torch
from torch import nn

from edge import cuda_graphs
from edge.bundle import Bundle
from edge.models import NETWORK_SPECS, NetworkSpec, build_network
from edge.runtime.base import BackendUnavailable, Network


class TorchNetwork(Network):
    """An ``nn.Module`` in eval mode on the device, called under ``torch.inference_mode``."""

    backend = "torch"

    def __init__(self, name: str, spec: NetworkSpec, module: nn.Module, input_shapes: dict[str, list[int]],
                 device: torch.device) -> None:
        super().__init__(name, spec, input_shapes, device, "fp32", "fp32 weights (safetensors)")
        self.module = module
        self._graphs: cuda_graphs.GraphCache[tuple[torch.cuda.CUDAGraph, list[torch.Tensor], torch.Tensor]] = (
            cuda_graphs.GraphCache())

    def _run(self, *inputs: torch.Tensor) -> torch.Tensor:
        tensors = [x.to(self.device, torch.float32) for x in inputs]
        if not cuda_graphs.enabled(self.device):
            with torch.inference_mode():
                return self.module(*tensors)
        graph, static_inputs, static_output = self._graphs.get(tuple(x.shape for x in tensors),
                                                               lambda: self._capture(tensors))
        for static, x in zip(static_inputs, tensors):
            static.copy_(x)
        graph.replay()
        return static_output.clone()

    def _capture(self, tensors: list[torch.Tensor]) -> tuple[torch.cuda.CUDAGraph, list[torch.Tensor], torch.Tensor]:
        """The forward pass on static copies of ``tensors`` as a CUDA graph (after two warm-up passes on a side
        stream, as CUDA graph capture asks), with its static inputs and output."""
        static_inputs = [x.clone() for x in tensors]
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(2):
                self.module(*static_inputs)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), cuda_graphs.capture(graph, self.device):
            static_output = self.module(*static_inputs)
        return graph, static_inputs, static_output


def rebuild_module(bundle: Bundle, name: str) -> nn.Module:
    """The bundle's network ``name`` as a float32 module in eval mode on the CPU, with its verified weights."""
    entry = bundle.manifest.networks[name]
    module = build_network(entry.arch, entry.config)
    module.load_state_dict(bundle.network_weights(name), strict=True)
    return module.float().eval()


def load(bundle: Bundle, name: str, device: torch.device, precision: str) -> TorchNetwork:
    """Serve network ``name`` of ``bundle`` with torch on ``device``; ``precision`` is not used (always fp32)."""
    entry = bundle.manifest.networks[name]
    spec = NETWORK_SPECS.get(entry.arch)
    if spec is None:
        raise BackendUnavailable(f"unknown architecture {entry.arch!r} (this build knows {', '.join(NETWORK_SPECS)})")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable(f"device {device} requested but CUDA is not available to torch")
    try:
        module = rebuild_module(bundle, name)
    except ImportError as exc:
        raise BackendUnavailable(f"the module of architecture {entry.arch!r} cannot be imported: {exc}") from None
    return TorchNetwork(name, spec, module.to(device), entry.inputs, device)
