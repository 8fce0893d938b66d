"""Few-shot Group3AD encoder training on synthetic parts: the learned features tell a defect from normal groups."""

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from edge.features import Descriptors, describe
from edge.models.group_encoder import GroupEncoder
from edge.params import FeatureParams, PreprocessParams
from edge.preprocess import preprocess
from edge.scoring.group_features import encode_groups, group_patches
from edge.scoring.memory_bank import nearest_distance
from trainer.data import apply_defect, make_part
from trainer.fit.group_encoder import GroupEncoderOptions, fit_group_encoder

VOXEL = 2.5
PARAMS = FeatureParams(groups=128, group_size=24)
FAST = GroupEncoderOptions(
    hidden=32, out_dim=32, iun_steps=16, ian_steps=8, recluster_every=8, batch_groups=192, k_range=(1, 6)
)
Described = tuple[torch.Tensor, Descriptors]


def _described(points: np.ndarray) -> Described:
    grid = preprocess(torch.as_tensor(points), PreprocessParams(voxel_size=VOXEL))
    return grid.points, describe(grid.points, PARAMS, VOXEL)


def _point_labels(points: np.ndarray, labels: np.ndarray) -> torch.Tensor:
    """Defect labels of the voxel-grid points (a voxel is defective when any of its points is)."""
    grid = preprocess(torch.as_tensor(points), PreprocessParams(voxel_size=VOXEL))
    out = torch.zeros(grid.points.shape[0])
    mapped = grid.source_index >= 0
    return out.scatter_reduce_(0, grid.source_index[mapped], torch.as_tensor(labels)[mapped].float(), "amax")


@pytest.fixture(scope="module")
def trained() -> Iterator[dict]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the shared 2-core test machine: one thread avoids oversubscription stalls
    try:
        rng = np.random.default_rng(0)
        parts = [make_part("bracket", rng, 6000, noise=0.05, pose_degrees=2.0) for _ in range(3)]
        train = [_described(p.points) for p in parts[:2]]
        encoder = fit_group_encoder([points for points, _ in train], PARAMS, VOXEL, FAST)
        defective = make_part("bracket", rng, 6000, noise=0.05, pose_degrees=2.0)
        bulge = apply_defect("bulge", defective.points, rng, normals=defective.normals, radius=0.12, height=0.03)
        yield {
            "encoder": encoder,
            "train": train,
            "held_out": _described(parts[2].points),
            "bulge": _described(bulge.points),
            "bulge_labels": _point_labels(bulge.points, bulge.labels),
        }
    finally:
        torch.set_num_threads(threads)


def _scores(encoder: GroupEncoder, described: Described, bank: torch.Tensor) -> torch.Tensor:
    """Nearest-bank distance of every group (AGCS groups as the Inspector forms them)."""
    points, d = described
    return nearest_distance(encode_groups(encoder, points, d.members, d.centers), bank)[0]


def test_fit_sets_the_patch_scale_to_one_over_the_median_patch_radius(trained: dict) -> None:
    radii = torch.cat([group_patches(p, d.members, d.centers).norm(dim=2).amax(dim=1) for p, d in trained["train"]])
    assert trained["encoder"].patch_scale == pytest.approx(1.0 / float(radii.median()), rel=1e-6)
    assert trained["encoder"].group_size == PARAMS.group_size


def test_trained_encoder_scores_bulge_groups_above_held_out_normal_groups(trained: dict) -> None:
    encoder = trained["encoder"]
    bank = torch.cat([encode_groups(encoder, p, d.members, d.centers) for p, d in trained["train"]])
    normal = _scores(encoder, trained["held_out"], bank)
    scores = _scores(encoder, trained["bulge"], bank)
    on_defect = trained["bulge_labels"][trained["bulge"][1].members].mean(dim=1) >= 0.25
    assert int(on_defect.sum()) >= 3
    assert float(scores[on_defect].mean()) > 1.2 * float(normal.mean())


def test_group_patches_are_members_relative_to_their_center() -> None:
    points = torch.randn(50, 3)
    members = torch.tensor([[3, 4, 5], [7, 8, 9]])
    centers = torch.tensor([3, 7])
    assert torch.equal(group_patches(points, members, centers)[1, 2], points[9] - points[7])
