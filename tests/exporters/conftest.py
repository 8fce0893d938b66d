"""Exporter test bundles; the exported ones are shared with tests/runtime (tests/conftest.py, netbundle.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from netbundle import make_bundle


@pytest.fixture
def plain_copy(tmp_path: Path) -> Path:
    """A fresh bundle with networks but no ONNX export."""
    return make_bundle(tmp_path / "plain")
