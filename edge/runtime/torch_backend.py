"""The torch backend: the network rebuilt from its architecture, config and verified safetensors weights.

It is the reference every other backend is checked against and the fallback that serves any bundle: it needs no
ONNX export and no engine. It always runs the float32 weights, whatever precision was asked for.
"""

from __future__ import annotations

import torch
from torch import nn

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

    def _run(self, *inputs: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.module(*(x.to(self.device, torch.float32) for x in inputs))


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
