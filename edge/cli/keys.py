"""`pcinspect keys generate NAME --out DIR`: CURVE key pairs for stations and clients; client key options.

Every client command that talks to an edge endpoint that is not loopback takes the same two options, added
here by ``add_client_options`` and read by ``client_curve``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.config import endpoint_is_loopback
from edge.pipeline.security import PUBLIC_SUFFIX, SECRET_SUFFIX, ClientCurve, generate, load_public_key
from edge.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="make CURVE key pairs for stations and their clients")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    make = actions.add_parser("generate", help=f"write NAME{PUBLIC_SUFFIX} (public) and NAME{SECRET_SUFFIX} "
                                               "(secret, mode 0600) and print the public key")
    make.add_argument("name", help="key name: the station (e.g. cell-07) or the client (e.g. plc-2, scanner-1)")
    make.add_argument("--out", type=Path, required=True, help="folder to write into (created if missing)")
    make.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    """Print the Z85 public key on stdout (for scripts) and what goes where on stderr."""
    public, secret = generate(args.name, args.out)
    print(load_public_key(public).decode())
    print(f"wrote {public} (public: copy to peers) and {secret} (secret: keep on this machine)", file=sys.stderr)
    return 0


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """``--curve-client-cert`` and ``--curve-server-key``: needed for edge endpoints that are not loopback."""
    group = parser.add_argument_group("CURVE (edge endpoints that are not loopback)")
    group.add_argument("--curve-client-cert", type=Path, metavar="FILE",
                       help=f"this client's secret certificate (NAME{SECRET_SUFFIX}); its NAME{PUBLIC_SUFFIX} must be "
                            "in the station's security.client_keys_dir")
    group.add_argument("--curve-server-key", type=Path, metavar="FILE",
                       help=f"the station's public certificate (STATION{PUBLIC_SUFFIX})")


def client_curve(args: argparse.Namespace, *endpoints: str) -> ClientCurve | None:
    """The client's CURVE keys from ``add_client_options``; None when neither option is given.

    Without keys, a note on stderr says why an edge endpoint that is not loopback will stay silent.
    """
    cert, server = args.curve_client_cert, args.curve_server_key
    if cert is None and server is None:
        exposed = [endpoint for endpoint in endpoints if not endpoint_is_loopback(endpoint)]
        if exposed:
            print(f"note: {', '.join(exposed)} is not loopback; an edge serves it with CURVE only and ignores this "
                  "client unless --curve-client-cert and --curve-server-key are given", file=sys.stderr)
        return None
    if cert is None or server is None:
        raise UsageError("--curve-client-cert and --curve-server-key go together")
    return ClientCurve.load(cert, server)
