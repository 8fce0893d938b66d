import numpy as np
import pytest
import torch
import yaml
from sklearn.svm import OneClassSVM

from edge.scoring.fusion import FusionModel
from edge.scoring.ocsvm import OcsvmModel

BRANCHES = ("feature", "deviation", "missing")


def _ocsvm_fusion(normal: np.ndarray, coefficients: tuple[float, ...], floor: tuple[float, ...] | None) -> FusionModel:
    x = normal * np.asarray(coefficients)
    if floor is not None:
        x = np.maximum(x, floor)
    gamma = 1.0 / (x.shape[1] * x.var())
    estimator = OneClassSVM(kernel="rbf", nu=0.1, gamma=gamma).fit(x)
    sv, coef = torch.from_numpy(estimator.support_vectors_), torch.from_numpy(estimator.dual_coef_[0])
    ocsvm = OcsvmModel(sv, coef, gamma, estimator.offset_[0])
    return FusionModel("ocsvm", BRANCHES, coefficients, ocsvm=ocsvm, floor=floor)


@pytest.fixture(scope="module")
def normal() -> np.ndarray:
    rng = np.random.default_rng(11)
    return np.stack([rng.gamma(4.0, 0.05, 800), np.abs(rng.normal(0, 0.02, 800)), rng.exponential(0.01, 800)], axis=1)


def test_ocsvm_fusion_scores_a_vector_far_outside_the_normal_cloud_higher(normal: np.ndarray) -> None:
    model = _ocsvm_fusion(normal, (1.0, 10.0, 20.0), None)
    typical = torch.from_numpy(np.median(normal, axis=0, keepdims=True))
    far = typical + torch.tensor([[0.0, 0.3, 0.0]], dtype=torch.float64)
    scores = model.score(torch.cat([typical, far]))
    assert scores[1] > 0 > scores[0]


def test_one_sided_ocsvm_does_not_flag_scores_below_the_normal_range(normal: np.ndarray) -> None:
    k = (1.0, 10.0, 20.0)
    floor = tuple(np.median(normal * np.asarray(k), axis=0))
    model = _ocsvm_fusion(normal, k, floor)
    median = torch.from_numpy(np.median(normal, axis=0, keepdims=True))
    perfect = torch.zeros(1, 3, dtype=torch.float64)
    torch.testing.assert_close(model.score(perfect), model.score(median), rtol=0, atol=1e-9)
    assert model.score(perfect) < model.score(torch.from_numpy(np.quantile(normal, 0.99, axis=0, keepdims=True)))


def test_meanstd_fusion_is_the_largest_weighted_branch_standardised_with_normal_statistics() -> None:
    mean, std, k = (0.2, 0.01, 0.05), (0.1, 0.02, 0.5), (1.0, 2.0, 0.5)
    model = FusionModel("meanstd", BRANCHES, k, mean=mean, std=std)
    x = torch.tensor([[0.4, 0.05, 1.0], [0.2, 0.01, 0.05], [0.1, 0.0, 0.0]])
    expected = [2.0 * (0.05 - 0.01) / 0.02, 0.0, max(1.0 * (0.1 - 0.2) / 0.1, 2.0 * -0.01 / 0.02, 0.5 * -0.05 / 0.5)]
    torch.testing.assert_close(model.score(x), torch.tensor(expected, dtype=torch.float64), rtol=1e-6, atol=1e-6)


def test_sum_fusion_weights_each_branch_by_its_coefficient() -> None:
    model = FusionModel("sum", BRANCHES, (1.0, 3.0, 0.5))
    torch.testing.assert_close(model.score(torch.tensor([[1.0, 1.0, 2.0]])), torch.tensor([5.0], dtype=torch.float64))


@pytest.mark.parametrize("method", ["ocsvm", "meanstd", "sum"])
def test_manifest_round_trip_gives_identical_scores(method: str, normal: np.ndarray) -> None:
    k = (1.0, 10.0, 20.0)
    if method == "ocsvm":
        model = _ocsvm_fusion(normal, k, tuple(np.median(normal * np.asarray(k), axis=0)))
    elif method == "meanstd":
        model = FusionModel("meanstd", BRANCHES, k, mean=tuple(normal.mean(0)), std=tuple(normal.std(0)))
    else:
        model = FusionModel("sum", BRANCHES, k)
    manifest, arrays = model.to_manifest()
    manifest = yaml.safe_load(yaml.safe_dump(manifest))
    arrays = {name: np.asarray(a) for name, a in arrays.items()}
    again = FusionModel.from_manifest(manifest, arrays)
    x = torch.from_numpy(normal[:100] * 1.5)
    assert again.method == method and again.branches == BRANCHES
    assert torch.equal(again.score(x), model.score(x))


def test_vectors_whose_width_does_not_match_the_branches_are_rejected() -> None:
    model = FusionModel("sum", BRANCHES, (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match=r"\(P, 3\) vectors with columns \('feature', 'deviation', 'missing'\)"):
        model.score(torch.zeros(5, 4))


def test_unknown_branch_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="branches"):
        FusionModel("sum", ("feature", "colour"), (1.0, 1.0))


def test_an_ocsvm_for_another_width_is_rejected() -> None:
    ocsvm = OcsvmModel(torch.zeros(2, 4), torch.ones(2), 1.0, 0.5)
    with pytest.raises(ValueError, match="4-wide"):
        FusionModel("ocsvm", BRANCHES, (1.0, 1.0, 1.0), ocsvm=ocsvm)
