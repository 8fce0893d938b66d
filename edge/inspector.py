"""The Inspector: one cloud in, one Verdict out (DESIGN.md section 1, the whole per-frame algorithm).

Training evaluation, the CLI and the edge service all inspect through this class, so what is measured is
what runs on the line. :meth:`Inspector.analyze` and :meth:`Inspector.conclude` call the stages, each in its own
module under :mod:`edge.stages`, in this order:

1. :func:`edge.stages.preprocess.prepare` - unit check, finite points, voxel grid, optional outlier removal
   (:mod:`edge.preprocess`), enough points left to score
2. :func:`edge.stages.registration.register` - rigid alignment to the recipe's template
   (:mod:`edge.geometry.alignment`); a global stage (FPFH hypotheses verified by ICP) when the recipe's pose is
   free or the fixtured fit fails
3. :func:`edge.stages.template_fit.template_fit` - distance to the template surface and missing material, judged
   on the template's part visible from the scan's viewing direction when the scan is a single view
   (:mod:`edge.geometry.visibility`)
4. :func:`edge.stages.features.score_features` - normals, multi-scale FPFH, AGCS groups, Group3AD encoder
   features (:mod:`edge.features`) and their memory-bank distance per group, spread to its points
5. :func:`edge.stages.reconstruction.score_reconstruction` - DUS-Net reconstruction distance
   (:mod:`edge.scoring.reconstruction`, or masked per ``reconstruction.mode``:
   :mod:`edge.scoring.masked_reconstruction`) and the missing material it reveals
   (:mod:`edge.scoring.missing_regions`)
6. :func:`edge.stages.fusion.fuse` - branch scores scaled by their normal ranges, smoothed, fused by the recipe's
   One-Class SVM (:mod:`edge.scoring.fusion`), dilated
7. :func:`edge.stages.decision.decide` - object score, calibration, PASS/FAIL and regions
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from edge.bundle import Bundle, BundleError, load_bundle
from edge.errors import InspectionError
from edge.io.cloud import PointCloud
from edge.recipe import BranchScales, Network, RecipeModel, ViewRegime, model_from_bundle
from edge.runtime.base import BACKENDS
from edge.runtime.select import load_networks
from edge.scoring.calibration import Calibration
from edge.scoring.fusion import FusionModel
from edge.stages.analysis import Analysis
from edge.stages.decision import decide, object_score
from edge.stages.features import score_features
from edge.stages.fusion import FusedScores, Regime, branch_scores, fuse, regime
from edge.stages.preprocess import prepare, robust_template_size
from edge.stages.reconstruction import reconstruction_active, score_reconstruction
from edge.stages.registration import register
from edge.stages.template_fit import TemplateFit, refine_at_input_resolution
from edge.timing import StageTimer
from edge.verdict import Verdict

GOLDEN_TOLERANCE = 1e-3

__all__ = ["Analysis", "BranchScales", "FusedScores", "InspectionError", "Inspector", "Network", "RecipeModel",
           "Regime", "model_from_bundle"]


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
        self.backend_report: list[str] = []
        self.sensitivity = model.params.scoring.sensitivity
        self._template_size = robust_template_size(self.model)

    def set_sensitivity(self, sensitivity: float) -> None:
        """Change the run-time sensitivity in (0, 1) (FAIL at calibrated score >= 1 - sensitivity); no reload."""
        sensitivity = float(sensitivity)
        if not 0.0 < sensitivity < 1.0:
            raise ValueError(f"sensitivity must lie strictly between 0 and 1, got {sensitivity}")
        self.sensitivity = sensitivity

    @classmethod
    def from_bundle(
        cls,
        root: str | Path,
        device: str | torch.device = "cpu",
        *,
        smoke_test: bool = True,
        backends: Sequence[str] = BACKENDS,
        precision: str = "fp32",
    ) -> "Inspector":
        """Load and verify a bundle, serve each network by the first of ``backends`` that can (the report of
        which and why is kept in :attr:`backend_report`), then reproduce the golden sample's score."""
        bundle = load_bundle(root)
        networks, report = load_networks(bundle, backends, device, precision)
        model = model_from_bundle(bundle, networks)
        inspector = cls(model, device, bundle_id=bundle.bundle_id, bundle_sha256=bundle.sha256)
        inspector.backend_report = report
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
            hint = ""
            if verdict.decision.value != golden.verdict and np.isclose(verdict.raw_score, expected,
                                                                        rtol=GOLDEN_TOLERANCE):
                hint = ("; the raw score matches, so the decision rule changed: do not edit scoring.sensitivity in "
                        "bundle.yaml, set recipes.<name>.sensitivity in the station file, `pcinspect control "
                        "sensitivity` or --sensitivity instead")
            raise BundleError(
                f"{bundle.root}: golden sample gave {verdict.decision.value} raw {verdict.raw_score:.6g}, "
                f"expected {golden.verdict} raw {expected:.6g} ({verdict.reason or 'no reason'}){hint}"
            )

    def inspect(self, cloud: PointCloud | np.ndarray | torch.Tensor, *, point_scores: bool = False,
                viewpoint: Sequence[float] | np.ndarray | None = None) -> Verdict:
        """Inspect one scan. Input problems give an ERROR verdict; a part is never PASS unless fully scored.

        ``viewpoint`` (3,) is the scanner's position in the scan's own frame when the scanner knows it (the
        frame header's ``viewpoint``): a single view is then judged on what is visible from there instead of
        on an estimated viewing direction."""
        return self.examine(cloud, point_scores=point_scores, viewpoint=viewpoint)[0]

    def examine(self, cloud: PointCloud | np.ndarray | torch.Tensor, *, point_scores: bool = False,
                viewpoint: Sequence[float] | np.ndarray | None = None) -> tuple[Verdict, Analysis | None]:
        """:meth:`inspect`, with the scan's :class:`Analysis` beside the verdict (None when the scan could not be
        analysed) for callers that report more than the verdict, such as each branch's own score."""
        timer = StageTimer(self.device)
        try:
            analysis = self.analyze(_as_tensor(cloud, self.device), timer, viewpoint=viewpoint)
        except InspectionError as exc:
            return Verdict.error(str(exc), timer.as_dict()), None
        return self.conclude(analysis, timer, point_scores=point_scores), analysis

    def conclude(self, analysis: Analysis, timer: StageTimer | None = None, *, point_scores: bool = False) -> Verdict:
        """Stages 6-7 on an analysed scan: fusion, object score, calibration, PASS/FAIL and regions."""
        timer = timer or StageTimer(self.device)
        try:
            with timer.stage("fusion"):
                fused = self.fuse(analysis)
        except InspectionError as exc:
            return Verdict.error(str(exc), timer.as_dict())
        with timer.stage("verdict"):
            verdict = decide(analysis, fused, self.model, sensitivity=self.sensitivity, point_scores=point_scores)
        verdict.timing_ms = timer.as_dict()
        return verdict

    def analyze(self, points: torch.Tensor, timer: StageTimer | None = None, *,
                viewpoint: Sequence[float] | np.ndarray | None = None) -> Analysis:
        """Stages 1-5: raw branch scores of the processed points (``viewpoint`` as in :meth:`inspect`)."""
        timer = timer or StageTimer(self.device)
        model = self.model
        pre = prepare(points, model, timer, template_size=self._template_size)
        registered = register(pre.points, model, timer, viewpoint=_viewpoint(viewpoint, self.device))
        with timer.stage("deviation_fine"):
            fit = refine_at_input_resolution(registered.fit, points, pre.source_index, registered.aligned,
                                             registered.transform, model)
        _require_match(fit, self.params.alignment.min_fitness)
        features = score_features(registered.aligned, model, model.bank, timer)
        with timer.stage("reconstruction"):
            recon = score_reconstruction(registered.aligned, model)
        return Analysis(
            pre, registered.aligned, features.neighbors, features.scores, fit.deviation, fit.missing, fit.coverage,
            fit.fitness, recon.distance, recon.missing, fit.partial,
        )

    def reconstruction_active(self) -> bool:
        """Whether this recipe scores with the DUS-Net (enabled, trained and shipped)."""
        return reconstruction_active(self.model)

    def branch_scores(self, analysis: Analysis) -> dict[str, torch.Tensor]:
        """Each active branch's point scores (P,) over its normal scale: the fusion's input columns
        (:func:`edge.stages.fusion.branch_scores`)."""
        return branch_scores(analysis, self.model)

    def fuse(self, analysis: Analysis) -> FusedScores:
        """Stage 6: branch scores fused into one point score, then spread over the defect area
        (:func:`edge.stages.fusion.fuse`)."""
        return fuse(analysis, self.model)

    def regime(self, analysis: Analysis) -> Regime:
        """The scales, fusion and calibration that score ``analysis`` (:func:`edge.stages.fusion.regime`)."""
        return regime(analysis, self.model)

    def with_fusion(self, fusion: FusionModel | None, calibration: Calibration | None,
                    view: ViewRegime | None = None) -> "Inspector":
        """This inspector with another fusion and calibration for full scans and another single-view model
        (``view``; None: single views are scored like full scans), as the evaluation's ablation variants need; the
        rest is shared, so one analysis of a scan serves every variant."""
        variant = object.__new__(Inspector)
        variant.__dict__.update(self.__dict__)
        if view is not None and view.fusion is not None:
            view = replace(view, fusion=view.fusion.to(self.device))
        variant.model = replace(self.model, fusion=fusion.to(self.device) if fusion is not None else None,
                                calibration=calibration, view=view)
        return variant

    def branch_object_scores(self, analysis: Analysis) -> dict[str, float]:
        """Each active branch's own object score: the mean of its ``object_top_k`` highest scaled point scores
        (:meth:`branch_scores`), as the fused score is taken from the fused points. Which branch separates good
        from bad scans of a line is read from these."""
        k = self.params.scoring.object_top_k
        return {name: float(torch.topk(values, min(k, values.shape[0])).values.mean())
                for name, values in self.branch_scores(analysis).items()}

    def object_score(self, fused: FusedScores) -> float:
        """Robust maximum: the mean of the ``object_top_k`` highest fused point scores (before dilation)."""
        return object_score(fused, self.params)


def _require_match(fit: TemplateFit, min_fitness: float) -> None:
    """InspectionError when too few of the scan's points lie near the template to judge it against the template."""
    if fit.fitness < min_fitness:
        raise InspectionError(
            f"scan does not match the template ({fit.fitness:.0%} of its points lie near it, need "
            f"{min_fitness:.0%}): wrong part, wrong recipe or pose outside the fixture's range"
        )


def _viewpoint(viewpoint: Sequence[float] | np.ndarray | None, device: torch.device) -> torch.Tensor | None:
    if viewpoint is None:
        return None
    value = torch.as_tensor(np.asarray(viewpoint, dtype=np.float32).reshape(-1), device=device)
    if value.shape != (3,) or not bool(torch.isfinite(value).all()):
        raise InspectionError(f"viewpoint must be 3 finite numbers (the scanner's x, y, z), got {list(viewpoint)}")
    return value


def _as_tensor(cloud: PointCloud | np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    if isinstance(cloud, PointCloud):
        cloud = cloud.points
    points = torch.as_tensor(np.asarray(cloud) if not isinstance(cloud, torch.Tensor) else cloud)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"a scan must be (N, 3) points, got shape {tuple(points.shape)}")
    return points.to(device=device, dtype=torch.float32)
