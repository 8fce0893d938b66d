"""Specification of the per-class 3D anomaly-detection metrics (trainer.evaluate.metrics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from trainer.evaluate import (
    ClassMetrics,
    au_pro,
    aupr,
    auroc,
    evaluate_class,
    knn_regions,
    mean_metrics,
    mean_rank,
    metric_table,
    object_scores_from_points,
    pro_curve,
    summarize,
)


def _line(xs: list[float]) -> np.ndarray:
    """Points on the x axis, so kNN neighbourhoods are easy to work out by hand."""
    return np.array([[x, 0.0, 0.0] for x in xs])


def _random_class(rng: np.random.Generator, n_objects: int = 6) -> tuple[list, list, list]:
    """Random clouds with a blob of anomalous points in every other object and noisy, informative scores."""
    points, scores, labels = [], [], []
    for i in range(n_objects):
        n = int(rng.integers(40, 80))
        pts = rng.normal(size=(n, 3))
        lab = np.zeros(n, dtype=np.int64)
        if i % 2:
            centre = pts[0]
            lab[np.argsort(np.linalg.norm(pts - centre, axis=1))[: n // 5]] = 1
        points.append(pts)
        labels.append(lab)
        scores.append(lab * 0.8 + rng.normal(scale=0.5, size=n))
    return points, scores, labels


def _brute_force_au_pro(points, scores, labels, k, fpr_limit):
    """Reference AU-PRO: a Python loop over every distinct threshold, regions from knn_regions."""
    regions = []
    for pts, s, lab in zip(points, scores, labels):
        n_regions, region = knn_regions(pts, lab > 0, k=k)
        regions += [s[region == r] for r in range(n_regions)]
    normal = np.concatenate([s[lab == 0] for s, lab in zip(scores, labels)])
    curve = [(0.0, 0.0)]
    for t in np.unique(np.concatenate(scores))[::-1]:
        curve.append((np.mean(normal >= t), np.mean([np.mean(r >= t) for r in regions])))
    area = 0.0
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):
        if x0 >= fpr_limit:
            break
        if x1 > fpr_limit:
            y1 = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)
            x1 = fpr_limit
        area += (x1 - x0) * (y0 + y1) / 2
    return area / fpr_limit


# --- AUROC / AUPR -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_and_aupr_equal_scikit_learn_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=500)
    scores = rng.normal(size=500) + labels
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    assert aupr(labels, scores) == pytest.approx(average_precision_score(labels, scores))


def test_point_metrics_pool_all_points_of_the_class() -> None:
    points, scores, labels = _random_class(np.random.default_rng(3))
    result = evaluate_class(points, scores, labels)
    pooled_labels, pooled_scores = np.concatenate(labels), np.concatenate(scores)
    assert result.p_auroc == pytest.approx(roc_auc_score(pooled_labels, pooled_scores))
    assert result.p_aupr == pytest.approx(average_precision_score(pooled_labels, pooled_scores))


def test_object_metrics_score_each_object_by_its_max_point_score() -> None:
    points, scores, labels = _random_class(np.random.default_rng(4), n_objects=10)
    result = evaluate_class(points, scores, labels)
    obj_labels = [int(lab.any()) for lab in labels]
    obj_scores = [s.max() for s in scores]
    assert result.o_auroc == pytest.approx(roc_auc_score(obj_labels, obj_scores))
    assert result.o_aupr == pytest.approx(average_precision_score(obj_labels, obj_scores))


def test_precomputed_object_scores_replace_the_max_point_score() -> None:
    points, scores, labels = _random_class(np.random.default_rng(5), n_objects=4)
    inverted = [0.0 if lab.any() else 1.0 for lab in labels]
    assert evaluate_class(points, scores, labels, object_scores=inverted).o_auroc == 0.0


def test_explicit_object_labels_replace_any_anomalous_point() -> None:
    points, scores, labels = _random_class(np.random.default_rng(6), n_objects=4)
    obj_scores = [1.0, 2.0, 3.0, 4.0]
    result = evaluate_class(points, scores, labels, object_labels=[1, 1, 0, 0], object_scores=obj_scores)
    assert result.o_auroc == 0.0


def test_object_scores_from_points_takes_each_maximum() -> None:
    assert object_scores_from_points([[0.1, 0.7, 0.3], np.array([[2.0], [-1.0]])]).tolist() == [0.7, 2.0]


@pytest.mark.parametrize("metric", [auroc, aupr])
@pytest.mark.parametrize("label", [0, 1])
def test_single_label_value_gives_nan(metric, label: int) -> None:
    assert math.isnan(metric([label] * 5, [0.1, 0.2, 0.3, 0.4, 0.5]))


def test_non_finite_scores_are_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        auroc([0, 1], [0.0, math.nan])


# --- AU-PRO -------------------------------------------------------------------------------------------------


def test_perfect_detector_has_au_pro_one() -> None:
    points, _, labels = _random_class(np.random.default_rng(7))
    perfect = [lab + 0.01 * np.arange(lab.size) / lab.size for lab in labels]
    assert au_pro(points, perfect, labels) == pytest.approx(1.0)


def test_inverted_detector_has_au_pro_zero() -> None:
    points, _, labels = _random_class(np.random.default_rng(8))
    inverted = [1.0 - lab for lab in labels]
    assert au_pro(points, inverted, labels) == pytest.approx(0.0)


def test_pro_averages_regions_not_points_when_one_region_is_found_and_one_missed() -> None:
    # Cloud 1: a 10-point region scored above every normal point; cloud 2: a 1-point region scored below all.
    # PRO is 1/2 at every FPR in [0, 1), whatever the region sizes, so AU-PRO = 0.5.
    cloud1 = _line([float(x) for x in range(20)])
    cloud2 = _line([float(x) for x in range(5)])
    labels = [np.r_[np.ones(10), np.zeros(10)], np.r_[1.0, np.zeros(4)]]
    scores = [np.r_[np.full(10, 5.0), np.linspace(1, 2, 10)], np.r_[0.0, np.linspace(1, 2, 4)]]
    assert au_pro([cloud1, cloud2], scores, labels) == pytest.approx(0.5)


def test_au_pro_of_a_partly_found_region_matches_hand_computation() -> None:
    # Ten normal points scored 0.05 ... 0.95 (FPR steps of 0.1). Region A (cloud 1) scores 2.0: found at FPR 0.
    # Region B (cloud 2, 4 points) scores 0.9, 0.8, 0.02, 0.01: its overlap is 1/4 at FPR 0.1, 2/4 at FPR 0.2.
    # PRO: 0.5 on [0, 0.1], 0.625 on [0.1, 0.2], 0.75 on [0.2, 0.3] (vertical steps between), so
    # area = 0.05 + 0.0625 + 0.075 = 0.1875 and AU-PRO = 0.1875 / 0.3 = 0.625.
    normals = np.arange(10) * 0.1 + 0.05
    cloud1 = _line([0.0, 0.1] + [float(x) for x in range(5, 10)])
    cloud2 = _line([0.0, 0.1, 0.2, 0.3] + [float(x) for x in range(5, 10)])
    scores = [np.r_[2.0, 2.0, normals[:5]], np.r_[0.9, 0.8, 0.02, 0.01, normals[5:]]]
    labels = [np.r_[1, 1, np.zeros(5)], np.r_[1, 1, 1, 1, np.zeros(5)]]
    assert au_pro([cloud1, cloud2], scores, labels) == pytest.approx(0.625)


def test_au_pro_interpolates_linearly_at_the_fpr_limit() -> None:
    # Normals 0.9 ... 0.5 (FPR steps of 0.2); region {a: 1.0, b: 0.8}, b tied with a normal point.
    # Curve: (0, 0) (0, 0.5) (0.2, 0.5) (0.4, 1.0) ...; PRO at FPR 0.3 interpolates to 0.75, so
    # area = 0.5 * 0.2 + (0.5 + 0.75) / 2 * 0.1 = 0.1625 and AU-PRO = 0.1625 / 0.3.
    cloud = _line([0.0, 0.1, 5.0, 6.0, 7.0, 8.0, 9.0])
    scores = [np.array([1.0, 0.8, 0.9, 0.8, 0.7, 0.6, 0.5])]
    labels = [np.array([1, 1, 0, 0, 0, 0, 0])]
    fpr, pro = pro_curve([cloud], scores, labels)
    np.testing.assert_allclose(fpr, [0, 0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(pro, [0, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0])
    assert au_pro([cloud], scores, labels) == pytest.approx(0.1625 / 0.3)


def test_fpr_limit_sets_the_integration_range() -> None:
    cloud = _line([0.0, 0.1, 5.0, 6.0, 7.0, 8.0, 9.0])
    scores = [np.array([1.0, 0.8, 0.9, 0.8, 0.7, 0.6, 0.5])]
    labels = [np.array([1, 1, 0, 0, 0, 0, 0])]
    # Area to FPR 1: 0.1 + 0.15 + 0.6 = 0.85.
    assert au_pro([cloud], scores, labels, fpr_limit=1.0) == pytest.approx(0.85)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_vectorised_au_pro_equals_a_per_threshold_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    points, scores, labels = _random_class(rng)
    coarse = [np.round(s, 1) for s in scores]  # many tied scores, including across normal and anomalous points
    for k in (2, 8):
        assert au_pro(points, coarse, labels, k=k) == pytest.approx(
            _brute_force_au_pro(points, coarse, labels, k, 0.3)
        )


def test_pro_k_controls_the_regions_used_by_evaluate_class() -> None:
    # A detected 2-point group {0, 0.05} and a missed point at x=2.1, whose nearest neighbour is the normal x=1.
    # k=1: two regions, PRO = (1 + 0) / 2 everywhere below FPR 1. k=3: one 3-point region, PRO = 2/3.
    cloud = _line([0.0, 0.05, 1.0, 2.1, 10.0, 11.0, 12.0])
    labels = [np.array([1, 1, 0, 1, 0, 0, 0])]
    scores = [np.array([5.0, 5.0, 0.3, 0.0, 0.2, 0.1, 0.4])]
    joined = evaluate_class([cloud], scores, labels, pro_k=3).au_pro
    split = evaluate_class([cloud], scores, labels, pro_k=1).au_pro
    assert joined == pytest.approx(2 / 3)
    assert split == pytest.approx(1 / 2)


def test_au_pro_is_nan_without_anomalous_points() -> None:
    points, scores, labels = _random_class(np.random.default_rng(9))
    assert math.isnan(au_pro(points, scores, [np.zeros_like(lab) for lab in labels]))


def test_au_pro_is_nan_without_normal_points() -> None:
    points, scores, labels = _random_class(np.random.default_rng(10))
    assert math.isnan(au_pro(points, scores, [np.ones_like(lab) for lab in labels]))


def test_au_pro_rejects_points_and_labels_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="points"):
        au_pro([_line([0.0, 1.0, 2.0])], [np.zeros(2)], [np.array([1, 0])])


# --- kNN regions --------------------------------------------------------------------------------------------


def test_knn_regions_split_distant_anomalous_groups() -> None:
    cloud = _line([0.0, 0.1, 1.0, 2.0, 3.0, 3.1, 4.0, 5.0])
    anomalous = np.array([1, 1, 0, 0, 1, 1, 0, 0], dtype=bool)
    n_regions, region = knn_regions(cloud, anomalous, k=1)
    assert n_regions == 2
    assert region[0] == region[1] != region[4] == region[5]
    assert (region[~anomalous] == -1).all()


def test_knn_regions_merge_groups_that_are_mutual_neighbours_for_large_k() -> None:
    cloud = _line([0.0, 0.1, 1.0, 2.0, 3.0, 3.1, 4.0, 5.0])
    anomalous = np.array([1, 1, 0, 0, 1, 1, 0, 0], dtype=bool)
    n_regions, region = knn_regions(cloud, anomalous, k=7)
    assert n_regions == 1
    assert set(region[anomalous]) == {0}


def test_knn_regions_do_not_connect_through_normal_points() -> None:
    # A (x=0) and B (x=2.1) each have the normal point N (x=1) as nearest neighbour; with k=1 that is their only
    # edge, so they stay apart. With k=2, B becomes A's second neighbour and they join.
    cloud = _line([0.0, 1.0, 2.1, 10.0, 11.0])
    anomalous = np.array([1, 0, 1, 0, 0], dtype=bool)
    assert knn_regions(cloud, anomalous, k=1)[0] == 2
    assert knn_regions(cloud, anomalous, k=2)[0] == 1


def test_knn_regions_default_k_is_eight() -> None:
    # Anomalous points 0 and 9 of a 10-point line: point 0's 8 nearest neighbours stop at point 8, point 9's
    # reach point 1, so no anomalous-anomalous edge exists with k=8; with k=9 they link.
    cloud = _line([float(x) for x in range(10)])
    anomalous = np.zeros(10, dtype=bool)
    anomalous[[0, 9]] = True
    assert knn_regions(cloud, anomalous)[0] == 2
    assert knn_regions(cloud, anomalous, k=9)[0] == 1


def test_knn_regions_handle_a_cloud_smaller_than_k() -> None:
    n_regions, region = knn_regions(_line([0.0, 1.0, 2.0]), np.array([True, False, True]), k=8)
    assert n_regions == 1
    assert region.tolist() == [0, -1, 0]


def test_knn_regions_of_a_normal_cloud_are_empty() -> None:
    n_regions, region = knn_regions(_line([0.0, 1.0]), np.array([False, False]))
    assert n_regions == 0
    assert region.tolist() == [-1, -1]


# --- degenerate classes -------------------------------------------------------------------------------------


def test_all_normal_class_reports_nan_instead_of_failing() -> None:
    points, scores, labels = _random_class(np.random.default_rng(11), n_objects=3)
    result = evaluate_class(points, scores, [np.zeros_like(lab) for lab in labels])
    assert all(math.isnan(v) for v in result.as_dict().values())


def test_class_with_only_anomalous_objects_keeps_point_metrics() -> None:
    points, scores, labels = _random_class(np.random.default_rng(12), n_objects=6)
    anomalous_only = (points[1::2], scores[1::2], labels[1::2])
    result = evaluate_class(*anomalous_only)
    assert math.isnan(result.o_auroc) and math.isnan(result.o_aupr)
    assert not math.isnan(result.p_auroc) and not math.isnan(result.au_pro)


def test_evaluate_class_rejects_object_counts_that_disagree() -> None:
    points, scores, labels = _random_class(np.random.default_rng(13), n_objects=3)
    with pytest.raises(ValueError, match="object"):
        evaluate_class(points, scores, labels, object_scores=[0.1, 0.2])


# --- summaries ----------------------------------------------------------------------------------------------


def test_class_metrics_as_dict_lists_the_five_metrics_in_order() -> None:
    assert ClassMetrics(0.1, 0.2, 0.3, 0.4, 0.5).as_dict() == {
        "o_auroc": 0.1,
        "p_auroc": 0.2,
        "o_aupr": 0.3,
        "p_aupr": 0.4,
        "au_pro": 0.5,
    }


def test_mean_over_classes_skips_nan_values() -> None:
    mean = mean_metrics(
        {
            "a": ClassMetrics(0.6, 0.8, 0.5, 0.2, math.nan),
            "b": ClassMetrics(math.nan, 0.6, 0.7, 0.4, math.nan),
        }
    )
    assert mean.o_auroc == pytest.approx(0.6)
    assert mean.p_auroc == pytest.approx(0.7)
    assert mean.o_aupr == pytest.approx(0.6)
    assert mean.p_aupr == pytest.approx(0.3)
    assert math.isnan(mean.au_pro)


def test_summarize_adds_a_mean_row_to_the_per_class_rows() -> None:
    per_class = {"a": ClassMetrics(1.0, 1.0, 1.0, 1.0, 1.0), "b": ClassMetrics(0.0, 0.0, 0.0, 0.0, 0.0)}
    table = summarize(per_class)
    assert list(table) == ["a", "b", "mean"]
    assert table["a"] == per_class["a"].as_dict()
    assert table["mean"]["au_pro"] == pytest.approx(0.5)


def test_summarize_rejects_a_class_named_mean() -> None:
    with pytest.raises(ValueError, match="mean"):
        summarize({"mean": ClassMetrics(1.0, 1.0, 1.0, 1.0, 1.0)})


def test_mean_rank_averages_ranks_with_ties_shared() -> None:
    # Class x: A 0.9 (1), B 0.8 (2), C 0.7 (3).  Class y: A 0.5 (3), B 0.9 (1.5), C 0.9 (1.5).
    # Class z: A 0.6 (2), B 0.4 (3), C 0.8 (1).  Means: A 2, B 6.5/3, C 5.5/3.
    tables = {
        "A": {"x": 0.9, "y": 0.5, "z": 0.6},
        "B": {"x": 0.8, "y": 0.9, "z": 0.4},
        "C": {"x": 0.7, "y": 0.9, "z": 0.8},
    }
    ranks = mean_rank(tables)
    assert ranks == pytest.approx({"A": 2.0, "B": 6.5 / 3, "C": 5.5 / 3})


def test_mean_rank_ranks_lowest_first_when_lower_is_better() -> None:
    tables = {"A": {"x": 0.1, "y": 0.2}, "B": {"x": 0.3, "y": 0.1}}
    assert mean_rank(tables, higher_is_better=False) == pytest.approx({"A": 1.5, "B": 1.5})
    assert mean_rank({"A": {"x": 0.1}, "B": {"x": 0.3}}, higher_is_better=False) == {"A": 1.0, "B": 2.0}


def test_mean_rank_leaves_out_classes_with_a_nan_value() -> None:
    tables = {"A": {"x": 0.9, "y": math.nan}, "B": {"x": 0.8, "y": 0.95}}
    assert mean_rank(tables) == {"A": 1.0, "B": 2.0}


def test_mean_rank_rejects_methods_reporting_different_classes() -> None:
    with pytest.raises(ValueError, match="classes"):
        mean_rank({"A": {"x": 0.9}, "B": {"y": 0.8}})


def test_metric_table_picks_one_metric_per_method_and_class() -> None:
    results = {
        "A": {"x": ClassMetrics(0.1, 0.2, 0.3, 0.4, 0.5)},
        "B": {"x": ClassMetrics(0.6, 0.7, 0.8, 0.9, 1.0)},
    }
    assert metric_table(results, "p_aupr") == {"A": {"x": 0.4}, "B": {"x": 0.9}}
    assert mean_rank(metric_table(results, "au_pro")) == {"A": 2.0, "B": 1.0}
