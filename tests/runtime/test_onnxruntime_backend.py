"""The ONNX Runtime backend through the Network interface the Inspector calls."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edge.bundle import load_bundle
from edge.runtime import onnxruntime_backend, torch_backend
from exporters.parity import TOLERANCES, compare, random_inputs

CPU = torch.device("cpu")


@pytest.mark.parametrize("name", ["down_net", "up_net", "group_encoder"])
def test_output_equals_torch_within_fp32_tolerance(exported_bundle: Path, name: str) -> None:
    bundle = load_bundle(exported_bundle)
    ort_net = onnxruntime_backend.load(bundle, name, CPU, "fp32")
    torch_net = torch_backend.load(bundle, name, CPU, "fp32")
    inputs = random_inputs(bundle.manifest.networks[name].inputs, ort_net.input_names, seed=7, batch=2)
    output, reference = ort_net(*inputs), torch_net(*inputs)
    assert output.dtype == torch.float32 and output.device == CPU
    result = compare(output, reference, TOLERANCES["fp32"])
    assert result["passed"], result


def test_network_names_its_tensors_after_the_architecture(exported_bundle: Path) -> None:
    network = onnxruntime_backend.load(load_bundle(exported_bundle), "down_net", CPU, "fp32")
    assert (network.name, network.backend, network.input_names, network.output_name) == (
        "down_net", "onnxruntime", ("patches", "centers"), "denoised")


def test_input_of_the_wrong_shape_is_rejected_naming_the_tensor(exported_bundle: Path) -> None:
    network = onnxruntime_backend.load(load_bundle(exported_bundle), "down_net", CPU, "fp32")
    with pytest.raises(ValueError, match=r"input 'centers' must be \(batch, 16, 3\), got \(1, 15, 3\)"):
        network(torch.zeros(1, 16, 8, 3), torch.zeros(1, 15, 3))


def test_fp16_export_returns_float32_tensors(exported_bundle: Path) -> None:
    network = onnxruntime_backend.load(load_bundle(exported_bundle), "group_encoder", CPU, "fp16")
    assert network(torch.randn(1, 16, 8, 3)).dtype == torch.float32
