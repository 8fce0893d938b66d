"""Few-shot training of the Group3AD group encoder (Algorithm 2): IUN phase, then IAN phase.

Each normal scan is described once (``edge.features.describe``: normals, AGCS centers, K-point groups, exactly
as the Inspector groups it) plus its multi-scale FPFH variation, which places the fake anomalies
(``trainer.models.fake_anomaly``). Training then alternates, every ``recluster_every`` steps (an "epoch"):

1. fresh fake anomalies on every scan; their groups are the scan's groups that the perturbation reaches
   (a member displaced by at least half the peak falloff) plus one K-nearest-point group at each anchor;
2. features of all normal and fake-anomaly groups; K-means with elbow K over the normal groups' features,
   the fake-anomaly groups forming one more cluster of their own (``anomaly_cluster``; otherwise they are
   clustered with the rest, as in the paper);
3. ``recluster_every`` Adam steps on batches of all fake-anomaly groups plus random normal groups, the
   cluster assignments held fixed and the centers recomputed from the batch's current features:
   ``L_IUN`` in the first phase, ``L_IAN`` (temperature ``T``) in the second.

Deviations from the paper: the encoder is trained from scratch (no pre-trained backbone), for a fixed number
of steps rather than epochs over a dataset; fake anomalies are regenerated every epoch; and by default the
fake-anomaly groups are their own cluster, so IUN separates them from the normal clusters explicitly instead
of relying on K-means to isolate them (they are a few percent of the groups, and the elbow K is small).
Measured usefulness and the recommended descriptor weight: docs/group3ad.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from edge.features import describe, fpfh_radii
from edge.geometry.agcs import local_feature_variation
from edge.geometry.fpfh import fpfh_multiscale
from edge.geometry.grouping import group_points
from edge.models.group_encoder import GroupEncoder
from edge.params import FeatureParams
from edge.scoring.group_features import group_patches
from trainer.models.fake_anomaly import make_fake_anomalies
from trainer.models.group3ad_losses import cluster_groups, ian_loss, iun_loss

Progress = Callable[[str], None]


@dataclass
class GroupEncoderOptions:
    """Knobs of :func:`fit_group_encoder`; lengths named ``*_voxels`` are multiples of the voxel size."""

    out_dim: int = 64
    hidden: int = 64
    iun_steps: int = 100
    ian_steps: int = 50
    recluster_every: int = 25
    batch_groups: int = 384
    lr: float = 1e-3
    temperature: float = 1.0
    k_range: tuple[int, int] = (1, 10)
    anomaly_cluster: bool = True
    fake_per_scan: int = 4
    fake_radius_voxels: tuple[float, float] = (3.0, 8.0)
    fake_height_voxels: tuple[float, float] = (0.5, 2.5)
    fake_noise_voxels: float = 0.15
    seed: int = 0


@dataclass
class ScanGroups:
    """One normal scan as training sees it: points, normals, FPFH variation (P,), AGCS centers (G,), members (G, K)."""

    points: torch.Tensor
    normals: torch.Tensor
    variation: torch.Tensor
    centers: torch.Tensor
    members: torch.Tensor


def scan_groups(scan: torch.Tensor, params: FeatureParams, voxel_size: float) -> ScanGroups:
    """AGCS groups of ``scan`` (P, 3) as the Inspector forms them, and the variation ``F_p`` of its multi-scale FPFH."""
    if params.mode != "agcs":
        raise ValueError("the group encoder needs AGCS groups (features.mode 'agcs')")
    descriptors = describe(scan, params, voxel_size)
    histograms = fpfh_multiscale(
        scan, descriptors.normals, radii=fpfh_radii(params, voxel_size), max_nn=params.fpfh_max_nn, dtype=torch.float32
    )
    variation = local_feature_variation(scan, torch.cat(histograms, dim=1) / 100.0, k=params.variation_k)
    assert descriptors.centers is not None and descriptors.members is not None
    return ScanGroups(scan, descriptors.normals, variation, descriptors.centers, descriptors.members)


def median_patch_radius(groups: Sequence[ScanGroups]) -> float:
    """Median over all groups of the distance from a group's center to its farthest member."""
    radii = torch.cat([group_patches(g.points, g.members, g.centers).norm(dim=2).amax(dim=1) for g in groups])
    return float(radii.median())


def fake_anomaly_patches(
    groups: ScanGroups, voxel_size: float, options: GroupEncoderOptions, generator: torch.Generator
) -> torch.Tensor:
    """Patches (A, K, 3) of the groups that fresh fake anomalies on one scan reach, plus one at each anchor."""
    fake = make_fake_anomalies(
        groups.points,
        groups.normals,
        groups.variation,
        count=options.fake_per_scan,
        radius=(options.fake_radius_voxels[0] * voxel_size, options.fake_radius_voxels[1] * voxel_size),
        height=(options.fake_height_voxels[0] * voxel_size, options.fake_height_voxels[1] * voxel_size),
        noise=options.fake_noise_voxels * voxel_size,
        generator=generator,
    )
    reached = fake.weight[groups.members].amax(dim=1) >= 0.5
    anchored, _ = group_points(fake.points, fake.anchors, groups.members.shape[1])
    return torch.cat([group_patches(fake.points, groups.members[reached], groups.centers[reached]), anchored])


def _encode(encoder: GroupEncoder, patches: torch.Tensor) -> torch.Tensor:
    return encoder(patches.unsqueeze(0))[0]


def _cluster(
    encoder: GroupEncoder, normal: torch.Tensor, fake: torch.Tensor, options: GroupEncoderOptions, seed: int
) -> tuple[torch.Tensor, int]:
    """Cluster labels of ``normal`` then ``fake`` patches by their current features, and the elbow K."""
    with torch.no_grad():
        normal_features, fake_features = _encode(encoder, normal), _encode(encoder, fake)
    if options.anomaly_cluster:
        clustering = cluster_groups(normal_features, options.k_range, seed=seed)
        fake_labels = torch.full((fake.shape[0],), clustering.k, dtype=torch.int64, device=normal.device)
        return torch.cat([clustering.labels, fake_labels]), clustering.k
    clustering = cluster_groups(torch.cat([normal_features, fake_features]), options.k_range, seed=seed)
    return clustering.labels, clustering.k


def fit_group_encoder(
    scans: Sequence[torch.Tensor],
    params: FeatureParams,
    voxel_size: float,
    options: GroupEncoderOptions | None = None,
    progress: Progress | None = None,
) -> GroupEncoder:
    """A :class:`GroupEncoder` trained on normal ``scans`` ((P_i, 3), on the recipe's voxel grid, cloud units).

    ``patch_scale`` is 1 / the median patch radius of the scans' groups. Deterministic for a given
    ``options.seed`` on one device; ``progress`` receives one line per epoch (phase, K, mean loss).
    """
    if not scans:
        raise ValueError("fit_group_encoder needs at least one normal scan")
    options = options or GroupEncoderOptions()
    if options.recluster_every < 1 or options.batch_groups < 1:
        raise ValueError("fit_group_encoder: recluster_every and batch_groups must be positive")
    say = progress or (lambda _msg: None)
    device = scans[0].device
    torch.manual_seed(options.seed)
    generator = torch.Generator().manual_seed(options.seed)
    groups = []
    for i, scan in enumerate(scans):
        say(f"group encoder: describing scan {i + 1}/{len(scans)}")
        groups.append(scan_groups(scan.float(), params, voxel_size))
    encoder = GroupEncoder(
        group_size=groups[0].members.shape[1],
        out_dim=options.out_dim,
        hidden=options.hidden,
        patch_scale=1.0 / max(median_patch_radius(groups), 1e-12),
    ).to(device)
    normal = torch.cat([group_patches(g.points, g.members, g.centers) for g in groups]).float()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=options.lr)
    phases = (("IUN", options.iun_steps, iun_loss), ("IAN", options.ian_steps, _ian(options.temperature)))
    epoch = 0
    for phase, steps, loss_fn in phases:
        for start in range(0, steps, options.recluster_every):
            fake = torch.cat([fake_anomaly_patches(g, voxel_size, options, generator) for g in groups]).float()
            labels, k = _cluster(encoder, normal, fake, options, seed=options.seed + epoch)
            pool = torch.cat([normal, fake])
            losses = []
            for _ in range(min(options.recluster_every, steps - start)):
                batch = _batch(normal.shape[0], fake.shape[0], options.batch_groups, generator).to(device)
                loss = loss_fn(_encode(encoder, pool[batch]), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            mean_loss = sum(losses) / len(losses)
            say(f"group encoder: {phase} epoch {epoch}: K={k}, {fake.shape[0]} fake groups, loss {mean_loss:.4f}")
            epoch += 1
    return encoder.eval()


def _ian(temperature: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return lambda features, labels: ian_loss(features, labels, temperature)


def _batch(n_normal: int, n_fake: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Pool rows of one step: every fake-anomaly group, then random normal groups up to ``size`` rows."""
    take = min(n_normal, max(size - n_fake, 1))
    chosen = torch.randperm(n_normal, generator=generator)[:take]
    return torch.cat([chosen, torch.arange(n_normal, n_normal + n_fake)])
