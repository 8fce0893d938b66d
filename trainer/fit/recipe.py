"""Few-shot training of a recipe from 1-50 normal scans: template, learned networks, memory bank, fusion and
calibration.

1. The scans go onto the recipe's voxel grid and are merged (aligned to the first) into the template.
2. The networks learn from all scans: the DUS-Net is fine-tuned from the shipped shape prior on the aligned scans
   in the template's unit-sphere frame (:mod:`trainer.fit.dusnet`), the Group3AD encoder is trained on their
   groups (:mod:`trainer.fit.group_encoder`). They are shape priors trained under strong noise, so held-back
   scoring reuses them instead of refitting them per fold (stated in docs/learned.md).
3. Calibration holds scans back from the template and memory bank: with n >= 2 scans each is scored
   leave-one-out by a model fitted on the others (a single scan through augmented copies of itself). The
   held-back normal scans and synthetic defects injected into them (:mod:`trainer.data.defects`) are the
   validation data: their branch scores set each branch's normal scale, fit the fusion (quantile-ratio search +
   One-Class SVM, :mod:`trainer.fit.fusion`) and the object threshold, so that normal parts pass.
4. The final model is fitted on all scans and checked on its golden sample.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from functools import partial
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from edge.features import describe
from edge.geometry.alignment import align, apply_transform
from edge.geometry.knn import knn
from edge.geometry.normals import estimate_normals
from edge.geometry.sampling import voxel_downsample
from edge.inspector import Analysis, BranchScales, Inspector, Network, RecipeModel
from edge.recipe import ViewRegime
from edge.models import NETWORK_SPECS
from edge.params import InspectorParams, PreprocessParams, with_overrides
from edge.preprocess import preprocess
from edge.runtime.torch_backend import TorchNetwork
from edge.scoring.calibration import Calibration, fit_calibration
from edge.scoring.fusion import BRANCHES, FusionModel
from edge.scoring.reconstruction import ShapeFrame
from edge.stages.template_fit import template_fit
from trainer.data.defects import DEFECT_KINDS, apply_defect
from trainer.fit.augment import augment, single_view, view_mask
from trainer.fit.coreset import greedy_coreset
from trainer.fit.dusnet import DusNetOptions, fine_tune_dusnet
from trainer.fit.fusion import FusionFit, FusionOptions, fit_fusion, refit_ocsvm
from trainer.fit.group_encoder import GroupEncoderOptions, fit_group_encoder

Progress = Callable[[str], None]


@dataclass
class TrainOptions:
    """Training knobs that are not Inspector parameters."""

    target_points: int = 12000
    augmentations: int = 2
    held_out_copies: int = 2
    views: int = 2
    """Single views (:func:`trainer.fit.augment.single_view`) of each training scan added to the memory bank, and
    of each held-back scan (normal, and with each validation defect) from which the recipe learns its single-view
    model (:class:`edge.recipe.ViewRegime`: scales, fusion and calibration of its own), so a line scanner's
    one-sided scan is judged against good one-sided scans while full scans keep their own tighter model. 0: no
    view model (views are then scored like full scans)."""
    densities: tuple[float, ...] = (2.0, 1.0)
    """The memory bank's augmented copies cycle through these scan densities relative to the training scans, so
    a recipe also accepts a good part scanned at a finer pitch (``augment(density=...)``). Held-back scans keep
    the training density: their scores set the threshold, which should stay as tight as the scans allow."""
    scale_quantile: float = 0.999
    margin: float = 0.5
    """Threshold = highest held-back normal object score + ``margin`` x (highest - median). The scores are
    out-of-sample (leave-one-out models, cross-fitted OCSVM) but few, so a new good part may exceed them."""
    seed: int = 0
    validation_defects: tuple[str, ...] = DEFECT_KINDS
    fusion_method: str = "auto"
    """The recipe's fusion: ``auto`` fits the One-Class SVM (Uni-3DAD) and the scaled sum on the same held-back
    validation data and keeps the better (the sum on a tie: fewer parameters), so the fused recipe never loses to
    its own plain sum on validation; or one method by name (``ocsvm``, ``sum``, ``max``, ``meanstd``)."""
    dusnet: DusNetOptions = field(default_factory=DusNetOptions)
    encoder: GroupEncoderOptions = field(default_factory=GroupEncoderOptions)
    fusion: FusionOptions = field(default_factory=FusionOptions)
    variants: dict[str, FusionSpec] = field(default_factory=dict)
    narrow_gap_radius_voxels: float | None = 2.0
    """A full-scan gap radius tried below ``deviation.full_scan_gap_radius_voxels`` (None: never): kept when no
    held-back good full scan leaves a template point farther than it from the scan, or when it catches more of the
    held-back defects at the threshold it leads to, so a recipe finds holes narrower than the configured radius
    where its good scans allow it (:func:`choose_full_scan_gap_radius`)."""

    @classmethod
    def quick(cls, **changes: object) -> "TrainOptions":
        """Light settings for trials, demos and tests: a short DUS-Net fine-tune, three validation defect kinds
        and a small fusion grid (about 3x faster to train; accuracy is measured with the defaults)."""
        settings: dict[str, object] = {
            "augmentations": 1,
            "validation_defects": ("bulge", "hole", "crack"),
            "dusnet": DusNetOptions(down_steps=20, up_steps=10),
            "fusion": FusionOptions(quantiles=(0.99,), gamma_factors=(0.01,)),
            "views": 1,
        }
        return cls(**{**settings, **changes})


@dataclass(frozen=True)
class FusionSpec:
    """A fusion to fit besides the recipe's own (the evaluation's ablation rows): its branches (None = every
    active branch) and method."""

    branches: tuple[str, ...] | None
    method: str


@dataclass
class FusionVariant:
    """A fitted fusion, the object calibration that goes with it, and the held-back normal object scores that
    calibration was fitted on."""

    fusion: FusionModel
    calibration: Calibration
    fit: FusionFit
    normal_scores: list[float]
    choice: dict[str, object] = field(default_factory=dict)
    view: ViewRegime | None = None
    """The single-view model of the same fusion (its branches and method fitted on the held-back single views),
    which scores the single views of an ablation row; None when the training has no single views."""
    view_fit: FusionFit | None = None
    """The single-view fusion's fit (its validation figures on the held-back single views), None without one."""

    @property
    def validation(self) -> dict[str, float]:
        """This fusion's object and point AUROC on the held-back validation scans (``view_`` keys: on the held-back
        single views), the figures it was chosen or compared by."""
        return validation_figures(self.fit, self.view_fit)


def validation_figures(fit: FusionFit | None, view_fit: FusionFit | None) -> dict[str, float]:
    """``object_auroc`` / ``point_auroc`` of a fusion's fit on full scans and, with ``view_`` prefixed, on single
    views; the keys of a missing fit are left out."""
    figures = {}
    for prefix, item in (("", fit), ("view_", view_fit)):
        if item is not None:
            figures[f"{prefix}object_auroc"] = float(item.object_auroc)
            figures[f"{prefix}point_auroc"] = float(item.point_auroc)
    return figures


@dataclass
class TrainedRecipe:
    """A fitted recipe and what its calibration saw."""

    model: RecipeModel
    golden: np.ndarray
    normal_scores: list[float] = field(default_factory=list)
    variants: dict[str, FusionVariant] = field(default_factory=dict)
    fusion_fit: FusionFit | None = None
    view_fit: FusionFit | None = None
    fusion_choice: dict[str, object] = field(default_factory=dict)
    gap_radius_choice: dict[str, object] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    scans: list[dict[str, object]] = field(default_factory=list)

    @property
    def provenance(self) -> dict[str, object]:
        """What ``bundle.yaml`` records of this training: the data, the held-back normal scores the threshold
        came from, the fusion chosen and the time each training step took."""
        fusion = self.model.fusion
        return {
            "training_scans": self.scans,
            "held_back_normal_scores": [round(float(s), 6) for s in self.normal_scores],
            "fusion": ({"method": fusion.method, "branches": list(fusion.branches), **self.fusion_choice}
                       if fusion is not None else "scaled sum"),
            "full_scan_gap_radius": self.gap_radius_choice,
            "timings_s": {k: round(v, 2) for k, v in self.timings.items()},
        }


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


def build_template(
    scans: Sequence[torch.Tensor], params: InspectorParams
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Merge the scans, each aligned to the first, on the recipe's voxel grid: the template, its normals, and
    the aligned scans."""
    voxel = params.preprocess.voxel_size
    reference = scans[0]
    aligned = [reference]
    for scan in scans[1:]:
        result = align(scan, reference, coarse=params.alignment.coarse, voxel_size=voxel)
        aligned.append(apply_transform(scan, result.transform))
    template, _ = voxel_downsample(torch.cat(aligned), voxel)
    return template, estimate_normals(template, params.features.normals_k), aligned


def scan_descriptors(scan: torch.Tensor, params: InspectorParams, options: TrainOptions, rng: np.random.Generator,
                     encoder: tuple[Network, float] | None = None) -> torch.Tensor:
    """Descriptors of a normal scan (on the voxel grid) and of its augmented copies.

    FPFH, AGCS and the group encoder are invariant to rigid motion, so the scan needs no alignment here; each
    scan is described once and its rows serve every memory bank it belongs to (leave-one-out and final).
    """
    voxel = params.preprocess.voxel_size
    copies = [scan] + [preprocess(augment(scan, rng, voxel, density=_density(options, j)), params.preprocess).points
                       for j in range(options.augmentations)]
    copies += [preprocess(single_view(augment(scan, rng, voxel), rng, voxel), params.preprocess).points
               for _ in range(options.views)]
    return torch.cat([describe(copy, params.features, voxel, encoder=encoder).vectors for copy in copies])


def fit_model(scans: Sequence[torch.Tensor], descriptors: Sequence[torch.Tensor], params: InspectorParams,
              options: TrainOptions, learned: LearnedParts) -> RecipeModel:
    """Template from ``scans`` (on the voxel grid) and a core-set memory bank of their ``descriptors``, with the
    ``learned`` networks; not yet calibrated."""
    template, normals, _ = build_template(scans, params)
    rows = torch.cat(list(descriptors))
    bank = rows[greedy_coreset(rows, params.features.bank_size, seed=options.seed)]
    return RecipeModel(params, template, normals, bank, BranchScales(), None, frame=learned.frame,
                       networks=dict(learned.networks))


@dataclass
class LearnedParts:
    """The recipe's trained networks (wrapped for the Inspector) and the frame the DUS-Net works in."""

    frame: ShapeFrame | None = None
    networks: dict[str, Network] = field(default_factory=dict)


@dataclass
class HeldOut:
    """A scan held back from a calibration model, with its point labels when a synthetic defect was injected."""

    model: RecipeModel
    points: torch.Tensor
    labels: np.ndarray | None = None


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
    timings: dict[str, float] = {}
    clouds = [torch.as_tensor(np.asarray(s, dtype=np.float32)) for s in scans]
    if params is None:
        voxel = resolve_voxel_size(clouds[0], options.target_points)
        params = InspectorParams(preprocess=PreprocessParams(voxel_size=voxel))
    if overrides:
        params = with_overrides(params, overrides)
    gridded = [preprocess(c, params.preprocess).points for c in clouds]
    rng = np.random.default_rng(options.seed)

    learned = _learn_networks(gridded, params, options, say, timings)
    encoder = learned.networks.get("group_encoder")
    encoder = (encoder, params.features.encoder_weight) if encoder is not None else None
    started = time.perf_counter()
    descriptors = []
    for i, scan in enumerate(gridded):
        say(f"describing scan {i + 1}/{len(gridded)}")
        descriptors.append(scan_descriptors(scan, params, options, rng, encoder))
    timings["describe"] = time.perf_counter() - started

    started = time.perf_counter()
    held_out = _held_out(clouds, gridded, descriptors, params, options, learned, rng, say)
    analyses = []
    for i, item in enumerate(held_out):
        say(f"scoring held-back scan {i + 1}/{len(held_out)}")
        inspector = Inspector(item.model)
        analyses.append((inspector, inspector.analyze(item.points), item.labels))
    folds = _folds(held_out)
    params, gap_choice = choose_full_scan_gap_radius(analyses, params, options.narrow_gap_radius_voxels,
                                                     partial(validation_catch, folds=folds, options=options))
    timings["held_out"] = time.perf_counter() - started
    full = [i for i, (_, analysis, _) in enumerate(analyses) if not analysis.partial]
    views = [i for i, (_, analysis, _) in enumerate(analyses) if analysis.partial]
    normal = [analyses[i][:2] for i in full if analyses[i][2] is None]
    scales = _branch_scales([a for _, a in normal], options.scale_quantile, params.preprocess.voxel_size)
    view_normal = [analyses[i][1] for i in views if analyses[i][2] is None]
    view_scales = (_branch_scales(view_normal, options.scale_quantile, params.preprocess.voxel_size)
                   if options.views and len(view_normal) >= 2 else None)
    for inspector, _, _ in analyses:
        inspector.model.scales = scales

    started = time.perf_counter()
    say("fitting the fusion")
    subset = ([analyses[i] for i in full], [folds[i] for i in full])
    main = _fit_variant(*subset, FusionSpec(None, options.fusion_method), options) if options.fusion_method else None
    variants = {}
    for name, spec in options.variants.items():
        say(f"fitting the fusion variant {name}")
        variant = _fit_variant(*subset, spec, options)
        if variant is not None:
            variants[name] = variant
    if main is not None:
        calibration, fusion, normal_scores = main.calibration, main.fusion, main.normal_scores
    else:
        fusion = None
        normal_scores = _object_scores(normal, None)
        calibration = fit_calibration(np.array(normal_scores), margin=options.margin)
    view, view_fit = None, None
    if view_scales is not None:
        say("fitting the single-view model")
        for inspector, _, _ in analyses:
            inspector.model.scales = view_scales
        view_subset = ([analyses[i] for i in views], [folds[i] for i in views])
        view, view_fit = _view_regime(*view_subset, view_scales, options)
        for name, variant in variants.items():
            say(f"fitting the single-view model of the fusion variant {name}")
            variant.view, variant.view_fit = _view_regime(*view_subset, view_scales, options, options.variants[name])
    timings["fusion"] = time.perf_counter() - started

    say("final model on all scans")
    final = fit_model(gridded, descriptors, params, options, learned)
    final.scales, final.calibration, final.fusion, final.view = scales, calibration, fusion, view
    return TrainedRecipe(
        model=final,
        golden=np.asarray(scans[0], dtype=np.float32),
        normal_scores=normal_scores,
        variants=variants,
        fusion_fit=main.fit if main is not None else None,
        view_fit=view_fit,
        fusion_choice=main.choice if main is not None else {},
        gap_radius_choice=gap_choice,
        timings=timings,
        scans=[{"points": int(c.shape[0]), "sha256": hashlib.sha256(c.numpy().tobytes()).hexdigest()} for c in clouds],
    )


Catch = Callable[[list[tuple[Inspector, Analysis, np.ndarray | None]]], int]
"""How many held-back defective scans a recipe's held-back analyses catch (:func:`validation_catch`)."""


def choose_full_scan_gap_radius(analyses: list[tuple[Inspector, Analysis, np.ndarray | None]],
                                params: InspectorParams, narrow: float | None,
                                catch: Catch | None = None) -> tuple[InspectorParams, dict[str, object]]:
    """The recipe's full-scan gap radius, chosen on its held-back scans: ``narrow`` voxels when no held-back good
    full scan leaves a template point farther than that from it, or when ``catch`` counts strictly more held-back
    defective scans caught with ``narrow`` than with the configured radius; else the configured radius.

    A full scan's missing material is a template point with no scan point within the radius; at 3 voxels a hole
    under about 3 voxels leaves every template point near a centroid, at 2 it shows. A good scan with wider gaps
    then scores higher too and raises the threshold for every part (a few-shot recipe let a bulge pass that way):
    whether the narrow radius still pays is then measured at the threshold it leads to, on the held-back defects.
    With ``narrow`` kept, the held-back full scans' missing evidence is recomputed with it and their models take the
    new parameters; otherwise both are left (or put back) as they came. Returns the parameters and the choice as
    ``bundle.yaml`` records it.
    """
    dev = params.deviation
    voxel = params.preprocess.voxel_size
    if narrow is None or narrow >= dev.full_scan_gap_radius_voxels or dev.fine_missing or not dev.enabled:
        return params, {}
    full = [(inspector, analysis, labels) for inspector, analysis, labels in analyses if not analysis.partial]
    good = [(inspector, analysis) for inspector, analysis, labels in full if labels is None]
    if not good:
        return params, {}
    widest = max(float(knn(inspector.model.template, analysis.aligned, 1)[0][:, 0].max().sqrt()) / voxel
                 for inspector, analysis in good)
    configured = dev.full_scan_gap_radius_voxels
    choice: dict[str, object] = {"widest_held_back_gap_voxels": round(widest, 3)}
    gap = f"a held-back good scan leaves a gap of {widest:.2f} voxels, over {narrow}"
    chosen = with_overrides(params, {"deviation.full_scan_gap_radius_voxels": narrow})
    if widest <= narrow:
        _score_with(analyses, chosen)
        return chosen, {**choice, "voxels": narrow, "reason": f"no held-back good scan leaves a gap over {narrow} voxels"}
    if catch is None:
        return params, {**choice, "voxels": configured, "reason": gap}
    before = catch(analyses)
    saved = [analysis.missing for _, analysis, _ in full]
    _score_with(analyses, chosen)
    after = catch(analyses)
    defects = sum(labels is not None for _, _, labels in full)
    choice["held_back_defects_caught"] = {str(configured): before, str(narrow): after, "of": defects}
    counts = f"{narrow} voxels catch {after} of {defects} held-back defects, {configured} voxels {before}"
    if after > before:
        return chosen, {**choice, "voxels": narrow, "reason": f"{gap}, but {counts}"}
    _set_params(analyses, params)
    for (_, analysis, _), missing in zip(full, saved):
        analysis.missing = missing
    return params, {**choice, "voxels": configured, "reason": f"{gap}, and {counts}"}


def _score_with(analyses: list[tuple[Inspector, Analysis, np.ndarray | None]], params: InspectorParams) -> None:
    """The held-back models take ``params`` and their full scans' missing evidence is recomputed with them."""
    _set_params(analyses, params)
    for inspector, analysis, _ in analyses:
        if not analysis.partial:
            analysis.missing = template_fit(analysis.aligned, inspector.model).missing


def _set_params(analyses: list[tuple[Inspector, Analysis, np.ndarray | None]], params: InspectorParams) -> None:
    for inspector, _, _ in analyses:
        inspector.model.params = inspector.params = params


def validation_catch(analyses: list[tuple[Inspector, Analysis, np.ndarray | None]], folds: list[int],
                     options: TrainOptions) -> int:
    """How many held-back defective full scans reach the threshold of the scaled sum fitted on the held-back full
    scans (branch scales from their normal scans, calibration from their normal object scores): the defects a recipe
    made of these analyses would fail. Sets the held-back models' scales, which the caller refits afterwards."""
    full = [i for i, (_, analysis, _) in enumerate(analyses) if not analysis.partial]
    normal = [analyses[i][1] for i in full if analyses[i][2] is None]
    scales = _branch_scales(normal, options.scale_quantile, analyses[0][0].model.params.preprocess.voxel_size)
    for inspector, _, _ in analyses:
        inspector.model.scales = scales
    fitted = _fit_method([analyses[i] for i in full], [folds[i] for i in full], FusionSpec(None, "sum"), options)
    if fitted is None:
        return 0
    defective = [analyses[i][:2] for i in full if analyses[i][2] is not None]
    return sum(score >= fitted.calibration.threshold for score in _object_scores(defective, fitted.fusion))


def _learn_networks(gridded: list[torch.Tensor], params: InspectorParams, options: TrainOptions, say: Progress,
                    timings: dict[str, float]) -> LearnedParts:
    """Fine-tune the DUS-Net and train the Group3AD encoder, as the recipe's parameters ask."""
    learned = LearnedParts()
    voxel = params.preprocess.voxel_size
    features, recon = params.features, params.reconstruction
    if features.encoder and features.mode == "agcs":
        started = time.perf_counter()
        module = fit_group_encoder(gridded, features, voxel, options.encoder, progress=say)
        shape = [features.groups, features.group_size, 3]
        learned.networks["group_encoder"] = _wrap("group_encoder", module, {"patches": shape})
        timings["group_encoder"] = time.perf_counter() - started
    if recon.enabled:
        started = time.perf_counter()
        template, _, aligned = build_template(gridded, params)
        frame = ShapeFrame.from_points(template)
        dusnet = DusNetOptions(**{**vars(options.dusnet), "groups": recon.groups, "group_size": recon.group_size})
        down, up = fine_tune_dusnet([frame.normalize(a) for a in aligned], dusnet, progress=say)
        learned.frame = frame
        learned.networks["down_net"] = _wrap(
            "down_net", down, {"patches": [recon.groups, recon.group_size, 3], "centers": [recon.groups, 3]}
        )
        learned.networks["up_net"] = _wrap("up_net", up, {"centers": [recon.groups, 3]})
        timings["dusnet"] = time.perf_counter() - started
    return learned


def _wrap(name: str, module: torch.nn.Module, inputs: dict[str, list[int]]) -> TorchNetwork:
    return TorchNetwork(name, NETWORK_SPECS[name], module.float().eval(), inputs, torch.device("cpu"))


def _held_out(clouds: list[torch.Tensor], gridded: list[torch.Tensor], descriptors: list[torch.Tensor],
              params: InspectorParams, options: TrainOptions, learned: LearnedParts, rng: np.random.Generator,
              say: Progress) -> list[HeldOut]:
    """Held-back normal scans (leave-one-out, plus augmented copies) and synthetic defects injected into them."""
    voxel = params.preprocess.voxel_size
    held_out: list[HeldOut] = []
    folds: list[tuple[RecipeModel, torch.Tensor]] = []
    if len(clouds) == 1:
        model = fit_model(gridded, descriptors, params, options, learned)
        held_out = [HeldOut(model, augment(clouds[0], rng, voxel)) for _ in range(3)]
        folds = [(model, held_out[0].points)]
    else:
        for i in range(len(clouds)):
            say(f"calibration model {i + 1}/{len(clouds)} (leave-one-out)")
            others = [j for j in range(len(clouds)) if j != i]
            model = fit_model([gridded[j] for j in others], [descriptors[j] for j in others], params, options, learned)
            held_out.append(HeldOut(model, clouds[i]))
            held_out += [HeldOut(model, augment(clouds[i], rng, voxel)) for _ in range(options.held_out_copies)]
            held_out += [HeldOut(model, single_view(augment(clouds[i], rng, voxel), rng, voxel))
                         for _ in range(options.views)]
            folds.append((model, clouds[i]))
    for model, cloud in folds:
        for kind in options.validation_defects:
            defect = apply_defect(kind, cloud.numpy(), rng)
            held_out.append(HeldOut(model, torch.from_numpy(defect.points), defect.labels.astype(bool)))
            if options.views:
                points = torch.from_numpy(defect.points)
                seen = view_mask(points, rng, voxel, labels=defect.labels).numpy()
                held_out.append(HeldOut(model, points[seen], defect.labels[seen].astype(bool)))
    return held_out


def _density(options: TrainOptions, copy: int) -> float:
    return options.densities[copy % len(options.densities)] if options.densities else 1.0


def _folds(held_out: list[HeldOut]) -> list[int]:
    """Fold number of each held-back scan: the calibration model it was held back from (leave-one-out), or,
    with a single training scan and so a single model, each scan its own fold."""
    models: dict[int, int] = {}
    folds = [models.setdefault(id(item.model), len(models)) for item in held_out]
    return folds if len(models) > 1 else list(range(len(held_out)))


def _fit_variant(analyses: list[tuple[Inspector, Analysis, np.ndarray | None]], folds: list[int], spec: FusionSpec,
                 options: TrainOptions) -> FusionVariant | None:
    """The fusion of ``spec`` (``auto``: :func:`_choose`); None when it needs a branch this recipe does not have."""
    if spec.method == "auto":
        return _choose(analyses, folds, spec.branches, options)
    return _fit_method(analyses, folds, spec, options)


def _fit_method(analyses: list[tuple[Inspector, Analysis, np.ndarray | None]], folds: list[int], spec: FusionSpec,
                options: TrainOptions) -> FusionVariant | None:
    """Fit a fusion on the held-back branch scores; None when it needs a branch this recipe does not have.

    An OCSVM fusion is calibrated on cross-fitted scores: each fold's normal scans are scored by the OCSVM
    refitted without that fold's vectors. Scored by the model fitted on their own vectors they would lie inside
    its boundary by construction, and the threshold would be too tight for a new normal part."""
    columns = [inspector.branch_scores(analysis) for inspector, analysis, _ in analyses]
    active = [b for b in BRANCHES if b in columns[0]]
    branches = tuple(active) if spec.branches is None else spec.branches
    if any(b not in active for b in branches):
        return None
    vectors = [torch.stack([c[b] for b in branches], dim=1) for c in columns]
    normal = [v for v, (_, _, labels) in zip(vectors, analyses) if labels is None]
    validation = []
    for v, (_, analysis, labels) in zip(vectors, analyses):
        point_labels = torch.zeros(v.shape[0], dtype=torch.bool)
        if labels is not None:
            mapped = analysis.pre.source_index.cpu()
            hit = mapped[torch.from_numpy(labels) & (mapped >= 0)]
            point_labels[hit] = True
        validation.append((v, point_labels, labels is not None and bool(point_labels.any())))
    fit = fit_fusion(normal, validation, branches, spec.method, options.fusion)
    normal_index = [i for i, (_, _, labels) in enumerate(analyses) if labels is None]
    if fit.model.method == "ocsvm" and len({folds[i] for i in normal_index}) > 1:
        scores = [0.0] * len(normal_index)
        for fold in sorted({folds[i] for i in normal_index}):
            rest = [vectors[i] for i in normal_index if folds[i] != fold]
            refitted = refit_ocsvm(fit.model, rest, options.fusion)
            for slot, i in enumerate(normal_index):
                if folds[i] == fold:
                    scores[slot] = _object_scores([analyses[i][:2]], refitted)[0]
    else:
        scores = _object_scores([analyses[i][:2] for i in normal_index], fit.model)
    return FusionVariant(fit.model, fit_calibration(np.array(scores), margin=options.margin), fit, scores)


def _view_regime(analyses: list[tuple[Inspector, Analysis, np.ndarray | None]], folds: list[int],
                 scales: BranchScales, options: TrainOptions,
                 spec: FusionSpec | None = None) -> tuple[ViewRegime | None, FusionFit | None]:
    """The single-view model from the held-back single views: their scales, the fusion fitted on them (``spec``,
    by default every branch with the recipe's fusion method) and the calibration of their normal scores, with that
    fusion's fit. Views without a defect leave no fusion to fit: the recipe's own model is then the scaled sum of
    every branch, and an ablation ``spec`` gets None. The held-back models score with ``scales`` (set by the
    caller) and no view model of their own, so the views are fitted exactly as full scans are."""
    if not any(labels is not None for _, _, labels in analyses):
        if spec is not None:
            return None, None
        normal = [(inspector, analysis) for inspector, analysis, labels in analyses if labels is None]
        calibration = fit_calibration(np.array(_object_scores(normal, None)), margin=options.margin)
        return ViewRegime(scales, calibration, None), None
    fitted = _fit_variant(analyses, folds, spec or FusionSpec(None, options.fusion_method or "sum"), options)
    if fitted is None:
        return None, None
    return ViewRegime(scales, fitted.calibration, fitted.fusion), fitted.fit


def _choose(analyses: list[tuple[Inspector, Analysis, np.ndarray | None]], folds: list[int],
            branches: tuple[str, ...] | None, options: TrainOptions) -> FusionVariant | None:
    """The fusion of method ``auto`` over ``branches``, with the choice and its reason recorded.

    With ``branches`` None (the recipe's own fusion) the branches are pruned first (:func:`_prune_branches`) and
    the pruned fusion is kept unless the fusion of every branch scores better on validation by more than
    ``tie_tolerance``: the recipe's fusion cannot lose to a subset of itself, nor to itself unpruned, on the evidence
    it is chosen by. An explicit ``branches`` (an ablation row) is kept as given."""
    active = _active_branches(analyses)
    fit = _fit_once(analyses, folds, options, active)
    everything = _best_method(fit, branches, options)
    if branches is not None or not options.fusion.prune_branches or everything is None:
        return everything
    kept, dropped = _prune_branches(fit, active)
    pruned = _best_method(fit, kept, options) if kept is not None else None
    if pruned is None:
        return everything
    merit, merit_all = _validation_merit(pruned.fit), _validation_merit(everything.fit)
    if merit < merit_all - options.fusion.tie_tolerance:
        note = f"every branch kept: the pruned fusion scored {merit:.4f}, every branch {merit_all:.4f}"
        return replace(everything, choice={**everything.choice, "pruning": note})
    return replace(pruned, choice={**pruned.choice, "branches_left_out": dropped,
                                   "every_branch_merit": round(merit_all, 4)})


def _active_branches(analyses: list[tuple[Inspector, Analysis, np.ndarray | None]]) -> tuple[str, ...]:
    """The branches the held-back analyses score, in :data:`BRANCHES` order (none without analyses)."""
    if not analyses:
        return ()
    inspector, analysis, _ = analyses[0]
    return tuple(b for b in BRANCHES if b in inspector.branch_scores(analysis))


def _fit_once(analyses: list[tuple[Inspector, Analysis, np.ndarray | None]], folds: list[int],
              options: TrainOptions, active: tuple[str, ...]) -> Callable[[FusionSpec], FusionVariant | None]:
    """:func:`_fit_method` over these analyses, each branch set and method fitted once: the choice of method and
    the pruning ask for the same fits (``active`` named or None is one fit)."""
    fits: dict[tuple[tuple[str, ...], str], FusionVariant | None] = {}

    def fit(spec: FusionSpec) -> FusionVariant | None:
        key = (active if spec.branches is None else tuple(spec.branches), spec.method)
        if key not in fits:
            fits[key] = _fit_method(analyses, folds, spec, options)
        return fits[key]

    return fit


def _best_method(fit: Callable[[FusionSpec], FusionVariant | None], branches: tuple[str, ...] | None,
                 options: TrainOptions) -> FusionVariant | None:
    """The One-Class SVM or the scaled sum over ``branches``, whichever scores better on the held-back validation
    scans (the sum on a tie within ``options.fusion.tie_tolerance``), with the choice and its reason recorded."""
    fitted = {m: fit(FusionSpec(branches, m)) for m in ("sum", "ocsvm")}
    merit = {m: _validation_merit(v.fit) for m, v in fitted.items() if v is not None}
    if not merit:
        return None
    tolerance = options.fusion.tie_tolerance
    best = max(merit, key=lambda m: merit[m])
    if best != "sum" and "sum" in merit and merit[best] <= merit["sum"] + tolerance:
        best = "sum"
    others = ", ".join(f"{m} {x:.4f}" for m, x in merit.items() if m != best) or "nothing"
    choice = {
        "chosen_by": "validation",
        "candidates": {m: {"object_auroc": round(v.fit.object_auroc, 4), "point_auroc": round(v.fit.point_auroc, 4)}
                       for m, v in fitted.items() if v is not None},
        "reason": f"{best} scored {merit[best]:.4f} (mean of object and point AUROC on the held-back validation "
                  f"scans) against {others}; a tie within {tolerance} goes to the sum",
    }
    return replace(fitted[best], choice=choice)


def _prune_branches(fit: Callable[[FusionSpec], FusionVariant | None],
                    active: tuple[str, ...]) -> tuple[tuple[str, ...] | None, list[str]]:
    """The recipe's branches after :func:`backward_elimination` on the held-back validation scans, measured with the
    scaled sum (a fit of seconds; the method is chosen afterwards): a branch stays unless leaving it out strictly
    raises the validation merit. Returns the branches kept (None when every active branch stays) and one line per
    branch left out."""

    def merit(branches: tuple[str, ...]) -> float | None:
        fitted = fit(FusionSpec(branches, "sum"))
        return None if fitted is None else _validation_merit(fitted.fit)

    kept, dropped = backward_elimination(active, merit)
    return (None if kept == active else kept), dropped


def backward_elimination(branches: tuple[str, ...],
                         merit: Callable[[tuple[str, ...]], float | None]) -> tuple[tuple[str, ...], list[str]]:
    """Leave out branches one at a time while leaving one out strictly raises ``merit`` (higher is better; None:
    that subset cannot be fitted), the branch whose absence scores best first. A tie keeps the branch: a branch the
    validation data cannot judge (silent on every validation scan, e.g. missing material where no validation defect
    removes any) may still see the defects that data lacks. Returns the branches kept, in their order, and one line
    per branch left out."""
    current = tuple(branches)
    score = merit(current) if current else None
    dropped: list[str] = []
    while score is not None and len(current) > 1:
        trials = {b: merit(tuple(x for x in current if x != b)) for b in current}
        scored = {b: m for b, m in trials.items() if m is not None}
        if not scored:
            break
        branch = max(scored, key=lambda b: scored[b])
        if scored[branch] <= score:
            break
        dropped.append(f"{branch}: validation merit {scored[branch]:.4f} without it, {score:.4f} with it")
        current = tuple(x for x in current if x != branch)
        score = scored[branch]
    return current, dropped


def _validation_merit(fit: FusionFit) -> float:
    """Mean of object and point AUROC on every validation point (point AUROC alone when the object one is NaN)."""
    return fit.point_auroc if math.isnan(fit.object_auroc) else 0.5 * (fit.object_auroc + fit.point_auroc)


def _object_scores(normal: list[tuple[Inspector, Analysis]], fusion: FusionModel | None) -> list[float]:
    """Object scores of held-back normal scans under ``fusion`` (the scaled-sum fusion when None)."""
    scores = []
    for inspector, analysis in normal:
        variant = inspector.with_fusion(fusion, None)
        scores.append(variant.object_score(variant.fuse(analysis)))
    return scores


def _branch_scales(analyses: list, quantile: float, voxel: float) -> BranchScales:
    """High quantile of each branch's held-back normal point scores, floored so no branch divides by ~0."""

    def q(name: str, floor: float) -> float:
        values = torch.cat([getattr(a, name) for a in analyses]).double()
        return max(float(torch.quantile(values, quantile)) if values.numel() else 0.0, floor)

    return BranchScales(
        feature=q("feature", 1e-6),
        deviation=q("deviation", 0.05 * voxel),
        missing=q("missing", 1.0 * voxel),
        reconstruction=q("reconstruction", 0.05 * voxel),
        recon_missing=q("recon_missing", 1.0 * voxel),
    )
