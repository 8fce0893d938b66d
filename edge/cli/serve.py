"""`pcinspect serve --config FILE`: run the edge service for one station (systemd runs exactly this)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge.config import ConfigError, load_config
from edge.errors import PcinspectError
from edge.logs import fields, setup_logging
from edge.service import Service

log = logging.getLogger("edge.service")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the edge inspection service (ZeroMQ) for a station")
    parser.add_argument("--config", type=Path, required=True, help="station YAML (see config/station.example.yaml)")
    parser.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="overrides service.log_level")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 after a complete drain; 1 when a bundle, key, journal or socket cannot be used (one logged line) or the
    drain was incomplete; 2 for an invalid station file."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"pcinspect serve: {exc}", file=sys.stderr)
        return 2
    setup_logging(args.log_level or config.service.log_level)
    try:
        return Service(config).run()
    except (PcinspectError, OSError) as exc:
        log.error("cannot start", extra=fields(error=str(exc)))
        return 1
