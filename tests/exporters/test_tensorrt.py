"""TensorRT engines: building and running them needs TensorRT and a GPU; everything around them does not."""

from __future__ import annotations

import argparse
import hashlib
import importlib
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch

from edge.bundle import BundleError, load_bundle, manifest_bytes
from edge.models import NETWORK_SPECS
from edge.runtime import load_networks
from edge.runtime.base import EngineRefused
from edge.runtime.engine_keys import EngineTarget, find_engine
from edge.runtime.tensorrt_backend import parse_trt_version, verified_plan
from exporters.cli import build_engine as build_engine_command
from exporters.parity import TOLERANCES, compare, random_inputs
from exporters.tensorrt_build import EngineBuildError, build_engines, engine_record, profile_shapes, record_engines


def _command(argv: list[str]) -> int:
    """Run one `pcinspect` sub-command parsed by its own parser (other commands' imports stay out of the test)."""
    parser = argparse.ArgumentParser(prog="pcinspect")
    build_engine_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def _tensorrt_missing() -> str | None:
    try:
        importlib.import_module("tensorrt")
    except ImportError as exc:
        return f"tensorrt is not installed ({exc}): building and running engines needs TensorRT 10.x/11.x and a GPU"
    if not torch.cuda.is_available():
        return "CUDA is not available: building and running TensorRT engines needs an NVIDIA GPU"
    return None


MISSING = _tensorrt_missing()
needs_tensorrt = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@needs_tensorrt
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_built_engines_serve_every_network_within_the_parity_bound(exported_copy: Path, tmp_path: Path,
                                                                  precision: str) -> None:
    cache = tmp_path / "timing.cache"
    records = build_engines(exported_copy, fp16=precision == "fp16", workspace_mb=256, timing_cache=cache)
    assert cache.is_file() and {r.network for r in records} == {"down_net", "up_net", "group_encoder"}
    bundle = load_bundle(exported_copy)
    engines, report = load_networks(bundle, ("tensorrt",), "cuda", precision)
    reference, _ = load_networks(bundle, ("torch",), "cuda")
    for name, network in engines.items():
        assert network.backend == "tensorrt", report
        inputs = [x.cuda() for x in random_inputs(bundle.manifest.networks[name].inputs, network.input_names, batch=3)]
        result = compare(network(*inputs).cpu(), reference[name](*inputs).cpu(), TOLERANCES[precision])
        assert result["passed"], (name, result)


@needs_tensorrt
def test_engine_refuses_a_batch_beyond_its_profile(exported_copy: Path) -> None:
    build_engines(exported_copy, fp16=False, workspace_mb=256, batch=(1, 1, 2))
    engines, _ = load_networks(load_bundle(exported_copy), ("tensorrt",), "cuda")
    with pytest.raises(ValueError, match=r"accepts batch 1\.\.2"):
        engines["up_net"](torch.zeros(3, 16, 3, device="cuda"))


@pytest.mark.skipif(MISSING is None, reason="tensorrt and CUDA are available: the missing-package error cannot happen")
def test_building_without_tensorrt_fails_saying_so(exported_copy: Path) -> None:
    with pytest.raises(EngineBuildError, match="cannot build TensorRT engines: (tensorrt is not installed|CUDA)"):
        build_engines(exported_copy, fp16=False)


@pytest.mark.skipif(MISSING is None, reason="tensorrt and CUDA are available: the missing-package error cannot happen")
def test_build_engine_command_exits_1_with_the_reason(exported_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _command(["build-engine", str(exported_copy), "--fp16", "--workspace", "256"]) == 1
    err = capsys.readouterr().err
    assert "pcinspect build-engine: error: cannot build TensorRT engines" in err
    assert "`pcinspect serve` still runs" in err and "ONNX Runtime" in err


def test_profile_shapes_take_the_manifests_per_sample_shapes(exported_bundle: Path) -> None:
    entry = load_bundle(exported_bundle).manifest.networks["down_net"]
    assert profile_shapes(entry, NETWORK_SPECS["down_net"].inputs, (1, 2, 8)) == {
        "patches": [[1, 16, 8, 3], [2, 16, 8, 3], [8, 16, 8, 3]],
        "centers": [[1, 16, 3], [2, 16, 3], [8, 16, 3]],
    }


def test_profile_with_an_unordered_batch_range_is_rejected(exported_bundle: Path) -> None:
    entry = load_bundle(exported_bundle).manifest.networks["up_net"]
    with pytest.raises(ValueError, match="1 <= min <= opt <= max"):
        profile_shapes(entry, ("centers",), (1, 8, 4))


def _record_plan(root: Path, plan: bytes = b"serialized plan", trt_version: str = "10.3.0"):
    bundle = load_bundle(root)
    onnx_rel = bundle.manifest.networks["up_net"].onnx["fp16"]
    record = engine_record("up_net", onnx_rel, bundle.manifest.files[onnx_rel], "fp16", plan, trt_version=trt_version,
                           compute_capability="8.6", strongly_typed=True,
                           profile=profile_shapes(bundle.manifest.networks["up_net"], ("centers",)),
                           workspace_mb=256, build_seconds=2.5)
    (root / "engines").mkdir(exist_ok=True)
    (root / record.plan).write_bytes(plan)
    record_engines(root, [record])
    return record


def test_recorded_engine_goes_into_engines_outside_the_signed_manifest_bytes(exported_copy: Path) -> None:
    before = manifest_bytes(load_bundle(exported_copy).manifest)
    record = _record_plan(exported_copy)
    bundle = load_bundle(exported_copy)
    assert manifest_bytes(bundle.manifest) == before
    assert bundle.manifest.engines[record.manifest_key] == record.model_dump(mode="json")
    assert record.plan == f"engines/up_net.{record.key}.plan" and record.plan not in bundle.manifest.files
    assert record.plan_sha256 == hashlib.sha256(b"serialized plan").hexdigest()
    assert record.profile == {"centers": [[1, 16, 3], [1, 16, 3], [8, 16, 3]]}


def test_recorded_engine_is_found_for_its_target_and_refused_for_another_tensorrt(exported_copy: Path) -> None:
    record = _record_plan(exported_copy)
    manifest = load_bundle(exported_copy).manifest
    target = EngineTarget(manifest.files["onnx/up_net.fp16.onnx"], "10.3.0", "8.6", "fp16")
    assert find_engine(manifest.engines, "up_net", target) == record
    assert verified_plan(exported_copy, record) == b"serialized plan"
    newer = EngineTarget(target.onnx_sha256, "11.0.0", "8.6", "fp16")
    with pytest.raises(EngineRefused, match="built with TensorRT 10.3.0, but this box runs TensorRT 11.0.0"):
        find_engine(manifest.engines, "up_net", newer)


def test_rebuilding_for_the_same_target_replaces_its_record(exported_copy: Path) -> None:
    _record_plan(exported_copy, b"first build")
    second = _record_plan(exported_copy, b"second build")
    engines = load_bundle(exported_copy).manifest.engines
    assert list(engines) == [second.manifest_key]
    assert engines[second.manifest_key]["plan_sha256"] == hashlib.sha256(b"second build").hexdigest()


def test_a_plan_changed_after_it_was_recorded_is_refused(exported_copy: Path) -> None:
    record = _record_plan(exported_copy)
    (exported_copy / record.plan).write_bytes(b"serialized plan, patched")
    with pytest.raises(EngineRefused, match="does not match its record .*corrupt or replaced, refusing to load it"):
        verified_plan(exported_copy, record)


def test_recording_a_plan_that_is_not_on_disk_is_refused(exported_copy: Path) -> None:
    bundle = load_bundle(exported_copy)
    rel = bundle.manifest.networks["up_net"].onnx["fp32"]
    record = engine_record("up_net", rel, bundle.manifest.files[rel], "fp32", b"never written", trt_version="10.3.0",
                           compute_capability="8.6", strongly_typed=True, profile={}, workspace_mb=256,
                           build_seconds=1.0)
    with pytest.raises(BundleError, match="missing or not the plan its record describes"):
        record_engines(exported_copy, [record])


@pytest.mark.parametrize(("text", "expected"), [("10.3.0", (10, 3, 0)), ("10.13.0.35", (10, 13, 0)),
                                                ("11.0.0.post1", (11, 0, 0)), ("11.2", (11, 2, 0))])
def test_tensorrt_versions_parse_to_major_minor_patch(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_trt_version(text) == expected


def test_an_unrecognised_tensorrt_version_is_an_error() -> None:
    with pytest.raises(ValueError, match="unrecognised TensorRT version"):
        parse_trt_version("trt-ten")


def test_the_build_engine_command_is_registered_as_a_pcinspect_command() -> None:
    commands = {e.name: e.value for e in entry_points(group="pcinspect.commands")}
    assert commands["build-engine"] == "exporters.cli.build_engine:register"
