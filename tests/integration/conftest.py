"""Fixtures of the line-integration tests: one live `pcinspect serve` per session, fed by a scanner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from stationkit import Scanner, Station


@pytest.fixture(scope="session")
def station(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    """A `pcinspect serve` subprocess on ipc sockets, with metrics, MQTT, OPC UA and dashboard sections.

    It serves the session's trained bracket bundle, or the bracket bundle at $PCINSPECT_IT_BUNDLE (to skip
    training while working on these tests).
    """
    given = os.environ.get("PCINSPECT_IT_BUNDLE")
    bundle = Path(given) if given else request.getfixturevalue("trained_bundle")
    live = Station.start(tmp_path_factory.mktemp("station"), bundle)
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
