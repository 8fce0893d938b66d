"""Every parameter the Inspector needs, as the bundle stores it (validated with pydantic).

Lengths named ``*_voxels`` are multiples of ``preprocess.voxel_size``, so one recipe scales to any part size.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from edge.errors import UsageError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PreprocessParams(_Strict):
    """Step 1: finite points, voxel grid, optional statistical outlier removal."""

    voxel_size: PositiveFloat = Field(description="voxel edge in the cloud's units (resolved at training)")
    outlier_k: int = Field(0, ge=0, description="neighbours for statistical outlier removal; 0 disables it")
    outlier_std: PositiveFloat = 3.0


class AlignmentParams(_Strict):
    """Rigid alignment of each scan to the template before deviation scoring."""

    enabled: bool = True
    coarse: Literal["none", "pca", "fpfh"] = Field("none", description="'none' for fixtured parts (small pose error)")
    fallback: Literal["none", "pca", "fpfh"] = Field(
        "fpfh",
        description="global stage tried when a fixtured fit (coarse: none) leaves fewer than min_fitness of the "
        "points on the template; the better fit is kept",
    )
    max_distance_voxels: PositiveFloat = 8.0
    iterations: PositiveInt = 30
    tolerance: PositiveFloat = Field(1e-4, description="ICP stops when the update rotates less than this (radians)")
    fitness_distance_voxels: PositiveFloat = Field(2.0, description="a point this close to the template matches it")
    min_fitness: float = Field(
        0.7, ge=0.0, le=1.0, description="share of matching points below which the scan is an ERROR (wrong part/pose)"
    )


class FeatureParams(_Strict):
    """Steps 2-4: normals, multi-scale FPFH, AGCS groups, memory bank."""

    mode: Literal["agcs", "baseline"] = Field(
        "agcs", description="'baseline' = plain PatchCore on single-scale FPFH of every point (no AGCS, no multi-scale)"
    )
    normals_k: PositiveInt = 16
    fpfh_radii_voxels: list[PositiveFloat] = Field(default_factory=lambda: [3.0, 5.0, 8.0], min_length=1)
    fpfh_max_nn: PositiveInt = 48
    groups: PositiveInt = 384
    group_size: PositiveInt = 32
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="share of centers drawn among high-variation points")
    sampler: Literal["agcs", "gps"] = Field(
        "agcs", description="group centers: 'agcs' (Group3AD, uses alpha) or 'gps' (IMRNet eq. 1-6, uses gps_tau)"
    )
    gps_tau: float = Field(0.3, gt=0.0, le=1.0, description="GPS: share of points, by rank of geometric change, "
                           "that the centers are drawn from (IMRNet eq. 6)")
    variation_k: PositiveInt = 16
    bank_size: PositiveInt = 4096
    encoder: bool = Field(
        False,
        description="train the Group3AD group encoder and append its features to the group descriptors (off by "
        "default: it adds no accuracy in our measurements, docs/group3ad.md)",
    )
    encoder_weight: float = Field(2.0, ge=0.0, description="weight of the encoder features beside the mean FPFH")


class DeviationParams(_Strict):
    """Step 5: distance to the template surface and missing material."""

    enabled: bool = True
    patch_radius_voxels: PositiveFloat = 1.0
    gap_radius_voxels: PositiveFloat = Field(
        3.0,
        description="a template point with no scan point this near is uncovered: sets the coverage that tells a "
        "single view (below full_coverage) from a full scan, and the gaps a single view counts as missing material",
    )
    full_scan_gap_radius_voxels: PositiveFloat = Field(
        3.0,
        description="on a full scan, a template point with no scan point this near is missing material (single views "
        "keep gap_radius_voxels). Training lowers it to 2 (TrainOptions.narrow_gap_radius_voxels) when no held-back "
        "good full scan leaves a wider gap or when 2 catches more held-back defects: then holes and cracks under 3 "
        "voxels show (docs/detector.md)",
    )
    full_coverage: float = Field(0.85, gt=0.0, le=1.0)
    visibility: bool = Field(
        True,
        description="below full_coverage, count missing material only where the template is visible from the "
        "scan's estimated viewing direction (edge/geometry/visibility.py)",
    )
    view_cell_voxels: PositiveFloat = Field(2.5, description="z-buffer cell of the visibility model")
    view_depth_voxels: PositiveFloat = Field(2.5, description="depth behind a cell's front point still visible")
    fine: bool = Field(
        False,
        description="also measure every input point's distance to the template and give each voxel its farthest "
        "point's, so a groove narrower than the voxel grid still shows (issue 11, item 3); off: it lost to its "
        "control on dev-bench at a grid 3x coarser than the scans (docs/detector.md)",
    )
    fine_missing: bool = Field(
        False,
        description="on a full scan, also look for missing material among the input points themselves, with a gap "
        "radius of full_scan_gap_radius_voxels input spacings (the voxel over the square root of the input points "
        "per processing point): a hole narrower than full_scan_gap_radius_voxels voxels still shows (issue 11, item "
        "3). Off by default for its cost on scans much denser than the grid (docs/detector.md)",
    )


class ReconstructionParams(_Strict):
    """Steps 6-7: DUS-Net reconstruction of the anomaly-free shape and missing material it reveals."""

    enabled: bool = True
    groups: PositiveInt = Field(256, description="group centers (G) fed to the Down-Net; a multiple of 4")
    group_size: PositiveInt = Field(32, description="points per patch (K)")
    score_k: PositiveInt = Field(3, description="reconstructed neighbours in the softmax-weighted distance")
    missing_radius_voxels: PositiveFloat = Field(
        3.0, description="a reconstructed point with no scan point this close marks absent material"
    )
    missing_min_points: PositiveInt = Field(8, description="smallest cluster of such points that counts")
    mode: Literal["dense", "masked"] = Field(
        "dense",
        description="'dense' = DUS-Net on the scan's own groups (it can rebuild a defect); 'masked' = IMRNet-style: "
        "each region is judged against a reconstruction from the other regions (edge/scoring/masked_reconstruction.py)",
    )
    down_net: Literal["trained", "identity"] = Field(
        "trained", description="'identity' passes the centers through unchanged: the control the Down-Net must beat"
    )
    masks: PositiveInt = Field(4, description="masked mode: passes per iteration; each masks 1/masks of the groups")
    mask_block: PositiveInt = Field(8, description="masked mode: neighbouring groups masked together (defect scale)")
    mask_iterations: PositiveInt = Field(1, description="masked mode: restored cloud fed back this often (IMRNet)")
    context_k: PositiveInt = Field(32, description="masked mode: visible points a masked group is flattened onto")
    surface_k: int = Field(16, ge=3, description="masked mode: reconstructed points of a point's surface plane")


class ScoringParams(_Strict):
    """Fusion of branch scores, object score and regions."""

    fusion: Literal["model", "sum", "max"] = Field(
        "model",
        description="'model' = the recipe's trained fusion (One-Class SVM by default); 'sum'/'max' combine the "
        "scaled branch scores directly",
    )
    smoothing_k: PositiveInt = 8
    dilate: bool = Field(True, description="point score = max over the smoothing neighbourhood (whole defect area)")
    object_top_k: PositiveInt = Field(10, description="object score = mean of this many highest point scores")
    region_radius_voxels: PositiveFloat = 2.5
    min_region_points: PositiveInt = 3
    region_merge_voxels: float = Field(8.0, ge=0.0, description="regions whose boxes come closer than this are one "
                                       "defect (the arcs of a hole's rim, the patches of a bulge) and are merged")
    sensitivity: float = Field(0.5, gt=0.0, lt=1.0)


class InspectorParams(_Strict):
    """The whole per-frame algorithm's configuration."""

    preprocess: PreprocessParams
    alignment: AlignmentParams = Field(default_factory=AlignmentParams)
    features: FeatureParams = Field(default_factory=FeatureParams)
    deviation: DeviationParams = Field(default_factory=DeviationParams)
    reconstruction: ReconstructionParams = Field(default_factory=ReconstructionParams)
    scoring: ScoringParams = Field(default_factory=ScoringParams)


BASELINE_OVERRIDES: dict[str, object] = {
    "features.mode": "baseline",
    "deviation.enabled": False,
    "alignment.enabled": False,
    "reconstruction.enabled": False,
    "scoring.fusion": "sum",
}
"""Plain PatchCore on single-scale FPFH of every point: no AGCS, no multi-scale, no template branch."""


def with_overrides(params: InspectorParams, overrides: dict[str, object]) -> InspectorParams:
    """A copy of ``params`` with dotted-key ``overrides`` (``{"features.groups": 256}``), validated."""
    data = params.model_dump()
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            if not isinstance(node.get(key), dict):
                raise UsageError(f"unknown parameter section {dotted!r}")
            node = node[key]
        if leaf not in node:
            raise UsageError(f"unknown parameter {dotted!r}")
        node[leaf] = value
    return InspectorParams.model_validate(data)
