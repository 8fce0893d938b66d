"""Engine keys: a TensorRT plan is only valid for the ONNX file, TensorRT version, GPU and precision it was built for.

A plan deserialised under another TensorRT version or on another GPU architecture fails or, worse, may run with
wrong results; a plan built from an older ONNX export computes the old network. Every engine record therefore
carries the four components, its key is a hash of them, and :func:`find_engine` refuses any record that does not
match this box, saying in words which component differs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from edge.runtime.base import BackendUnavailable, EngineRefused

KEY_SCHEME = "pcinspect-engine-v1"
KEY_HEX_DIGITS = 16


def engine_key(onnx_sha256: str, trt_version: str, compute_capability: str, precision: str) -> str:
    """A short hex key that changes whenever any of the four components changes."""
    text = "\n".join([KEY_SCHEME, onnx_sha256, trt_version, compute_capability, precision])
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_HEX_DIGITS]


def format_capability(capability: tuple[int, int]) -> str:
    """``(8, 6)`` -> ``"8.6"``, the form records use."""
    return f"{capability[0]}.{capability[1]}"


@dataclass(frozen=True)
class EngineTarget:
    """What a plan must have been built for to run here: this ONNX export, this TensorRT, this GPU, this precision."""

    onnx_sha256: str
    trt_version: str
    compute_capability: str
    precision: str

    @property
    def key(self) -> str:
        return engine_key(self.onnx_sha256, self.trt_version, self.compute_capability, self.precision)


class EngineRecord(BaseModel):
    """One entry of a manifest's ``engines`` (stored under :attr:`manifest_key`)."""

    model_config = ConfigDict(extra="forbid")
    network: str
    key: str
    plan: str
    plan_sha256: str
    onnx: str
    onnx_sha256: str
    precision: Literal["fp32", "fp16"]
    tensorrt: str
    compute_capability: str
    strongly_typed: bool
    profile: dict[str, list[list[int]]]
    workspace_mb: int
    built: str
    build_seconds: float

    @property
    def manifest_key(self) -> str:
        return f"{self.network}.{self.key}"

    def target(self) -> EngineTarget:
        return EngineTarget(self.onnx_sha256, self.tensorrt, self.compute_capability, self.precision)


def mismatches(record: EngineRecord, target: EngineTarget) -> list[str]:
    """Why ``record`` cannot run for ``target``, one phrase per differing component; empty when it matches."""
    found = []
    if record.onnx_sha256 != target.onnx_sha256:
        found.append(f"built from ONNX sha256 {record.onnx_sha256[:12]}..., but the bundle's {record.onnx} "
                     f"is {target.onnx_sha256[:12]}... (re-exported since)")
    if record.tensorrt != target.trt_version:
        found.append(f"built with TensorRT {record.tensorrt}, but this box runs TensorRT {target.trt_version}")
    if record.compute_capability != target.compute_capability:
        found.append(f"built for GPU compute capability {record.compute_capability}, "
                     f"but this GPU has {target.compute_capability}")
    if record.precision != target.precision:
        found.append(f"built for {record.precision}, but {target.precision} was requested")
    if not found and record.key != target.key:
        found.append(f"its key {record.key} does not match its own fields (edited record)")
    return found


def find_engine(engines: Mapping[str, Mapping[str, Any]], network: str, target: EngineTarget) -> EngineRecord:
    """The record of ``engines`` that serves ``network`` for ``target``; BackendUnavailable explaining every
    refused record (or that there is none) otherwise."""
    refused = []
    for manifest_key, raw in engines.items():
        if raw.get("network") != network:
            continue
        try:
            record = EngineRecord.model_validate(raw)
        except ValidationError as exc:
            refused.append(f"{manifest_key}: malformed record ({exc.error_count()} errors: "
                           f"{', '.join('.'.join(map(str, e['loc'])) for e in exc.errors())})")
            continue
        problems = mismatches(record, target)
        if not problems and manifest_key != record.manifest_key:
            problems = [f"stored under {manifest_key!r} instead of {record.manifest_key!r}"]
        if not problems:
            return record
        refused.append(f"{manifest_key}: {'; '.join(problems)}")
    if not refused:
        raise BackendUnavailable("no TensorRT engine built for this network (run `pcinspect build-engine` on this box)")
    raise EngineRefused(
        f"no engine matches this box (TensorRT {target.trt_version}, GPU {target.compute_capability}, "
        f"{target.precision}); refused {' | '.join(refused)}; rebuild with `pcinspect build-engine`"
    )
