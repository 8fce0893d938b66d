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
from edge.errors import PcinspectError


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every installed sub-command registered (or just ``only``, when it is one).

    Registering one command skips importing the others (torch, scikit-learn, ...): `pcinspect bridge mqtt`
    starts in about a second instead of five.
    """
    parser = argparse.ArgumentParser(prog="pcinspect", description="3D point-cloud inspection for production lines.")
    parser.add_argument("--version", action="version", version=f"pcinspect {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    entries = sorted(entry_points(group="pcinspect.commands"), key=lambda e: e.name)
    if any(entry.name == only for entry in entries):
        entries = [entry for entry in entries if entry.name == only]
    for entry in entries:
        entry.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv and not argv[0].startswith("-") else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (PcinspectError, OSError) as exc:
        print(f"pcinspect {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
