"""`pcinspect config check FILE` and `pcinspect config schema`: validate a station file, print its schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.config import ConfigError, json_schema, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="validate a station file or print its JSON Schema")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate a station YAML (environment overrides applied)")
    check.add_argument("file", type=Path)
    check.add_argument("--bundles", action="store_true", help="also verify every recipe's bundle (hashes, smoke test)")
    check.set_defaults(func=run_check)
    schema = actions.add_parser("schema", help="print the station file's JSON Schema")
    schema.set_defaults(func=run_schema)


def run_check(args: argparse.Namespace) -> int:
    """0 when valid; 2 with the file, key path and expected value on stderr otherwise."""
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.bundles:
        from edge.bundle import BundleError
        from edge.inspector import Inspector

        for name, recipe in config.recipes.items():
            try:
                Inspector.from_bundle(recipe.bundle, config.inspect.device)
            except BundleError as exc:
                print(f"{args.file}: recipes.{name}.bundle: {exc}", file=sys.stderr)
                return 2
    print(f"{args.file}: ok (station {config.station}, recipes: {', '.join(config.recipes)})")
    return 0


def run_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0
