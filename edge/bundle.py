"""Bundle v1: the deployable, hashed unit a recipe ships as (DESIGN.md section 3).

A bundle is a directory with ``bundle.yaml`` at its root and every other file listed under ``files`` with its
sha256. Arrays are ``.npy`` files loaded with ``allow_pickle=False``: nothing in a bundle can execute code.
Loading verifies the schema and every hash before anything is used; a mismatch names the file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

FORMAT_VERSION = 1
MANIFEST = "bundle.yaml"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class BundleError(RuntimeError):
    """A bundle cannot be used; the message names the bundle and the offending file or key."""


class GoldenSample(BaseModel):
    """A normal scan shipped with the bundle and the result it must reproduce before the bundle may serve."""

    model_config = ConfigDict(extra="forbid")
    file: str
    raw_score: float
    verdict: str


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
    engines: dict[str, dict[str, Any]] = Field(default_factory=dict)


@dataclass
class Bundle:
    """A verified bundle: its manifest, its arrays by file name, and the manifest's own sha256."""

    root: Path
    manifest: Manifest
    arrays: dict[str, np.ndarray]
    sha256: str

    @property
    def bundle_id(self) -> str:
        return self.manifest.bundle_id


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
) -> Path:
    """Write a bundle directory: every array as ``<name>.npy``, then the manifest with their hashes.

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
    )
    (staging / MANIFEST).write_text(yaml.safe_dump(manifest.model_dump(mode="json"), sort_keys=False))
    if root.exists():
        root.rmdir()
    os.replace(staging, root)
    return root


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
        if not _SAFE_NAME.match(rel) or ".." in rel.split("/"):
            raise BundleError(f"{root}: file name {rel!r} in {MANIFEST} is not a plain relative path")
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
    golden = manifest.golden.file.removesuffix(".npy")
    if golden not in arrays:
        raise BundleError(f"{manifest_path}: golden sample {manifest.golden.file!r} is not a listed array")
    return Bundle(root=root, manifest=manifest, arrays=arrays, sha256=sha256_file(manifest_path))
