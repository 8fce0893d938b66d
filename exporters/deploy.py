"""Install bundle archives on an edge box: verified versions side by side, switched by atomic symlinks.

Layout under a deploy root (one root per recipe)::

    versions/<bundle_id>/      unpacked bundles that passed every check
    current -> versions/<id>   the bundle the station file points at (``recipes.<name>.bundle: ROOT/current``)
    previous -> versions/<id>  what :func:`rollback` returns to
    .lock                      ``flock``-ed by deploy, rollback and prune, so they run one at a time
    .staging-*                 an archive being unpacked and checked; removed on failure (and when stale)

A deploy unpacks into a staging folder, verifies the signature (with a public key), every hash and the golden
sample, and only then moves the bundle under ``versions/`` and switches the links, each with a symlink made under a
temporary name and ``os.replace``-d over the old one, so a reader always sees a whole link. Any failure leaves
``current`` as it was.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.bundle import BundleError, load_bundle, manifest_bytes
from edge.inspector import Inspector
from edge.signing import load_verify_key, verify_signed_manifest
from exporters.package import unpack_bundle
from edge.errors import PcinspectError

VERSIONS = "versions"
CURRENT = "current"
PREVIOUS = "previous"
LOCK = ".lock"
STAGING_PREFIX = ".staging-"
DEFAULT_KEEP = 5
_BUNDLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class DeployError(PcinspectError, RuntimeError):
    """The deploy root cannot do what was asked (no previous version, a foreign file in the way, ...)."""


@contextmanager
def deploy_lock(root: str | Path) -> Iterator[None]:
    """Hold the deploy root's lock file (``fcntl.flock``, exclusive, blocking) for the duration of the block."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def deploy(tar_path: str | Path, root: str | Path, *, public_key: str | Path | None = None, smoke_test: bool = True,
           keep: int = DEFAULT_KEEP) -> Path:
    """Verify and install a bundle archive as ``root/versions/<bundle_id>``, make it ``current`` (the old one
    becomes ``previous``) and prune old versions beyond ``keep``; the installed directory.

    Raises BundleError (PackageError for the archive itself) or DeployError; ``current`` is then unchanged.
    """
    tar_path, root = Path(tar_path), Path(root)
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    key = load_verify_key(public_key) if public_key is not None else None
    with deploy_lock(root):
        versions = root / VERSIONS
        versions.mkdir(exist_ok=True)
        _remove_stale_staging(root)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))
        try:
            unpacked = staging / "bundle"
            unpack_bundle(tar_path, unpacked)
            if key is not None:
                verify_signed_manifest(unpacked, key)
            bundle_id = _checked_bundle_id(unpacked, smoke_test)
            target = versions / bundle_id
            _install(root, unpacked, target)
        except (BundleError, DeployError) as exc:
            raise type(exc)(_in_archive(str(exc), unpacked, tar_path)) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        os.utime(target)
        _switch_to(root, target)
        _prune(root, keep)
    return target


def _in_archive(message: str, unpacked: Path, tar_path: Path) -> str:
    """``message`` with the temporary staging path replaced by the archive (and the member inside it), so the
    operator reads which file of which archive is wrong, not a folder that no longer exists."""
    message = message.replace(f"{unpacked}{os.sep}", f"{tar_path} member ")
    return message.replace(str(unpacked), str(tar_path))


def rollback(root: str | Path) -> Path:
    """Make ``previous`` current again (and the current one previous); the directory now current."""
    root = Path(root)
    if not root.is_dir():
        raise DeployError(f"{root}: no such deploy root")
    with deploy_lock(root):
        current, previous = _link(root, CURRENT), _link(root, PREVIOUS)
        if previous is None:
            raise DeployError(f"{root}: nothing to roll back to (no {PREVIOUS} version)")
        target = root / previous
        if not target.is_dir():
            raise DeployError(f"{root / PREVIOUS}: points at {previous}, which no longer exists")
        load_bundle(target)
        _replace_link(root, CURRENT, previous)
        if current is not None:
            _replace_link(root, PREVIOUS, current)
    return target


def prune(root: str | Path, keep: int = DEFAULT_KEEP) -> list[str]:
    """Delete the oldest versions so at most ``keep`` remain besides ``current`` (``previous`` counts among them
    and, like ``current``, is never deleted); the deleted bundle ids."""
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    with deploy_lock(root):
        return _prune(Path(root), keep)


def status(root: str | Path) -> dict[str, Any]:
    """The deploy root at a glance: current and previous bundle ids, and every version, newest first."""
    root = Path(root)
    current, previous = _link(root, CURRENT), _link(root, PREVIOUS)
    current_id = current.name if current is not None else None
    previous_id = previous.name if previous is not None else None
    versions = [
        {"id": path.name, "deployed": datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(),
         "current": path.name == current_id, "previous": path.name == previous_id}
        for path in _versions_newest_first(root)
    ]
    return {"root": str(root), "current": current_id, "previous": previous_id, "versions": versions}


def _checked_bundle_id(bundle_dir: Path, smoke_test: bool) -> str:
    if smoke_test:
        try:
            bundle_id = Inspector.from_bundle(bundle_dir).bundle_id
        except BundleError:
            raise
        except Exception as exc:  # a bundle that crashes the loader is refused like any other bad bundle
            raise BundleError(f"{bundle_dir}: cannot be loaded for its smoke test: {exc}") from exc
    else:
        bundle_id = load_bundle(bundle_dir).bundle_id
    if not _BUNDLE_ID.match(bundle_id):
        raise BundleError(f"{bundle_dir}: bundle_id {bundle_id!r} cannot name a folder")
    return bundle_id


def _install(root: Path, unpacked: Path, target: Path) -> None:
    """Move a verified bundle to ``target``; an identical bundle already there is kept (with its engines)."""
    if target.exists():
        try:
            existing = load_bundle(target).manifest
        except BundleError:
            existing = None
        if existing is not None and manifest_bytes(existing) == manifest_bytes(load_bundle(unpacked).manifest):
            return
        if target.resolve() in _in_use(root):
            raise DeployError(f"{target}: a different or damaged bundle with this id is {CURRENT} or {PREVIOUS}; "
                              "deploy another bundle or roll back first")
        _remove_version(root, target)
    os.rename(unpacked, target)
    _fsync_dir(target.parent)


def _switch_to(root: Path, target: Path) -> None:
    current = _link(root, CURRENT)
    if current is not None and (root / current).resolve() == target.resolve():
        return
    if current is not None:
        _replace_link(root, PREVIOUS, current)
    _replace_link(root, CURRENT, target.relative_to(root))


def _prune(root: Path, keep: int) -> list[str]:
    in_use = _in_use(root)
    budget = max(keep - (_link(root, PREVIOUS) is not None), 0)
    others = [path for path in _versions_newest_first(root) if path.resolve() not in in_use]
    removed = []
    for path in others[budget:]:
        _remove_version(root, path)
        removed.append(path.name)
    return removed


def _versions_newest_first(root: Path) -> list[Path]:
    folder = root / VERSIONS
    if not folder.is_dir():
        return []
    paths = [path for path in folder.iterdir() if path.is_dir() and not path.is_symlink()]
    return sorted(paths, key=lambda path: (path.stat().st_mtime, path.name), reverse=True)


def _in_use(root: Path) -> set[Path]:
    """The real paths ``current`` and ``previous`` point at."""
    links = (_link(root, CURRENT), _link(root, PREVIOUS))
    return {(root / link).resolve() for link in links if link is not None}


def _link(root: Path, name: str) -> Path | None:
    """Where ``root/name`` points (relative to ``root``), or None when there is no such link."""
    path = root / name
    if not path.is_symlink():
        if path.exists():
            raise DeployError(f"{path}: exists and is not a symbolic link; move it away")
        return None
    return Path(os.readlink(path))


def _replace_link(root: Path, name: str, target: Path) -> None:
    tmp = root / f".{name}-{os.getpid()}-{os.urandom(4).hex()}"
    os.symlink(target, tmp)
    try:
        os.replace(tmp, root / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(root)


def _remove_version(root: Path, path: Path) -> None:
    """Move a version out of ``versions/`` in one rename, then delete it (a crash leaves only a stale staging)."""
    trash = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))
    os.rename(path, trash / path.name)
    shutil.rmtree(trash, ignore_errors=True)


def _remove_stale_staging(root: Path) -> None:
    for path in root.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
