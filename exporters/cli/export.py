"""`pcinspect export BUNDLE_DIR --out bundle.tar`: add ONNX exports, sign and pack a bundle for deployment.

The source directory is never modified: it is verified, copied to a staging folder beside the archive, and the
copy gets the ONNX exports (when the bundle has networks and :mod:`exporters.onnx_export` is installed), a fresh
signature (``--sign``) and is packed into one deterministic ``.tar``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from edge.bundle import BundleError, Manifest, load_bundle, manifest_bytes
from edge.cli.progress import progress
from edge.signing import SIGNATURE_FILE, load_signing_key, sign_bundle
from exporters.package import pack_bundle
from edge.errors import UsageError

ONNX_MODULE = "exporters.onnx_export"
DEFAULT_PRECISIONS = ("fp32", "fp16")


@dataclass
class Exported:
    """What an export produced: the archive, its bundle, its members, the signing key and notes for the user."""

    archive: Path
    bundle_id: str
    recipe: str
    members: list[str]
    fingerprint: str | None
    notes: list[str] = field(default_factory=list)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="add ONNX exports, sign and pack a bundle into a .tar for deploy")
    parser.add_argument("bundle", type=Path, metavar="BUNDLE_DIR", help="bundle directory (from `pcinspect train`)")
    parser.add_argument("--out", type=Path, required=True, help="archive to write, e.g. bundle.tar")
    parser.add_argument("--sign", type=Path, metavar="PRIVATE_KEY",
                        help="sign with this private key (from `pcinspect signing-key generate`)")
    parser.add_argument("--no-onnx", action="store_true", help="do not add ONNX exports of the bundle's networks")
    parser.add_argument("--precisions", default=",".join(DEFAULT_PRECISIONS),
                        help="ONNX precisions, comma-separated (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when the archive was written; 1 with a one-line error otherwise."""
    try:
        precisions = tuple(p.strip() for p in args.precisions.split(",") if p.strip())
        if not precisions:
            raise UsageError("--precisions names no precision")
        with progress(Console(), f"export {args.bundle}") as reporter:
            exported = export_bundle(args.bundle, args.out, private_key=args.sign, onnx=not args.no_onnx,
                                     precisions=precisions, progress=reporter.say)
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"pcinspect export: error: {exc}", file=sys.stderr)
        return 1
    print(f"bundle     {exported.bundle_id} (recipe {exported.recipe})")
    print(f"archive    {exported.archive} ({exported.archive.stat().st_size} bytes)")
    print(f"signature  {f'ed25519 {exported.fingerprint}' if exported.fingerprint else 'none (unsigned)'}")
    print(f"files      {len(exported.members)}")
    for member in exported.members:
        print(f"  {member}")
    for note in exported.notes:
        print(f"note: {note}")
    return 0


def export_bundle(bundle_dir: str | Path, out: str | Path, *, private_key: str | Path | None = None,
                  onnx: bool = True, precisions: tuple[str, ...] = DEFAULT_PRECISIONS,
                  progress: Callable[[str], None] | None = None) -> Exported:
    """Verify ``bundle_dir``, then write ``out``: a copy with ONNX exports added, signed when ``private_key`` is
    given, packed. A signature already in the bundle is kept only while the manifest it covers is unchanged.
    ``progress`` receives one line per step."""
    say = progress or (lambda _msg: None)
    bundle_dir, out = Path(bundle_dir), Path(out)
    say("verifying the bundle")
    source = load_bundle(bundle_dir).manifest
    if private_key is not None:
        load_signing_key(private_key)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out.parent) as tmp:
        staging = Path(tmp) / "bundle"
        shutil.copytree(bundle_dir, staging, symlinks=True)
        say(f"exporting ONNX ({', '.join(precisions)})" if onnx and source.networks else "copied")
        notes = [_add_onnx(staging, source, onnx, precisions)]
        manifest = load_bundle(staging).manifest
        fingerprint = None
        if private_key is not None:
            fingerprint = sign_bundle(staging, private_key)
        elif (staging / SIGNATURE_FILE).exists():
            if manifest_bytes(manifest) != manifest_bytes(source):
                (staging / SIGNATURE_FILE).unlink()
                notes.append("the bundle's signature was dropped: the manifest changed (sign again with --sign)")
            else:
                notes.append(f"kept the bundle's existing {SIGNATURE_FILE} (not verified here)")
        say(f"packing {out}")
        members = pack_bundle(staging, out)
    return Exported(out, manifest.bundle_id, manifest.recipe, members, fingerprint, notes)


def _add_onnx(staging: Path, manifest: Manifest, enabled: bool, precisions: tuple[str, ...]) -> str:
    if not enabled:
        return "ONNX exports skipped (--no-onnx)"
    if not manifest.networks:
        return "ONNX exports skipped: the bundle has no networks"
    if importlib.util.find_spec(ONNX_MODULE) is None:
        return f"ONNX exports skipped: {ONNX_MODULE} is not installed"
    add_onnx_models = getattr(importlib.import_module(ONNX_MODULE), "add_onnx_models", None)
    if add_onnx_models is None:
        return f"ONNX exports skipped: {ONNX_MODULE} has no add_onnx_models"
    add_onnx_models(staging, precisions=precisions)
    exports = sorted(f"{name}:{precision}" for name, entry in load_bundle(staging).manifest.networks.items()
                     for precision in entry.onnx)
    if not exports:
        raise BundleError(f"{staging}: {ONNX_MODULE}.add_onnx_models added no ONNX export")
    return f"ONNX exports: {', '.join(exports)}"
