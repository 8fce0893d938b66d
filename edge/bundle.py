"""Bundle v1: the deployable, hashed unit a recipe ships as (DESIGN.md section 3).

A bundle is a directory with ``bundle.yaml`` at its root and every other file listed under ``files`` with its
sha256. Arrays are ``.npy`` files loaded with ``allow_pickle=False``; network weights are ``.safetensors`` files
described under ``networks`` (architecture, constructor config, input shapes, and ONNX exports once made):
nothing in a bundle can execute code. Loading verifies the schema and every hash before anything is used; a
mismatch names the file.

``engines`` records TensorRT plans built on the edge box itself; each entry carries its own sha256 because the
plans are added after the bundle was made (and signed), see :mod:`exporters.tensorrt_build`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors.torch import load_file, save_file
from edge.errors import PcinspectError

FORMAT_VERSION = 1
MANIFEST = "bundle.yaml"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class BundleError(PcinspectError, RuntimeError):
    """A bundle cannot be used; the message names the bundle and the offending file or key."""


class GoldenSample(BaseModel):
    """A normal scan shipped with the bundle and the result it must reproduce before the bundle may serve."""

    model_config = ConfigDict(extra="forbid")
    file: str
    raw_score: float
    verdict: str


class NetworkEntry(BaseModel):
    """One learned network: how to rebuild it (``arch`` in :data:`edge.models.NETWORK_SPECS` + ``config``), its
    weights, the per-sample shape of each input (the batch axis is dynamic), and its ONNX exports by precision."""

    model_config = ConfigDict(extra="forbid")
    arch: str
    config: dict[str, Any]
    weights: str
    inputs: dict[str, list[int]]
    onnx: dict[str, str] = Field(default_factory=dict)


class Manifest(BaseModel):
    """The schema of ``bundle.yaml``."""

    model_config = ConfigDict(extra="forbid")
    format_version: int = Field(FORMAT_VERSION, ge=1, le=FORMAT_VERSION)
    bundle_id: str
    recipe: str
    created: str
    versions: dict[str, str]
    params: dict[str, Any]
    calibration: dict[str, Any]
    files: dict[str, str]
    golden: GoldenSample
    networks: dict[str, NetworkEntry] = Field(default_factory=dict)
    engines: dict[str, dict[str, Any]] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict, description="how the recipe was trained (edge/recipe.py)")


@dataclass
class NetworkWeights:
    """A network to store in a bundle: architecture, constructor config, weights and per-sample input shapes."""

    arch: str
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    inputs: dict[str, list[int]]


@dataclass
class Bundle:
    """A verified bundle: its manifest, its arrays by file name, and its identity ``sha256``: the hash of
    :func:`manifest_bytes`, which covers every file through their hashes but not the engines built on the box
    (so building an engine does not change the identity a verdict reports)."""

    root: Path
    manifest: Manifest
    arrays: dict[str, np.ndarray]
    sha256: str

    @property
    def bundle_id(self) -> str:
        return self.manifest.bundle_id

    def network_weights(self, name: str) -> dict[str, torch.Tensor]:
        """The verified weights of network ``name`` (safetensors: tensors only, no code)."""
        entry = self.manifest.networks.get(name)
        if entry is None:
            raise BundleError(f"{self.root}: bundle has no network {name!r}")
        path = self.root / entry.weights
        if sha256_file(path) != self.manifest.files[entry.weights]:
            raise BundleError(f"{path}: sha256 mismatch: changed after the bundle was loaded")
        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types for corrupt headers
            raise BundleError(f"{path}: not a readable safetensors file: {exc}") from None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_bundle(
    root: str | Path,
    *,
    recipe: str,
    params: dict[str, Any],
    calibration: dict[str, Any],
    arrays: dict[str, np.ndarray],
    golden: GoldenSample,
    versions: dict[str, str],
    networks: dict[str, NetworkWeights] | None = None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write a bundle directory: every array as ``<name>.npy``, every network's weights as
    ``networks/<name>.safetensors``, then the manifest with their hashes.

    The directory is assembled beside ``root`` and renamed into place, so a reader never sees half a bundle.
    """
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise BundleError(f"{root}: refusing to overwrite a non-empty directory")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    files: dict[str, str] = {}
    for name, array in arrays.items():
        rel = f"{name}.npy"
        if not _SAFE_NAME.match(rel):
            raise BundleError(f"{root}: unsafe array name {name!r}")
        np.save(staging / rel, np.ascontiguousarray(array), allow_pickle=False)
        files[rel] = sha256_file(staging / rel)
    entries: dict[str, NetworkEntry] = {}
    for name, net in (networks or {}).items():
        rel = f"networks/{name}.safetensors"
        if not _SAFE_NAME.match(rel):
            raise BundleError(f"{root}: unsafe network name {name!r}")
        (staging / "networks").mkdir(exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict.items()}, str(staging / rel))
        files[rel] = sha256_file(staging / rel)
        entries[name] = NetworkEntry(arch=net.arch, config=net.config, weights=rel, inputs=net.inputs)
    if golden.file not in files:
        raise BundleError(f"{root}: golden sample file {golden.file!r} is not among the bundle's arrays")
    created = datetime.now(timezone.utc).replace(microsecond=0)
    content_hash = hashlib.sha256("".join(sorted(files.values())).encode()).hexdigest()[:12]
    manifest = Manifest(
        bundle_id=f"{recipe}-{created:%Y%m%dT%H%M%SZ}-{content_hash}",
        recipe=recipe,
        created=created.isoformat(),
        versions=versions,
        params=params,
        calibration=calibration,
        files=files,
        golden=golden,
        networks=entries,
        provenance=provenance or {},
    )
    _write_manifest(staging, manifest)
    if root.exists():
        root.rmdir()
    os.replace(staging, root)
    return root


def update_manifest(root: str | Path, change: Callable[[Manifest], Manifest]) -> Manifest:
    """Rewrite ``bundle.yaml`` of a bundle directory with ``change(manifest)``, hashing every listed file afresh.

    For tools that add derived files to a bundle (ONNX exports, engines) before it is packed or served; the
    manifest is replaced atomically, so a reader sees the old or the new one.
    """
    root = Path(root)
    manifest = change(load_bundle(root).manifest.model_copy(deep=True))
    manifest = Manifest.model_validate(manifest.model_dump(mode="json"))
    for rel in manifest.files:
        _check_relative(root, rel)
        if not (root / rel).is_file():
            raise BundleError(f"{root / rel}: listed in {MANIFEST} but missing")
        manifest.files[rel] = sha256_file(root / rel)
    _write_manifest(root, manifest)
    return manifest


def manifest_bytes(manifest: Manifest) -> bytes:
    """Canonical bytes of a manifest without its ``engines`` (what a bundle signature covers): the files' hashes
    make it cover every file, while engines built later on the edge box do not break it."""
    data = manifest.model_dump(mode="json")
    data.pop("engines", None)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _write_manifest(root: Path, manifest: Manifest) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}-", dir=root)
    with os.fdopen(fd, "w") as handle:
        handle.write(yaml.safe_dump(manifest.model_dump(mode="json"), sort_keys=False))
    os.replace(tmp, root / MANIFEST)


def _check_relative(root: Path, rel: str) -> None:
    if not _SAFE_NAME.match(rel) or ".." in rel.split("/"):
        raise BundleError(f"{root}: file name {rel!r} in {MANIFEST} is not a plain relative path")


def load_bundle(root: str | Path) -> Bundle:
    """Read and verify a bundle: schema, every file's presence and sha256, arrays without pickles."""
    root = Path(root)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{root}: no {MANIFEST} (not a bundle directory)")
    try:
        raw = yaml.safe_load(manifest_path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BundleError(f"{manifest_path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise BundleError(f"{manifest_path}: expected a mapping at the top level")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BundleError(f"{manifest_path}: {problems}") from None
    arrays: dict[str, np.ndarray] = {}
    for rel, expected in manifest.files.items():
        _check_relative(root, rel)
        path = root / rel
        if not path.is_file():
            raise BundleError(f"{path}: listed in {MANIFEST} but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(f"{path}: sha256 mismatch (manifest {expected[:12]}..., file {actual[:12]}...): tampered or corrupt")
        if rel.endswith(".npy"):
            try:
                arrays[rel[: -len(".npy")]] = np.load(path, allow_pickle=False)
            except ValueError as exc:
                raise BundleError(f"{path}: not a plain numpy array: {exc}") from None
    for name, entry in manifest.networks.items():
        for rel in [entry.weights, *entry.onnx.values()]:
            if rel not in manifest.files:
                raise BundleError(f"{manifest_path}: network {name!r} refers to {rel!r}, which is not a listed file")
    golden = manifest.golden.file.removesuffix(".npy")
    if golden not in arrays:
        raise BundleError(f"{manifest_path}: golden sample {manifest.golden.file!r} is not a listed array")
    return Bundle(root=root, manifest=manifest, arrays=arrays, sha256=hashlib.sha256(manifest_bytes(manifest)).hexdigest())
