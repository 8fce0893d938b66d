"""torch -> ONNX exports of the bundle's networks, their listing in the manifest, and the parity check."""

from __future__ import annotations

import argparse
import json
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import yaml

from edge.bundle import MANIFEST, BundleError, load_bundle, sha256_file
from edge.models import NETWORK_SPECS
from edge.runtime.torch_backend import rebuild_module
from exporters.cli import parity as parity_command
from exporters.onnx_export import add_onnx_models, export_network, matmul_precisions
from exporters.parity import TOLERANCES, ParityError, check_parity
from netbundle import network_weights

NAMES = ("down_net", "up_net", "group_encoder")
FILES = [f"onnx/{name}.{precision}.onnx" for name in NAMES for precision in ("fp32", "fp16")]


def _command(argv: list[str]) -> int:
    """Run one `pcinspect` sub-command parsed by its own parser (other commands' imports stay out of the test)."""
    parser = argparse.ArgumentParser(prog="pcinspect")
    parity_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize("rel", FILES)
def test_exported_file_passes_the_full_checker_and_strict_shape_inference(exported_bundle: Path, rel: str) -> None:
    model = onnx.load(exported_bundle / rel)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    assert model.opset_import[0].version == 17


@pytest.mark.parametrize("name", NAMES)
def test_only_the_batch_axis_is_dynamic(exported_bundle: Path, name: str) -> None:
    entry = load_bundle(exported_bundle).manifest.networks[name]
    model = onnx.load(exported_bundle / entry.onnx["fp32"])
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in [*model.graph.input, *model.graph.output]}
    spec = NETWORK_SPECS[entry.arch]
    assert list(dims) == [*spec.inputs, spec.output]
    for key in spec.inputs:
        assert dims[key] == ["batch", *entry.inputs[key]]
    assert dims[spec.output][0] == "batch" and all(isinstance(d, int) for d in dims[spec.output][1:])


@pytest.mark.parametrize("name", NAMES)
def test_dynamic_batch_runs_with_batch_1_and_3(exported_bundle: Path, name: str) -> None:
    bundle = load_bundle(exported_bundle)
    entry = bundle.manifest.networks[name]
    spec = NETWORK_SPECS[entry.arch]
    session = ort.InferenceSession(str(exported_bundle / entry.onnx["fp32"]), providers=["CPUExecutionProvider"])
    module = rebuild_module(bundle, name)
    for batch in (1, 3):
        inputs = [torch.randn(batch, *entry.inputs[k]) for k in spec.inputs]
        (out,) = session.run(None, {k: x.numpy() for k, x in zip(spec.inputs, inputs)})
        with torch.no_grad():
            expected = module(*inputs).numpy()
        assert out.shape == expected.shape and out.shape[0] == batch
        np.testing.assert_allclose(out, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_fp16_graph_computes_in_float16_behind_float32_inputs_and_output(exported_bundle: Path, name: str) -> None:
    model = onnx.load(exported_bundle / f"onnx/{name}.fp16.onnx")
    products = matmul_precisions(model)
    assert products["float16"] > 0
    assert {v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]} == {onnx.TensorProto.FLOAT}
    weight_types = {init.data_type for init in model.graph.initializer if len(init.dims) == 2}
    assert onnx.TensorProto.FLOAT16 in weight_types
    assert matmul_precisions(onnx.load(exported_bundle / f"onnx/{name}.fp32.onnx"))["float16"] == 0


def test_fp16_exports_are_within_their_parity_bound(exported_bundle: Path) -> None:
    report = json.loads((exported_bundle / "parity.json").read_text())
    fp16 = [c for c in report["checks"] if c["precision"] == "fp16"]
    assert {c["network"] for c in fp16} == set(NAMES) and {c["inputs"] for c in fp16} == {"golden", "random"}
    for check in fp16:
        assert check["passed"] and check["max_abs"] <= TOLERANCES["fp16"].bound(check["spread"]), check
    assert report["tolerances"]["fp16"] == {"abs": 1e-3, "rel": 2e-3}


def test_add_onnx_models_lists_exports_in_files_and_networks_and_the_bundle_still_loads(exported_bundle: Path) -> None:
    manifest = load_bundle(exported_bundle).manifest
    for name in NAMES:
        assert manifest.networks[name].onnx == {p: f"onnx/{name}.{p}.onnx" for p in ("fp32", "fp16")}
    assert set(FILES) | {"parity.json"} <= set(manifest.files)
    assert json.loads((exported_bundle / "parity.json").read_text())["passed"] is True


def test_a_tampered_onnx_file_makes_load_bundle_fail_naming_it(exported_copy: Path) -> None:
    path = exported_copy / "onnx" / "up_net.fp16.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"up_net\.fp16\.onnx: sha256 mismatch"):
        load_bundle(exported_copy)


def test_an_export_that_computes_another_network_fails_parity_naming_it(exported_copy: Path) -> None:
    bundle = load_bundle(exported_copy)
    entry = bundle.manifest.networks["group_encoder"]
    other = rebuild_module(bundle, "group_encoder")
    other.load_state_dict(network_weights(("group_encoder",), seed=1)["group_encoder"].state_dict)
    export_network(other, NETWORK_SPECS[entry.arch], entry.inputs, exported_copy / entry.onnx["fp32"], "fp32")

    manifest = yaml.safe_load((exported_copy / MANIFEST).read_text())
    manifest["files"][entry.onnx["fp32"]] = sha256_file(exported_copy / entry.onnx["fp32"])
    (exported_copy / MANIFEST).write_text(yaml.safe_dump(manifest, sort_keys=False))
    with pytest.raises(ParityError, match=r"group_encoder\s+fp32\s+golden\s+1\s+\S+\s+\S+\s+\S+\s+FAIL"):
        check_parity(exported_copy, precisions=("fp32",))


def test_a_bundle_without_networks_is_left_unchanged(plain_copy: Path, tmp_path: Path) -> None:
    from edge.bundle import GoldenSample, write_bundle

    root = write_bundle(tmp_path / "no-networks", recipe="r", params={}, calibration={},
                        arrays={"golden": np.zeros((4, 3), np.float32)},
                        golden=GoldenSample(file="golden.npy", raw_score=0.0, verdict="PASS"), versions={})
    before = (root / "bundle.yaml").read_bytes()
    assert add_onnx_models(root)["checks"] == []
    assert (root / "bundle.yaml").read_bytes() == before


def test_parity_command_prints_the_table_and_exits_0(exported_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _command(["parity", str(exported_bundle)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["network", "precision", "inputs", "batch", "max_abs", "max_rel", "bound", "result"]
    assert len(lines) == 1 + 12 and all(line.endswith("pass") for line in lines[1:])


def test_parity_command_fails_for_a_bundle_without_onnx(plain_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _command(["parity", str(plain_copy), "--json"]) == 1
    assert "has no ONNX export to check" in capsys.readouterr().err


def test_the_parity_command_is_registered_as_a_pcinspect_command() -> None:
    commands = {e.name: e.value for e in entry_points(group="pcinspect.commands")}
    assert commands["parity"] == "exporters.cli.parity:register"
