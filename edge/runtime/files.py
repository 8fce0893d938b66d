"""Reading a bundle file for a backend, verified against its recorded sha256 at the moment it is read."""

from __future__ import annotations

import hashlib
from pathlib import Path

from edge.bundle import Bundle, BundleError, NetworkEntry
from edge.models import NETWORK_SPECS, NetworkSpec
from edge.runtime.base import BackendUnavailable


def read_verified(bundle: Bundle, rel: str) -> bytes:
    """The bytes of the listed bundle file ``rel``; BundleError naming it when it changed since the bundle loaded.

    The bytes are hashed and then used as they are, so what runs is what was checked (no second read).
    """
    expected = bundle.manifest.files.get(rel)
    if expected is None:
        raise BundleError(f"{bundle.root}: {rel!r} is not a listed file of the bundle")
    data = read_bytes(bundle.root / rel)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise BundleError(f"{bundle.root / rel}: sha256 mismatch: changed after the bundle was loaded")
    return data


def read_bytes(path: Path) -> bytes:
    """A whole file's bytes; BundleError naming it when it is missing."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{path}: missing") from None


def onnx_source(bundle: Bundle, name: str, precision: str) -> tuple[NetworkEntry, NetworkSpec, str]:
    """Network ``name``'s manifest entry, architecture spec and ``precision`` ONNX file (bundle-relative), or
    BackendUnavailable saying which is missing: what every backend built from the ONNX exports starts from."""
    entry = bundle.manifest.networks[name]
    spec = NETWORK_SPECS.get(entry.arch)
    if spec is None:
        raise BackendUnavailable(f"unknown architecture {entry.arch!r}")
    rel = entry.onnx.get(precision)
    if rel is None:
        have = ", ".join(sorted(entry.onnx)) or "none"
        raise BackendUnavailable(f"no {precision} ONNX export in the bundle (exports: {have})")
    return entry, spec, rel
