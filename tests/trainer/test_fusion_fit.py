import itertools

import numpy as np
import pytest
import torch
from sklearn.svm import OneClassSVM

from trainer.fit.fusion import FusionOptions, fit_fusion, refit_ocsvm

THREE = ("feature", "deviation", "missing")


def _scores(rng: np.random.Generator, n: int, noise_scale: float = 1.0) -> np.ndarray:
    """Three branches: skewed feature distances, half-normal deviation, a mostly-zero missing branch."""
    return np.stack(
        [
            noise_scale * rng.gamma(4.0, 0.05, n),
            np.abs(rng.normal(0.0, 0.02, n)),
            np.where(rng.random(n) < 0.05, rng.exponential(0.02, n), 0.0),
        ],
        axis=1,
    )


def _data(seed: int, *, noise_scale: float = 1.0, defect_columns: tuple[int, ...] = (1, 2), points: int = 400):
    """Normal vectors and validation clouds (half normal, half with a 40-point defect on ``defect_columns``)."""
    rng = np.random.default_rng(seed)
    normal = [torch.from_numpy(_scores(rng, 1000, noise_scale)) for _ in range(3)]
    validation = []
    for i in range(8):
        vectors, labels = _scores(rng, points, noise_scale), np.zeros(points, dtype=bool)
        if i % 2:
            labels[:40] = True
            for c in defect_columns:
                vectors[:40, c] += rng.uniform(0.03, 0.08)
        validation.append((torch.from_numpy(vectors), torch.from_numpy(labels), bool(i % 2)))
    return normal, validation


@pytest.mark.parametrize("method", ["ocsvm", "meanstd", "sum"])
def test_search_gives_an_informative_branch_weight_over_a_large_pure_noise_branch(method: str) -> None:
    normal, validation = _data(1, noise_scale=1000.0, defect_columns=(1,))
    pair_normal = [v[:, :2] for v in normal]
    pair_validation = [(v[:, :2], lab, obj) for v, lab, obj in validation]
    options = FusionOptions(quantiles=(0.9,), ratios=(0.25, 1.0, 4.0), tie_tolerance=1e-9)
    fit = fit_fusion(pair_normal, pair_validation, ("feature", "deviation"), method, options)
    equal = next(c for c in fit.table if c.ratios == (1.0, 1.0))
    assert fit.best.ratios == (1.0, 4.0)
    assert fit.best.score > equal.score
    assert fit.model.coefficients == fit.best.coefficients


def test_result_table_lists_every_candidate_of_the_grid() -> None:
    normal, validation = _data(2)
    options = FusionOptions(quantiles=(0.9, 0.99), ratios=(0.5, 1.0, 2.0), gamma=(0.5, 2.0), max_fit_samples=500)
    fit = fit_fusion(normal, validation, THREE, "ocsvm", options)
    ratio_pairs = list(itertools.product(options.ratios, repeat=2))
    expected = {(q, (1.0, *r), g) for q, r, g in itertools.product(options.quantiles, ratio_pairs, options.gamma)}
    assert len(fit.table) == len(expected) == 36
    assert {(c.quantile, c.ratios, c.gamma_grid) for c in fit.table} == expected
    assert all(0.0 <= c.point_auroc <= 1.0 and 0.0 <= c.object_auroc <= 1.0 for c in fit.table)
    top = max(c.score for c in fit.table)
    assert fit.best in fit.table and fit.best.score >= top - options.tie_tolerance


def test_fit_is_deterministic_for_a_seed() -> None:
    normal, validation = _data(3)
    options = FusionOptions(ratios=(0.5, 1.0), max_fit_samples=300, max_validation_points=150, seed=7)
    first = fit_fusion(normal, validation, THREE, "ocsvm", options)
    second = fit_fusion(normal, validation, THREE, "ocsvm", options)
    assert [c.as_dict() for c in first.table] == [c.as_dict() for c in second.table]
    (m1, a1), (m2, a2) = first.model.to_manifest(), second.model.to_manifest()
    assert m1 == m2 and a1.keys() == a2.keys() and all(np.array_equal(a1[k], a2[k]) for k in a1)


def test_the_seed_picks_the_normal_subsample_the_ocsvm_is_fitted_on() -> None:
    normal, validation = _data(3)
    options = [FusionOptions(ratios=(1.0,), quantiles=(0.9,), max_fit_samples=300, seed=s) for s in (1, 2)]
    fits = [fit_fusion(normal, validation, THREE, "ocsvm", o) for o in options]
    sv = [f.model.ocsvm.support_vectors for f in fits]
    assert sv[0].shape != sv[1].shape or not torch.equal(sv[0], sv[1])


@pytest.mark.parametrize(("method", "candidates"), [("ocsvm", 2 * 9 * 2), ("meanstd", 9), ("sum", 2 * 9)])
def test_every_method_goes_through_the_same_search(method: str, candidates: int) -> None:
    normal, validation = _data(4)
    fit = fit_fusion(normal, validation, THREE, method, FusionOptions(max_fit_samples=500))
    assert fit.model.method == method and len(fit.table) == candidates
    assert fit.point_auroc > 0.9 and fit.object_auroc > 0.9
    assert (fit.model.ocsvm is not None) == (method == "ocsvm")


def test_fitted_ocsvm_fusion_ranks_points_as_scikit_learns_decision_function_does() -> None:
    normal, validation = _data(5)
    options = FusionOptions(ratios=(1.0,), quantiles=(0.9,), max_fit_samples=3000)
    model = fit_fusion(normal, validation, THREE, "ocsvm", options).model
    x = torch.cat(normal).numpy()
    scaled = np.maximum(x * np.asarray(model.coefficients), np.asarray(model.floor))
    reference = OneClassSVM(kernel="rbf", nu=options.nu, gamma=model.ocsvm.gamma).fit(scaled)
    query = validation[1][0]
    decision = reference.decision_function(np.maximum(query.numpy() * np.asarray(model.coefficients), model.floor))
    fused = model.score(query).numpy()[np.argsort(-decision)]
    assert np.all(np.diff(fused) >= -1e-9)
    assert np.all((fused > 0) == (np.sort(-decision) > 0))


def test_near_ties_go_to_ratios_of_one_and_the_smallest_quantile() -> None:
    normal, validation = _data(6)
    obvious = [(v + 10.0 * lab[:, None], lab, obj) for v, lab, obj in validation]
    fit = fit_fusion(normal, obvious, THREE, "sum", FusionOptions(quantiles=(0.99, 0.9), ratios=(2.0, 1.0, 0.5)))
    assert all(c.score == 1.0 for c in fit.table)
    assert fit.best.ratios == (1.0, 1.0, 1.0) and fit.best.quantile == 0.9


def test_a_normal_labelled_validation_cloud_with_anomalous_points_is_rejected() -> None:
    normal, validation = _data(7)
    vectors, labels, _ = validation[1]
    with pytest.raises(ValueError, match="labelled normal"):
        fit_fusion(normal, [*validation, (vectors, labels, False)], THREE, "sum")


def test_vectors_whose_width_does_not_match_the_branches_are_rejected() -> None:
    normal, validation = _data(8)
    with pytest.raises(ValueError, match=r"\(P, 2\)"):
        fit_fusion(normal, validation, ("feature", "deviation"), "sum")


def test_refit_keeps_coefficients_gamma_and_floor_and_fits_the_given_vectors() -> None:
    normal, validation = _data(3)
    fit = fit_fusion(normal, validation, THREE, "ocsvm", FusionOptions(quantiles=(0.9,), ratios=(1.0,)))
    refitted = refit_ocsvm(fit.model, normal[:2])
    assert (refitted.coefficients, refitted.floor) == (fit.model.coefficients, fit.model.floor)
    assert refitted.ocsvm.gamma == fit.model.ocsvm.gamma
    assert not torch.equal(refitted.ocsvm.support_vectors, fit.model.ocsvm.support_vectors)


def test_scan_unlike_the_others_scores_higher_when_left_out_of_the_ocsvm_fit() -> None:
    normal, validation = _data(4)
    normal[2] = normal[2] + torch.tensor([0.05, 0.0, 0.0], dtype=normal[2].dtype)
    fit = fit_fusion(normal, validation, THREE, "ocsvm", FusionOptions(quantiles=(0.9,), ratios=(1.0,)))
    inside = refit_ocsvm(fit.model, normal).score(normal[2]).topk(10).values.mean()
    outside = refit_ocsvm(fit.model, normal[:2]).score(normal[2]).topk(10).values.mean()
    assert outside > inside


def test_refit_refuses_a_fusion_without_an_ocsvm() -> None:
    normal, validation = _data(5)
    fit = fit_fusion(normal, validation, THREE, "sum", FusionOptions(quantiles=(0.9,), ratios=(1.0,)))
    with pytest.raises(ValueError, match="needs an 'ocsvm' fusion"):
        refit_ocsvm(fit.model, normal)
