"""Inference backends behind one interface (DESIGN.md section 2): TensorRT, ONNX Runtime and torch.

:func:`load_networks` picks, for every network of a bundle, the first backend in the station's order of
preference that can serve it and reports why the ones before it could not. Each backend returns a
:class:`Network`: batched torch tensors in, one torch tensor out, on the Inspector's device, so the code that
calls a network is the same whatever runs it. ``onnxruntime`` and ``tensorrt`` are imported only when their
backend is tried: a box without them still serves through the next backend.
"""

from edge.runtime.base import BACKENDS, PRECISIONS, BackendUnavailable, EngineRefused, Network
from edge.runtime.select import load_networks

__all__ = ["BACKENDS", "PRECISIONS", "BackendUnavailable", "EngineRefused", "Network", "load_networks"]
