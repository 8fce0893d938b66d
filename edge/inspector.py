"""The Inspector: one cloud in, one Verdict out (DESIGN.md section 1, the whole per-frame algorithm).

Training evaluation, the CLI and the edge service all inspect through this class, so what is measured is
what runs on the line. Follow :meth:`Inspector.inspect` to find every stage:

1. :func:`edge.preprocess.preprocess` - finite points, voxel grid, optional outlier removal
2. :meth:`Inspector._align` - rigid alignment to the recipe's template (:mod:`edge.geometry.alignment`)
3. :func:`edge.features.describe` - normals, multi-scale FPFH, AGCS groups
4. :func:`edge.features.feature_point_scores` - memory-bank distance per group, spread to its points
5. :mod:`edge.scoring.deviation` - distance to the template surface and missing material
6. :meth:`Inspector.fuse` - branch scores scaled by their normal ranges, smoothed, combined, dilated
7. :meth:`Inspector._decide` - object score, calibration, PASS/FAIL and regions
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edge.bundle import Bundle, BundleError, load_bundle
from edge.features import describe, feature_point_scores, neighbour_count
from edge.geometry.alignment import align, apply_transform
from edge.geometry.knn import knn
from edge.io.cloud import PointCloud
from edge.params import InspectorParams
from edge.preprocess import Preprocessed, preprocess
from edge.scoring.calibration import Calibration, is_anomalous
from edge.scoring.deviation import missing_evidence, surface_deviation
from edge.scoring.regions import extract_regions
from edge.timing import StageTimer
from edge.verdict import Decision, Verdict

GOLDEN_TOLERANCE = 1e-3


@dataclass(frozen=True)
class BranchScales:
    """Raw score of each branch that a normal part reaches at most (a high quantile): the fusion divides by it."""

    feature: float = 1.0
    deviation: float = 1.0
    missing: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return {"feature": self.feature, "deviation": self.deviation, "missing": self.missing}


@dataclass
class RecipeModel:
    """Everything a recipe has learned, in memory: what a bundle stores besides the golden sample."""

    params: InspectorParams
    template: torch.Tensor
    template_normals: torch.Tensor
    bank: torch.Tensor
    scales: BranchScales
    calibration: Calibration | None

    def to(self, device: torch.device) -> "RecipeModel":
        return RecipeModel(
            params=self.params,
            template=self.template.to(device),
            template_normals=self.template_normals.to(device),
            bank=self.bank.to(device),
            scales=self.scales,
            calibration=self.calibration,
        )


@dataclass
class Analysis:
    """Raw per-branch scores of the processed points of one scan (before fusion and calibration), and each
    processed point's nearest neighbours (itself first), shared by the normals, AGCS and smoothing."""

    pre: Preprocessed
    aligned: torch.Tensor
    neighbors: torch.Tensor
    feature: torch.Tensor
    deviation: torch.Tensor
    missing: torch.Tensor
    coverage: float
    fitness: float


@dataclass
class FusedScores:
    """Fused raw point scores (P,): ``point`` for point scores and regions, ``object_basis`` for the object score;
    ``missing`` marks points whose score comes mainly from missing material (a rim of absent material)."""

    point: torch.Tensor
    object_basis: torch.Tensor
    missing: torch.Tensor


class InspectionError(ValueError):
    """The scan cannot be inspected (too few points, does not match the template); the reason is the message."""


class Inspector:
    """Scores scans of one recipe on one device."""

    def __init__(
        self,
        model: RecipeModel,
        device: str | torch.device = "cpu",
        *,
        bundle_id: str = "unsaved",
        bundle_sha256: str = "",
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.params = model.params
        self.voxel = model.params.preprocess.voxel_size
        self.bundle_id = bundle_id
        self.bundle_sha256 = bundle_sha256

    @classmethod
    def from_bundle(cls, root: str | Path, device: str | torch.device = "cpu", *, smoke_test: bool = True) -> "Inspector":
        """Load and verify a bundle, then reproduce its golden sample's score before returning."""
        bundle = load_bundle(root)
        inspector = cls(model_from_bundle(bundle), device, bundle_id=bundle.bundle_id, bundle_sha256=bundle.sha256)
        if smoke_test:
            inspector.smoke_test(bundle)
        return inspector

    def smoke_test(self, bundle: Bundle) -> None:
        """Raise BundleError unless the golden sample gives the recorded verdict and raw score."""
        golden = bundle.manifest.golden
        verdict = self.inspect(bundle.arrays[golden.file.removesuffix(".npy")])
        expected = golden.raw_score
        if verdict.decision.value != golden.verdict or not np.isclose(
            verdict.raw_score, expected, rtol=GOLDEN_TOLERANCE, atol=GOLDEN_TOLERANCE * 1e-3
        ):
            raise BundleError(
                f"{bundle.root}: golden sample gave {verdict.decision.value} raw {verdict.raw_score:.6g}, "
                f"expected {golden.verdict} raw {expected:.6g} ({verdict.reason or 'no reason'})"
            )

    def inspect(self, cloud: PointCloud | np.ndarray | torch.Tensor, *, point_scores: bool = False) -> Verdict:
        """Inspect one scan. Input problems give an ERROR verdict; a part is never PASS unless fully scored."""
        timer = StageTimer(self.device)
        try:
            analysis = self.analyze(_as_tensor(cloud, self.device), timer)
        except InspectionError as exc:
            return Verdict.error(str(exc), timer.as_dict())
        with timer.stage("fusion"):
            fused = self.fuse(analysis)
        with timer.stage("verdict"):
            verdict = self._decide(analysis, fused, point_scores)
        verdict.timing_ms = timer.as_dict()
        return verdict

    def analyze(self, points: torch.Tensor, timer: StageTimer | None = None) -> Analysis:
        """Stages 1-5: raw branch scores of the processed points."""
        timer = timer or StageTimer(self.device)
        params = self.params
        with timer.stage("preprocess"):
            pre = preprocess(points, params.preprocess)
        minimum = max(params.features.group_size, params.features.normals_k) * 2
        if pre.points.shape[0] < minimum:
            raise InspectionError(f"only {pre.points.shape[0]} points after preprocessing, need at least {minimum}")
        with timer.stage("align"):
            aligned = self._align(pre.points)
        with timer.stage("deviation"):
            deviation, missing, coverage = self._deviation(aligned)
        fitness = self._fitness(deviation)
        if fitness < params.alignment.min_fitness:
            raise InspectionError(
                f"scan does not match the template ({fitness:.0%} of its points lie near it, need "
                f"{params.alignment.min_fitness:.0%}): wrong part, wrong recipe or pose outside the fixture's range"
            )
        with timer.stage("features"):
            k = min(max(neighbour_count(params.features), params.scoring.smoothing_k), aligned.shape[0])
            _, neighbors = knn(aligned, aligned, k)
            descriptors = describe(aligned, params.features, self.voxel, neighbors=neighbors)
        with timer.stage("memory_bank"):
            feature = feature_point_scores(aligned, descriptors, self.model.bank)
        return Analysis(pre, aligned, neighbors, feature, deviation, missing, coverage, fitness)

    def _align(self, points: torch.Tensor) -> torch.Tensor:
        alignment = self.params.alignment
        if not alignment.enabled:
            return points
        result = align(
            points,
            self.model.template,
            target_normals=self.model.template_normals,
            coarse=alignment.coarse,
            voxel_size=self.voxel,
            max_correspondence_distance=(alignment.max_distance_voxels * self.voxel, 2.0 * self.voxel, self.voxel),
            max_iterations=alignment.iterations,
            tolerance=alignment.tolerance,
        )
        return apply_transform(points, result.transform)

    def _fitness(self, deviation: torch.Tensor) -> float:
        """Share of points within the alignment's capture distance of the template (1 without a template)."""
        if not self.params.deviation.enabled:
            return 1.0
        limit = self.params.alignment.fitness_distance_voxels * self.voxel
        return float((deviation <= limit).float().mean())

    def _deviation(self, aligned: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        dev = self.params.deviation
        if not dev.enabled:
            zeros = aligned.new_zeros(aligned.shape[0])
            return zeros, zeros, 1.0
        template, normals = self.model.template, self.model.template_normals
        deviation = surface_deviation(aligned, template, normals, patch_radius=dev.patch_radius_voxels * self.voxel)
        missing, _, coverage = missing_evidence(
            aligned, template, normals, gap_radius=dev.gap_radius_voxels * self.voxel, full_coverage=dev.full_coverage
        )
        return deviation, missing, coverage

    def fuse(self, analysis: Analysis) -> FusedScores:
        """Stage 6: branch scores over their normal scales, smoothed, combined, then spread over regions.

        The continuous branches (feature, deviation) are averaged over ``smoothing_k`` neighbours to damp
        sampling noise; the missing branch is not (it is already denoised by the gap radius and sits on a thin
        rim that averaging would dilute). Branches are combined by ``sum`` (default) or ``max``. Point scores
        are then dilated (neighbourhood maximum) so the whole defect area, not only its peak, scores high;
        the object score is taken before dilation.
        """
        scales = self.model.scales
        continuous = [analysis.feature / scales.feature]
        if self.params.deviation.enabled:
            continuous.append(analysis.deviation / scales.deviation)
        smoothed = torch.stack(continuous, dim=1)
        nbr = analysis.neighbors[:, : self.params.scoring.smoothing_k]
        smoothed = smoothed[nbr].mean(dim=1)
        branches = [smoothed]
        if self.params.deviation.enabled:
            branches.append((analysis.missing / scales.missing).unsqueeze(1))
        stacked = torch.cat(branches, dim=1)
        fused = stacked.sum(dim=1) if self.params.scoring.fusion == "sum" else stacked.amax(dim=1)
        missing = stacked.argmax(dim=1) == stacked.shape[1] - 1 if self.params.deviation.enabled else fused < 0
        if not self.params.scoring.dilate:
            return FusedScores(point=fused, object_basis=fused, missing=missing)
        spread, source = fused[nbr].max(dim=1)
        return FusedScores(point=spread, object_basis=fused, missing=missing[nbr.gather(1, source.unsqueeze(1)).squeeze(1)])

    def object_score(self, fused: FusedScores) -> float:
        """Robust maximum: the mean of the ``object_top_k`` highest fused point scores (before dilation)."""
        k = min(self.params.scoring.object_top_k, fused.object_basis.shape[0])
        return float(torch.topk(fused.object_basis, k).values.mean())

    def _decide(self, analysis: Analysis, fused_scores: FusedScores, point_scores: bool) -> Verdict:
        raw = self.object_score(fused_scores)
        fused = fused_scores.point
        calibration = self.model.calibration
        if calibration is None:
            return Verdict(Decision.ERROR, float("nan"), raw, reason="recipe is not calibrated")
        score = float(calibration.normalize(raw))
        anomalous = is_anomalous(score, self.params.scoring.sensitivity)
        regions = []
        if anomalous:
            hot = fused >= calibration.threshold
            scoring = self.params.scoring
            radius = scoring.region_radius_voxels * self.voxel
            pts, sc, miss = analysis.pre.points[hot], calibration.normalize(fused[hot]), fused_scores.missing[hot]
            regions = extract_regions(pts, sc, miss, radius=radius, min_points=scoring.min_region_points)
            if not regions:
                regions = extract_regions(pts, sc, miss, radius=radius, min_points=1)
        per_point = None
        if point_scores:
            per_point = analysis.pre.lift(calibration.normalize(fused, clip=False)).cpu().numpy()
        return Verdict(
            Decision.FAIL if anomalous else Decision.PASS, score, raw, regions=regions, point_scores=per_point
        )


def model_from_bundle(bundle: Bundle) -> RecipeModel:
    """The in-memory recipe of a verified bundle."""
    m = bundle.manifest
    try:
        params = InspectorParams.model_validate(m.params)
        calibration = Calibration(**m.calibration["object"])
        scales = BranchScales(**m.calibration["scales"])
        arrays = {name: torch.from_numpy(np.asarray(bundle.arrays[name], dtype=np.float32)) for name in ("template", "template_normals", "bank")}
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{bundle.root}: bundle.yaml does not describe a usable recipe: {exc}") from None
    return RecipeModel(params, arrays["template"], arrays["template_normals"], arrays["bank"], scales, calibration)


def _as_tensor(cloud: PointCloud | np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    if isinstance(cloud, PointCloud):
        cloud = cloud.points
    points = torch.as_tensor(np.asarray(cloud) if not isinstance(cloud, torch.Tensor) else cloud)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"a scan must be (N, 3) points, got shape {tuple(points.shape)}")
    return points.to(device=device, dtype=torch.float32)
