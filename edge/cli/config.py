"""`pcinspect config check FILE` and `pcinspect config schema`: validate a station file, print its schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.config import ConfigError, StationConfig, json_schema, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="validate a station file or print its JSON Schema")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate a station YAML (environment overrides applied)")
    check.add_argument("file", type=Path)
    depth = check.add_mutually_exclusive_group()
    depth.add_argument("--bundles", action="store_true",
                       help="also load every recipe's bundle and reproduce its golden sample (smoke test)")
    depth.add_argument("--skip-bundles", action="store_true",
                       help="check the file alone (e.g. in CI, where the bundles are not present)")
    check.set_defaults(func=run_check)
    schema = actions.add_parser("schema", help="print the station file's JSON Schema")
    schema.set_defaults(func=run_schema)


def run_check(args: argparse.Namespace) -> int:
    """0 when valid and every bundle path holds a verified bundle; 2 with the file, line, key path and expected value
    on stderr otherwise."""
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not args.skip_bundles:
        problem = _check_bundles(config, args.bundles)
        if problem:
            print(f"{args.file}: {problem}", file=sys.stderr)
            return 2
    print(f"{args.file}: ok (station {config.station}, recipes: {', '.join(config.recipes)})")
    return 0


def _check_bundles(config: StationConfig, smoke_test: bool) -> str | None:
    """The first recipe whose bundle is missing or fails verification (hashes; with ``smoke_test`` the golden
    sample too), as ``recipes.NAME.bundle: problem``; None when all are usable."""
    from edge.bundle import BundleError, load_bundle

    for name, recipe in config.recipes.items():
        where = f"recipes.{name}.bundle"
        if not recipe.bundle.is_dir():
            return (f"{where}: bundle directory {recipe.bundle} does not exist (relative paths are relative to the "
                    "station file; copy the bundle there with `pcinspect deploy`, or fix the path)")
        try:
            if smoke_test:
                from edge.inspector import Inspector

                Inspector.from_bundle(recipe.bundle, config.inspect.device)
            else:
                load_bundle(recipe.bundle)
        except BundleError as exc:
            return f"{where}: {exc}"
    return None


def run_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0
