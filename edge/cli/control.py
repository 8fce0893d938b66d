"""`pcinspect control OP`: talk to a running service's control socket (status, reload, rollback, pause, resume).

The edge's own control socket is loopback or ipc and therefore plain; the CURVE options are for a control
endpoint reached through a CURVE server (for instance a relay on the line network).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import zmq

from edge.cli.keys import add_client_options, client_curve
from edge.config import ENV_PREFIX, ConfigError, load_config
from edge.pipeline.control import OPS
from edge.pipeline.endpoint import Endpoint
from edge.pipeline.sockets import request

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5558"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("control", help="status / reload / rollback / pause / resume / sensitivity of a running service")
    parser.add_argument("op", choices=OPS)
    parser.add_argument("--bundle", type=Path, help="reload: bundle directory (default: the configured bundles)")
    parser.add_argument("--recipe", help="reload/rollback/sensitivity: recipe name (default: from the bundle / the last "
                        "reloaded / the only one)")
    parser.add_argument("--value", type=float, help="sensitivity: the new value in (0, 1); higher fails more parts")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--endpoint", help=f"control endpoint (default: ${ENV_PREFIX}CONTROL or {DEFAULT_ENDPOINT})")
    where.add_argument("--config", type=Path, help="take the control endpoint from this station file")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the reply (loads take time)")
    add_client_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the reply as JSON; 0 when it says ok, 1 when not, 2 when there is no reply."""
    try:
        endpoint = _endpoint(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    message: dict[str, str | float] = {"op": args.op}
    if args.op == "sensitivity":
        if args.value is None:
            print("pcinspect control: sensitivity needs --value V (0 < V < 1)", file=sys.stderr)
            return 2
        message["value"] = args.value
    if args.bundle is not None:
        message["bundle"] = str(args.bundle.resolve())
    if args.recipe:
        message["recipe"] = args.recipe
    curve = client_curve(args, endpoint)
    context = zmq.Context()
    try:
        reply = request(context, endpoint, message, args.timeout, curve)
    except TimeoutError as exc:
        print(f"pcinspect control: {exc}", file=sys.stderr)
        return 2
    finally:
        context.term()
    print(json.dumps(reply, indent=2))
    return 0 if reply.get("ok") else 1


def _endpoint(args: argparse.Namespace) -> str:
    if args.endpoint:
        return args.endpoint
    if args.config:
        return Endpoint.parse(load_config(args.config).endpoints.control).address
    return os.environ.get(ENV_PREFIX + "CONTROL", DEFAULT_ENDPOINT)
