"""Backend selection: the first preferred backend that can serve each network, and a report saying why not others."""

from __future__ import annotations

import ast
import importlib.util
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import edge.runtime
from edge.bundle import MANIFEST, BundleError, load_bundle, sha256_file
from edge.runtime import BackendUnavailable, load_networks, tensorrt_backend
from exporters.tensorrt_build import engine_record, record_engines

HAVE_TENSORRT = importlib.util.find_spec("tensorrt") is not None


def test_torch_serves_a_bundle_without_onnx_and_the_report_says_why_onnxruntime_was_skipped(plain_bundle: Path) -> None:
    networks, report = load_networks(load_bundle(plain_bundle), ("onnxruntime", "torch"))
    assert {n.backend for n in networks.values()} == {"torch"}
    assert set(networks) == {"down_net", "up_net", "group_encoder"}
    for name in networks:
        assert f"{name}: onnxruntime skipped: no fp32 ONNX export in the bundle (exports: none)" in report
        assert any(line.startswith(f"{name}: served by torch on cpu") for line in report)


def test_onnxruntime_serves_when_the_bundle_has_onnx_exports(exported_bundle: Path) -> None:
    networks, report = load_networks(load_bundle(exported_bundle), ("onnxruntime", "torch"), "cpu", "fp16")
    assert {n.backend for n in networks.values()} == {"onnxruntime"}
    assert "down_net: served by onnxruntime on cpu (onnx/down_net.fp16.onnx, CPUExecutionProvider)" in report
    assert networks["up_net"].precision == "fp16"


@pytest.mark.skipif(HAVE_TENSORRT, reason="tensorrt is installed here: the not-installed report cannot happen")
def test_tensorrt_is_skipped_because_it_is_not_installed(exported_bundle: Path) -> None:
    networks, report = load_networks(load_bundle(exported_bundle))
    assert networks["group_encoder"].backend == "onnxruntime"
    assert any(line.startswith("group_encoder: tensorrt skipped: tensorrt is not installed") for line in report)


def test_report_lines_are_logged_on_the_edge_runtime_logger(plain_bundle: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="edge.runtime"):
        _, report = load_networks(load_bundle(plain_bundle), ("onnxruntime", "torch"))
    assert [r.getMessage() for r in caplog.records if r.name == "edge.runtime"] == report


def test_a_stale_engine_record_is_refused_with_a_message(
    exported_copy: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = load_bundle(exported_copy)
    onnx_rel = bundle.manifest.networks["down_net"].onnx["fp32"]
    plan = b"plan built elsewhere"
    record = engine_record("down_net", onnx_rel, bundle.manifest.files[onnx_rel], "fp32", plan,
                           trt_version="10.0.1", compute_capability="7.5", strongly_typed=True,
                           profile={}, workspace_mb=256, build_seconds=1.0)
    (exported_copy / "engines").mkdir()
    (exported_copy / record.plan).write_bytes(plan)
    record_engines(exported_copy, [record])
    # This box as TensorRT would describe it: only the version string and the GPU's capability are read.
    monkeypatch.setattr(tensorrt_backend, "import_tensorrt", lambda: SimpleNamespace(__version__="10.3.0"))
    monkeypatch.setattr(tensorrt_backend.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(tensorrt_backend, "device_capability", lambda device: "8.6")
    with caplog.at_level(logging.INFO, logger="edge.runtime"), pytest.raises(BackendUnavailable) as failed:
        load_networks(load_bundle(exported_copy), ("tensorrt", "onnxruntime"), "cuda:0")
    refusal = next(r for r in caplog.records if r.getMessage().startswith("down_net: tensorrt skipped"))
    assert refusal.levelno == logging.WARNING
    assert "no engine matches this box" in refusal.getMessage()
    assert "built with TensorRT 10.0.1, but this box runs TensorRT 10.3.0" in refusal.getMessage()
    assert "built for GPU compute capability 7.5, but this GPU has 8.6" in refusal.getMessage()
    assert "rebuild with `pcinspect build-engine`" in refusal.getMessage()
    assert "no preferred backend can serve" in str(failed.value)


def test_an_onnx_file_onnxruntime_cannot_load_falls_back_to_torch_with_the_reason(exported_copy: Path) -> None:
    rel = "onnx/group_encoder.fp32.onnx"
    (exported_copy / rel).write_bytes(b"listed and hashed, but not a model")
    manifest = yaml.safe_load((exported_copy / MANIFEST).read_text())
    manifest["files"][rel] = sha256_file(exported_copy / rel)
    (exported_copy / MANIFEST).write_text(yaml.safe_dump(manifest, sort_keys=False))
    networks, report = load_networks(load_bundle(exported_copy), ("onnxruntime", "torch"))
    assert networks["group_encoder"].backend == "torch" and networks["up_net"].backend == "onnxruntime"
    assert any(line.startswith(f"group_encoder: onnxruntime skipped: onnxruntime cannot run {rel}") for line in report)


def test_an_onnx_file_changed_after_loading_fails_instead_of_falling_back(exported_copy: Path) -> None:
    bundle = load_bundle(exported_copy)
    (exported_copy / "onnx" / "down_net.fp32.onnx").write_bytes(b"not the exported model")
    with pytest.raises(BundleError, match=r"down_net\.fp32\.onnx: sha256 mismatch"):
        load_networks(bundle, ("onnxruntime", "torch"))


def test_unknown_backend_in_preferences_is_rejected(plain_bundle: Path) -> None:
    with pytest.raises(ValueError, match="openvino"):
        load_networks(load_bundle(plain_bundle), ("openvino", "torch"))


def _module_level_imports(path: Path) -> set[str]:
    """Top modules imported when ``path`` is imported (function bodies excluded: they import lazily)."""
    found: set[str] = set()
    stack = list(ast.parse(path.read_text()).body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
        stack.extend(ast.iter_child_nodes(node))
    return found


def test_runtime_modules_import_onnxruntime_and_tensorrt_only_lazily() -> None:
    runtime = Path(edge.runtime.__file__).parent
    offenders = {p.name: _module_level_imports(p) & {"onnxruntime", "tensorrt"} for p in runtime.glob("*.py")}
    assert {name: found for name, found in offenders.items() if found} == {}
