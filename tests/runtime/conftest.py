"""Runtime test bundles; the exported ones are shared with tests/exporters (tests/conftest.py, netbundle.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from netbundle import make_bundle


@pytest.fixture(scope="session")
def plain_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Networks with weights only: no ONNX export, no engine."""
    return make_bundle(tmp_path_factory.mktemp("runtime") / "plain")
