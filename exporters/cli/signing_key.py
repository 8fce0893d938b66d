"""`pcinspect signing-key generate --out PREFIX`: a new ed25519 key pair for signing bundles.

Writes ``PREFIX.key`` (private, mode 0600: keep it on the build machine) and ``PREFIX.pub`` (public: install it on
the edge boxes and name it in the station file's ``security.bundle_public_key``). Never overwrites a key file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.signing import generate_signing_key


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("signing-key", help="manage ed25519 bundle signing keys")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    generate = actions.add_parser("generate", help="write PREFIX.key (private, 0600) and PREFIX.pub (public)")
    generate.add_argument("--out", type=Path, required=True, metavar="PREFIX", help="path prefix of the two files")
    generate.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    """0 when both files were written; 1 with a one-line error otherwise."""
    private, public = Path(f"{args.out}.key"), Path(f"{args.out}.pub")
    try:
        fingerprint = generate_signing_key(private, public)
    except (RuntimeError, OSError) as exc:
        print(f"pcinspect signing-key: error: {exc}", file=sys.stderr)
        return 1
    print(f"private key  {private} (mode 0600; keep it secret, on the build machine)")
    print(f"public key   {public} (for the edge: security.bundle_public_key)")
    print(f"fingerprint  {fingerprint}")
    return 0
