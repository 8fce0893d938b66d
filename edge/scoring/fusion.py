"""Fusion of per-point branch scores into one anomaly score per point (DESIGN.md section 1 step 8).

A point's scores form a vector ``x`` over ``branches`` (any subset of :data:`BRANCHES`, in a fixed order); each
branch ``b`` has a positive coefficient ``k_b`` chosen by the quantile-ratio search in :mod:`trainer.fit.fusion`:

- ``ocsvm`` (Uni-3DAD section 3.4): the signed distance to the boundary of an RBF One-Class SVM fitted on
  normal vectors, evaluated at ``max(k * x, floor)``: :meth:`OcsvmModel.boundary_distance`, a decreasing
  function of ``decision_function`` (the same point ranking and boundary) in the input space's units, so the
  object score's mean over the most extreme points neither saturates nor squares (docs/fusion.md). ``floor`` (per branch, the normal median of
  ``k_b * x_b``, or absent) makes the fusion one-sided: a branch score *below* the normal range is treated as
  typical instead of pushing the point outside the boundary (deviation from the paper, see docs/fusion.md).
- ``meanstd`` (Shape-Guided ablation): ``max_b k_b * (x_b - mean_b) / std_b`` with each branch's mean and standard
  deviation over its positive normal scores. Shape-Guided maps the RGB score's normal ``mean +- 3 std`` onto the
  SDF score's and takes the pixel-wise maximum; that equals ``max_b (x_b - mean_b) / std_b`` up to one positive
  factor and offset (so the same ranking and AUROC), except for its clip of the mapped score at 0.
- ``sum``: ``sum_b k_b * x_b`` (the plain weighted sum, as a baseline).

Higher = more anomalous for every method. Scores are float64 on the input's device.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

import numpy as np
import torch

from edge.scoring.ocsvm import OcsvmModel

BRANCHES = ("feature", "deviation", "reconstruction", "missing")
FusionMethod = Literal["ocsvm", "meanstd", "sum"]
METHODS: tuple[str, ...] = get_args(FusionMethod)
SUPPORT_VECTORS = "fusion_support_vectors"
DUAL_COEF = "fusion_dual_coef"


@dataclass(frozen=True)
class FusionModel:
    """A fitted fusion: method, branch order, per-branch coefficients and the method's normal statistics."""

    method: FusionMethod
    branches: tuple[str, ...]
    coefficients: tuple[float, ...]
    ocsvm: OcsvmModel | None = None
    floor: tuple[float, ...] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        branches = tuple(str(b) for b in self.branches)
        object.__setattr__(self, "branches", branches)
        if self.method not in METHODS:
            raise ValueError(f"unknown fusion method {self.method!r}; expected one of {METHODS}")
        unknown = [b for b in branches if b not in BRANCHES]
        if not branches or unknown or len(set(branches)) != len(branches):
            raise ValueError(f"branches must be distinct names among {BRANCHES}, got {branches}")
        if self.coefficients is None:
            raise ValueError("coefficients are required, one per branch")
        for name in ("coefficients", "floor", "mean", "std"):
            value = getattr(self, name)
            if value is None:
                continue
            value = tuple(float(v) for v in value)
            if len(value) != len(branches) or not all(math.isfinite(v) for v in value):
                raise ValueError(f"{name} needs one finite value per branch {branches}, got {value}")
            object.__setattr__(self, name, value)
        if any(k <= 0.0 for k in self.coefficients):
            raise ValueError(f"coefficients must be positive, got {self.coefficients}")
        if self.method != "ocsvm" and (self.ocsvm is not None or self.floor is not None):
            raise ValueError(f"ocsvm and floor apply to method 'ocsvm' only, not {self.method!r}")
        if self.method == "ocsvm":
            if self.ocsvm is None:
                raise ValueError("method 'ocsvm' needs a fitted OcsvmModel")
            if self.ocsvm.dim != len(branches):
                raise ValueError(f"the OCSVM scores {self.ocsvm.dim}-wide vectors, branches are {branches}")
        if self.method == "meanstd":
            if self.mean is None or self.std is None:
                raise ValueError("method 'meanstd' needs the normal mean and std of every branch")
            if any(s <= 0.0 for s in self.std):
                raise ValueError(f"std must be positive, got {self.std}")

    def to(self, device: str | torch.device) -> "FusionModel":
        """The same fusion with its OCSVM (if any) on ``device``."""
        return replace(self, ocsvm=self.ocsvm.to(device)) if self.ocsvm is not None else self

    def score(self, vectors: torch.Tensor) -> torch.Tensor:
        """Fused anomaly score (P,) float64 of branch-score vectors (P, B) in ``branches`` order; higher = worse."""
        if vectors.ndim != 2 or vectors.shape[1] != len(self.branches):
            raise ValueError(
                f"fusion expects (P, {len(self.branches)}) vectors with columns {self.branches}, "
                f"got shape {tuple(vectors.shape)}"
            )
        x = vectors.to(torch.float64)
        k = self._row(self.coefficients, x)
        if self.method == "sum":
            return (x * k).sum(dim=1)
        if self.method == "meanstd":
            return ((x - self._row(self.mean, x)) / self._row(self.std, x) * k).amax(dim=1)
        scaled = x * k
        if self.floor is not None:
            scaled = torch.maximum(scaled, self._row(self.floor, x))
        return self.ocsvm.boundary_distance(scaled)

    @staticmethod
    def _row(values: tuple[float, ...] | None, like: torch.Tensor) -> torch.Tensor:
        return _device_row(tuple(values), like.device)

    def to_manifest(self, prefix: str = "") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """YAML-ready description (scalars and lists) and the arrays it names (to store as ``<name>.npy``; their
        names start with ``prefix`` so that two fusions can share a bundle)."""
        manifest: dict[str, Any] = {
            "method": self.method,
            "branches": list(self.branches),
            "coefficients": list(self.coefficients),
        }
        for name in ("floor", "mean", "std"):
            value = getattr(self, name)
            if value is not None:
                manifest[name] = list(value)
        arrays: dict[str, np.ndarray] = {}
        if self.ocsvm is not None:
            ocsvm_arrays, scalars = self.ocsvm.to_arrays()
            vectors, coef = prefix + SUPPORT_VECTORS, prefix + DUAL_COEF
            manifest["ocsvm"] = {**scalars, "support_vectors": vectors, "dual_coef": coef}
            arrays = {vectors: ocsvm_arrays["support_vectors"], coef: ocsvm_arrays["dual_coef"]}
        return manifest, arrays

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> "FusionModel":
        """Inverse of :meth:`to_manifest`; a missing key or array raises ValueError naming it."""
        try:
            ocsvm = None
            if manifest.get("ocsvm") is not None:
                desc = manifest["ocsvm"]
                ocsvm = OcsvmModel.from_arrays(
                    {"support_vectors": arrays[desc["support_vectors"]], "dual_coef": arrays[desc["dual_coef"]]},
                    desc,
                )
            return cls(
                method=manifest["method"],
                branches=tuple(manifest["branches"]),
                coefficients=tuple(manifest["coefficients"]),
                ocsvm=ocsvm,
                floor=_optional(manifest.get("floor")),
                mean=_optional(manifest.get("mean")),
                std=_optional(manifest.get("std")),
            )
        except KeyError as exc:
            raise ValueError(f"fusion description lacks {exc.args[0]!r}") from None


def _optional(values: Any) -> tuple[float, ...] | None:
    return None if values is None else tuple(float(v) for v in values)


@functools.lru_cache(maxsize=64)
def _device_row(values: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """``values`` as a float64 tensor on ``device``, made once: a copy from pageable host memory synchronises the
    host with a GPU, which a per-frame call must not do. Callers only read it."""
    return torch.tensor(values, dtype=torch.float64, device=device)
