"""Names, input/output signatures and constructors of the networks a bundle may carry."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from torch import nn


@dataclass(frozen=True)
class NetworkSpec:
    """How to build one architecture and how its tensors are named (ONNX/TensorRT bind them by name)."""

    arch: str
    module: str
    cls: str
    inputs: tuple[str, ...]
    output: str


NETWORK_SPECS: dict[str, NetworkSpec] = {
    "down_net": NetworkSpec("down_net", "edge.models.down_net", "DownNet", ("patches", "centers"), "denoised"),
    "up_net": NetworkSpec("up_net", "edge.models.up_net", "UpNet", ("centers",), "dense"),
    "group_encoder": NetworkSpec("group_encoder", "edge.models.group_encoder", "GroupEncoder", ("patches",), "features"),
}


def build_network(arch: str, config: dict[str, Any]) -> nn.Module:
    """A freshly initialised network of architecture ``arch`` built from its constructor arguments."""
    try:
        spec = NETWORK_SPECS[arch]
    except KeyError:
        raise ValueError(f"unknown network architecture {arch!r} (known: {', '.join(NETWORK_SPECS)})") from None
    cls = getattr(importlib.import_module(spec.module), spec.cls)
    return cls(**config)
