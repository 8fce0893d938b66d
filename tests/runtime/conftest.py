"""Bundles with the real network architectures for the runtime tests (see netbundle.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from netbundle import exported_bundle_once, make_bundle


@pytest.fixture(scope="session")
def plain_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Networks with weights only: no ONNX export, no engine."""
    return make_bundle(tmp_path_factory.mktemp("runtime") / "plain")


@pytest.fixture(scope="session")
def exported_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Networks with fp32 and fp16 ONNX exports and parity.json (shared, read-only)."""
    return exported_bundle_once(tmp_path_factory.getbasetemp())


@pytest.fixture
def exported_copy(exported_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the exported bundle, for tests that change it."""
    return Path(shutil.copytree(exported_bundle, tmp_path / "bundle"))
