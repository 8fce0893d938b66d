"""The TensorRT backend: a plan built on this box for this GPU, run with name-based I/O on a CUDA stream.

Written against the TensorRT Python API shared by 10.x and 11.x (``trt.Runtime``, ``num_io_tensors``,
``get_tensor_name/mode/dtype``, ``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``); the 10 -> 11
differences are on the build side (strongly typed networks only, see :mod:`exporters.tensorrt_build`). Before a
plan is deserialised its record must match this box (:func:`edge.runtime.engine_keys.find_engine`: ONNX sha256,
TensorRT version, compute capability, precision) and the plan file its recorded sha256: nothing is loaded
blindly. Unverified here: no GPU and no TensorRT on the development machine.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import Any

import torch

from edge.bundle import Bundle
from edge.models import NetworkSpec
from edge.runtime.base import BackendUnavailable, EngineRefused, Network
from edge.runtime.engine_keys import EngineRecord, EngineTarget, find_engine, format_capability
from edge.runtime.files import onnx_source

SUPPORTED_MAJORS = (10, 11)
_PLAN_NAME = re.compile(r"^engines/[A-Za-z0-9][A-Za-z0-9._-]*\.plan$")
_TORCH_DTYPES = {
    "FLOAT": torch.float32,
    "HALF": torch.float16,
    "BF16": torch.bfloat16,
    "INT32": torch.int32,
    "INT64": torch.int64,
    "INT8": torch.int8,
    "UINT8": torch.uint8,
    "BOOL": torch.bool,
}


def parse_trt_version(text: str) -> tuple[int, int, int]:
    """``"10.3.0.26"`` or ``"11.0.0.post1"`` -> ``(major, minor, patch)``."""
    match = re.match(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        raise ValueError(f"unrecognised TensorRT version {text!r}")
    return int(match[1]), int(match[2]), int(match[3] or 0)


def import_tensorrt() -> Any:
    """The ``tensorrt`` module if it is installed and a supported major version; BackendUnavailable otherwise."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendUnavailable(f"tensorrt is not installed ({exc})") from None
    major = parse_trt_version(tensorrt.__version__)[0]
    if major not in SUPPORTED_MAJORS:
        raise BackendUnavailable(f"TensorRT {tensorrt.__version__} is not supported (pcinspect supports 10.x and 11.x)")
    return tensorrt


def device_capability(device: torch.device) -> str:
    """The compute capability of a CUDA device as records store it (``"8.6"``)."""
    return format_capability(torch.cuda.get_device_capability(device))


def verified_plan(root: Path, record: EngineRecord) -> bytes:
    """The plan bytes of ``record``; BackendUnavailable when the file is missing, misnamed or not what was built."""
    if not _PLAN_NAME.match(record.plan):
        raise EngineRefused(f"engine record {record.manifest_key}: plan path {record.plan!r} is not under engines/")
    path = root / record.plan
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EngineRefused(f"engine plan {path} is missing; rebuild with `pcinspect build-engine`") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != record.plan_sha256:
        raise EngineRefused(
            f"engine plan {path}: sha256 {actual[:12]}... does not match its record {record.plan_sha256[:12]}...: "
            "corrupt or replaced, refusing to load it; rebuild with `pcinspect build-engine`"
        )
    return data


def _torch_dtype(trt_dtype: Any) -> torch.dtype:
    name = getattr(trt_dtype, "name", str(trt_dtype).rsplit(".", 1)[-1])
    if name not in _TORCH_DTYPES:
        raise BackendUnavailable(f"engine tensor type {name} has no torch equivalent")
    return _TORCH_DTYPES[name]


class TensorRTNetwork(Network):
    """A deserialised engine with one execution context, enqueued on its own ``torch.cuda.Stream``.

    Inputs and the output are torch CUDA tensors allocated on the caller's stream; the engine's stream waits for
    the caller's, the caller's waits for the engine's, and ``record_stream`` keeps the allocator from reusing
    their memory early. A lock serialises calls, because one context holds one set of shapes and addresses.
    """

    backend = "tensorrt"

    def __init__(self, name: str, spec: NetworkSpec, trt: Any, plan: bytes, record: EngineRecord,
                 input_shapes: dict[str, list[int]], device: torch.device) -> None:
        detail = (f"{record.plan} (TensorRT {record.tensorrt}, compute capability {record.compute_capability}, "
                  f"{record.precision})")
        super().__init__(name, spec, input_shapes, device, record.precision, detail)
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(device):
            self._runtime = trt.Runtime(self._logger)
            self._engine = self._runtime.deserialize_cuda_engine(plan)
            if self._engine is None:
                raise BackendUnavailable(f"TensorRT could not deserialise {record.plan} (see the TensorRT log)")
            self._context = self._engine.create_execution_context()
            if self._context is None:
                raise BackendUnavailable(f"TensorRT could not create an execution context for {record.plan}")
            self._stream = torch.cuda.Stream(device)
        modes = {}
        self._dtypes: dict[str, torch.dtype] = {}
        for i in range(self._engine.num_io_tensors):
            tensor = self._engine.get_tensor_name(i)
            modes[tensor] = self._engine.get_tensor_mode(tensor)
            self._dtypes[tensor] = _torch_dtype(self._engine.get_tensor_dtype(tensor))
        inputs = {t for t, mode in modes.items() if mode == trt.TensorIOMode.INPUT}
        outputs = [t for t, mode in modes.items() if mode == trt.TensorIOMode.OUTPUT]
        if inputs != set(spec.inputs) or outputs != [spec.output]:
            raise BackendUnavailable(f"{record.plan}: engine tensors {sorted(inputs)} -> {outputs} do not match the "
                                     f"architecture's {list(spec.inputs)} -> {[spec.output]}")
        ranges = [self._engine.get_tensor_profile_shape(t, 0) for t in spec.inputs]
        self.batch_range = (max(int(r[0][0]) for r in ranges), min(int(r[2][0]) for r in ranges))
        self._lock = threading.Lock()

    def _run(self, *inputs: torch.Tensor) -> torch.Tensor:
        batch = inputs[0].shape[0]
        low, high = self.batch_range
        if not low <= batch <= high:
            raise ValueError(f"network {self.name!r}: the engine accepts batch {low}..{high} (its optimisation profile), "
                             f"got {batch}; rebuild with a larger --batch")
        caller = torch.cuda.current_stream(self.device)
        with self._lock, torch.cuda.device(self.device):
            tensors = [x.detach().to(self.device, self._dtypes[k]).contiguous() for k, x in zip(self.input_names, inputs)]
            for key, tensor in zip(self.input_names, tensors):
                if not self._context.set_input_shape(key, tuple(tensor.shape)):
                    raise ValueError(f"network {self.name!r}: TensorRT refused shape {tuple(tensor.shape)} for {key!r}")
                self._context.set_tensor_address(key, tensor.data_ptr())
            shape = tuple(self._context.get_tensor_shape(self.output_name))
            out = torch.empty(shape, dtype=self._dtypes[self.output_name], device=self.device)
            self._context.set_tensor_address(self.output_name, out.data_ptr())
            self._stream.wait_stream(caller)
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError(f"network {self.name!r}: TensorRT execute_async_v3 failed (see the TensorRT log)")
            caller.wait_stream(self._stream)
            for tensor in (*tensors, out):
                tensor.record_stream(self._stream)
        return out if out.dtype == torch.float32 else out.float()


def load(bundle: Bundle, name: str, device: torch.device, precision: str) -> TensorRTNetwork:
    """Serve network ``name`` from a matching, verified engine, or raise BackendUnavailable saying why not."""
    trt = import_tensorrt()
    if device.type != "cuda":
        raise BackendUnavailable(f"device {device} is not a CUDA device (TensorRT runs on NVIDIA GPUs only)")
    if not torch.cuda.is_available():
        raise BackendUnavailable("CUDA is not available to torch")
    entry, spec, rel = onnx_source(bundle, name, precision)
    target = EngineTarget(bundle.manifest.files[rel], trt.__version__, device_capability(device), precision)
    record = find_engine(bundle.manifest.engines, name, target)
    return TensorRTNetwork(name, spec, trt, verified_plan(bundle.root, record), record, entry.inputs, device)
