"""RBF One-Class SVM decision function on the edge, from a model fitted with scikit-learn at training time.

The trainer fits ``sklearn.svm.OneClassSVM(kernel="rbf")``; the edge keeps only what its decision function needs,
with scikit-learn's meaning (``support_vectors_``, ``dual_coef_[0]``, the numeric ``gamma``, ``rho = offset_[0]``):

    decision_function(x) = sum_i dual_coef_i * exp(-gamma * ||x - sv_i||^2) - rho

Positive is inside the boundary (normal), negative outside. It is evaluated in float64 on whatever device the
input lives on (CPU or CUDA, one implementation), chunked over rows so the kernel block stays within a memory
budget however many points a scan has. The edge never imports scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_MAX_BYTES = 64 << 20


@dataclass(frozen=True)
class OcsvmModel:
    """A fitted RBF One-Class SVM: support vectors (S, D), dual coefficients (S,), kernel ``gamma`` and ``rho``."""

    support_vectors: torch.Tensor
    dual_coef: torch.Tensor
    gamma: float
    rho: float

    def __post_init__(self) -> None:
        sv = torch.as_tensor(self.support_vectors, dtype=torch.float64)
        coef = torch.as_tensor(self.dual_coef, dtype=torch.float64, device=sv.device).reshape(-1)
        if sv.ndim != 2 or sv.shape[0] == 0 or sv.shape[1] == 0:
            raise ValueError(f"support_vectors must be a non-empty (S, D) array, got shape {tuple(sv.shape)}")
        if coef.shape[0] != sv.shape[0]:
            raise ValueError(f"dual_coef has {coef.shape[0]} entries for {sv.shape[0]} support vectors")
        if not (torch.isfinite(sv).all() and torch.isfinite(coef).all()):
            raise ValueError("support_vectors and dual_coef must be finite")
        gamma, rho = float(self.gamma), float(self.rho)
        if not (math.isfinite(gamma) and gamma > 0.0):
            raise ValueError(f"gamma must be a finite positive number, got {self.gamma}")
        if not math.isfinite(rho):
            raise ValueError(f"rho must be finite, got {self.rho}")
        object.__setattr__(self, "support_vectors", sv)
        object.__setattr__(self, "dual_coef", coef)
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "rho", rho)
        total = coef.sum()
        mu = (coef.unsqueeze(1) * sv).sum(dim=0, keepdim=True) / total
        object.__setattr__(self, "_boundary", (float(self.decision_function(mu)[0]), gamma * float(total)))

    @property
    def dim(self) -> int:
        """Width D of the vectors the model scores."""
        return int(self.support_vectors.shape[1])

    @property
    def device(self) -> torch.device:
        return self.support_vectors.device

    def to(self, device: str | torch.device) -> "OcsvmModel":
        """The same model with its tensors on ``device``."""
        return OcsvmModel(self.support_vectors.to(device), self.dual_coef.to(device), self.gamma, self.rho)

    def decision_function(self, x: torch.Tensor, *, max_bytes: int = DEFAULT_MAX_BYTES) -> torch.Tensor:
        """Signed distance (N,) float64 of each row of ``x`` (N, D) to the boundary; positive = normal.

        Computed on ``x``'s device (the model's tensors follow it), ``max_bytes`` bounding each kernel block.
        """
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"decision_function expects (N, {self.dim}) vectors, got shape {tuple(x.shape)}")
        x = x.to(torch.float64)
        sv = self.support_vectors.to(x.device)
        coef = self.dual_coef.to(x.device)
        sv_sq = (sv * sv).sum(dim=1).unsqueeze(0)
        chunk = max(1, max_bytes // (8 * sv.shape[0]))
        out = []
        for start in range(0, x.shape[0], chunk):
            q = x[start : start + chunk]
            d2 = torch.addmm(sv_sq, q, sv.T, alpha=-2.0).add_((q * q).sum(dim=1, keepdim=True))
            out.append(d2.clamp_min_(0.0).mul_(-self.gamma).exp_() @ coef)
        if not out:
            return x.new_zeros(0)
        return torch.cat(out) - self.rho

    def boundary_distance(self, x: torch.Tensor, *, max_bytes: int = DEFAULT_MAX_BYTES) -> torch.Tensor:
        """Signed distance (N,) float64 of each row of ``x`` to the boundary in the input space; positive = outside.

        ``decision_function`` is a distance in the kernel's feature space: bounded, it saturates at ``-rho`` far
        from the normal data, and near it grows with the *square* of the distance, so a mean over the most
        extreme points (the object score) is dominated by single outliers. For ``gamma * d^2`` small the kernel
        is ``1 - gamma * d^2`` and ``f(x) = f(mu) - gamma * A * |x - mu|^2`` with ``A = sum(dual_coef)`` and
        ``mu`` the coefficient-weighted mean of the support vectors; the boundary ``f = 0`` is then the sphere of
        radius ``R = sqrt(f(mu) / (gamma * A))`` around ``mu``, and ``sqrt((f(mu) - f(x)) / (gamma * A)) - R`` is the
        signed distance to it. That expression is a non-increasing function of ``f`` (same ranking of points,
        same boundary; points with ``f >= f(mu)`` are all at ``-R``), exact in that limit and a close,
        distance-like approximation elsewhere.
        """
        peak, scale = self._boundary
        f = self.decision_function(x, max_bytes=max_bytes)
        return ((peak - f).clamp_min(0.0) / scale).sqrt() - math.sqrt(max(peak, 0.0) / scale)

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Plain numpy arrays (``support_vectors``, ``dual_coef``) and YAML scalars (``gamma``, ``rho``)."""
        arrays = {
            "support_vectors": self.support_vectors.cpu().numpy().copy(),
            "dual_coef": self.dual_coef.cpu().numpy().copy(),
        }
        return arrays, {"gamma": self.gamma, "rho": self.rho}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], scalars: Mapping[str, float]) -> "OcsvmModel":
        """Inverse of :meth:`to_arrays` (arrays as loaded from ``.npy`` files, scalars from YAML)."""
        try:
            sv = torch.from_numpy(np.asarray(arrays["support_vectors"], dtype=np.float64).copy())
            coef = torch.from_numpy(np.asarray(arrays["dual_coef"], dtype=np.float64).copy())
            return cls(sv, coef, float(scalars["gamma"]), float(scalars["rho"]))
        except KeyError as exc:
            raise ValueError(f"OCSVM description lacks {exc.args[0]!r}") from None
