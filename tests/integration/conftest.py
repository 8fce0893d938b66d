"""Fixtures of the line-integration tests: one live `pcinspect serve` per session, fed by a scanner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from stationkit import Scanner, Station


@pytest.fixture(scope="session")
def station(trained_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    """A `pcinspect serve` subprocess on ipc sockets, with metrics, MQTT, OPC UA and dashboard sections."""
    live = Station.start(tmp_path_factory.mktemp("station"), trained_bundle)
    yield live
    live.stop()


@pytest.fixture(scope="session")
def line_scans() -> dict[str, np.ndarray]:
    """A good and a bulged bracket scan (unseen by the bundle)."""
    from trainer.data import synthetic_sample

    rng = np.random.default_rng(5)
    return {
        "good": synthetic_sample("bracket", "good", rng, 5000).points.astype(np.float32),
        "bulge": synthetic_sample("bracket", "bulge", rng, 5000).points.astype(np.float32),
    }


@pytest.fixture
def scanner(station: Station, line_scans: dict[str, np.ndarray]) -> Iterator[Scanner]:
    feed = Scanner(station, line_scans)
    yield feed
    feed.close()
