"""Export, deploy, rollback and prune on an edge box's deploy root, through the library and the CLI."""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from edge.bundle import BundleError, GoldenSample, NetworkWeights, load_bundle, update_manifest, write_bundle
from edge.cli import main
from edge.signing import generate_signing_key, sign_bundle
from exporters.cli.export import export_bundle
from exporters.deploy import DeployError, deploy, deploy_lock, prune, rollback, status
from exporters.package import pack_bundle

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (small) bracket bundle that passes its golden-sample smoke test; trained once for this module."""
    from trainer.data import synthetic_sample
    from trainer.fit.recipe import TrainOptions, train_recipe
    from trainer.fit.save import save_recipe

    rng = np.random.default_rng(7)
    scans = [synthetic_sample("bracket", "good", rng, 2500).points for _ in range(2)]
    options = TrainOptions(target_points=1500, augmentations=0, held_out_copies=1, validation_defects=("bulge",))
    overrides = {"features.groups": 48, "features.fpfh_radii_voxels": [3.0, 6.0], "features.encoder": False,
                 "reconstruction.enabled": False}
    model = train_recipe(scans, options=options, overrides=overrides)
    return save_recipe(model, "bracket", tmp_path_factory.mktemp("trained") / "bracket")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("keys")
    generate_signing_key(folder / "build.key", folder / "build.pub")
    return folder / "build.key", folder / "build.pub"


def tiny(folder: Path, seed: int, networks: dict[str, NetworkWeights] | None = None) -> Path:
    """A bundle that loads and verifies (no smoke test possible): its id differs with ``seed``."""
    return write_bundle(
        folder / f"tiny-{seed}", recipe="bracket", params={"voxel_size": 0.5},
        calibration={"threshold": 1.0, "normal_median": 0.2},
        arrays={"template": np.full((10, 3), seed, np.float32), "golden": np.zeros((5, 3), np.float32)},
        golden=GoldenSample(file="golden.npy", raw_score=0.1, verdict="PASS"), versions={"pcinspect": "0.1.0"},
        networks=networks,
    )


def archive(bundle: Path, folder: Path, *, sign: Path | None = None) -> Path:
    """``bundle`` packed (signed first, in a copy, when ``sign`` is given)."""
    staging = folder / f"{bundle.name}-staged-{os.urandom(3).hex()}"
    shutil.copytree(bundle, staging)
    if sign is not None:
        sign_bundle(staging, sign)
    pack_bundle(staging, folder / f"{staging.name}.tar")
    return folder / f"{staging.name}.tar"


def tiny_archives(folder: Path, count: int) -> list[tuple[str, Path]]:
    bundles = [tiny(folder, seed) for seed in range(count)]
    return [(load_bundle(b).bundle_id, archive(b, folder)) for b in bundles]


def link(root: Path, name: str) -> str:
    return os.readlink(root / name)


def test_deploy_switches_current_and_keeps_the_previous(tmp_path: Path) -> None:
    (a, tar_a), (b, tar_b) = tiny_archives(tmp_path, 2)
    root = tmp_path / "root"
    deploy(tar_a, root, smoke_test=False)
    installed = deploy(tar_b, root, smoke_test=False)
    assert installed == root / "versions" / b
    assert link(root, "current") == f"versions/{b}" and link(root, "previous") == f"versions/{a}"
    assert load_bundle(root / "current").bundle_id == b


def test_deploy_of_a_signed_trained_bundle_passes_signature_hashes_and_smoke_test(trained: Path, keys,
                                                                                   tmp_path: Path) -> None:
    root = tmp_path / "root"
    installed = deploy(archive(trained, tmp_path, sign=keys[0]), root, public_key=keys[1])
    assert (root / "current").resolve() == installed.resolve()
    assert (installed / "bundle.sig").is_file() and status(root)["current"] == load_bundle(trained).bundle_id


def test_tampered_file_in_the_archive_fails_naming_it_and_leaves_current_unchanged(tmp_path: Path) -> None:
    (a, tar_a), = tiny_archives(tmp_path, 1)
    root = tmp_path / "root"
    deploy(tar_a, root, smoke_test=False)
    bad = tiny(tmp_path, 7)
    (bad / "template.npy").write_bytes((bad / "template.npy").read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(BundleError, match=r"template.npy: sha256 mismatch"):
        deploy(archive(bad, tmp_path), root, smoke_test=False)
    assert link(root, "current") == f"versions/{a}" and not (root / "previous").exists()
    assert [p.name for p in (root / "versions").iterdir()] == [a] and not list(root.glob(".staging-*"))


def test_bundle_failing_its_smoke_test_is_refused(trained: Path, tmp_path: Path) -> None:
    bad = shutil.copytree(trained, tmp_path / "bad")
    update_manifest(bad, lambda m: m.model_copy(update={"golden": m.golden.model_copy(
        update={"raw_score": m.golden.raw_score + 1.0})}))
    root = tmp_path / "root"
    with pytest.raises(BundleError, match="golden sample gave"):
        deploy(archive(bad, tmp_path), root)
    assert not (root / "current").exists() and not list((root / "versions").iterdir())


def test_unsigned_bundle_is_refused_when_a_public_key_is_given(keys, tmp_path: Path) -> None:
    (_, tar), = tiny_archives(tmp_path, 1)
    with pytest.raises(BundleError, match="bundle is not signed"):
        deploy(tar, tmp_path / "root", public_key=keys[1], smoke_test=False)
    assert not (tmp_path / "root" / "current").exists()


def test_a_wrong_signing_key_is_reported_against_the_archive_not_the_staging_folder(keys, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    generate_signing_key(other / "other.key", other / "other.pub")
    tar = archive(tiny(tmp_path, 0), tmp_path, sign=other / "other.key")
    with pytest.raises(BundleError) as info:
        deploy(tar, tmp_path / "root", public_key=keys[1], smoke_test=False)
    assert str(info.value).startswith(str(tar)) and ".staging-" not in str(info.value)


def test_redeploying_the_current_bundle_changes_nothing(tmp_path: Path) -> None:
    (a, tar_a), (b, tar_b) = tiny_archives(tmp_path, 2)
    root = tmp_path / "root"
    for tar in (tar_a, tar_b, tar_b):
        deploy(tar, root, smoke_test=False)
    assert link(root, "current") == f"versions/{b}" and link(root, "previous") == f"versions/{a}"


def test_rollback_returns_to_the_previous_and_swaps_them(tmp_path: Path) -> None:
    (a, tar_a), (b, tar_b) = tiny_archives(tmp_path, 2)
    root = tmp_path / "root"
    deploy(tar_a, root, smoke_test=False)
    deploy(tar_b, root, smoke_test=False)
    assert rollback(root) == root / "versions" / a
    assert link(root, "current") == f"versions/{a}" and link(root, "previous") == f"versions/{b}"


def test_rollback_without_a_previous_version_is_an_error(tmp_path: Path) -> None:
    (_, tar), = tiny_archives(tmp_path, 1)
    deploy(tar, tmp_path / "root", smoke_test=False)
    with pytest.raises(DeployError, match="nothing to roll back to"):
        rollback(tmp_path / "root")


def test_deploy_keeps_at_most_keep_versions_besides_current(tmp_path: Path) -> None:
    tars = tiny_archives(tmp_path, 4)
    root = tmp_path / "root"
    for _, tar in tars:
        deploy(tar, root, smoke_test=False, keep=1)
    assert {p.name for p in (root / "versions").iterdir()} == {tars[2][0], tars[3][0]}


def test_prune_never_deletes_current_or_previous_even_when_they_are_the_oldest(tmp_path: Path) -> None:
    tars = tiny_archives(tmp_path, 4)
    root = tmp_path / "root"
    for _, tar in tars:
        deploy(tar, root, smoke_test=False)
    rollback(root)
    now = time.time()
    for age, (bundle_id, _) in enumerate(reversed(tars)):
        os.utime(root / "versions" / bundle_id, (now + age, now + age))
    assert sorted(prune(root, keep=0)) == sorted([tars[0][0], tars[1][0]])
    assert {p.name for p in (root / "versions").iterdir()} == {tars[2][0], tars[3][0]}


def test_concurrent_deploys_are_serialised_by_the_lock_file(tmp_path: Path) -> None:
    (a, tar), = tiny_archives(tmp_path, 1)
    root = tmp_path / "root"
    with deploy_lock(root):
        worker = threading.Thread(target=deploy, args=(tar, root), kwargs={"smoke_test": False})
        worker.start()
        time.sleep(0.3)
        assert worker.is_alive() and not (root / "current").exists()
    worker.join(timeout=10)
    assert link(root, "current") == f"versions/{a}"


@pytest.fixture
def fake_onnx(monkeypatch) -> list[tuple[str, ...]]:
    """``exporters.onnx_export`` replaced by a fake whose add_onnx_models adds one fp32 export; its calls."""
    calls: list[tuple[str, ...]] = []

    def add_onnx_models(bundle_dir: Path, *, precisions=("fp32", "fp16")) -> dict:
        calls.append(tuple(precisions))
        (bundle_dir / "networks" / "down.fp32.onnx").write_bytes(b"onnx")

        def change(manifest):
            manifest.networks["down"].onnx["fp32"] = "networks/down.fp32.onnx"
            manifest.files["networks/down.fp32.onnx"] = ""
            return manifest

        update_manifest(bundle_dir, change)
        return {}

    fake = types.ModuleType("exporters.onnx_export")
    fake.__spec__ = importlib.machinery.ModuleSpec("exporters.onnx_export", None)
    fake.add_onnx_models = add_onnx_models
    monkeypatch.setitem(sys.modules, "exporters.onnx_export", fake)
    return calls


def with_network(folder: Path) -> Path:
    net = NetworkWeights(arch="down_net", config={}, state_dict={"w": torch.zeros(2)}, inputs={"patches": [8, 3]})
    return tiny(folder, 1, networks={"down": net})


def test_export_adds_onnx_through_add_onnx_models_when_the_bundle_has_networks(tmp_path, fake_onnx) -> None:
    bundle = with_network(tmp_path)
    exported = export_bundle(bundle, tmp_path / "b.tar", precisions=("fp32",))
    assert fake_onnx == [("fp32",)] and "ONNX exports: down:fp32" in exported.notes
    assert "networks/down.fp32.onnx" in exported.members
    assert "networks/down.fp32.onnx" not in load_bundle(bundle).manifest.files, "the source bundle was modified"


def test_export_with_no_onnx_skips_the_onnx_step(tmp_path, fake_onnx) -> None:
    exported = export_bundle(with_network(tmp_path), tmp_path / "b.tar", onnx=False)
    assert fake_onnx == [] and "ONNX exports skipped (--no-onnx)" in exported.notes


def test_cli_export_deploy_rollback_and_signing_key_exit_zero_on_success(trained: Path, tmp_path: Path,
                                                                          capsys) -> None:
    prefix = tmp_path / "keys" / "line1"
    assert main(["signing-key", "generate", "--out", str(prefix)]) == 0
    second = shutil.copytree(trained, tmp_path / "second")
    update_manifest(second, lambda m: m.model_copy(update={"bundle_id": m.bundle_id + "-b"}))
    tars = []
    for source in (trained, second):
        tars.append(tmp_path / f"{source.name}.tar")
        assert main(["export", str(source), "--out", str(tars[-1]), "--sign", f"{prefix}.key"]) == 0
    out = capsys.readouterr().out
    assert load_bundle(trained).bundle_id in out and "ed25519 sha256:" in out
    assert "ONNX exports skipped: the bundle has no networks" in out
    root = tmp_path / "deploy" / "{recipe}"
    for tar in tars:
        assert main(["deploy", str(tar), "--root", str(root), "--public-key", f"{prefix}.pub", "--keep", "2"]) == 0
    assert main(["rollback", "--root", str(tmp_path / "deploy" / "bracket")]) == 0
    assert status(tmp_path / "deploy" / "bracket")["current"] == load_bundle(trained).bundle_id


@pytest.mark.parametrize("command", [
    ["deploy", "{tmp}/missing.tar", "--root", "{tmp}/root"],
    ["deploy", "{tar}", "--root", "{tmp}/root", "--public-key", "{tmp}/missing.pub"],
    ["rollback", "--root", "{tmp}/root"],
    ["export", "{tmp}/no-bundle", "--out", "{tmp}/b.tar"],
    ["export", "{bundle}", "--out", "{tmp}/b.tar", "--sign", "{tmp}/missing.key"],
    ["signing-key", "generate", "--out", "{tmp}/taken"],
], ids=["deploy-missing-archive", "deploy-missing-key", "rollback-empty-root", "export-not-a-bundle",
        "export-missing-key", "signing-key-exists"])
def test_cli_commands_fail_with_exit_code_1_and_a_one_line_error(command: list[str], tmp_path: Path, capsys) -> None:
    bundle = tiny(tmp_path, 3)
    tar = archive(bundle, tmp_path)
    (tmp_path / "taken.key").write_text("already here")
    argv = [arg.format(tmp=tmp_path, tar=tar, bundle=bundle) for arg in command]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"pcinspect {command[0]}: error: ") and "\n" not in err
