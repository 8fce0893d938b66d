"""The `pcinspect` command line.

Sub-commands are discovered through the ``pcinspect.commands`` entry-point group: each entry
is a ``register(subparsers)`` function that adds its parser and sets ``func``. This keeps the
edge free of imports from `trainer` and `exporters` while one command serves them all.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from edge import __version__
from edge.bundle import BundleError
from edge.io.errors import CloudFormatError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every installed sub-command registered."""
    parser = argparse.ArgumentParser(prog="pcinspect", description="3D point-cloud inspection for production lines.")
    parser.add_argument("--version", action="version", version=f"pcinspect {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for entry in sorted(entry_points(group="pcinspect.commands"), key=lambda e: e.name):
        entry.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (CloudFormatError, FileNotFoundError, ValueError, BundleError) as exc:
        print(f"pcinspect {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
