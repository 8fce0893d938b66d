"""Backend selection: each network of a bundle goes to the first preferred backend that can serve it.

The report has one line per skipped backend (with the reason: package missing, no CUDA, no engine for this
GPU/TensorRT, no ONNX export...) and one line naming the backend that serves the network; the same lines are
logged on the ``edge.runtime`` logger (a refused engine as a warning), so an operator sees from the service log
why a box runs slower than it could. The backend modules are imported here, their packages (onnxruntime,
tensorrt) only when tried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch

from edge.bundle import Bundle
from edge.runtime import onnxruntime_backend, tensorrt_backend, torch_backend
from edge.runtime.base import BACKENDS, PRECISIONS, BackendUnavailable, EngineRefused, Network

log = logging.getLogger("edge.runtime")

_LOADERS: dict[str, Callable[[Bundle, str, torch.device, str], Network]] = {
    "tensorrt": tensorrt_backend.load,
    "onnxruntime": onnxruntime_backend.load,
    "torch": torch_backend.load,
}


def load_networks(
    bundle: Bundle,
    preferences: Sequence[str] = BACKENDS,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
) -> tuple[dict[str, Network], list[str]]:
    """Every network of ``bundle`` loaded on ``device`` by the first backend of ``preferences`` that can serve it,
    and the report lines saying which backend serves each network and why the preferred ones before it did not.

    A network no preferred backend can serve raises BackendUnavailable carrying the whole report. A bundle file
    that changed since it was verified raises BundleError (it is not a reason to fall back).
    """
    unknown = [b for b in preferences if b not in BACKENDS]
    if unknown or not preferences:
        raise ValueError(f"backend preferences must be a non-empty sequence of {', '.join(BACKENDS)}; got {list(preferences)}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    device = torch.device(device)
    networks: dict[str, Network] = {}
    report: list[str] = []
    for name in bundle.manifest.networks:
        for backend in preferences:
            try:
                network = _LOADERS[backend](bundle, name, device, precision)
            except BackendUnavailable as exc:
                line = f"{name}: {backend} skipped: {exc.reason}"
                report.append(line)
                log.log(logging.WARNING if isinstance(exc, EngineRefused) else logging.INFO, line)
                continue
            networks[name] = network
            line = f"{name}: served by {backend} on {device} ({network.detail})"
            report.append(line)
            log.info(line)
            break
        else:
            raise BackendUnavailable(f"{bundle.root}: no preferred backend can serve network {name!r}: " + " | ".join(
                line for line in report if line.startswith(f"{name}: ")))
    return networks, report
