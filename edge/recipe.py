"""A recipe in memory and on disk: what training learned (:class:`RecipeModel`), written to a bundle and read back
from one, side by side so the two cannot drift apart (DESIGN.md section 3; issue 11, item 5).

:func:`save_model` writes the model, its golden sample with the verdict and raw score the model gives it now, and
the training provenance (what data, which held-back normal scores, which fusion) into ``bundle.yaml``;
:func:`model_from_bundle` turns a verified bundle back into the same model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

import edge
from edge.bundle import Bundle, BundleError, GoldenSample, NetworkWeights, write_bundle
from edge.params import InspectorParams
from edge.runtime.torch_backend import TorchNetwork
from edge.scoring.calibration import Calibration
from edge.scoring.fusion import FusionModel
from edge.scoring.reconstruction import ShapeFrame

GOLDEN_MAX_POINTS = 50000


@dataclass(frozen=True)
class BranchScales:
    """Raw score of each branch that a normal part reaches at most (a high quantile): the fusion divides by it."""

    feature: float = 1.0
    deviation: float = 1.0
    missing: float = 1.0
    reconstruction: float = 1.0
    recon_missing: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return {
            "feature": self.feature,
            "deviation": self.deviation,
            "missing": self.missing,
            "reconstruction": self.reconstruction,
            "recon_missing": self.recon_missing,
        }


@dataclass
class ViewRegime:
    """How a single view (a scan covering less than ``deviation.full_coverage`` of the template) is scored: its own
    branch scales, fusion and calibration, learned from single views of the held-back training scans.

    A line scanner's one-sided view has borders, unseen regions and a different noise than a full scan; scored
    with the full-scan scales and fusion its normal border outweighs a real defect, and calibrated with full
    scans every good view fails (issue 11). Full scans keep their own, tighter model.
    """

    scales: BranchScales
    calibration: Calibration
    fusion: FusionModel | None = None

    def to(self, device: torch.device) -> "ViewRegime":
        return replace(self, fusion=self.fusion.to(device) if self.fusion is not None else None)

    def to_manifest(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The ``calibration.view`` entry of ``bundle.yaml`` and the arrays it names (``view_*.npy``)."""
        entry: dict[str, Any] = {"object": self.calibration.to_dict(), "scales": self.scales.to_dict()}
        arrays: dict[str, np.ndarray] = {}
        if self.fusion is not None:
            entry["fusion"], arrays = self.fusion.to_manifest(prefix="view_")
        return entry, arrays

    @classmethod
    def from_manifest(cls, entry: dict[str, Any], arrays: Any) -> "ViewRegime":
        fusion = FusionModel.from_manifest(entry["fusion"], arrays) if entry.get("fusion") else None
        return cls(BranchScales(**entry["scales"]), Calibration(**entry["object"]), fusion)


Network = Callable[..., torch.Tensor]
"""A loaded network: batched tensors in (in its spec's input order), one tensor out (see :mod:`edge.runtime`)."""


@dataclass
class RecipeModel:
    """Everything a recipe has learned, in memory: what a bundle stores besides the golden sample.

    ``networks`` are the learned networks by name (``down_net``, ``up_net``, ``group_encoder``), already on the
    device they run on (each backend places its own); ``frame`` is the unit-sphere frame the DUS-Net works in;
    ``view`` scores single views (None: a recipe trained without them scores views like full scans).
    """

    params: InspectorParams
    template: torch.Tensor
    template_normals: torch.Tensor
    bank: torch.Tensor
    scales: BranchScales
    calibration: Calibration | None
    frame: ShapeFrame | None = None
    networks: dict[str, Network] = field(default_factory=dict)
    fusion: FusionModel | None = None
    view: ViewRegime | None = None

    def to(self, device: torch.device) -> "RecipeModel":
        return replace(
            self,
            template=self.template.to(device),
            template_normals=self.template_normals.to(device),
            bank=self.bank.to(device),
            fusion=self.fusion.to(device) if self.fusion is not None else None,
            view=self.view.to(device) if self.view is not None else None,
        )


def save_model(
    model: RecipeModel, golden: np.ndarray, recipe: str, out: str | Path, provenance: dict[str, Any] | None = None
) -> Path:
    """Bundle directory at ``out`` whose golden sample's expected result is what ``model`` gives it now.

    ``provenance`` (training data, held-back normal scores, fusion choice) is stored in ``bundle.yaml`` as is.
    """
    from edge.inspector import Inspector  # the Inspector loads recipes through this module

    if model.calibration is None:
        raise ValueError("cannot save an uncalibrated recipe")
    if len(golden) > GOLDEN_MAX_POINTS:
        golden = golden[np.random.default_rng(0).choice(len(golden), GOLDEN_MAX_POINTS, replace=False)]
    expected = Inspector(model).inspect(golden)
    calibration: dict[str, object] = {"object": model.calibration.to_dict(), "scales": model.scales.to_dict()}
    arrays = {
        "template": model.template.cpu().numpy().astype(np.float32),
        "template_normals": model.template_normals.cpu().numpy().astype(np.float32),
        "bank": model.bank.cpu().numpy().astype(np.float32),
        "golden": np.asarray(golden, dtype=np.float32),
    }
    if model.frame is not None:
        calibration["frame"] = {"center": [float(c) for c in model.frame.center], "scale": float(model.frame.scale)}
    if model.fusion is not None:
        description, fusion_arrays = model.fusion.to_manifest()
        calibration["fusion"] = description
        arrays.update(fusion_arrays)
    if model.view is not None:
        calibration["view"], view_arrays = model.view.to_manifest()
        arrays.update(view_arrays)
    return write_bundle(
        out,
        recipe=recipe,
        params=model.params.model_dump(mode="json"),
        calibration=calibration,
        arrays=arrays,
        golden=GoldenSample(file="golden.npy", raw_score=expected.raw_score, verdict=expected.decision.value),
        versions={"pcinspect": edge.__version__, "torch": torch.__version__, "onnx": _version("onnx"),
                  "numpy": np.__version__},
        networks={name: _weights(network) for name, network in model.networks.items()},
        provenance=provenance or {},
    )


def model_from_bundle(bundle: Bundle, networks: dict[str, Network] | None = None) -> RecipeModel:
    """The in-memory recipe of a verified bundle, with its ``networks`` as loaded by :mod:`edge.runtime`."""
    m = bundle.manifest
    try:
        params = InspectorParams.model_validate(m.params)
        calibration = Calibration(**m.calibration["object"])
        scales = BranchScales(**m.calibration["scales"])
        arrays = {name: torch.from_numpy(np.asarray(bundle.arrays[name], dtype=np.float32)) for name in ("template", "template_normals", "bank")}
        frame = ShapeFrame(**m.calibration["frame"]) if m.calibration.get("frame") else None
        fusion = FusionModel.from_manifest(m.calibration["fusion"], bundle.arrays) if m.calibration.get("fusion") else None
        view = ViewRegime.from_manifest(m.calibration["view"], bundle.arrays) if m.calibration.get("view") else None
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{bundle.root}: bundle.yaml does not describe a usable recipe: {exc}") from None
    return RecipeModel(
        params, arrays["template"], arrays["template_normals"], arrays["bank"], scales, calibration,
        frame=frame, networks=dict(networks or {}), fusion=fusion, view=view,
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


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"
