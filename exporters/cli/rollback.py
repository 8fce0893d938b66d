"""`pcinspect rollback --root DIR`: make the deploy root's previous version current again.

This switches the links on disk (what the service loads at start and on SIGHUP); tell a running service with
`pcinspect control reload --bundle DIR/current`. Prints the directory now current on stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exporters.deploy import rollback, status


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("rollback", help="swap a deploy root's current and previous versions")
    parser.add_argument("--root", type=Path, required=True, help="deploy root used by `pcinspect deploy`")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when the previous version is current; 1 with a one-line error (nothing changed) otherwise."""
    try:
        target = rollback(args.root)
        state = status(args.root)
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"pcinspect rollback: error: {exc}", file=sys.stderr)
        return 1
    print(target.absolute())
    print(f"pcinspect rollback: {state['current']} is current in {args.root} (previous: {state['previous']})",
          file=sys.stderr)
    return 0
