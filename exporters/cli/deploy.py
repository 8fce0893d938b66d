"""`pcinspect deploy bundle.tar --root DIR`: verify a bundle archive and make it the current version on this box.

Prints the installed directory on stdout (for scripts: hand it to `pcinspect control reload --bundle`) and a
one-line summary on stderr. ``--root`` may contain ``{recipe}``, replaced by the archive's recipe, so one command
serves a station with several recipes (one deploy root each).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exporters.deploy import DEFAULT_KEEP, deploy, status
from exporters.package import read_recipe


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("deploy", help="verify a bundle archive and switch the deploy root's current to it")
    parser.add_argument("archive", type=Path, metavar="BUNDLE_TAR", help="archive from `pcinspect export`")
    parser.add_argument("--root", required=True,
                        help="deploy root (versions/, current, previous); '{recipe}' becomes the bundle's recipe")
    parser.add_argument("--public-key", type=Path, metavar="FILE",
                        help="refuse the bundle unless it is signed by this ed25519 public key")
    parser.add_argument("--keep", type=int, default=DEFAULT_KEEP,
                        help="versions kept besides current, previous included (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when the bundle is current; 1 with a one-line error (current unchanged) otherwise."""
    try:
        root = Path(args.root.replace("{recipe}", read_recipe(args.archive)) if "{recipe}" in args.root else args.root)
        installed = deploy(args.archive, root, public_key=args.public_key, keep=args.keep)
        state = status(root)
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"pcinspect deploy: error: {exc}", file=sys.stderr)
        return 1
    print(installed.absolute())
    print(f"pcinspect deploy: {state['current']} is current in {root} (previous: {state['previous'] or 'none'}; "
          f"{len(state['versions'])} version(s) on disk)", file=sys.stderr)
    return 0
