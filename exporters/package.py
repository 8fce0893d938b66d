"""A bundle directory as one ``.tar`` file, and the safe way back to a directory.

Packing is deterministic: regular files only, sorted by path, relative names, owner/time/mode normalised, so the
same bundle always gives the same bytes. Unpacking never trusts the archive: it refuses links, devices, FIFOs,
sparse members, absolute or escaping names, duplicates and oversized members, naming the member, and writes each
file itself (no ``extractall``) into a directory that must be new.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

import yaml

from edge.bundle import MANIFEST, BundleError

MAX_MEMBER_BYTES = 4 << 30
MAX_TOTAL_BYTES = 16 << 30
MAX_MEMBERS = 10_000
_MAX_MANIFEST_BYTES = 64 << 20
_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9._-]+$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_BLOCK = 1 << 20
_UNSAFE_KINDS = ((tarfile.TarInfo.issym, "symbolic link"), (tarfile.TarInfo.islnk, "hard link"),
                 (tarfile.TarInfo.isfifo, "FIFO"), (tarfile.TarInfo.isdev, "device file"),
                 (tarfile.TarInfo.isdir, "directory"), (tarfile.TarInfo.issparse, "sparse file"))


class PackageError(BundleError):
    """A bundle archive cannot be made or used; the message names the archive and the offending member."""


def pack_bundle(bundle_dir: str | Path, tar_path: str | Path) -> list[str]:
    """Write every regular file under ``bundle_dir`` into ``tar_path`` (replaced atomically); the member names.

    A link or special file in the directory is an error: a bundle is plain files.
    """
    root, tar_path = Path(bundle_dir), Path(tar_path)
    if not (root / MANIFEST).is_file():
        raise PackageError(f"{root}: no {MANIFEST} (not a bundle directory)")
    names = _regular_files(root)
    tar_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{tar_path.name}-", dir=tar_path.parent)
    try:
        with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in names:
                path = root / name
                info = tarfile.TarInfo(name)
                info.size = path.stat().st_size
                info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, 0, "", ""
                with open(path, "rb") as data:
                    tar.addfile(info, data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, tar_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return names


def unpack_bundle(tar_path: str | Path, dest: str | Path, *, max_member_bytes: int = MAX_MEMBER_BYTES,
                  max_total_bytes: int = MAX_TOTAL_BYTES, max_members: int = MAX_MEMBERS) -> list[str]:
    """Extract a bundle archive into the new directory ``dest``; the member names. Raises PackageError naming the
    first unsafe member; ``dest`` may then hold part of the archive (callers unpack into a staging folder)."""
    tar_path, dest = Path(tar_path), Path(dest)
    dest.mkdir(parents=True, exist_ok=False)
    seen: set[str] = set()
    folders: set[str] = set()
    total = 0
    try:
        tar = tarfile.open(tar_path, mode="r:")
    except (OSError, tarfile.TarError) as exc:
        raise PackageError(f"{tar_path}: not a readable tar archive: {exc}") from None
    with tar:
        try:
            for member in tar:
                name = _check_member(tar_path, member, seen, folders, max_member_bytes)
                if len(seen) > max_members:
                    raise PackageError(f"{tar_path}: more than {max_members} members")
                total += member.size
                if total > max_total_bytes:
                    raise PackageError(f"{tar_path}: member {member.name!r} takes the archive past "
                                       f"{max_total_bytes} bytes")
                _extract(tar_path, tar, member, dest / name)
        except tarfile.TarError as exc:
            raise PackageError(f"{tar_path}: corrupt tar archive: {exc}") from None
    if MANIFEST not in seen:
        raise PackageError(f"{tar_path}: no {MANIFEST} member (not a bundle archive)")
    return sorted(seen)


def read_recipe(tar_path: str | Path) -> str:
    """The recipe named in an archive's manifest, read without extracting (only to route it; deploy verifies)."""
    tar_path = Path(tar_path)
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            for member in tar:
                if member.name == MANIFEST:
                    if not member.isfile() or member.size > _MAX_MANIFEST_BYTES:
                        raise PackageError(f"{tar_path}: member {MANIFEST!r} is not a regular file of sensible size")
                    handle = tar.extractfile(member)
                    manifest = yaml.safe_load(handle.read()) if handle is not None else None
                    break
            else:
                raise PackageError(f"{tar_path}: no {MANIFEST} member (not a bundle archive)")
    except (OSError, tarfile.TarError) as exc:
        raise PackageError(f"{tar_path}: not a readable tar archive: {exc}") from None
    except yaml.YAMLError as exc:
        raise PackageError(f"{tar_path}: {MANIFEST} is not valid YAML: {exc}") from None
    recipe = manifest.get("recipe") if isinstance(manifest, dict) else None
    if not isinstance(recipe, str) or not _SAFE_NAME.match(recipe):
        raise PackageError(f"{tar_path}: {MANIFEST} names no usable recipe (got {recipe!r})")
    return recipe


def _regular_files(root: Path) -> list[str]:
    names = []
    for folder, dirs, files in os.walk(root):
        for entry in sorted(dirs + files):
            path = Path(folder) / entry
            rel = path.relative_to(root).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise PackageError(f"{root}: {rel} is a symbolic link; a bundle holds regular files only")
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise PackageError(f"{root}: {rel} is not a regular file; a bundle holds regular files only")
            _check_name(root, rel)
            names.append(rel)
    return sorted(names)


def _check_name(where: Path, name: str) -> str:
    path = PurePosixPath(name)
    if not name or name.startswith("/") or path.is_absolute():
        raise PackageError(f"{where}: member {name!r} has an absolute path")
    if ".." in path.parts:
        raise PackageError(f"{where}: member {name!r} escapes the bundle ('..')")
    if "\\" in name or any(not _SAFE_COMPONENT.match(part) or part == "." for part in name.split("/")):
        raise PackageError(f"{where}: member {name!r} is not a plain relative path")
    return name


def _check_member(tar_path: Path, member: tarfile.TarInfo, seen: set[str], folders: set[str], max_bytes: int) -> str:
    name = _check_name(tar_path, member.name)
    kind = _unsafe_kind(member)
    if kind is not None:
        raise PackageError(f"{tar_path}: member {name!r} is a {kind}; a bundle archive holds regular files only")
    if name in seen:
        raise PackageError(f"{tar_path}: member {name!r} appears more than once")
    parents = [str(parent) for parent in PurePosixPath(name).parents][:-1]
    if name in folders or any(parent in seen for parent in parents):
        raise PackageError(f"{tar_path}: member {name!r} is both a file and a folder in the archive")
    if member.size > max_bytes:
        raise PackageError(f"{tar_path}: member {name!r} is {member.size} bytes, more than the {max_bytes} allowed")
    seen.add(name)
    folders.update(parents)
    return name


def _unsafe_kind(member: tarfile.TarInfo) -> str | None:
    """What makes a member other than a plain file, in words; None for a regular file."""
    for test, kind in _UNSAFE_KINDS:
        if test(member):
            return kind
    return None if member.isfile() else "special file"


def _extract(tar_path: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    source = tar.extractfile(member)
    if source is None:
        raise PackageError(f"{tar_path}: member {member.name!r} has no data")
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with source, open(target, "xb") as out:
        for block in iter(lambda: source.read(_BLOCK), b""):
            written += len(block)
            if written > member.size:
                break
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    if written != member.size:
        raise PackageError(f"{tar_path}: member {member.name!r} holds {written} bytes, its header says {member.size}")
    os.chmod(target, 0o644)

