"""CURVE encryption and client allow-listing for endpoints that are not loopback (DESIGN.md section 4).

Keys are ZeroMQ certificate files as ``zmq.auth`` writes and reads them: ``NAME.key`` holds a public key (safe
to copy anywhere), ``NAME.key_secret`` the public and the secret key (never leaves its machine). The edge is
always the CURVE server, whichever side binds: its sockets on a non-loopback endpoint carry the station's
secret key, and a ZAP handler (pyzmq's ThreadAuthenticator) admits only clients whose public certificate lies
in the allow-list folder. A client needs its own secret certificate and the station's public key.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from edge.logs import fields
from edge.errors import PcinspectError

log = logging.getLogger("edge.security")
PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"


class KeyFileError(PcinspectError, ValueError):
    """A certificate file or allow-list folder cannot be used; the message names it and what was expected."""


def generate(name: str, folder: Path) -> tuple[Path, Path]:
    """Write a new key pair as ``folder/NAME.key`` and ``folder/NAME.key_secret`` (mode 0600).

    Existing files are never overwritten: replacing a key locks out every peer that trusts the old one.
    """
    if not name or Path(name).name != name or name.startswith("."):
        raise KeyFileError(f"key name {name!r}: expected a plain file name such as 'cell-07' or 'plc-2'")
    public, secret = folder / f"{name}{PUBLIC_SUFFIX}", folder / f"{name}{SECRET_SUFFIX}"
    for path in (public, secret):
        if path.exists():
            raise KeyFileError(f"{path}: already exists; remove it first or choose another name")
    folder.mkdir(parents=True, exist_ok=True)
    previous = os.umask(0o077)
    try:
        zmq.auth.create_certificates(folder, name)
    finally:
        os.umask(previous)
    public.chmod(0o644)
    return public, secret


def load_public_key(path: Path) -> bytes:
    """The Z85 public key of a certificate file (``.key`` or ``.key_secret``)."""
    return _load(path)[0]


def load_key_pair(path: Path) -> tuple[bytes, bytes]:
    """(public, secret) Z85 keys of a secret certificate (``NAME.key_secret``)."""
    public, secret = _load(path)
    if secret is None:
        raise KeyFileError(f"{path}: holds no secret key; expected the secret certificate NAME{SECRET_SUFFIX}")
    return public, secret


def load_allow_list(folder: Path) -> set[bytes]:
    """Z85 public keys of every ``*.key`` certificate in ``folder`` (the clients the station admits)."""
    if not folder.is_dir():
        raise KeyFileError(f"{folder}: not a folder; expected a folder of client public certificates "
                           f"(*{PUBLIC_SUFFIX})")
    return {load_public_key(path) for path in sorted(folder.glob(f"*{PUBLIC_SUFFIX}"))}


def _load(path: Path) -> tuple[bytes, bytes | None]:
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{path}: cannot read a ZeroMQ CURVE certificate ({exc}); make one with "
                           "`pcinspect keys generate`") from None
    for key in (public, secret):
        if key is not None and len(key) != 40:
            raise KeyFileError(f"{path}: malformed key; expected 40 Z85 characters")
    return public, secret


@dataclass(frozen=True)
class ClientCurve:
    """What a client socket needs to reach a CURVE server: its own key pair and the server's public key."""

    public: bytes
    secret: bytes
    server: bytes

    @classmethod
    def load(cls, client_cert: Path, server_key: Path) -> ClientCurve:
        """From the client's ``NAME.key_secret`` and the station's public certificate."""
        public, secret = load_key_pair(client_cert)
        return cls(public, secret, load_public_key(server_key))

    def apply(self, socket: zmq.Socket) -> None:
        """Make ``socket`` a CURVE client; call before connecting or binding it."""
        socket.curve_publickey = self.public
        socket.curve_secretkey = self.secret
        socket.curve_serverkey = self.server


class CurveServer:
    """The station's side: its key pair and the ZAP handler that admits only allow-listed clients.

    ``start()`` before the first secured socket is bound: without a ZAP handler libzmq lets any client that
    knows the server key in. ``stop()`` after the secured sockets are closed.
    """

    def __init__(self, context: zmq.Context, key_pair: tuple[bytes, bytes], client_keys_dir: Path) -> None:
        self.public, self.secret = key_pair
        self.client_keys_dir = client_keys_dir
        self.allowed = load_allow_list(client_keys_dir)
        self._authenticator = ThreadAuthenticator(context, log=logging.getLogger("edge.security.zap"))

    def start(self) -> None:
        """Start the ZAP handler with the allow-list read at construction."""
        self._authenticator.start()
        self._authenticator.configure_curve(domain="*", location=str(self.client_keys_dir))
        if not self.allowed:
            log.warning("CURVE allow-list is empty: no client can connect",
                        extra=fields(client_keys_dir=str(self.client_keys_dir)))
        log.info("CURVE enabled", extra=fields(server_key=self.public.decode(), clients=len(self.allowed)))

    def secure(self, socket: zmq.Socket) -> None:
        """Make ``socket`` a CURVE server with the station's keys; call before binding or connecting it."""
        socket.curve_secretkey = self.secret
        socket.curve_publickey = self.public
        socket.curve_server = True

    def stop(self) -> None:
        """Stop the ZAP handler (idempotent)."""
        self._authenticator.stop()
