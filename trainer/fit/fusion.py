"""Fit the fusion of per-point branch scores (Uni-3DAD section 3.4) by a quantile-ratio grid search.

Each candidate scales branch ``b`` by ``k_b = r_b * Q_q(ref) / Q_q(b)``: ``Q_q`` is the q-quantile of a branch's
normal scores (1 for a branch that is 0 on nearly all normal points) (Uni-3DAD equalises the feature branch's quantile with the reconstruction branch's and
searches q), ``ref`` the reference branch (``options.reference``, the first branch by default, ``r_ref = 1``) and
``r_b`` a ratio from ``options.ratios`` for every other branch (our extension: it lets the search down-weight an
uninformative branch). The grid is every (q, r, gamma) combination; ``meanstd`` standardises with the mean/std of
positive normal scores instead of quantiles, so its grid is the ratios alone (``k_b = r_b``). For each candidate
the fusion is fitted on the ``normal`` vectors (an RBF One-Class SVM on a seeded subsample for ``ocsvm``) and
scored on ``validation`` clouds; the selection metric is the mean of object AUROC (object score = mean of the
``object_top_k`` highest fused point scores) and pooled point AUROC. Ties (within ``tie_tolerance``) go to the
simpler candidate: ratios nearest 1, then the smaller quantile, then the smaller (smoother) gamma.

For speed the search scores each validation cloud on a seeded uniform subsample of at most
``max_validation_points`` points, with the object top-k scaled by the sampling fraction; the chosen model's
metrics are then recomputed on every validation point (:attr:`FusionFit.object_auroc`, ``point_auroc``).

Deviations from the authors' code (docs/fusion.md): exact RBF ``OneClassSVM`` (nu 0.1) instead of a linear
``SGDOneClassSVM`` (nu 0.5); up to 4 branches with searched ratios instead of one quantile-matched pair; quantiles
over positive scores with linear interpolation instead of non-background points with "nearest"; selection on
object + point AUROC instead of AU-PRO, ties to the simpler candidate instead of the last; the one-sided floor.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.svm import OneClassSVM

from edge.scoring.fusion import BRANCHES, METHODS, FusionModel
from edge.scoring.ocsvm import OcsvmModel

ValidationCloud = tuple[torch.Tensor, torch.Tensor, bool]


@dataclass(frozen=True)
class FusionOptions:
    """Grid and fitting options of :func:`fit_fusion` (defaults: docs/fusion.md)."""

    quantiles: tuple[float, ...] = (0.9, 0.99)
    ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    reference: str | None = None
    nu: float = 0.1
    gamma: Literal["scale"] | tuple[float, ...] = "scale"
    gamma_factors: tuple[float, ...] = (0.001, 0.01)
    """With ``gamma="scale"``: the grid of multiples of scikit-learn's "scale" gamma. Small multiples keep the RBF
    decision function from saturating over the range of defect scores (far outside the normal data every point
    scores ``rho``, which would make a large defect look like a slightly unusual normal point)."""
    max_fit_samples: int = 2000
    max_validation_points: int = 3000
    object_top_k: int = 10
    one_sided: bool = True
    tie_tolerance: float = 0.002
    prune_branches: bool = True
    """The recipe's own fusion (method ``auto``) leaves out each branch whose absence strictly raises the validation
    merit (backward elimination, ``trainer.fit.recipe.backward_elimination``)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.quantiles or not all(0.0 < q <= 1.0 for q in self.quantiles):
            raise ValueError(f"quantiles must lie in (0, 1], got {self.quantiles}")
        if not self.ratios or not all(r > 0.0 and math.isfinite(r) for r in self.ratios):
            raise ValueError(f"ratios must be finite and positive, got {self.ratios}")
        if not 0.0 < self.nu <= 1.0:
            raise ValueError(f"nu must lie in (0, 1], got {self.nu}")
        if self.gamma != "scale" and (
            isinstance(self.gamma, str) or not self.gamma or not all(g > 0.0 and math.isfinite(g) for g in self.gamma)
        ):
            raise ValueError(f"gamma must be 'scale' or a non-empty grid of positive values, got {self.gamma!r}")
        if not self.gamma_factors or not all(f > 0.0 and math.isfinite(f) for f in self.gamma_factors):
            raise ValueError(f"gamma_factors must be finite and positive, got {self.gamma_factors}")
        if min(self.max_fit_samples, self.max_validation_points, self.object_top_k) < 1:
            raise ValueError("max_fit_samples, max_validation_points and object_top_k must be positive")


@dataclass(frozen=True)
class FusionCandidate:
    """One grid point and its validation metrics (on the search's validation subsample)."""

    quantile: float | None
    ratios: tuple[float, ...]
    gamma_grid: float | None
    gamma: float | None
    coefficients: tuple[float, ...]
    object_auroc: float
    point_auroc: float
    score: float

    def as_dict(self) -> dict[str, Any]:
        """Plain values for reports (lists, floats, None)."""
        row = asdict(self)
        row["ratios"], row["coefficients"] = list(self.ratios), list(self.coefficients)
        return row


@dataclass(frozen=True)
class FusionFit:
    """The chosen fusion, the whole grid-search table, and the chosen model's metrics on all validation points."""

    model: FusionModel
    best: FusionCandidate
    table: tuple[FusionCandidate, ...]
    object_auroc: float
    point_auroc: float
    seconds: float


@dataclass(frozen=True)
class _Validation:
    """Validation clouds stacked for one scoring call: vectors, point labels, cloud ends, object labels, top-k."""

    vectors: torch.Tensor
    labels: np.ndarray
    ends: np.ndarray
    objects: np.ndarray
    top_k: np.ndarray


def fit_fusion(
    normal: Sequence[torch.Tensor],
    validation: Sequence[ValidationCloud],
    branches: Sequence[str],
    method: str = "ocsvm",
    options: FusionOptions | None = None,
) -> FusionFit:
    """Grid-search the fusion coefficients (and OCSVM gamma) on validation data; see the module docstring.

    ``normal``: per-point branch vectors (P_i, B) of held-back normal scans, columns in ``branches`` order.
    ``validation``: (vectors (P, B), point labels (P,) bool, object label) of held-back normal scans (label False,
    no anomalous point) and synthetic-defect scans.
    """
    started = time.perf_counter()
    options = options or FusionOptions()
    branches = tuple(branches)
    if method not in METHODS:
        raise ValueError(f"unknown fusion method {method!r}; expected one of {METHODS}")
    if not branches or any(b not in BRANCHES for b in branches) or len(set(branches)) != len(branches):
        raise ValueError(f"branches must be distinct names among {BRANCHES}, got {branches}")
    reference = options.reference or branches[0]
    if reference not in branches:
        raise ValueError(f"reference branch {reference!r} is not among {branches}")
    ref = branches.index(reference)
    width = len(branches)
    normal_np = _stack_normal(normal, width)
    clouds = _check_validation(validation, width)
    rng = np.random.default_rng(options.seed)
    fit_rows = normal_np
    if normal_np.shape[0] > options.max_fit_samples:
        fit_rows = normal_np[np.sort(rng.choice(normal_np.shape[0], options.max_fit_samples, replace=False))]
    search_set = _stack_validation(clouds, options.object_top_k, options.max_validation_points, rng)
    if not search_set.labels.any():
        search_set = _stack_validation(clouds, options.object_top_k, None, rng)
    validation_np = np.concatenate([c[0] for c in clouds])
    medians = np.median(normal_np, axis=0)
    mean, std = np.array([_positive_stats(normal_np[:, b], validation_np[:, b]) for b in range(width)]).T

    quantiles: Sequence[float | None] = (None,) if method == "meanstd" else options.quantiles
    gammas: Sequence[tuple[float | None, float]] = ((None, 1.0),)
    if method == "ocsvm":
        if options.gamma == "scale":
            gammas = tuple((None, f) for f in options.gamma_factors)
        else:
            gammas = tuple((g, 1.0) for g in options.gamma)
    table: list[FusionCandidate] = []
    models: list[FusionModel] = []
    for q in quantiles:
        scales = None if q is None else [_branch_scale(normal_np[:, b], validation_np[:, b], q) for b in range(width)]
        for combo in itertools.product(options.ratios, repeat=width - 1):
            ratios = combo[:ref] + (1.0,) + combo[ref:]
            if scales is None:
                coefficients = ratios
            else:
                coefficients = tuple(r * scales[ref] / scales[b] for b, r in enumerate(ratios))
            for gamma_grid, factor in gammas:
                model, gamma = _build(method, branches, coefficients, gamma_grid, factor, fit_rows, medians, mean, std,
                                      options)
                obj, pt = _metrics(model, search_set)
                score = pt if math.isnan(obj) else 0.5 * (obj + pt)
                table.append(FusionCandidate(q, ratios, gamma_grid, gamma, coefficients, obj, pt, score))
                models.append(model)

    top = max(c.score for c in table)
    tied = [i for i, c in enumerate(table) if c.score >= top - options.tie_tolerance]
    chosen = min(tied, key=lambda i: (_complexity(table[i]), i))
    full = _stack_validation(clouds, options.object_top_k, None, rng)
    obj, pt = _metrics(models[chosen], full)
    return FusionFit(models[chosen], table[chosen], tuple(table), obj, pt, time.perf_counter() - started)


def refit_ocsvm(model: FusionModel, normal: Sequence[torch.Tensor], options: FusionOptions | None = None) -> FusionModel:
    """``model`` (an ``ocsvm`` fusion) fitted again on other ``normal`` vectors with its coefficients, gamma and
    floor kept: the model a cross-fitted calibration scores held-back scans with (see ``trainer.fit.recipe``)."""
    if model.method != "ocsvm" or model.ocsvm is None:
        raise ValueError(f"refit_ocsvm needs an 'ocsvm' fusion, got {model.method!r}")
    options = options or FusionOptions()
    rows = _stack_normal(normal, len(model.branches))
    if rows.shape[0] > options.max_fit_samples:
        rng = np.random.default_rng(options.seed)
        rows = rows[np.sort(rng.choice(rows.shape[0], options.max_fit_samples, replace=False))]
    x = rows * np.asarray(model.coefficients)
    if model.floor is not None:
        x = np.maximum(x, np.asarray(model.floor))
    gamma = float(model.ocsvm.gamma)
    estimator = OneClassSVM(kernel="rbf", nu=options.nu, gamma=gamma).fit(x)
    return FusionModel("ocsvm", model.branches, model.coefficients, ocsvm=ocsvm_from_sklearn(estimator, gamma),
                       floor=model.floor)


def ocsvm_from_sklearn(estimator: OneClassSVM, gamma: float) -> OcsvmModel:
    """The edge model of a fitted RBF ``OneClassSVM`` (``gamma``: the numeric value it was fitted with)."""
    return OcsvmModel(
        torch.from_numpy(np.asarray(estimator.support_vectors_, dtype=np.float64)),
        torch.from_numpy(np.asarray(estimator.dual_coef_[0], dtype=np.float64)),
        gamma,
        float(estimator.offset_[0]),
    )


def _build(
    method: str,
    branches: tuple[str, ...],
    coefficients: tuple[float, ...],
    gamma_grid: float | None,
    gamma_factor: float,
    fit_rows: np.ndarray,
    medians: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    options: FusionOptions,
) -> tuple[FusionModel, float | None]:
    """One candidate's fitted model (and the numeric OCSVM gamma it used)."""
    if method == "sum":
        return FusionModel("sum", branches, coefficients), None
    if method == "meanstd":
        return FusionModel("meanstd", branches, coefficients, mean=tuple(mean), std=tuple(std)), None
    k = np.asarray(coefficients)
    x = fit_rows * k
    floor = None
    if options.one_sided:
        floor = medians * k
        x = np.maximum(x, floor)
    gamma = gamma_grid
    if gamma is None:
        variance = float(x.var())
        gamma = gamma_factor * (1.0 / (x.shape[1] * variance) if variance > 0.0 else 1.0)
    estimator = OneClassSVM(kernel="rbf", nu=options.nu, gamma=gamma).fit(x)
    model = FusionModel(
        "ocsvm", branches, coefficients, ocsvm=ocsvm_from_sklearn(estimator, gamma),
        floor=None if floor is None else tuple(floor),
    )
    return model, gamma


def _metrics(model: FusionModel, data: _Validation) -> tuple[float, float]:
    """(object AUROC or NaN when the objects are all of one class, pooled point AUROC)."""
    scores = model.score(data.vectors).cpu().numpy()
    point = float(roc_auc_score(data.labels, scores))
    if data.objects.all() or not data.objects.any():
        return float("nan"), point
    starts = np.concatenate([[0], data.ends[:-1]])
    objects = [np.sort(scores[s:e])[-k:].mean() for s, e, k in zip(starts, data.ends, data.top_k)]
    return float(roc_auc_score(data.objects, objects)), point


def _complexity(c: FusionCandidate) -> tuple[float, float, float]:
    """Tie-break key: ratios nearest 1, then smaller quantile, then smaller (smoother) gamma."""
    spread = round(sum(abs(math.log(r)) for r in c.ratios), 12)
    return spread, c.quantile if c.quantile is not None else 0.0, c.gamma if c.gamma is not None else 0.0


def _branch_scale(normal: np.ndarray, validation: np.ndarray, q: float) -> float:
    """q-quantile of a branch's normal scores; 1 when it is 0 (a sparse branch such as ``missing``, zero on
    almost every normal point: the Inspector already divided each branch by a high quantile of its normal
    scores, so 1 is that branch's normal range). The quantile of only the *positive* scores would be the size
    of the rare false alarms and shrink a sparse branch to nothing."""
    scale = float(np.quantile(normal, q)) if normal.size else 0.0
    return scale if scale > 0.0 else 1.0


def _positive_stats(normal: np.ndarray, validation: np.ndarray) -> tuple[float, float]:
    """Mean and std of a branch's positive normal scores (Shape-Guided's non-zero statistics); of its positive
    validation scores when no normal score is positive; std falls back to the mean when the scores are constant,
    and (0, 1) when no score is positive at all."""
    for values in (normal, validation):
        positive = values[values > 0.0]
        if positive.size:
            mean, std = float(positive.mean()), float(positive.std())
            return mean, std if std > 1e-12 * mean else mean
    return 0.0, 1.0


def _stack_normal(normal: Sequence[torch.Tensor], width: int) -> np.ndarray:
    arrays = [torch.as_tensor(v).detach().cpu().to(torch.float64).numpy() for v in normal]
    for i, a in enumerate(arrays):
        if a.ndim != 2 or a.shape[1] != width:
            raise ValueError(f"normal[{i}] must be (P, {width}) branch vectors, got shape {a.shape}")
    stacked = np.concatenate(arrays) if arrays else np.zeros((0, width))
    if stacked.shape[0] < 2:
        raise ValueError("fit_fusion needs at least 2 normal vectors")
    if not np.isfinite(stacked).all():
        raise ValueError("normal vectors must be finite")
    return stacked


def _check_validation(validation: Sequence[ValidationCloud], width: int) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    clouds = []
    for i, (vectors, labels, anomalous) in enumerate(validation):
        v = torch.as_tensor(vectors).detach().cpu().to(torch.float64).numpy()
        lab = torch.as_tensor(labels).detach().cpu().numpy().astype(bool).reshape(-1)
        if v.ndim != 2 or v.shape[1] != width or v.shape[0] == 0 or lab.shape[0] != v.shape[0]:
            raise ValueError(
                f"validation[{i}] must be non-empty (P, {width}) vectors with P point labels, got {v.shape} and "
                f"{lab.shape[0]} labels"
            )
        if not np.isfinite(v).all():
            raise ValueError(f"validation[{i}] vectors must be finite")
        if not anomalous and lab.any():
            raise ValueError(f"validation[{i}] is labelled normal but has {int(lab.sum())} anomalous points")
        clouds.append((v, lab, bool(anomalous)))
    labels = np.concatenate([c[1] for c in clouds]) if clouds else np.zeros(0, dtype=bool)
    if not labels.any() or labels.all():
        raise ValueError("validation needs both anomalous and normal points (synthetic defects and normal scans)")
    return clouds


def _stack_validation(
    clouds: Sequence[tuple[np.ndarray, np.ndarray, bool]], top_k: int, max_points: int | None, rng: np.random.Generator
) -> _Validation:
    """Clouds subsampled uniformly (seeded) to at most ``max_points`` each; top-k scaled by the kept fraction."""
    vectors, labels, ends, ks = [], [], [], []
    total = 0
    for v, lab, _ in clouds:
        n = v.shape[0]
        if max_points is not None and n > max_points:
            keep = np.sort(rng.choice(n, max_points, replace=False))
            v, lab = v[keep], lab[keep]
            ks.append(max(1, round(top_k * max_points / n)))
        else:
            ks.append(min(top_k, n))
        vectors.append(v)
        labels.append(lab)
        total += v.shape[0]
        ends.append(total)
    return _Validation(
        vectors=torch.from_numpy(np.concatenate(vectors)),
        labels=np.concatenate(labels),
        ends=np.asarray(ends),
        objects=np.asarray([c[2] for c in clouds]),
        top_k=np.asarray(ks),
    )
