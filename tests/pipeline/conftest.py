"""Fixtures for the edge service tests: services on loopback sockets (the trained bundle is in tests/conftest.py).

Mechanics tests (journal, heartbeat, backpressure, recovery) run the real service with a stub Inspector so
they take milliseconds per frame; protocol, reload and shutdown tests use the trained bundle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from servicekit import POINTS, Line, StubInspector, station

from edge.service import Service

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def scans() -> dict[str, np.ndarray]:
    """Unseen scans of the bundle's part: two good ones and one with a bulge."""
    from trainer.data import synthetic_sample

    rng = np.random.default_rng(99)
    return {
        "good": synthetic_sample("bracket", "good", rng, POINTS).points.astype(np.float32),
        "good2": synthetic_sample("bracket", "good", rng, POINTS).points.astype(np.float32),
        "bulge": synthetic_sample("bracket", "bulge", rng, POINTS).points.astype(np.float32),
    }


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., tuple[Service, Line]]]:
    """Start a service (stub Inspector unless ``loader=None``) and a Line to it; both stopped at teardown."""
    started: list[tuple[Service, Line]] = []

    def start(bundles: dict[str, Path] | None = None, *, stub_delay: float = 0.0, real: bool = False,
              **sections: Any) -> tuple[Service, Line]:
        bundles = bundles or {"bracket": tmp_path / "stub-bundle"}
        loader = None if real else (lambda path: StubInspector(path.name, stub_delay))
        service = Service(station(tmp_path, bundles, **sections), loader=loader)
        service.start()
        line = Line(service)
        started.append((service, line))
        return service, line

    yield start
    for service, line in started:
        line.close()
        if service.state != "stopped":
            service.request_stop()
            service.shutdown()
