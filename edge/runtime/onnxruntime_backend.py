"""The ONNX Runtime backend: an InferenceSession on the bundle's ONNX export of the requested precision.

On a CPU device it uses the CPUExecutionProvider with a numpy round trip (zero-copy views where the tensors
allow). On a CUDA device it needs the CUDAExecutionProvider and binds the torch tensors' device memory with I/O
binding, so no copy goes through the host; that path is written against the documented API but unverified here
(no GPU, CPU-only onnxruntime). ``onnxruntime`` is imported when this backend is tried, never at module level.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from edge.bundle import Bundle
from edge.models import NetworkSpec
from edge.runtime.base import BackendUnavailable, Network, cuda_index
from edge.runtime.files import onnx_source, read_verified


def import_onnxruntime() -> Any:
    """The ``onnxruntime`` module; BackendUnavailable saying it is not installed otherwise."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailable(f"onnxruntime is not installed ({exc})") from None
    return onnxruntime


class OnnxRuntimeNetwork(Network):
    """One InferenceSession; ``session.run`` is thread-safe, so workers may share it."""

    backend = "onnxruntime"

    def __init__(self, name: str, spec: NetworkSpec, session: Any, input_shapes: dict[str, list[int]],
                 device: torch.device, precision: str, onnx_file: str) -> None:
        provider = session.get_providers()[0]
        super().__init__(name, spec, input_shapes, device, precision, f"{onnx_file}, {provider}")
        self.session = session
        self.provider = provider
        declared = session.get_outputs()[0].shape
        self._output_dims = tuple(declared[1:]) if all(isinstance(d, int) for d in declared[1:]) else None

    def _run(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":
            return self._run_cuda(inputs)
        feeds = {key: x.detach().to("cpu", torch.float32).contiguous().numpy() for key, x in zip(self.input_names, inputs)}
        (out,) = self.session.run([self.output_name], feeds)
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))

    def _run_cuda(self, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """I/O binding on the torch tensors' device memory (unverified here: needs onnxruntime-gpu and a GPU)."""
        index = cuda_index(self.device)
        tensors = [x.detach().to(self.device, torch.float32).contiguous() for x in inputs]
        binding = self.session.io_binding()
        for key, x in zip(self.input_names, tensors):
            binding.bind_input(name=key, device_type="cuda", device_id=index, element_type=np.float32,
                               shape=tuple(x.shape), buffer_ptr=x.data_ptr())
        out = None
        if self._output_dims is not None:
            out = torch.empty((tensors[0].shape[0], *self._output_dims), dtype=torch.float32, device=self.device)
            binding.bind_output(name=self.output_name, device_type="cuda", device_id=index, element_type=np.float32,
                                shape=tuple(out.shape), buffer_ptr=out.data_ptr())
        else:
            binding.bind_output(self.output_name, "cuda", index)
        torch.cuda.current_stream(self.device).synchronize()  # ORT runs on its own stream: inputs must be ready
        self.session.run_with_iobinding(binding)
        if out is None:
            out = torch.from_numpy(binding.copy_outputs_to_cpu()[0]).to(self.device)
        return out


def load(bundle: Bundle, name: str, device: torch.device, precision: str) -> OnnxRuntimeNetwork:
    """Serve network ``name`` with ONNX Runtime, or raise BackendUnavailable saying why it cannot."""
    ort = import_onnxruntime()
    entry, spec, rel = onnx_source(bundle, name, precision)
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BackendUnavailable(f"device {device} needs the CUDAExecutionProvider, which this onnxruntime lacks "
                                     f"(providers: {', '.join(ort.get_available_providers())})")
        providers: list[Any] = [("CUDAExecutionProvider", {"device_id": cuda_index(device)}), "CPUExecutionProvider"]
    else:
        providers = ["CPUExecutionProvider"]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = torch.get_num_threads()
    model = read_verified(bundle, rel)
    try:
        session = ort.InferenceSession(model, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime's own errors (Fail, InvalidGraph, InvalidProtobuf...) derive from Exception
        raise BackendUnavailable(f"onnxruntime cannot run {rel}: {exc}") from None
    if device.type == "cuda" and session.get_providers()[0] != "CUDAExecutionProvider":
        raise BackendUnavailable(f"the CUDAExecutionProvider failed to initialise for {device} (CUDA/cuDNN libraries?)")
    names = tuple(i.name for i in session.get_inputs()), tuple(o.name for o in session.get_outputs())
    if names != (spec.inputs, (spec.output,)):
        raise BackendUnavailable(f"{rel}: tensors {names} do not match the architecture's {(spec.inputs, (spec.output,))}")
    return OnnxRuntimeNetwork(name, spec, session, entry.inputs, device, precision, rel)
