"""Ed25519 bundle signatures: what they cover, and every way verification refuses a bundle."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
import yaml

from edge.bundle import MANIFEST, BundleError, update_manifest
from edge.pipeline.recipes import Recipes
from edge.signing import SIGNATURE_FILE, generate_signing_key, sign_bundle, verify_bundle_signature


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "keys" / "build.key", tmp_path / "keys" / "build.pub"
    generate_signing_key(private, public)
    return private, public


@pytest.fixture
def bundle(tiny_bundle: Path) -> Path:
    return tiny_bundle


def _edit_manifest(root: Path, key: str, value: object) -> None:
    manifest = yaml.safe_load((root / MANIFEST).read_text())
    manifest[key] = value
    (root / MANIFEST).write_text(yaml.safe_dump(manifest, sort_keys=False))


def test_signed_bundle_verifies_with_its_public_key(bundle: Path, keys: tuple[Path, Path]) -> None:
    sign_bundle(bundle, keys[0])
    verify_bundle_signature(bundle, keys[1])


def test_edited_manifest_fails_verification(bundle: Path, keys: tuple[Path, Path]) -> None:
    sign_bundle(bundle, keys[0])
    _edit_manifest(bundle, "calibration", {"threshold": 99.0, "normal_median": 0.2})
    with pytest.raises(BundleError, match="signature does not match bundle.yaml"):
        verify_bundle_signature(bundle, keys[1])


def test_bundle_signed_by_another_key_fails_naming_both_keys(bundle: Path, keys: tuple[Path, Path],
                                                             tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    generate_signing_key(other, tmp_path / "other.pub")
    sign_bundle(bundle, other)
    with pytest.raises(BundleError, match="signed by key sha256:[0-9a-f]{32}, not by the configured key sha256:"):
        verify_bundle_signature(bundle, keys[1])


def test_unsigned_bundle_fails_when_a_key_is_configured(bundle: Path, keys: tuple[Path, Path]) -> None:
    with pytest.raises(BundleError, match="bundle is not signed"):
        verify_bundle_signature(bundle, keys[1])


def test_unsigned_bundle_loads_when_no_key_is_configured(bundle: Path) -> None:
    recipes = Recipes(lambda path: _Stub(path))
    recipes.load_all({"bracket": bundle})
    assert recipes.current("bracket").path == bundle


def test_adding_engines_does_not_break_the_signature(bundle: Path, keys: tuple[Path, Path]) -> None:
    sign_bundle(bundle, keys[0])

    def add_engine(manifest):
        manifest.engines["sm_89-trt10"] = {"file": "engines/down.plan", "sha256": "a" * 64}
        return manifest

    update_manifest(bundle, add_engine)
    verify_bundle_signature(bundle, keys[1])


def test_corrupt_signature_file_is_reported_as_corrupt(bundle: Path, keys: tuple[Path, Path]) -> None:
    sign_bundle(bundle, keys[0])
    document = json.loads((bundle / SIGNATURE_FILE).read_text())
    document["signature"] = "not base64!"
    (bundle / SIGNATURE_FILE).write_text(json.dumps(document))
    with pytest.raises(BundleError, match="corrupt signature file"):
        verify_bundle_signature(bundle, keys[1])


def test_unreadable_public_key_file_is_reported_with_its_path(bundle: Path, keys: tuple[Path, Path],
                                                              tmp_path: Path) -> None:
    sign_bundle(bundle, keys[0])
    with pytest.raises(BundleError, match="missing.pub: cannot read the public key file"):
        verify_bundle_signature(bundle, tmp_path / "missing.pub")


def test_private_key_given_as_public_key_is_refused(bundle: Path, keys: tuple[Path, Path]) -> None:
    sign_bundle(bundle, keys[0])
    with pytest.raises(BundleError, match="is a private key file, expected a public key"):
        verify_bundle_signature(bundle, keys[0])


def test_generated_private_key_is_readable_by_its_owner_only(keys: tuple[Path, Path]) -> None:
    assert stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    assert keys[1].read_text().startswith("pcinspect-ed25519-public-key v1\n")


def test_generating_a_key_never_overwrites_one(keys: tuple[Path, Path]) -> None:
    with pytest.raises(BundleError, match="already exists"):
        generate_signing_key(keys[0], keys[1].with_name("new.pub"))


def test_service_recipes_refuse_an_unsigned_bundle_when_given_a_public_key(bundle: Path,
                                                                           keys: tuple[Path, Path]) -> None:
    recipes = Recipes(lambda path: _Stub(path), public_key=keys[1])
    with pytest.raises(BundleError, match="bundle is not signed"):
        recipes.load_all({"bracket": bundle})


class _Stub:
    """Stands in for an Inspector: the manifest's sha256 is what the signature check compares against."""

    bundle_id = "stub"

    def __init__(self, path: Path) -> None:
        self.bundle_sha256 = hashlib.sha256((path / MANIFEST).read_bytes()).hexdigest()

    def inspect(self, cloud: object) -> None:
        return None
