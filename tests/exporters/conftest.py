"""Bundles with the real network architectures for the exporter tests, shared with tests/runtime (netbundle.py)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))

from netbundle import exported_bundle_once, make_bundle  # noqa: E402


@pytest.fixture(scope="session")
def exported_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Networks with fp32 and fp16 ONNX exports and parity.json (shared, read-only)."""
    return exported_bundle_once(tmp_path_factory.getbasetemp())


@pytest.fixture
def exported_copy(exported_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the exported bundle, for tests that change it."""
    return Path(shutil.copytree(exported_bundle, tmp_path / "bundle"))


@pytest.fixture
def plain_copy(tmp_path: Path) -> Path:
    """A fresh bundle with networks but no ONNX export."""
    return make_bundle(tmp_path / "plain")
