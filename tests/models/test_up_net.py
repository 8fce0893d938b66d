"""UpNet: shapes, batch independence, translation equivariance, the G % 4 rule and ONNX export parity."""

from pathlib import Path

import numpy as np
import pytest
import torch

from edge.geometry.fps import farthest_point_sampling
from edge.models.up_net import UpNet

G, GAMMA = 64, 4


def _net() -> UpNet:
    return UpNet(gamma=GAMMA, width=32, neighbors=8).eval()


def _centers(batch: int) -> torch.Tensor:
    """Centers in FPS order, as the network expects them."""
    clouds = torch.randn(batch, 500, 3)
    idx = farthest_point_sampling(clouds, G)
    return clouds.gather(1, idx.unsqueeze(2).expand(-1, -1, 3))


def test_up_net_returns_gamma_points_per_center() -> None:
    assert _net()(_centers(2)).shape == (2, G * GAMMA, 3)


def test_up_net_batch_items_do_not_influence_each_other() -> None:
    net = _net()
    centers = _centers(2)
    alone = net(centers[:1])
    centers[1] *= 3.0
    assert torch.allclose(net(centers)[:1], alone, atol=1e-6)


def test_up_net_moves_with_a_translated_shape() -> None:
    net = _net()
    centers = _centers(1)
    shift = torch.tensor([0.3, -0.2, 0.5])
    assert torch.allclose(net(centers + shift), net(centers) + shift, atol=1e-5)


def test_up_net_rejects_a_number_of_centers_not_divisible_by_4() -> None:
    with pytest.raises(ValueError, match="divisible by 4"):
        _net()(torch.randn(1, G + 2, 3))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter (dynamo=False) on purpose
def test_up_net_onnx_export_matches_torch_with_a_dynamic_batch(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    net = _net()
    path = tmp_path / "up_net.onnx"
    torch.onnx.export(
        net, (_centers(1),), str(path), opset_version=17, dynamo=False,
        input_names=["centers"], output_names=["dense"],
        dynamic_axes={"centers": {0: "batch"}, "dense": {0: "batch"}},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    centers = _centers(3)
    got = session.run(None, {"centers": centers.numpy()})[0]
    with torch.no_grad():
        want = net(centers).numpy()
    assert np.abs(got - want).max() < 1e-4
