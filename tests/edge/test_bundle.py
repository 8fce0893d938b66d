from pathlib import Path

import numpy as np
import pytest
import yaml

from edge.bundle import MANIFEST, BundleError, GoldenSample, load_bundle, write_bundle


def _write(root: Path) -> Path:
    return write_bundle(
        root,
        recipe="bracket",
        params={"voxel_size": 0.5},
        calibration={"threshold": 1.0, "normal_median": 0.2},
        arrays={"template": np.ones((10, 3), np.float32), "golden": np.zeros((5, 3), np.float32)},
        golden=GoldenSample(file="golden.npy", raw_score=0.1, verdict="PASS"),
        versions={"pcinspect": "0.1.0"},
    )


def test_written_bundle_loads_with_its_arrays_and_manifest(tmp_path: Path) -> None:
    bundle = load_bundle(_write(tmp_path / "b"))
    assert bundle.manifest.recipe == "bracket"
    assert bundle.bundle_id.startswith("bracket-")
    np.testing.assert_array_equal(bundle.arrays["template"], np.ones((10, 3), np.float32))
    assert set(bundle.manifest.files) == {"template.npy", "golden.npy"}


def test_tampered_array_fails_loading_naming_the_file(tmp_path: Path) -> None:
    root = _write(tmp_path / "b")
    data = bytearray((root / "template.npy").read_bytes())
    data[-1] ^= 0x01
    (root / "template.npy").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="template.npy: sha256 mismatch"):
        load_bundle(root)


def test_missing_file_fails_loading_naming_the_file(tmp_path: Path) -> None:
    root = _write(tmp_path / "b")
    (root / "golden.npy").unlink()
    with pytest.raises(BundleError, match="golden.npy: listed in bundle.yaml but missing"):
        load_bundle(root)


def test_manifest_with_unknown_key_is_rejected_with_its_name(tmp_path: Path) -> None:
    root = _write(tmp_path / "b")
    manifest = yaml.safe_load((root / MANIFEST).read_text())
    manifest["surprise"] = 1
    (root / MANIFEST).write_text(yaml.safe_dump(manifest))
    with pytest.raises(BundleError, match="surprise"):
        load_bundle(root)


def test_manifest_path_escaping_the_bundle_is_rejected(tmp_path: Path) -> None:
    root = _write(tmp_path / "b")
    manifest = yaml.safe_load((root / MANIFEST).read_text())
    manifest["files"]["../outside.npy"] = "0" * 64
    (root / MANIFEST).write_text(yaml.safe_dump(manifest))
    with pytest.raises(BundleError, match="not a plain relative path"):
        load_bundle(root)


def test_pickled_array_is_refused(tmp_path: Path) -> None:
    root = _write(tmp_path / "b")
    np.save(root / "template.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    manifest = yaml.safe_load((root / MANIFEST).read_text())
    from edge.bundle import sha256_file

    manifest["files"]["template.npy"] = sha256_file(root / "template.npy")
    (root / MANIFEST).write_text(yaml.safe_dump(manifest))
    with pytest.raises(BundleError, match="not a plain numpy array"):
        load_bundle(root)


def test_writing_over_a_non_empty_directory_is_refused(tmp_path: Path) -> None:
    root = _write(tmp_path / "b")
    with pytest.raises(BundleError, match="refusing to overwrite"):
        _write(root)


def test_directory_without_manifest_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no bundle.yaml"):
        load_bundle(tmp_path)
