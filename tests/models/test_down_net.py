"""DownNet: shapes, batch independence and ONNX export parity."""

from pathlib import Path

import numpy as np
import pytest
import torch

from edge.models.down_net import DownNet

G, K = 64, 16


def _net() -> DownNet:
    net = DownNet(group_size=K, embed_dim=32, depth=2, num_heads=4).eval()
    torch.nn.init.normal_(net.head[-1].weight, std=0.1)  # the head starts at zero (identity); make it non-trivial
    return net


def _inputs(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch, G, K, 3) * 0.05, torch.randn(batch, G, 3)


def test_down_net_returns_one_center_per_group() -> None:
    patches, centers = _inputs(2)
    assert _net()(patches, centers).shape == (2, G, 3)


def test_untrained_down_net_returns_the_noisy_centers() -> None:
    patches, centers = _inputs(1)
    assert torch.equal(DownNet(group_size=K)(patches, centers), centers)


def test_down_net_batch_items_do_not_influence_each_other() -> None:
    net = _net()
    patches, centers = _inputs(2)
    alone = net(patches[:1], centers[:1])
    patches[1] += 1.0
    centers[1] -= 1.0
    assert torch.allclose(net(patches, centers)[:1], alone, atol=1e-6)


def test_down_net_rejects_patches_of_another_group_size() -> None:
    with pytest.raises(ValueError, match="patches of 16 points"):
        _net()(torch.zeros(1, G, K + 1, 3), torch.zeros(1, G, 3))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter (dynamo=False) on purpose
def test_down_net_onnx_export_matches_torch_with_a_dynamic_batch(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    net = _net()
    path = tmp_path / "down_net.onnx"
    torch.onnx.export(
        net, _inputs(1), str(path), opset_version=17, dynamo=False,
        input_names=["patches", "centers"], output_names=["denoised"],
        dynamic_axes={"patches": {0: "batch"}, "centers": {0: "batch"}, "denoised": {0: "batch"}},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    patches, centers = _inputs(3)
    got = session.run(None, {"patches": patches.numpy(), "centers": centers.numpy()})[0]
    with torch.no_grad():
        want = net(patches, centers).numpy()
    assert np.abs(got - want).max() < 1e-4
