"""Shared fixtures: where the read-only shared data lives, and deterministic seeds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PCINSPECT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (`../shared/data`); tests that need it fail loudly when it is absent."""
    assert SHARED_DATA.is_dir(), f"shared data not found at {SHARED_DATA} (set PCINSPECT_SHARED_DATA)"
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def exported_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle of the real network architectures with fp32 and fp16 ONNX exports and parity.json (shared,
    read-only; see netbundle.py)."""
    from netbundle import exported_bundle_once

    return exported_bundle_once(tmp_path_factory.getbasetemp())


@pytest.fixture
def exported_copy(exported_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the exported bundle, for tests that change it."""
    return Path(shutil.copytree(exported_bundle, tmp_path / "bundle"))


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small bracket bundle with DUS-Net networks and OCSVM fusion, trained once per session (about 10 s)."""
    from trainer.data import synthetic_sample
    from trainer.fit.recipe import TrainOptions, train_recipe
    from trainer.fit.save import save_recipe

    rng = np.random.default_rng(7)
    scans = [synthetic_sample("bracket", "good", rng, 5000).points for _ in range(3)]
    trained = train_recipe(scans, options=TrainOptions.quick(target_points=3000),
                           overrides={"features.groups": 96, "features.fpfh_radii_voxels": [3.0, 6.0],
                                      "reconstruction.groups": 128})
    return save_recipe(trained, "bracket", tmp_path_factory.mktemp("bundles") / "bracket")


@pytest.fixture
def tiny_bundle(tmp_path: Path) -> Path:
    """A minimal valid bundle (template, golden sample, calibration; no networks), for packaging and signing."""
    from edge.bundle import GoldenSample, write_bundle

    return write_bundle(
        tmp_path / "bundle", recipe="bracket", params={"voxel_size": 0.5},
        calibration={"threshold": 1.0, "normal_median": 0.2},
        arrays={"template": np.ones((10, 3), np.float32), "golden": np.zeros((5, 3), np.float32)},
        golden=GoldenSample(file="golden.npy", raw_score=0.1, verdict="PASS"), versions={"pcinspect": "0.1.0"},
    )
