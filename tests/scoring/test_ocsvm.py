import numpy as np
import pytest
import torch
from sklearn.svm import OneClassSVM

from edge.scoring.ocsvm import OcsvmModel


def _branch_like(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-point score vectors shaped like the detector's branches: skewed distances, a mostly-zero missing branch."""
    return np.stack(
        [
            rng.gamma(4.0, 0.05, n),
            np.abs(rng.normal(0.0, 0.02, n)),
            rng.gamma(3.0, 0.03, n),
            np.where(rng.random(n) < 0.05, rng.exponential(0.05, n), 0.0),
        ],
        axis=1,
    )


def _edge_model(estimator: OneClassSVM, gamma: float) -> OcsvmModel:
    sv, coef = torch.from_numpy(estimator.support_vectors_), torch.from_numpy(estimator.dual_coef_[0])
    return OcsvmModel(sv, coef, gamma, estimator.offset_[0])


@pytest.mark.parametrize("gamma", [0.05, 0.5, 5.0])
def test_decision_function_matches_scikit_learn_on_random_data(gamma: float) -> None:
    rng = np.random.default_rng(3)
    train, query = rng.normal(size=(400, 3)), rng.normal(scale=2.0, size=(1000, 3))
    estimator = OneClassSVM(kernel="rbf", nu=0.2, gamma=gamma).fit(train)
    ours = _edge_model(estimator, gamma).decision_function(torch.from_numpy(query))
    np.testing.assert_allclose(ours.numpy(), estimator.decision_function(query), rtol=0, atol=1e-5)


@pytest.mark.parametrize("gamma_factor", [0.3, 1.0, 3.0])
def test_decision_function_matches_scikit_learn_on_branch_score_vectors(gamma_factor: float) -> None:
    rng = np.random.default_rng(4)
    train = _branch_like(rng, 1500)
    query = _branch_like(rng, 3000)
    query[:300] += rng.uniform(0.0, 0.5, size=(300, 4))
    gamma = gamma_factor / (train.shape[1] * train.var())
    estimator = OneClassSVM(kernel="rbf", nu=0.1, gamma=gamma).fit(train)
    ours = _edge_model(estimator, gamma).decision_function(torch.from_numpy(query).float())
    np.testing.assert_allclose(ours.numpy(), estimator.decision_function(query.astype(np.float32)), rtol=0, atol=1e-5)


def test_decision_function_is_positive_inside_and_negative_far_outside() -> None:
    rng = np.random.default_rng(5)
    estimator = OneClassSVM(kernel="rbf", nu=0.1, gamma=0.5).fit(rng.normal(size=(300, 2)))
    values = _edge_model(estimator, 0.5).decision_function(torch.tensor([[0.0, 0.0], [8.0, 8.0]]))
    assert values[0] > 0 > values[1]


def test_arrays_round_trip_gives_the_same_model() -> None:
    rng = np.random.default_rng(6)
    model = OcsvmModel(torch.from_numpy(rng.normal(size=(20, 4))), torch.from_numpy(rng.random(20)), 0.7, 1.3)
    arrays, scalars = model.to_arrays()
    assert set(arrays) == {"support_vectors", "dual_coef"} and all(isinstance(a, np.ndarray) for a in arrays.values())
    assert all(type(v) is float for v in scalars.values())
    again = OcsvmModel.from_arrays(arrays, scalars)
    query = torch.from_numpy(rng.normal(size=(50, 4)))
    assert torch.equal(again.decision_function(query), model.decision_function(query))


def test_chunked_evaluation_gives_the_same_result() -> None:
    rng = np.random.default_rng(7)
    model = OcsvmModel(torch.from_numpy(rng.normal(size=(64, 4))), torch.from_numpy(rng.random(64)), 0.3, 2.0)
    query = torch.from_numpy(rng.normal(size=(1001, 4)))
    whole = model.decision_function(query)
    tiny_chunks = model.decision_function(query, max_bytes=8 * 64 * 7)
    one_row = model.decision_function(query[:5], max_bytes=1)
    torch.testing.assert_close(tiny_chunks, whole, rtol=0, atol=1e-12)
    torch.testing.assert_close(one_row, whole[:5], rtol=0, atol=1e-12)


def test_vectors_of_the_wrong_width_are_rejected() -> None:
    model = OcsvmModel(torch.zeros(3, 4), torch.ones(3), 1.0, 0.5)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        model.decision_function(torch.zeros(2, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_evaluation_matches_cpu_in_float64() -> None:
    rng = np.random.default_rng(8)
    model = OcsvmModel(torch.from_numpy(rng.normal(size=(100, 4))), torch.from_numpy(rng.random(100)), 0.4, 3.0)
    query = torch.from_numpy(rng.normal(size=(5000, 4)))
    on_gpu = model.to("cuda").decision_function(query.cuda())
    assert on_gpu.dtype == torch.float64 and on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), model.decision_function(query), rtol=0, atol=1e-9)


def test_boundary_distance_grows_linearly_with_the_distance_from_a_smooth_normal_cloud() -> None:
    rng = np.random.default_rng(6)
    estimator = OneClassSVM(kernel="rbf", nu=0.1, gamma=0.01).fit(rng.normal(scale=0.3, size=(800, 2)))
    model = _edge_model(estimator, 0.01)
    far = torch.tensor([[1.5, 0.0], [2.5, 0.0], [3.5, 0.0]], dtype=torch.float64)
    distance = model.boundary_distance(far).numpy()
    np.testing.assert_allclose(np.diff(distance), [1.0, 1.0], rtol=0.1)


def test_boundary_distance_is_negative_inside_and_positive_outside() -> None:
    rng = np.random.default_rng(7)
    estimator = OneClassSVM(kernel="rbf", nu=0.1, gamma=0.05).fit(rng.normal(scale=0.3, size=(800, 3)))
    distance = _edge_model(estimator, 0.05).boundary_distance(torch.tensor([[0.0, 0.0, 0.0], [3.0, 3.0, 3.0]], dtype=torch.float64))
    assert distance[0] < 0.0 < distance[1]
