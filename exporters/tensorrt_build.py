"""ONNX -> TensorRT plans, built on the edge box itself and recorded in the bundle's ``engines``.

A plan is specific to the TensorRT version and GPU it was built with, so it is built where it runs, after the
bundle was made and signed: plans live in ``engines/<name>.<key>.plan``, outside the manifest's ``files`` (and
so outside the signature), each recorded with its own sha256 and the components of its key
(:mod:`edge.runtime.engine_keys`).

TensorRT 10.x and 11.x: networks are always explicit-batch (the EXPLICIT_BATCH flag is deprecated in 10 and gone
in 11), and they are built strongly typed (``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` where the enum has it:
required for precision-in-graph on 10.x, the only mode on 11.x), so the precision is the ONNX file's: ``--fp16``
builds from the fp16 export instead of setting the removed ``BuilderFlag.FP16``. TF32 is cleared where the flag
exists so an fp32 engine computes in float32 and stays within the fp32 parity bound. Unverified here (no GPU, no
TensorRT): the TensorRT calls in :func:`build_plan`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from edge.bundle import BundleError, Manifest, NetworkEntry, load_bundle, update_manifest
from edge.models import NETWORK_SPECS
from edge.runtime.base import BackendUnavailable
from edge.runtime.engine_keys import EngineRecord, EngineTarget, format_capability
from edge.runtime.files import read_verified
from edge.runtime.tensorrt_backend import import_tensorrt
from exporters.onnx_export import write_atomically
from edge.errors import PcinspectError

DEFAULT_BATCH = (1, 1, 8)
DEFAULT_WORKSPACE_MB = 1024


class EngineBuildError(PcinspectError, RuntimeError):
    """An engine cannot be built; the message says why (TensorRT missing, no CUDA, parser or builder errors)."""


def profile_shapes(entry: NetworkEntry, inputs: Sequence[str],
                   batch: tuple[int, int, int] = DEFAULT_BATCH) -> dict[str, list[list[int]]]:
    """The optimisation profile of each input: ``[min, opt, max]`` shapes, the batch from ``batch`` and the other
    dimensions fixed to the manifest's per-sample shapes."""
    low, opt, high = batch
    if not 1 <= low <= opt <= high:
        raise ValueError(f"batch profile must satisfy 1 <= min <= opt <= max, got {batch}")
    missing = [k for k in inputs if k not in entry.inputs]
    if missing:
        raise BundleError(f"network {entry.arch}: the manifest gives no shape for input(s) {missing}")
    return {k: [[b, *entry.inputs[k]] for b in (low, opt, high)] for k in inputs}


def build_plan(trt: Any, onnx_bytes: bytes, profile: dict[str, list[list[int]]], *, workspace_mb: int,
               cache: Any | None, builder: Any, logger: Any) -> tuple[bytes, Any, bool]:
    """Parse ``onnx_bytes`` and build a serialized plan with one optimisation profile; returns the plan, the
    timing cache the build used (to share with the next build) and whether the network was strongly typed."""
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    flags = 0 if strongly_typed is None else 1 << int(strongly_typed)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT could not parse the ONNX file: {errors}")
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    if sorted(names) != sorted(profile):
        raise EngineBuildError(f"ONNX inputs {names} differ from the manifest's {sorted(profile)}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    tf32 = getattr(trt.BuilderFlag, "TF32", None)
    if tf32 is not None:
        config.clear_flag(tf32)
    optimization = builder.create_optimization_profile()
    for name, (low, opt, high) in profile.items():
        optimization.set_shape(name, low, opt, high)
    config.add_optimization_profile(optimization)
    if cache is None:
        cache = config.create_timing_cache(b"")
    config.set_timing_cache(cache, False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError("TensorRT build_serialized_network failed (see the TensorRT log above)")
    return bytes(serialized), config.get_timing_cache(), strongly_typed is not None


def engine_record(name: str, onnx_rel: str, onnx_sha256: str, precision: str, plan: bytes,
                  *, trt_version: str, compute_capability: str, strongly_typed: bool,
                  profile: dict[str, list[list[int]]], workspace_mb: int, build_seconds: float) -> EngineRecord:
    """The manifest record of a plan built from ``onnx_rel`` (its key from the four target components)."""
    key = EngineTarget(onnx_sha256, trt_version, compute_capability, precision).key
    return EngineRecord(
        network=name, key=key, plan=f"engines/{name}.{key}.plan", plan_sha256=hashlib.sha256(plan).hexdigest(),
        onnx=onnx_rel, onnx_sha256=onnx_sha256, precision=precision, tensorrt=trt_version,
        compute_capability=compute_capability, strongly_typed=strongly_typed, profile=profile,
        workspace_mb=workspace_mb, built=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        build_seconds=round(build_seconds, 3),
    )


def record_engines(bundle_dir: str | Path, records: Sequence[EngineRecord]) -> Manifest:
    """Add (or replace, by key) ``records`` in the manifest's ``engines``; each plan file must already be there
    with its recorded sha256."""
    root = Path(bundle_dir)
    for record in records:
        path = root / record.plan
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != record.plan_sha256:
            raise BundleError(f"{path}: missing or not the plan its record describes")

    def add(manifest: Manifest) -> Manifest:
        for record in records:
            if record.network not in manifest.networks:
                raise BundleError(f"{root}: engine record for unknown network {record.network!r}")
            manifest.engines[record.manifest_key] = record.model_dump(mode="json")
        return manifest

    return update_manifest(root, add)


def build_engines(
    bundle_dir: str | Path,
    *,
    fp16: bool,
    workspace_mb: int = DEFAULT_WORKSPACE_MB,
    timing_cache: Path | None = None,
    batch: tuple[int, int, int] = DEFAULT_BATCH,
    device: str | torch.device = "cuda",
) -> list[EngineRecord]:
    """Build a plan for every network of the bundle directory from its fp16 (``fp16``) or fp32 ONNX export on
    ``device``, write ``engines/<name>.<key>.plan`` and record them; the timing cache is loaded from and saved
    to ``timing_cache`` when given. EngineBuildError when TensorRT or CUDA is missing or a build fails."""
    try:
        trt = import_tensorrt()
    except BackendUnavailable as exc:
        raise EngineBuildError(f"cannot build TensorRT engines: {exc.reason}; install TensorRT 10.x or 11.x on the "
                               "edge box (pip install 'pcinspect[tensorrt]')") from None
    if workspace_mb < 1:
        raise ValueError(f"workspace must be at least 1 MB, got {workspace_mb}")
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        raise EngineBuildError(f"cannot build TensorRT engines: CUDA device {device} is not available to torch")
    root = Path(bundle_dir)
    bundle = load_bundle(root)
    precision = "fp16" if fp16 else "fp32"
    capability = format_capability(torch.cuda.get_device_capability(device))
    todo = []
    for name, entry in bundle.manifest.networks.items():
        rel = entry.onnx.get(precision)
        if rel is None:
            raise EngineBuildError(f"network {name!r} has no {precision} ONNX export in {root} (export the bundle first)")
        todo.append((name, rel, profile_shapes(entry, NETWORK_SPECS[entry.arch].inputs, batch)))
    logger = trt.Logger(trt.Logger.WARNING)
    records = []
    cache = None
    with torch.cuda.device(device):
        builder = trt.Builder(logger)
        if timing_cache is not None and timing_cache.is_file():
            cache = builder.create_builder_config().create_timing_cache(timing_cache.read_bytes())
        for name, rel, profile in todo:
            start = time.perf_counter()
            plan, cache, strongly_typed = build_plan(trt, read_verified(bundle, rel), profile,
                                                     workspace_mb=workspace_mb, cache=cache, builder=builder,
                                                     logger=logger)
            record = engine_record(name, rel, bundle.manifest.files[rel], precision, plan,
                                   trt_version=trt.__version__, compute_capability=capability,
                                   strongly_typed=strongly_typed, profile=profile, workspace_mb=workspace_mb,
                                   build_seconds=time.perf_counter() - start)
            write_atomically(root / record.plan, plan)
            records.append(record)
    if timing_cache is not None and cache is not None:
        write_atomically(timing_cache, bytes(cache.serialize()))
    record_engines(root, records)
    return records

