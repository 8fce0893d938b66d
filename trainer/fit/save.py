"""Write a trained recipe as a bundle (DESIGN.md section 3) that the Inspector loads and verifies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch

import edge
from edge.bundle import GoldenSample, NetworkWeights, write_bundle
from edge.inspector import Inspector
from edge.runtime.torch_backend import TorchNetwork
from trainer.fit.recipe import TrainedRecipe

GOLDEN_MAX_POINTS = 50000


def save_recipe(trained: TrainedRecipe, recipe: str, out: str | Path) -> Path:
    """Bundle directory at ``out`` whose golden sample's expected result is what this model gives it now."""
    model = trained.model
    if model.calibration is None:
        raise ValueError("cannot save an uncalibrated recipe")
    golden = trained.golden
    if len(golden) > GOLDEN_MAX_POINTS:
        golden = golden[np.random.default_rng(0).choice(len(golden), GOLDEN_MAX_POINTS, replace=False)]
    expected = Inspector(model).inspect(golden)
    calibration: dict[str, object] = {"object": model.calibration.to_dict(), "scales": model.scales.to_dict()}
    arrays = {
        "template": model.template.cpu().numpy().astype(np.float32),
        "template_normals": model.template_normals.cpu().numpy().astype(np.float32),
        "bank": model.bank.cpu().numpy().astype(np.float32),
        "golden": golden.astype(np.float32),
    }
    if model.frame is not None:
        calibration["frame"] = {"center": [float(c) for c in model.frame.center], "scale": float(model.frame.scale)}
    if model.fusion is not None:
        description, fusion_arrays = model.fusion.to_manifest()
        calibration["fusion"] = description
        arrays.update(fusion_arrays)
    return write_bundle(
        out,
        recipe=recipe,
        params=model.params.model_dump(mode="json"),
        calibration=calibration,
        arrays=arrays,
        golden=GoldenSample(file="golden.npy", raw_score=expected.raw_score, verdict=expected.decision.value),
        versions={"pcinspect": edge.__version__, "torch": torch.__version__, "onnx": onnx.__version__, "numpy": np.__version__},
        networks={name: _weights(network) for name, network in model.networks.items()},
    )


def _weights(network: object) -> NetworkWeights:
    """What a bundle stores of a network trained here (a torch module behind the Inspector's interface)."""
    if not isinstance(network, TorchNetwork):
        raise TypeError(f"cannot save network {network!r}: only torch-trained networks can be written to a bundle")
    module = network.module
    return NetworkWeights(
        arch=network.name,
        config=dict(module.config),
        state_dict=dict(module.state_dict()),
        inputs={key: list(shape) for key, shape in network.input_shapes.items()},
    )
