"""`pcinspect dashboard --config FILE`: the operator page of one station (read-only, loopback by default)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge.cli.lifecycle import stop_on_signals
from edge.config import ConfigError, load_config
from edge.logs import fields, setup_logging

log = logging.getLogger("edge.dashboard")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dashboard", help="serve the live operator page (station, verdicts, yield)")
    parser.add_argument("--config", type=Path, required=True, help="station YAML (see config/station.example.yaml)")
    parser.add_argument("--listen", help="HOST:PORT, overrides dashboard.listen")
    parser.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="overrides service.log_level")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 after SIGTERM/SIGINT; 1 when the page cannot be served; 2 for an invalid station file."""
    try:
        config = load_config(args.config)
        if args.listen:
            dashboard = config.dashboard.model_validate({**config.dashboard.model_dump(), "listen": args.listen})
            config = config.model_copy(update={"dashboard": dashboard})
    except (ConfigError, ValueError) as exc:
        print(f"pcinspect dashboard: {exc}", file=sys.stderr)
        return 2
    setup_logging(args.log_level or config.service.log_level)
    stop = stop_on_signals()
    from edge.dashboard.app import Dashboard

    try:
        return Dashboard(config, stop).run()
    except (OSError, ValueError) as exc:
        log.error("cannot start", extra=fields(error=str(exc)))
        return 1
