"""Ed25519 bundle signatures: who made a bundle, checked before the edge serves it.

A signature covers :func:`edge.bundle.manifest_bytes`, the canonical manifest without ``engines``. The manifest
lists the sha256 of every file, so the signature covers every file; TensorRT engines are built later on the edge
box and carry their own hashes, so adding them does not break it. The signature lives in ``bundle.sig`` at the
bundle root (not listed under ``files``) as JSON::

    {"format": 1, "algorithm": "ed25519", "key_fingerprint": "sha256:<32 hex>", "signature": "<base64>"}

Key files are two lines of text: a header naming the kind of key, then the raw 32-byte key in base64 (the
private key file holds the ed25519 seed and is written with mode 0600)::

    pcinspect-ed25519-private-key v1        pcinspect-ed25519-public-key v1
    <base64 of 32 bytes>                    <base64 of 32 bytes>
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import tempfile
from pathlib import Path

import nacl.exceptions
import nacl.signing
import yaml
from pydantic import ValidationError

from edge.bundle import MANIFEST, BundleError, Manifest, manifest_bytes

ALGORITHM = "ed25519"
SIGNATURE_FILE = "bundle.sig"
SIGNATURE_FORMAT = 1
PRIVATE_HEADER = "pcinspect-ed25519-private-key v1"
PUBLIC_HEADER = "pcinspect-ed25519-public-key v1"
_KEY_BYTES = 32
_MAX_KEY_FILE = 4096
_MAX_SIGNATURE_FILE = 4096


def key_fingerprint(key: nacl.signing.VerifyKey) -> str:
    """Short, stable name of a public key: ``sha256:`` and the first 32 hex digits of its raw bytes' sha256."""
    return "sha256:" + hashlib.sha256(bytes(key)).hexdigest()[:32]


def generate_signing_key(private_path: str | Path, public_path: str | Path) -> str:
    """Write a new key pair (private file mode 0600, never overwriting either file); its fingerprint."""
    private_path, public_path = Path(private_path), Path(public_path)
    for path in (private_path, public_path):
        if path.exists():
            raise BundleError(f"{path}: already exists; refusing to overwrite a key file")
    key = nacl.signing.SigningKey.generate()
    _write_new(private_path, f"{PRIVATE_HEADER}\n{base64.b64encode(bytes(key)).decode()}\n", 0o600)
    _write_new(public_path, f"{PUBLIC_HEADER}\n{base64.b64encode(bytes(key.verify_key)).decode()}\n", 0o644)
    return key_fingerprint(key.verify_key)


def load_signing_key(path: str | Path) -> nacl.signing.SigningKey:
    """The private key in ``path``; BundleError when it is unreadable or not a private key file."""
    return nacl.signing.SigningKey(_read_key(Path(path), PRIVATE_HEADER, "private"))


def load_verify_key(path: str | Path) -> nacl.signing.VerifyKey:
    """The public key in ``path``; BundleError when it is unreadable or not a public key file."""
    return nacl.signing.VerifyKey(_read_key(Path(path), PUBLIC_HEADER, "public"))


def sign_bundle(bundle_root: str | Path, private_key_path: str | Path) -> str:
    """Sign a bundle directory's manifest into ``bundle.sig`` (replaced atomically); the key's fingerprint."""
    root = Path(bundle_root)
    key = load_signing_key(private_key_path)
    _, manifest = _read_manifest(root)
    signature = key.sign(manifest_bytes(manifest)).signature
    fingerprint = key_fingerprint(key.verify_key)
    document = {"format": SIGNATURE_FORMAT, "algorithm": ALGORITHM, "key_fingerprint": fingerprint,
                "signature": base64.b64encode(signature).decode()}
    fd, tmp = tempfile.mkstemp(prefix=f".{SIGNATURE_FILE}-", dir=root)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(document, indent=2) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, root / SIGNATURE_FILE)
    return fingerprint


def verify_bundle_signature(bundle_root: str | Path, public_key_path: str | Path) -> None:
    """Raise BundleError unless ``bundle.sig`` is a valid signature of the bundle's manifest by this key.

    Only the manifest and the signature are read: the files' hashes are checked when the bundle is loaded.
    """
    verify_signed_manifest(bundle_root, load_verify_key(public_key_path))


def verify_signed_manifest(bundle_root: str | Path, key: nacl.signing.VerifyKey) -> str:
    """Like :func:`verify_bundle_signature` with a loaded key; the identity (``Bundle.sha256``: the hash of the
    signed manifest bytes) verified, so a caller can check that the bundle it then loads has that very manifest."""
    root = Path(bundle_root)
    sig_path = root / SIGNATURE_FILE
    if not sig_path.is_file():
        raise BundleError(f"{root}: bundle is not signed (no {SIGNATURE_FILE}) but a bundle public key is configured")
    claimed, signature = _read_signature(sig_path)
    expected = key_fingerprint(key)
    if claimed != expected:
        raise BundleError(f"{sig_path}: signed by key {claimed}, not by the configured key {expected}")
    _, manifest = _read_manifest(root)
    try:
        key.verify(manifest_bytes(manifest), signature)
    except nacl.exceptions.BadSignatureError:
        raise BundleError(f"{sig_path}: signature does not match {MANIFEST} (the manifest was changed after "
                          "signing)") from None
    return hashlib.sha256(manifest_bytes(manifest)).hexdigest()


def _read_signature(path: Path) -> tuple[str, bytes]:
    try:
        if path.stat().st_size > _MAX_SIGNATURE_FILE:
            raise BundleError(f"{path}: corrupt signature file (larger than {_MAX_SIGNATURE_FILE} bytes)")
        document = json.loads(path.read_text())
    except OSError as exc:
        raise BundleError(f"{path}: cannot read the signature file: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: corrupt signature file (not JSON: {exc})") from None
    if not isinstance(document, dict):
        raise BundleError(f"{path}: corrupt signature file (expected a JSON object)")
    if document.get("format") != SIGNATURE_FORMAT:
        raise BundleError(f"{path}: unsupported signature format {document.get('format')!r} "
                          f"(expected {SIGNATURE_FORMAT})")
    if document.get("algorithm") != ALGORITHM:
        raise BundleError(f"{path}: unsupported signature algorithm {document.get('algorithm')!r} "
                          f"(expected {ALGORITHM!r})")
    fingerprint, encoded = document.get("key_fingerprint"), document.get("signature")
    if not isinstance(fingerprint, str) or not isinstance(encoded, str):
        raise BundleError(f"{path}: corrupt signature file (key_fingerprint and signature must be strings)")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise BundleError(f"{path}: corrupt signature file (signature is not base64)") from None
    if len(signature) != 64:
        raise BundleError(f"{path}: corrupt signature file (ed25519 signatures are 64 bytes, got {len(signature)})")
    return fingerprint, signature


def _read_manifest(root: Path) -> tuple[bytes, Manifest]:
    path = root / MANIFEST
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(raw)
        return raw, Manifest.model_validate(data)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        raise BundleError(f"{path}: not a valid manifest: {exc.error_count()} problem(s), first: "
                          f"{exc.errors()[0]['msg']}") from None


def _read_key(path: Path, header: str, kind: str) -> bytes:
    try:
        if path.stat().st_size > _MAX_KEY_FILE:
            raise BundleError(f"{path}: not a pcinspect {kind} key file (too large)")
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise BundleError(f"{path}: cannot read the {kind} key file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BundleError(f"{path}: not a pcinspect {kind} key file (not text)") from None
    other_kind, other_header = ("public", PUBLIC_HEADER) if kind == "private" else ("private", PRIVATE_HEADER)
    if lines and lines[0] == other_header:
        raise BundleError(f"{path}: is a {other_kind} key file, expected a {kind} key")
    if len(lines) != 2 or lines[0] != header:
        raise BundleError(f"{path}: not a pcinspect {kind} key file (expected the line {header!r} and a base64 key)")
    try:
        raw = base64.b64decode(lines[1], validate=True)
    except binascii.Error:
        raise BundleError(f"{path}: corrupt {kind} key file (the key is not base64)") from None
    if len(raw) != _KEY_BYTES:
        raise BundleError(f"{path}: corrupt {kind} key file (expected {_KEY_BYTES} key bytes, got {len(raw)})")
    return raw


def _write_new(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(text)
