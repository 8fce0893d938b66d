"""Bundle archives: deterministic packing, and unpacking that refuses every unsafe member by name."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from edge.bundle import load_bundle
from exporters.package import PackageError, pack_bundle, read_recipe, unpack_bundle


@pytest.fixture
def bundle(tiny_bundle: Path) -> Path:
    return tiny_bundle


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x",
            **extra: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in extra.items():
        setattr(info, key, value)
    return info, data


def _archive_with(bundle: Path, path: Path, *extra: tuple[tarfile.TarInfo, bytes]) -> Path:
    """The bundle's own archive plus ``extra`` members appended."""
    pack_bundle(bundle, path)
    with tarfile.open(path, "a") as tar:
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return path


def test_pack_then_unpack_gives_back_the_same_verified_bundle(bundle: Path, tmp_path: Path) -> None:
    names = pack_bundle(bundle, tmp_path / "b.tar")
    unpack_bundle(tmp_path / "b.tar", tmp_path / "out")
    assert names == sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    for name in names:
        assert (tmp_path / "out" / name).read_bytes() == (bundle / name).read_bytes()
    assert load_bundle(tmp_path / "out").bundle_id == load_bundle(bundle).bundle_id


def test_packing_is_byte_for_byte_deterministic(bundle: Path, tmp_path: Path) -> None:
    pack_bundle(bundle, tmp_path / "one.tar")
    os.utime(bundle / "template.npy", (1, 1))
    pack_bundle(bundle, tmp_path / "two.tar")
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()


def test_archive_members_are_sorted_relative_regular_files(bundle: Path, tmp_path: Path) -> None:
    pack_bundle(bundle, tmp_path / "b.tar")
    with tarfile.open(tmp_path / "b.tar") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert all(m.isfile() and not m.name.startswith("/") and m.uid == 0 and m.mtime == 0 for m in members)


def test_recipe_is_read_from_the_archive_without_unpacking(bundle: Path, tmp_path: Path) -> None:
    pack_bundle(bundle, tmp_path / "b.tar")
    assert read_recipe(tmp_path / "b.tar") == "bracket"


def test_packing_refuses_a_symbolic_link_in_the_bundle(bundle: Path, tmp_path: Path) -> None:
    (bundle / "extra.npy").symlink_to("/etc/passwd")
    with pytest.raises(PackageError, match="extra.npy is a symbolic link"):
        pack_bundle(bundle, tmp_path / "b.tar")


@pytest.mark.parametrize(("member", "message"), [
    (_member("evil", tarfile.SYMTYPE, linkname="/etc/passwd"), "member 'evil' is a symbolic link"),
    (_member("hard", tarfile.LNKTYPE, linkname="bundle.yaml"), "member 'hard' is a hard link"),
    (_member("tty", tarfile.CHRTYPE, devmajor=4, devminor=1), "member 'tty' is a device file"),
    (_member("disk", tarfile.BLKTYPE, devmajor=8, devminor=0), "member 'disk' is a device file"),
    (_member("pipe", tarfile.FIFOTYPE), "member 'pipe' is a FIFO"),
    (_member("folder", tarfile.DIRTYPE), "member 'folder' is a directory"),
    (_member("/etc/cron.d/evil"), "member '/etc/cron.d/evil' has an absolute path"),
    (_member("../outside.npy"), r"member '../outside.npy' escapes the bundle \('..'\)"),
    (_member("networks/../../outside"), r"escapes the bundle"),
    (_member("./bundle.yaml.bak"), r"member './bundle.yaml.bak' is not a plain relative path"),
    (_member("bundle.yaml"), "member 'bundle.yaml' appears more than once"),
    (_member("template.npy/inner"), "member 'template.npy/inner' is both a file and a folder"),
], ids=["symlink", "hardlink", "char-device", "block-device", "fifo", "directory", "absolute", "dotdot",
        "nested-dotdot", "dot", "duplicate", "file-as-folder"])
def test_unsafe_member_is_refused_by_name(bundle: Path, tmp_path: Path, member: tuple[tarfile.TarInfo, bytes],
                                          message: str) -> None:
    archive = _archive_with(bundle, tmp_path / "b.tar", member)
    with pytest.raises(PackageError, match=message):
        unpack_bundle(archive, tmp_path / "out")
    assert not (tmp_path / "outside.npy").exists() and not Path("/etc/cron.d/evil").exists()


def test_oversized_member_is_refused_by_name(bundle: Path, tmp_path: Path) -> None:
    archive = _archive_with(bundle, tmp_path / "b.tar", _member("huge.bin", data=b"\0" * 4096))
    with pytest.raises(PackageError, match=r"member 'huge.bin' is 4096 bytes, more than the 1024 allowed"):
        unpack_bundle(archive, tmp_path / "out", max_member_bytes=1024)


def test_archive_past_the_total_size_limit_is_refused(bundle: Path, tmp_path: Path) -> None:
    pack_bundle(bundle, tmp_path / "b.tar")
    with pytest.raises(PackageError, match="takes the archive past 100 bytes"):
        unpack_bundle(tmp_path / "b.tar", tmp_path / "out", max_total_bytes=100)


def test_file_that_is_not_a_tar_is_refused(tmp_path: Path) -> None:
    (tmp_path / "b.tar").write_bytes(b"definitely not a tar archive" * 40)
    with pytest.raises(PackageError, match="not a readable tar archive"):
        unpack_bundle(tmp_path / "b.tar", tmp_path / "out")


def test_archive_without_a_manifest_is_not_a_bundle(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "b.tar", "w") as tar:
        info, data = _member("golden.npy")
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(PackageError, match="no bundle.yaml member"):
        unpack_bundle(tmp_path / "b.tar", tmp_path / "out")
