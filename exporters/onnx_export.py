"""torch -> ONNX for the bundle's fixed-shape networks, checked before anything is written.

Every export uses the TorchScript exporter (``dynamo=False``: the dynamo exporter needs onnxscript) at opset 17,
names its tensors after the architecture's :class:`edge.models.NetworkSpec`, and keeps only the batch axis
dynamic: G, K and gamma are fixed per recipe, so the output's other dimensions are declared static. Each file
passes ``onnx.checker`` (full check) and strict shape inference, and its signature is compared with the bundle's
per-sample input shapes.

fp16 strategy. TensorRT 11 builds strongly typed networks only, so precision must live in the graph. The fp16
export replaces every ``nn.Linear`` that reads features (more than 3 inputs) with a float16 copy wrapped in casts
before tracing: those layers (the bulk of the FLOPs) become Cast -> MatMul/Gemm + Add with float16 weights ->
Cast, while inputs and outputs stay float32 and so do normalisations, softmax, reductions, distances, top-k,
gathers and the layers that read raw coordinates (a 500 mm coordinate in float16 is rounded to 0.25 mm; a
neighbour search on float16 distances would pick different neighbours). :func:`matmul_precisions` counts the
matrix products per type, which the export checks: an fp16 file with no float16 product is an error.
"""

from __future__ import annotations

import copy
import io
import logging
import os
import tempfile
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto
from torch import nn

from edge.bundle import Manifest, load_bundle, update_manifest
from edge.models import NETWORK_SPECS, NetworkSpec
from edge.runtime.base import PRECISIONS
from edge.runtime.torch_backend import rebuild_module
from exporters.parity import PARITY_FILE, ExampleInputs, check_parity, write_report
from edge.errors import PcinspectError

log = logging.getLogger("exporters.onnx")

OPSET = 17
BATCH_AXIS = "batch"
TRACE_BATCH = 2
COORDINATE_FEATURES = 3


class ExportError(PcinspectError, RuntimeError):
    """An ONNX export failed its checks; the message names the file and the problem."""


class HalfLinear(nn.Module):
    """``nn.Linear`` computed in float16 between float32 activations (exports as Cast, MatMul/Add, Cast)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.weight = nn.Parameter(linear.weight.detach().to(torch.float16), requires_grad=False)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().to(torch.float16), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.to(torch.float16), self.weight, self.bias).to(torch.float32)


def half_precision(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose feature-reading Linear layers compute in float16 (see the module docstring)."""
    half = copy.deepcopy(module).float().eval()
    targets = [(n, m) for n, m in half.named_modules() if isinstance(m, nn.Linear) and m.in_features > COORDINATE_FEATURES]
    if not targets:
        raise ExportError(f"{type(module).__name__} has no Linear layer over features to compute in float16")
    for dotted, linear in targets:
        parent_name, _, child = dotted.rpartition(".")
        setattr(half.get_submodule(parent_name) if parent_name else half, child, HalfLinear(linear))
    return half


def matmul_precisions(model: onnx.ModelProto) -> Counter[str]:
    """How many MatMul/Gemm nodes of ``model`` produce each element type (after shape inference)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in [*inferred.graph.value_info, *inferred.graph.output]}
    counts: Counter[str] = Counter()
    for node in inferred.graph.node:
        if node.op_type in ("MatMul", "Gemm"):
            counts[TensorProto.DataType.Name(types.get(node.output[0], 0)).lower()] += 1
    return counts


def export_network(
    module: nn.Module,
    spec: NetworkSpec,
    input_shapes: Mapping[str, Sequence[int]],
    path: str | Path,
    precision: str = "fp32",
) -> Path:
    """Export ``module`` (unchanged; a CPU copy is traced) to ``path`` at ``precision`` ("fp32" or "fp16").

    ``input_shapes`` are the per-sample shapes (no batch axis) of ``spec.inputs``. The file is written atomically
    and only after it passed every check; ExportError otherwise.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    missing = [k for k in spec.inputs if k not in input_shapes]
    if missing:
        raise ExportError(f"{path}: no shape for input(s) {missing} of {spec.arch}")
    path = Path(path)
    traced = copy.deepcopy(module).cpu().float().eval()
    if precision == "fp16":
        traced = half_precision(traced)
    generator = torch.Generator().manual_seed(0)
    examples = tuple(torch.randn((TRACE_BATCH, *input_shapes[k]), generator=generator) for k in spec.inputs)
    with torch.no_grad():
        output_dims = tuple(traced(*examples).shape[1:])
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        torch.onnx.export(
            traced,
            examples,
            buffer,
            input_names=list(spec.inputs),
            output_names=[spec.output],
            dynamic_axes={k: {0: BATCH_AXIS} for k in (*spec.inputs, spec.output)},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    for warning in caught:
        log.debug("%s: torch.onnx.export: %s", path.name, warning.message)
    model = onnx.load_from_string(buffer.getvalue())
    _declare_output(model, spec.output, output_dims)
    onnx.helper.set_model_props(model, {"pcinspect.arch": spec.arch, "pcinspect.precision": precision})
    check_export(model, spec, input_shapes, output_dims, precision, name=str(path))
    write_atomically(path, model.SerializeToString())
    return path


def add_onnx_models(
    bundle_dir: str | Path,
    *,
    precisions: Sequence[str] = PRECISIONS,
    example_inputs: ExampleInputs | None = None,
) -> dict[str, Any]:
    """Export every network of the bundle directory to ``onnx/<name>.<precision>.onnx``, list the files in the
    manifest (``files`` and ``networks[name].onnx``), check parity against torch and add ``parity.json``.

    Works in place: pass a staging copy. Raises ParityError (the table in its message) when a check exceeds its
    bound, leaving the exports listed but no ``parity.json``. Returns the parity report; a bundle without
    networks is left unchanged and gets an empty report.
    """
    root = Path(bundle_dir)
    bundle = load_bundle(root)
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown or not precisions:
        raise ValueError(f"precisions must be a non-empty subset of {', '.join(PRECISIONS)}, got {list(precisions)}")
    exported: dict[str, dict[str, str]] = {}
    for name, entry in bundle.manifest.networks.items():
        module = rebuild_module(bundle, name)
        for precision in precisions:
            rel = f"onnx/{name}.{precision}.onnx"
            export_network(module, NETWORK_SPECS[entry.arch], entry.inputs, root / rel, precision)
            exported.setdefault(name, {})[precision] = rel
    if not exported:
        return {"format": 1, "bundle_id": bundle.bundle_id, "checks": [], "networks_without_onnx": [], "passed": True}

    def list_exports(manifest: Manifest) -> Manifest:
        for name, files in exported.items():
            for precision, rel in files.items():
                manifest.files[rel] = ""
                manifest.networks[name].onnx[precision] = rel
        return manifest

    update_manifest(root, list_exports)
    report = check_parity(root, example_inputs=example_inputs)
    write_report(root, report)

    def list_report(manifest: Manifest) -> Manifest:
        manifest.files[PARITY_FILE] = ""
        return manifest

    update_manifest(root, list_report)
    return report


def check_export(
    model: onnx.ModelProto,
    spec: NetworkSpec,
    input_shapes: Mapping[str, Sequence[int]],
    output_dims: Sequence[int],
    precision: str,
    *,
    name: str = "model",
) -> None:
    """Checker (full), strict shape inference, the float32 (batch, ...) signature, and float16 compute for fp16."""
    try:
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"{name}: invalid ONNX: {exc}") from None
    expected = [(k, list(input_shapes[k])) for k in spec.inputs] + [(spec.output, list(output_dims))]
    actual = [_signature(v) for v in [*model.graph.input, *model.graph.output]]
    wanted = [(k, [BATCH_AXIS, *dims], TensorProto.FLOAT) for k, dims in expected]
    if actual != wanted:
        raise ExportError(f"{name}: signature {actual} differs from the expected {wanted} (float32, dynamic batch only)")
    if precision == "fp16" and matmul_precisions(model)["float16"] == 0:
        raise ExportError(f"{name}: fp16 export has no float16 matrix product")


def _signature(value: onnx.ValueInfoProto) -> tuple[str, list[int | str], int]:
    tensor = value.type.tensor_type
    return value.name, [d.dim_param or d.dim_value for d in tensor.shape.dim], tensor.elem_type


def _declare_output(model: onnx.ModelProto, output: str, dims: Sequence[int]) -> None:
    """State the output's fixed dimensions (the tracer leaves reshaped ones symbolic) and its batch axis."""
    (value,) = [o for o in model.graph.output if o.name == output]
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    shape.dim.add().dim_param = BATCH_AXIS
    for size in dims:
        shape.dim.add().dim_value = int(size)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder: readers see old or new bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
