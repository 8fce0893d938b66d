"""Per-class 3D anomaly-detection metrics as reported by Real3D-AD and Anomaly-ShapeNet.

Object level (O-AUROC, O-AUPR): one score per object (its max point score unless given) against object labels.
Point level (P-AUROC, P-AUPR): every point of every object of a class pooled together.
AU-PRO: the per-region overlap curve over the false-positive rate of normal points, integrated up to
``fpr_limit`` and normalised so that a perfect detector scores 1. Regions are the connected components of the
anomalous points on each cloud's kNN graph.

AU-PRO is computed in O(N log N) without a per-threshold loop: each anomalous point carries the weight
``1 / (n_regions * |its region|)`` and each normal point ``1 / n_normal``; sorting all points by descending score and
taking cumulative sums of both weights gives PRO and FPR at every point, read off at the last point of each run
of tied scores (the thresholds are the distinct scores, a point counts as detected when its score >= threshold).

A metric that is undefined for the data (a single label value, no anomalous region, no normal point) is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = [
    "ClassMetrics",
    "au_pro",
    "aupr",
    "auroc",
    "evaluate_class",
    "knn_regions",
    "mean_metrics",
    "mean_rank",
    "metric_table",
    "object_scores_from_points",
    "pro_curve",
    "summarize",
]

METRIC_NAMES: tuple[str, ...] = ("o_auroc", "p_auroc", "o_aupr", "p_aupr", "au_pro")
MEAN_KEY = "mean"


@dataclass(frozen=True)
class ClassMetrics:
    """The five per-class metrics; NaN marks a metric the class's data leaves undefined."""

    o_auroc: float
    p_auroc: float
    o_aupr: float
    p_aupr: float
    au_pro: float

    def as_dict(self) -> dict[str, float]:
        """The metrics by name, in the order o_auroc, p_auroc, o_aupr, p_aupr, au_pro."""
        return asdict(self)


def _binary_inputs(labels: ArrayLike, scores: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Flatten labels (> 0 means anomalous) and scores, checking they pair up and the scores are finite."""
    y = np.asarray(labels).reshape(-1) > 0
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.size} vs {s.size}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    return y, s


def auroc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve (scikit-learn); NaN when the labels hold a single value."""
    y, s = _binary_inputs(labels, scores)
    if y.all() or not y.any():
        return math.nan
    return float(roc_auc_score(y, s))


def aupr(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the precision-recall curve as average precision (scikit-learn); NaN for a single label value."""
    y, s = _binary_inputs(labels, scores)
    if y.all() or not y.any():
        return math.nan
    return float(average_precision_score(y, s))


def object_scores_from_points(point_scores_list: Sequence[ArrayLike]) -> NDArray[np.float64]:
    """Each object's score: the maximum of its point scores."""
    out = np.empty(len(point_scores_list), dtype=np.float64)
    for i, scores in enumerate(point_scores_list):
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        if s.size == 0:
            raise ValueError(f"object {i} has no point scores")
        out[i] = s.max()
    return out


def knn_regions(points: ArrayLike, anomalous: ArrayLike, k: int = 8) -> tuple[int, NDArray[np.int64]]:
    """Split a cloud's anomalous points into regions: connected components of its kNN graph.

    The graph joins every point to its ``k`` nearest other points of the whole cloud (scipy cKDTree);
    only edges whose two ends are anomalous count, taken as undirected. Returns the number of regions and,
    per point, its region index (``-1`` for normal points).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    pts = np.asarray(points, dtype=np.float64)
    mask = np.asarray(anomalous).reshape(-1).astype(bool)
    if pts.ndim != 2 or pts.shape[0] != mask.size:
        raise ValueError(f"points must be (N, D) with N = {mask.size} labels, got shape {pts.shape}")
    region = np.full(mask.size, -1, dtype=np.int64)
    anom_idx = np.flatnonzero(mask)
    if anom_idx.size == 0:
        return 0, region
    k_eff = min(k, pts.shape[0] - 1)
    if k_eff == 0:
        region[anom_idx] = 0
        return 1, region
    _, nbrs = cKDTree(pts).query(pts[anom_idx], k=k_eff + 1)
    # Position of each cloud point among the anomalous points (-1 for normal ones).
    local = np.full(mask.size, -1, dtype=np.int64)
    local[anom_idx] = np.arange(anom_idx.size)
    dst = local[nbrs[:, 1:]]
    src = np.broadcast_to(np.arange(anom_idx.size)[:, None], dst.shape)
    keep = dst >= 0
    graph = coo_matrix(
        (np.ones(int(keep.sum()), dtype=np.int8), (src[keep], dst[keep])),
        shape=(anom_idx.size, anom_idx.size),
    )
    n_regions, comp = connected_components(graph, directed=True, connection="weak")
    region[anom_idx] = comp
    return int(n_regions), region


def pro_curve(
    points_list: Sequence[ArrayLike],
    point_scores_list: Sequence[ArrayLike],
    point_labels_list: Sequence[ArrayLike],
    *,
    k: int = 8,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The (FPR, PRO) curve over all distinct score thresholds, from (0, 0) up to (1, 1).

    PRO at a threshold is the mean, over all regions of all clouds, of the fraction of the region's points
    scoring at or above it; FPR is the fraction of normal points doing so. Raises when there is no region
    or no normal point, since the curve is then undefined.
    """
    if not (len(points_list) == len(point_scores_list) == len(point_labels_list)):
        raise ValueError("points, point scores and point labels must list the same number of objects")
    scores_parts: list[NDArray[np.float64]] = []
    region_parts: list[NDArray[np.int64]] = []
    offset = 0
    for i, (pts, scores, labels) in enumerate(zip(points_list, point_scores_list, point_labels_list)):
        y, s = _binary_inputs(labels, scores)
        if np.asarray(pts).shape[0] != y.size:
            raise ValueError(f"object {i}: {np.asarray(pts).shape[0]} points but {y.size} labels")
        n_regions, region = knn_regions(pts, y, k=k)
        region[region >= 0] += offset
        offset += n_regions
        scores_parts.append(s)
        region_parts.append(region)
    if offset == 0:
        raise ValueError("no anomalous region: PRO is undefined")
    scores = np.concatenate(scores_parts)
    region = np.concatenate(region_parts)
    normal = region < 0
    n_normal = int(normal.sum())
    if n_normal == 0:
        raise ValueError("no normal point: FPR is undefined")

    region_size = np.bincount(region[~normal], minlength=offset)
    pro_weight = np.zeros(scores.size, dtype=np.float64)
    pro_weight[~normal] = 1.0 / (offset * region_size[region[~normal]])
    fpr_weight = normal / n_normal

    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    # Last position of each run of equal scores: one curve point per distinct threshold.
    run_ends = np.flatnonzero(np.append(np.diff(sorted_scores) != 0, True))
    fpr = np.concatenate(([0.0], np.cumsum(fpr_weight[order])[run_ends]))
    pro = np.concatenate(([0.0], np.cumsum(pro_weight[order])[run_ends]))
    # Cumulative sums of weights summing to 1 can drift by an ulp; pin the curve inside the unit square.
    return np.clip(fpr, 0.0, 1.0), np.clip(pro, 0.0, 1.0)


def _area_up_to(x: NDArray[np.float64], y: NDArray[np.float64], x_max: float) -> float:
    """Trapezoid area under a curve with non-decreasing ``x`` from its start to ``x_max``, interpolating at ``x_max``."""
    n_in = int(np.searchsorted(x, x_max, side="right"))
    xs, ys = x[:n_in], y[:n_in]
    if n_in < x.size and xs[-1] < x_max:
        x0, x1, y0, y1 = x[n_in - 1], x[n_in], y[n_in - 1], y[n_in]
        xs = np.append(xs, x_max)
        ys = np.append(ys, y0 + (y1 - y0) * (x_max - x0) / (x1 - x0))
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2.0))


def au_pro(
    points_list: Sequence[ArrayLike],
    point_scores_list: Sequence[ArrayLike],
    point_labels_list: Sequence[ArrayLike],
    *,
    k: int = 8,
    fpr_limit: float = 0.3,
) -> float:
    """Area under the PRO curve for FPR in [0, ``fpr_limit``], divided by ``fpr_limit`` (perfect detector = 1).

    NaN when the class has no anomalous region or no normal point.
    """
    if not 0.0 < fpr_limit <= 1.0:
        raise ValueError(f"fpr_limit must lie in (0, 1], got {fpr_limit}")
    labels_flat = [np.asarray(lab).reshape(-1) > 0 for lab in point_labels_list]
    if not any(lab.any() for lab in labels_flat) or all(lab.all() for lab in labels_flat):
        return math.nan
    fpr, pro = pro_curve(points_list, point_scores_list, point_labels_list, k=k)
    return _area_up_to(fpr, pro, fpr_limit) / fpr_limit


def evaluate_class(
    points_list: Sequence[ArrayLike],
    point_scores_list: Sequence[ArrayLike],
    point_labels_list: Sequence[ArrayLike],
    object_labels: ArrayLike | None = None,
    object_scores: ArrayLike | None = None,
    *,
    pro_k: int = 8,
    fpr_limit: float = 0.3,
) -> ClassMetrics:
    """All five metrics for one class's objects.

    ``object_labels`` default to "any point label > 0"; ``object_scores`` default to each object's max point score.
    """
    n = len(points_list)
    if not (len(point_scores_list) == len(point_labels_list) == n):
        raise ValueError("points, point scores and point labels must list the same number of objects")
    if n == 0:
        raise ValueError("a class needs at least one object")
    if object_labels is None:
        obj_labels = np.array([np.any(np.asarray(lab) > 0) for lab in point_labels_list])
    else:
        obj_labels = np.asarray(object_labels).reshape(-1)
    if object_scores is None:
        obj_scores = object_scores_from_points(point_scores_list)
    else:
        obj_scores = np.asarray(object_scores, dtype=np.float64).reshape(-1)
    if obj_labels.size != n or obj_scores.size != n:
        raise ValueError(f"expected {n} object labels and scores, got {obj_labels.size} and {obj_scores.size}")

    all_labels = np.concatenate([np.asarray(lab).reshape(-1) for lab in point_labels_list])
    all_scores = np.concatenate([np.asarray(s, dtype=np.float64).reshape(-1) for s in point_scores_list])
    return ClassMetrics(
        o_auroc=auroc(obj_labels, obj_scores),
        p_auroc=auroc(all_labels, all_scores),
        o_aupr=aupr(obj_labels, obj_scores),
        p_aupr=aupr(all_labels, all_scores),
        au_pro=au_pro(points_list, point_scores_list, point_labels_list, k=pro_k, fpr_limit=fpr_limit),
    )


def _nanmean(values: Sequence[float]) -> float:
    """Mean of the non-NaN values; NaN when there are none."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else math.nan


def mean_metrics(per_class: Mapping[str, ClassMetrics]) -> ClassMetrics:
    """Each metric averaged over the classes where it is defined (NaN-aware)."""
    return ClassMetrics(
        **{f.name: _nanmean([getattr(m, f.name) for m in per_class.values()]) for f in fields(ClassMetrics)}
    )


def summarize(per_class: Mapping[str, ClassMetrics]) -> dict[str, dict[str, float]]:
    """A results table: one row per class plus a ``"mean"`` row from :func:`mean_metrics`."""
    if MEAN_KEY in per_class:
        raise ValueError(f"a class may not be called {MEAN_KEY!r}: that row holds the mean")
    table = {name: m.as_dict() for name, m in per_class.items()}
    table[MEAN_KEY] = mean_metrics(per_class).as_dict()
    return table


def metric_table(
    results: Mapping[str, Mapping[str, ClassMetrics]], metric: str
) -> dict[str, dict[str, float]]:
    """One metric picked out of several methods' per-class results: ``{method: {class: value}}``."""
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRIC_NAMES}")
    return {method: {cls: getattr(m, metric) for cls, m in per_class.items()} for method, per_class in results.items()}


def mean_rank(tables: Mapping[str, Mapping[str, float]], *, higher_is_better: bool = True) -> dict[str, float]:
    """Average rank of each method across classes (rank 1 = best, tied methods share their mean rank).

    ``tables`` maps method -> class -> metric value; every method must report the same classes. A class where
    any method's value is NaN is left out, as the methods cannot be ordered there. NaN when no class is left.
    """
    methods = list(tables)
    if not methods:
        return {}
    classes = list(tables[methods[0]])
    for method in methods[1:]:
        if set(tables[method]) != set(classes):
            raise ValueError(f"method {method!r} reports different classes than {methods[0]!r}")
    values = np.array([[tables[m][c] for c in classes] for m in methods], dtype=np.float64).reshape(len(methods), -1)
    comparable = ~np.isnan(values).any(axis=0)
    if not comparable.any():
        return {m: math.nan for m in methods}
    keyed = -values[:, comparable] if higher_is_better else values[:, comparable]
    ranks = rankdata(keyed, method="average", axis=0)
    return {m: float(r) for m, r in zip(methods, ranks.mean(axis=1))}
