"""Small bundles carrying the three real network architectures, with weights perturbed away from their
initialisation (the Down-Net's head starts at zero, which would make every backend agree trivially)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edge.bundle import GoldenSample, NetworkWeights, write_bundle
from edge.models import build_network

GROUPS = 16
GROUP_SIZE = 8

NETWORKS: dict[str, tuple[str, dict, dict[str, list[int]]]] = {
    "down_net": ("down_net", {"group_size": GROUP_SIZE, "embed_dim": 32, "depth": 1, "num_heads": 2, "encoder_hidden": 16},
                 {"patches": [GROUPS, GROUP_SIZE, 3], "centers": [GROUPS, 3]}),
    "up_net": ("up_net", {"gamma": 4, "width": 32, "neighbors": 4}, {"centers": [GROUPS, 3]}),
    "group_encoder": ("group_encoder", {"group_size": GROUP_SIZE, "out_dim": 16, "hidden": 16, "patch_scale": 0.2},
                      {"patches": [GROUPS, GROUP_SIZE, 3]}),
}


def golden_cloud(n: int = 2000, seed: int = 0) -> np.ndarray:
    """A bumpy closed surface about 50 mm across, in millimetres (a stand-in part scan)."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    radius = 25.0 * (1.0 + 0.1 * np.sin(3 * direction[:, 0]) * np.cos(2 * direction[:, 1]))
    return (direction * radius[:, None] + np.array([100.0, -40.0, 12.0])).astype(np.float32)


def network_weights(names: tuple[str, ...] = tuple(NETWORKS), seed: int = 0) -> dict[str, NetworkWeights]:
    """The chosen networks, built through the registry, with every parameter perturbed (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    weights = {}
    for name in names:
        arch, config, inputs = NETWORKS[name]
        module = build_network(arch, config)
        with torch.no_grad():
            for parameter in module.parameters():
                parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
        weights[name] = NetworkWeights(arch, config, module.state_dict(), inputs)
    return weights


def make_bundle(root: Path, names: tuple[str, ...] = tuple(NETWORKS)) -> Path:
    """A bundle directory with the chosen networks (no ONNX exports yet) and a golden cloud."""
    return write_bundle(
        root,
        recipe="sphere",
        params={"voxel_size": 0.5},
        calibration={"threshold": 1.0},
        arrays={"golden": golden_cloud()},
        golden=GoldenSample(file="golden.npy", raw_score=0.1, verdict="PASS"),
        versions={"pcinspect": "test"},
        networks=network_weights(names),
    )


_EXPORTED: dict[str, Path] = {}


def exported_bundle_once(tmp_root: Path) -> Path:
    """One bundle with every network exported (fp32 + fp16) and parity-checked, made once per test session
    (the export takes seconds); tests that change it work on a copy."""
    if "bundle" not in _EXPORTED:
        from exporters.onnx_export import add_onnx_models

        root = make_bundle(tmp_root / "exported")
        add_onnx_models(root)
        _EXPORTED["bundle"] = root
    return _EXPORTED["bundle"]
