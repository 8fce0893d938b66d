"""Few-shot training of a recipe: template, memory bank and calibration from 1-50 normal scans.

Calibration holds scans back from the model: with n >= 2 scans each is scored leave-one-out by a model fitted
on the others; a single scan is scored through augmented copies of itself. The held-back scores set each
branch's normal scale (a high quantile of its normal point scores) and the object threshold, so that normal
parts pass. The final model is fitted on all scans and checked on its golden sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from edge.features import describe
from edge.geometry.alignment import align, apply_transform
from edge.geometry.knn import knn
from edge.geometry.normals import estimate_normals
from edge.geometry.sampling import voxel_downsample
from edge.inspector import BranchScales, Inspector, RecipeModel
from edge.params import InspectorParams, PreprocessParams, with_overrides
from edge.preprocess import preprocess
from edge.scoring.calibration import fit_calibration
from trainer.fit.augment import augment
from trainer.fit.coreset import greedy_coreset

Progress = Callable[[str], None]


@dataclass
class TrainOptions:
    """Training knobs that are not Inspector parameters."""

    target_points: int = 12000
    augmentations: int = 2
    held_out_copies: int = 2
    scale_quantile: float = 0.999
    margin: float = 0.25
    seed: int = 0


@dataclass
class TrainedRecipe:
    """A fitted recipe and what its calibration saw."""

    model: RecipeModel
    golden: np.ndarray
    normal_scores: list[float] = field(default_factory=list)


def resolve_voxel_size(points: torch.Tensor, target_points: int) -> float:
    """Voxel edge for a recipe: the scan's median point spacing, or coarser when that leaves more than
    ``target_points`` occupied voxels (then the smallest edge, to 2 %, that does not)."""
    finite = points[torch.isfinite(points).all(dim=1)]
    probes = finite[torch.randperm(finite.shape[0], generator=torch.Generator().manual_seed(0))[:2000]]
    spacing = float(knn(probes, finite, 2)[0][:, 1].sqrt().median())
    lo, hi = spacing, spacing
    while voxel_downsample(finite, hi)[0].shape[0] > target_points:
        lo, hi = hi, hi * 2.0
    while hi / lo > 1.02:
        mid = (lo * hi) ** 0.5
        if voxel_downsample(finite, mid)[0].shape[0] > target_points:
            lo = mid
        else:
            hi = mid
    return hi


def build_template(scans: Sequence[torch.Tensor], params: InspectorParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge the scans, each aligned to the first, on the recipe's voxel grid; normals of the result."""
    voxel = params.preprocess.voxel_size
    reference = scans[0]
    merged = [reference]
    for scan in scans[1:]:
        result = align(scan, reference, coarse=params.alignment.coarse, voxel_size=voxel)
        merged.append(apply_transform(scan, result.transform))
    template, _ = voxel_downsample(torch.cat(merged), voxel)
    return template, estimate_normals(template, params.features.normals_k)


def scan_descriptors(scan: torch.Tensor, params: InspectorParams, options: TrainOptions,
                     rng: np.random.Generator) -> torch.Tensor:
    """Descriptors of a normal scan (on the voxel grid) and of its augmented copies.

    FPFH and AGCS are invariant to rigid motion, so the scan needs no alignment here; each scan is described
    once and its rows serve every memory bank it belongs to (leave-one-out and final).
    """
    voxel = params.preprocess.voxel_size
    copies = [scan] + [preprocess(augment(scan, rng, voxel), params.preprocess).points for _ in range(options.augmentations)]
    return torch.cat([describe(copy, params.features, voxel).vectors for copy in copies])


def fit_model(scans: Sequence[torch.Tensor], descriptors: Sequence[torch.Tensor], params: InspectorParams,
              options: TrainOptions) -> RecipeModel:
    """Template from ``scans`` (on the voxel grid) and a core-set memory bank of their ``descriptors``;
    not yet calibrated."""
    template, normals = build_template(scans, params)
    rows = torch.cat(list(descriptors))
    bank = rows[greedy_coreset(rows, params.features.bank_size, seed=options.seed)]
    return RecipeModel(params, template, normals, bank, BranchScales(), None)


def train_recipe(
    scans: Sequence[np.ndarray],
    params: InspectorParams | None = None,
    options: TrainOptions | None = None,
    progress: Progress | None = None,
    overrides: dict[str, object] | None = None,
) -> TrainedRecipe:
    """Fit and calibrate a recipe from normal ``scans`` (each (N, 3) points in the part's units).

    Without ``params`` the defaults are used with a voxel size resolved from the first scan
    (``options.target_points``); ``overrides`` (dotted keys) then adjust them.
    """
    if not scans:
        raise ValueError("training needs at least one normal scan")
    options = options or TrainOptions()
    say = progress or (lambda _msg: None)
    torch.manual_seed(options.seed)
    clouds = [torch.as_tensor(np.asarray(s, dtype=np.float32)) for s in scans]
    if params is None:
        voxel = resolve_voxel_size(clouds[0], options.target_points)
        params = InspectorParams(preprocess=PreprocessParams(voxel_size=voxel))
    if overrides:
        params = with_overrides(params, overrides)
    gridded = [preprocess(c, params.preprocess).points for c in clouds]
    rng = np.random.default_rng(options.seed)
    descriptors = []
    for i, scan in enumerate(gridded):
        say(f"describing scan {i + 1}/{len(gridded)}")
        descriptors.append(scan_descriptors(scan, params, options, rng))

    held_out: list[tuple[RecipeModel, torch.Tensor]] = []
    if len(clouds) == 1:
        model = fit_model(gridded, descriptors, params, options)
        held_out = [(model, augment(clouds[0], rng, params.preprocess.voxel_size)) for _ in range(3)]
    else:
        for i in range(len(clouds)):
            say(f"calibration model {i + 1}/{len(clouds)} (leave-one-out)")
            others = [j for j in range(len(clouds)) if j != i]
            model = fit_model([gridded[j] for j in others], [descriptors[j] for j in others], params, options)
            held_out.append((model, clouds[i]))
            voxel = params.preprocess.voxel_size
            held_out += [(model, augment(clouds[i], rng, voxel)) for _ in range(options.held_out_copies)]
    inspectors = [Inspector(model) for model, _ in held_out]
    analyses = [(inspector, inspector.analyze(scan)) for inspector, (_, scan) in zip(inspectors, held_out)]
    scales = _branch_scales([a for _, a in analyses], options.scale_quantile, params.preprocess.voxel_size)

    normal_scores = []
    for inspector, analysis in analyses:
        inspector.model.scales = scales
        normal_scores.append(inspector.object_score(inspector.fuse(analysis)))
    calibration = fit_calibration(np.array(normal_scores), margin=options.margin)

    say("final model on all scans")
    final = fit_model(gridded, descriptors, params, options)
    final.scales, final.calibration = scales, calibration
    return TrainedRecipe(model=final, golden=np.asarray(scans[0], dtype=np.float32), normal_scores=normal_scores)


def _branch_scales(analyses: list, quantile: float, voxel: float) -> BranchScales:
    """High quantile of each branch's held-back normal point scores, floored so no branch divides by ~0."""

    def q(name: str, floor: float) -> float:
        values = torch.cat([getattr(a, name) for a in analyses]).double()
        return max(float(torch.quantile(values, quantile)) if values.numel() else 0.0, floor)

    feature = q("feature", 1e-6)
    return BranchScales(feature=feature, deviation=q("deviation", 0.05 * voxel), missing=q("missing", 1.0 * voxel))


