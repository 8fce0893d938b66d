"""The Inspector trained on a procedural part family: verdicts, regions, bundles, fail-safe errors."""

from pathlib import Path

import numpy as np
import pytest
import torch

from edge.bundle import BundleError, load_bundle
from edge.geometry import visibility
from edge.geometry.visibility import visible_from
from edge.inspector import Inspector
from edge.verdict import Decision, RegionKind
from trainer.data import make_part, synthetic_sample
from trainer.fit.augment import single_view, view_mask
from trainer.fit.recipe import TrainOptions, train_recipe
from trainer.fit.save import save_recipe

POINTS = 6000
OPTIONS = TrainOptions.quick(target_points=4000)
FAST = {"features.groups": 128, "features.fpfh_radii_voxels": [3.0, 6.0], "reconstruction.groups": 128}


SIZES = {"hole": {"radius": 0.08}}


def _scan(rng: np.random.Generator, defect: str = "good") -> tuple[np.ndarray, np.ndarray]:
    sample = synthetic_sample("bracket", defect, rng, POINTS, **SIZES.get(defect, {}))
    return sample.points, sample.labels


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(7)
    scans = [_scan(rng)[0] for _ in range(3)]
    return train_recipe(scans, options=OPTIONS, overrides=FAST)


@pytest.fixture(scope="module")
def inspector(trained) -> Inspector:
    return Inspector(trained.model)


@pytest.fixture(scope="module")
def bundle(trained, tmp_path_factory) -> Path:
    return save_recipe(trained, "bracket", tmp_path_factory.mktemp("bundles") / "bracket")


def test_unseen_normal_parts_pass(inspector: Inspector) -> None:
    rng = np.random.default_rng(101)
    verdicts = [inspector.inspect(_scan(rng)[0]) for _ in range(3)]
    assert [v.decision for v in verdicts] == [Decision.PASS] * 3
    assert all(v.score < 0.5 and not v.regions for v in verdicts)


@pytest.mark.parametrize("pitch", [2, 4])
def test_normal_part_scanned_at_a_finer_pitch_passes(inspector: Inspector, pitch: int) -> None:
    sample = synthetic_sample("bracket", "good", np.random.default_rng(303), POINTS * pitch)
    assert inspector.inspect(sample.points).decision is Decision.PASS


def test_threshold_comes_from_the_cross_fitted_held_back_normal_scores(trained) -> None:
    full_scans = 3 * (1 + OPTIONS.held_out_copies)
    assert full_scans <= len(trained.normal_scores) <= full_scans + 3 * OPTIONS.views
    assert trained.model.calibration.threshold > max(trained.normal_scores)


@pytest.mark.parametrize("defect", ["bulge", "concavity", "hole"])
def test_defective_part_fails_with_a_region_on_the_defect(inspector: Inspector, defect: str) -> None:
    points, labels = _scan(np.random.default_rng(202), defect)
    verdict = inspector.inspect(points, point_scores=True)
    assert verdict.decision is Decision.FAIL and verdict.score >= 0.5
    defect_centre = points[labels > 0].mean(axis=0)
    nearest = min(np.linalg.norm(np.array(r.centroid) - defect_centre) for r in verdict.regions)
    assert nearest < 10.0
    assert np.nanmean(verdict.point_scores[labels > 0]) > np.nanmean(verdict.point_scores[labels == 0])


def test_hole_is_reported_as_missing_material(inspector: Inspector) -> None:
    points, _ = _scan(np.random.default_rng(303), "hole")
    verdict = inspector.inspect(points)
    assert RegionKind.MISSING in {r.kind for r in verdict.regions}


def test_every_stage_is_timed(inspector: Inspector) -> None:
    verdict = inspector.inspect(_scan(np.random.default_rng(1))[0])
    stages = {"preprocess", "align", "deviation", "features", "memory_bank", "reconstruction", "fusion", "verdict"}
    assert stages <= set(verdict.timing_ms) and verdict.timing_ms["total"] > 0


def test_a_single_view_of_a_normal_part_passes(inspector: Inspector) -> None:
    view = single_view(torch.as_tensor(_scan(np.random.default_rng(404))[0]), np.random.default_rng(5), 1.0)
    verdict = inspector.inspect(view)
    assert verdict.decision is Decision.PASS, verdict.reason


def test_a_single_view_of_a_defect_fails(inspector: Inspector) -> None:
    points, labels = _scan(np.random.default_rng(408), "bulge")
    seen = view_mask(torch.as_tensor(points), np.random.default_rng(6), 1.0, labels=labels, min_defect_share=0.8)
    verdict = inspector.inspect(points[seen.numpy()])
    assert verdict.decision is Decision.FAIL, verdict.reason


def test_single_views_are_scored_by_the_recipe_single_view_model(trained, inspector: Inspector) -> None:
    view = single_view(torch.as_tensor(_scan(np.random.default_rng(409))[0]), np.random.default_rng(7), 1.0)
    analysis = inspector.analyze(view)
    assert analysis.partial and trained.model.view is not None
    assert inspector.regime(analysis).calibration is trained.model.view.calibration


def test_a_scanner_reported_viewpoint_replaces_the_search_for_the_viewing_direction(inspector: Inspector,
                                                                                    monkeypatch) -> None:
    points = torch.as_tensor(_scan(np.random.default_rng(406))[0])
    direction = torch.tensor([0.0, 0.0, 1.0])
    seen = visible_from(points, direction.unsqueeze(0), cell=2.5, depth_tolerance=2.5)[0]
    viewpoint = (points[seen].mean(dim=0) + 500.0 * direction).tolist()

    def no_search(*args, **kwargs):
        raise AssertionError("the viewing direction was searched although the scanner reported its viewpoint")

    monkeypatch.setattr(visibility, "sphere_directions", no_search)
    verdict = inspector.inspect(points[seen].numpy(), viewpoint=viewpoint)
    assert verdict.decision is not Decision.ERROR, verdict.reason


def test_a_malformed_viewpoint_is_an_error_naming_it(inspector: Inspector) -> None:
    verdict = inspector.inspect(_scan(np.random.default_rng(407))[0], viewpoint=[0.0, float("nan"), 1.0])
    assert verdict.decision is Decision.ERROR and "viewpoint" in verdict.reason


def test_a_part_placed_off_the_fixture_is_registered_by_the_global_stage(inspector: Inspector) -> None:
    points = _scan(np.random.default_rng(405))[0]
    turned = points @ np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32).T
    verdict = inspector.inspect(turned)
    assert verdict.decision is not Decision.ERROR, verdict.reason
    assert "align_global" in verdict.timing_ms


def test_point_scores_cover_every_input_point_and_are_nan_where_not_finite(inspector: Inspector) -> None:
    points = _scan(np.random.default_rng(2))[0].copy()
    points[:5] = np.nan
    verdict = inspector.inspect(points, point_scores=True)
    assert verdict.point_scores.shape == (len(points),)
    assert np.isnan(verdict.point_scores[:5]).all() and np.isfinite(verdict.point_scores[5:]).all()


def test_too_few_points_is_an_error_not_a_pass(inspector: Inspector) -> None:
    verdict = inspector.inspect(_scan(np.random.default_rng(3))[0][:20])
    assert verdict.decision is Decision.ERROR and "points after preprocessing" in verdict.reason


def test_a_different_part_is_an_error_not_a_pass(inspector: Inspector) -> None:
    other = make_part("shaft", np.random.default_rng(4), POINTS).points
    verdict = inspector.inspect(other)
    assert verdict.decision is Decision.ERROR and "does not match the template" in verdict.reason


def test_bundle_loads_reproduces_its_golden_sample_and_scores_like_the_trained_model(
    bundle: Path, inspector: Inspector
) -> None:
    loaded = Inspector.from_bundle(bundle)
    points = _scan(np.random.default_rng(5), "bulge")[0]
    assert loaded.inspect(points).raw_score == pytest.approx(inspector.inspect(points).raw_score, rel=1e-5)
    assert loaded.bundle_id.startswith("bracket-") and len(loaded.bundle_sha256) == 64


def test_bundle_keeps_the_single_view_model(bundle: Path, inspector: Inspector) -> None:
    loaded = Inspector.from_bundle(bundle)
    view = single_view(torch.as_tensor(_scan(np.random.default_rng(410))[0]), np.random.default_rng(8), 1.0)
    assert loaded.inspect(view).score == pytest.approx(inspector.inspect(view).score, rel=1e-5)
    assert loaded.model.view.calibration == inspector.model.view.calibration


def test_bundle_records_the_training_provenance(bundle: Path, trained) -> None:
    provenance = load_bundle(bundle).manifest.provenance
    assert len(provenance["training_scans"]) == 3
    assert provenance["held_back_normal_scores"] == pytest.approx(trained.normal_scores, abs=1e-5)
    assert provenance["fusion"]["method"] == trained.model.fusion.method
    assert provenance["fusion"]["reason"].startswith(trained.model.fusion.method)


def test_bundle_records_the_full_scan_gap_radius_its_training_chose(bundle: Path, trained) -> None:
    manifest = load_bundle(bundle).manifest
    choice = manifest.provenance["full_scan_gap_radius"]
    assert choice == trained.gap_radius_choice and choice["widest_held_back_gap_voxels"] > 0
    assert manifest.params["deviation"]["full_scan_gap_radius_voxels"] == choice["voxels"]


def test_a_recipe_whose_good_scans_leave_wide_gaps_weighs_the_narrow_radius_on_its_held_back_defects(trained) -> None:
    choice = trained.gap_radius_choice
    assert choice["widest_held_back_gap_voxels"] > 2.0
    caught = choice["held_back_defects_caught"]
    assert caught["of"] > 0 and set(caught) == {"3.0", "2.0", "of"}
    assert 0 < caught["3.0"] <= caught["of"] and 0 <= caught["2.0"] <= caught["of"]
    assert choice["voxels"] == (2.0 if caught["2.0"] > caught["3.0"] else 3.0)


def test_examine_gives_the_verdict_of_inspect_and_the_analysis_behind_it(inspector: Inspector) -> None:
    points, _ = _scan(np.random.default_rng(202), "bulge")
    verdict, analysis = inspector.examine(points)
    assert verdict.raw_score == pytest.approx(inspector.inspect(points).raw_score)
    assert verdict.raw_score == pytest.approx(inspector.object_score(inspector.fuse(analysis)))


def test_examine_of_a_scan_that_cannot_be_analysed_gives_an_error_and_no_analysis(inspector: Inspector) -> None:
    verdict, analysis = inspector.examine(np.zeros((5, 3), dtype=np.float32))
    assert verdict.decision is Decision.ERROR and analysis is None


def test_a_bulge_stands_out_in_the_deviation_branch_score(inspector: Inspector) -> None:
    good = inspector.branch_object_scores(inspector.examine(_scan(np.random.default_rng(101))[0])[1])
    bulge = inspector.branch_object_scores(inspector.examine(_scan(np.random.default_rng(202), "bulge")[0])[1])
    assert set(good) == set(inspector.branch_scores(inspector.examine(_scan(np.random.default_rng(101))[0])[1]))
    assert bulge["deviation"] > 2.0 * good["deviation"]


def test_tampered_memory_bank_is_refused_naming_the_file(bundle: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    raw = bytearray((copy / "bank.npy").read_bytes())
    raw[-8] ^= 0xFF
    (copy / "bank.npy").write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="bank.npy"):
        Inspector.from_bundle(copy)


def test_wrong_golden_expectation_fails_the_smoke_test(bundle: Path, tmp_path: Path) -> None:
    import shutil

    import yaml

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    manifest = yaml.safe_load((copy / "bundle.yaml").read_text())
    manifest["golden"]["raw_score"] *= 2.0
    (copy / "bundle.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    with pytest.raises(BundleError, match="golden sample gave"):
        Inspector.from_bundle(copy)


def test_trained_recipe_fuses_every_branch(trained) -> None:
    fusion = trained.model.fusion
    assert fusion.branches == ("feature", "deviation", "reconstruction", "missing")
    assert set(trained.model.networks) == {"down_net", "up_net"} and trained.model.frame is not None


def test_the_recipe_fusion_never_loses_to_the_scaled_sum_on_validation(trained) -> None:
    candidates = trained.fusion_choice["candidates"]
    merit = {m: (c["object_auroc"] + c["point_auroc"]) / 2 for m, c in candidates.items()}
    assert set(merit) == {"sum", "ocsvm"}
    assert trained.model.fusion.method in merit
    assert merit[trained.model.fusion.method] >= merit["sum"]


def test_reconstruction_branch_scores_a_bulge_above_the_rest_of_the_part(inspector: Inspector) -> None:
    import torch

    points, labels = _scan(np.random.default_rng(202), "bulge")
    analysis = inspector.analyze(torch.as_tensor(points))
    on_defect = torch.zeros(analysis.aligned.shape[0], dtype=torch.bool)
    on_defect[analysis.pre.source_index[torch.from_numpy(labels > 0)]] = True
    assert analysis.reconstruction[on_defect].mean() > analysis.reconstruction[~on_defect].mean()


def test_bundle_stores_the_networks_fusion_and_frame(bundle: Path, trained) -> None:
    import yaml

    manifest = yaml.safe_load((bundle / "bundle.yaml").read_text())
    assert set(manifest["networks"]) == {"down_net", "up_net"}
    assert manifest["calibration"]["fusion"]["method"] == trained.model.fusion.method
    assert "frame" in manifest["calibration"]
    assert all(entry["weights"] in manifest["files"] for entry in manifest["networks"].values())


def test_another_fusion_reuses_the_analysis_of_a_scan(trained, inspector: Inspector) -> None:
    import torch

    from edge.scoring.calibration import Calibration
    from edge.scoring.fusion import FusionModel

    points = _scan(np.random.default_rng(6), "bulge")[0]
    analysis = inspector.analyze(torch.as_tensor(points))
    plain = FusionModel("sum", ("feature", "deviation", "missing"), (1.0, 1.0, 1.0))
    variant = inspector.with_fusion(plain, Calibration(threshold=2.0, normal_median=1.0))
    branches = inspector.branch_scores(analysis)
    expected = (branches["feature"] + branches["deviation"] + branches["missing"]).topk(10).values.mean()
    assert variant.object_score(variant.fuse(analysis)) == pytest.approx(float(expected), rel=1e-5)
    assert inspector.conclude(analysis).raw_score == pytest.approx(inspector.inspect(points).raw_score, rel=1e-5)
