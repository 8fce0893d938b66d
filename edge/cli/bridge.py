"""`pcinspect bridge opcua|mqtt --config FILE`: run one line-integration bridge for a station (systemd runs it)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge.cli.lifecycle import stop_on_signals
from edge.config import ConfigError, load_config
from edge.logs import fields, setup_logging

log = logging.getLogger("edge.bridges")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bridge", help="publish verdicts and health over OPC UA or MQTT")
    parser.add_argument("protocol", choices=("opcua", "mqtt"), help="which bridge (its section in the station file)")
    parser.add_argument("--config", type=Path, required=True, help="station YAML (see config/station.example.yaml)")
    parser.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="overrides service.log_level")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 after SIGTERM/SIGINT; 1 when the bridge cannot start; 2 for an invalid station file."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"pcinspect bridge: {exc}", file=sys.stderr)
        return 2
    if getattr(config, args.protocol) is None:
        print(f"pcinspect bridge: {args.config}: {args.protocol}: section missing (see config/station.example.yaml)",
              file=sys.stderr)
        return 2
    setup_logging(args.log_level or config.service.log_level)
    stop = stop_on_signals()
    try:
        if args.protocol == "mqtt":
            from edge.bridges.mqtt import MqttBridge

            return MqttBridge(config, stop).run()
        from edge.bridges.opcua import OpcuaBridge

        return OpcuaBridge(config, stop).run()
    except (OSError, ValueError) as exc:
        log.error("cannot start", extra=fields(bridge=args.protocol, error=str(exc)))
        return 1
