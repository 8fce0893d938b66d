"""Engine keys and records: a plan is valid only for its ONNX export, TensorRT version, GPU and precision."""

from __future__ import annotations

import pytest

from edge.runtime.base import EngineRefused
from edge.runtime.engine_keys import EngineRecord, EngineTarget, engine_key, find_engine, format_capability, mismatches

TARGET = EngineTarget(onnx_sha256="a" * 64, trt_version="10.3.0", compute_capability="8.6", precision="fp16")


def _record(target: EngineTarget = TARGET, network: str = "down_net") -> EngineRecord:
    return EngineRecord(
        network=network, key=target.key, plan=f"engines/{network}.{target.key}.plan", plan_sha256="b" * 64,
        onnx=f"onnx/{network}.{target.precision}.onnx", onnx_sha256=target.onnx_sha256, precision=target.precision,
        tensorrt=target.trt_version, compute_capability=target.compute_capability, strongly_typed=True,
        profile={"centers": [[1, 32, 3], [1, 32, 3], [8, 32, 3]]}, workspace_mb=1024,
        built="2026-01-01T00:00:00+00:00", build_seconds=1.0,
    )


def _changed(**change: str) -> EngineTarget:
    return EngineTarget(**{**TARGET.__dict__, **change})


CHANGES = {
    "onnx_sha256": {"onnx_sha256": "c" * 64},
    "trt_version": {"trt_version": "10.4.0"},
    "compute_capability": {"compute_capability": "9.0"},
    "precision": {"precision": "fp32"},
}


@pytest.mark.parametrize("component", CHANGES)
def test_key_changes_when_any_one_component_changes(component: str) -> None:
    assert _changed(**CHANGES[component]).key != TARGET.key


def test_key_is_the_same_for_the_same_components() -> None:
    assert engine_key("a" * 64, "10.3.0", "8.6", "fp16") == TARGET.key
    assert len(TARGET.key) == 16 and int(TARGET.key, 16) >= 0


def test_capability_is_written_major_dot_minor() -> None:
    assert format_capability((8, 6)) == "8.6"


def test_record_matches_the_target_it_was_built_for() -> None:
    assert mismatches(_record(), TARGET) == []


@pytest.mark.parametrize(
    ("component", "words"),
    [
        ("onnx_sha256", ["ONNX sha256 aaaaaaaaaaaa", "cccccccccccc", "re-exported"]),
        ("trt_version", ["TensorRT 10.3.0", "this box runs TensorRT 10.4.0"]),
        ("compute_capability", ["compute capability 8.6", "this GPU has 9.0"]),
        ("precision", ["built for fp16", "fp32 was requested"]),
    ],
)
def test_mismatch_message_names_the_component_that_differs(component: str, words: list[str]) -> None:
    (message,) = mismatches(_record(), _changed(**CHANGES[component]))
    for word in words:
        assert word in message


def test_record_whose_key_was_edited_is_refused() -> None:
    record = _record().model_copy(update={"key": "0" * 16})
    assert mismatches(record, TARGET) == [f"its key {'0' * 16} does not match its own fields (edited record)"]


def test_find_engine_returns_the_matching_record() -> None:
    record = _record()
    other = _record(_changed(trt_version="10.0.1"))
    engines = {r.manifest_key: r.model_dump() for r in (other, record)}
    assert find_engine(engines, "down_net", TARGET) == record


def test_find_engine_refuses_a_stale_record_saying_why_and_asking_to_rebuild() -> None:
    stale = _record(_changed(trt_version="10.0.1", compute_capability="7.5"))
    with pytest.raises(EngineRefused) as refused:
        find_engine({stale.manifest_key: stale.model_dump()}, "down_net", TARGET)
    message = refused.value.reason
    assert "built with TensorRT 10.0.1, but this box runs TensorRT 10.3.0" in message
    assert "built for GPU compute capability 7.5, but this GPU has 8.6" in message
    assert "rebuild with `pcinspect build-engine`" in message


def test_find_engine_without_a_record_for_the_network_says_none_was_built() -> None:
    other = _record(network="up_net")
    with pytest.raises(Exception, match="no TensorRT engine built for this network") as raised:
        find_engine({other.manifest_key: other.model_dump()}, "down_net", TARGET)
    assert not isinstance(raised.value, EngineRefused)


def test_find_engine_refuses_a_malformed_record_naming_its_bad_fields() -> None:
    raw = _record().model_dump()
    del raw["plan_sha256"]
    with pytest.raises(EngineRefused, match="malformed record .*plan_sha256"):
        find_engine({"down_net.x": raw}, "down_net", TARGET)
