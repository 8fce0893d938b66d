"""GroupEncoder (Group3AD): shapes, unit-norm features, batch independence, patch scale, ONNX export parity."""

from pathlib import Path

import numpy as np
import pytest
import torch

from edge.models.group_encoder import GroupEncoder
from edge.models.registry import build_network
from edge.scoring.group_features import encode_groups

G, K, D = 48, 16, 24


def _net(patch_scale: float = 1.0) -> GroupEncoder:
    return GroupEncoder(group_size=K, out_dim=D, hidden=16, patch_scale=patch_scale).eval()


def _patches(batch: int) -> torch.Tensor:
    return torch.randn(batch, G, K, 3) * 0.5


def test_group_encoder_returns_one_feature_per_group() -> None:
    with torch.no_grad():
        assert _net()(_patches(2)).shape == (2, G, D)


def test_group_encoder_features_have_unit_length() -> None:
    with torch.no_grad():
        norms = _net()(_patches(2)).norm(dim=-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


def test_group_encoder_batch_items_do_not_influence_each_other() -> None:
    net, patches = _net(), _patches(2)
    with torch.no_grad():
        alone = net(patches[:1])
        patches[1] += 3.0
        assert torch.allclose(net(patches)[:1], alone, atol=1e-6)


def test_group_encoder_sees_patches_multiplied_by_its_patch_scale() -> None:
    scaled, plain = _net(patch_scale=4.0), _net()
    plain.load_state_dict(scaled.state_dict())
    patches = _patches(1)
    with torch.no_grad():
        assert torch.allclose(scaled(patches), plain(patches * 4.0), atol=1e-6)


def test_group_encoder_rejects_patches_of_another_group_size() -> None:
    with pytest.raises(ValueError, match=f"{K}, 3"):
        _net()(torch.zeros(1, G, K + 1, 3))


def test_group_encoder_is_rebuilt_from_its_config_by_the_registry() -> None:
    net = _net(patch_scale=2.5)
    rebuilt = build_network("group_encoder", net.config)
    rebuilt.load_state_dict(net.state_dict())
    patches = _patches(1)
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(patches), net(patches))


def test_encode_groups_encodes_each_group_patch_relative_to_its_center() -> None:
    net = _net()
    points = torch.randn(200, 3)
    members = torch.randint(0, 200, (G, K))
    centers = members[:, 0]
    with torch.no_grad():
        want = net((points[members] - points[centers].unsqueeze(1)).unsqueeze(0))[0]
    assert torch.allclose(encode_groups(net, points, members, centers), want, atol=1e-6)


def test_group_encoder_onnx_export_matches_torch_with_a_dynamic_batch(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    net = _net(patch_scale=3.0)
    path = tmp_path / "group_encoder.onnx"
    torch.onnx.export(
        net, (_patches(1),), str(path), opset_version=17, dynamo=False,
        input_names=["patches"], output_names=["features"],
        dynamic_axes={"patches": {0: "batch"}, "features": {0: "batch"}},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    patches = _patches(3)
    got = session.run(None, {"patches": patches.numpy()})[0]
    with torch.no_grad():
        want = net(patches).numpy()
    assert got.shape == (3, G, D)
    assert np.abs(got - want).max() < 1e-4
