"""One ZeroMQ endpoint, parsed once: CZMQ's ``@addr`` (bind) / ``>addr`` (connect) prefix and the address.

Whether an endpoint is loopback decides whether it is served without CURVE, so it is decided by parsing the
host (``ipaddress``) or resolving the name (every address it resolves to must be loopback), never by a string
prefix: ``tcp://127.evil.example:P`` is a name, and unless it resolves to loopback only it is not loopback.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

_ADDRESS = re.compile(r"^(tcp://[^\s]+:(\d+|\*)|ipc://[^\s]+|inproc://[^\s]+)$")
_WILDCARDS = ("*", "0.0.0.0", "::", "[::]")


@dataclass(frozen=True)
class Endpoint:
    """``address`` is the ZeroMQ address; ``bind`` is True for ``@``, False for ``>``, None for no prefix."""

    address: str
    bind: bool | None = None

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """Parse ``[@|>]tcp://HOST:PORT|ipc://PATH|inproc://NAME``; ValueError says what was expected."""
        bind = {"@": True, ">": False}.get(text[:1])
        address = text[1:] if bind is not None else text
        if not _ADDRESS.match(address):
            raise ValueError("expected a ZeroMQ endpoint: tcp://HOST:PORT, tcp://HOST:* (free port) or ipc://PATH")
        return cls(address, bind)

    def binds(self, default: bool) -> bool:
        """Whether the socket binds: the prefix when given, else ``default``."""
        return default if self.bind is None else self.bind

    @property
    def host(self) -> str | None:
        """The TCP host (brackets of an IPv6 literal removed); None for ipc/inproc."""
        if not self.address.startswith("tcp://"):
            return None
        host = self.address[len("tcp://"):].rsplit(":", 1)[0]
        if ";" in host:  # tcp://SOURCE;HOST:PORT: the peer is what matters
            host = host.rsplit(";", 1)[1]
        return host[1:-1] if host.startswith("[") and host.endswith("]") else host

    def is_loopback(self) -> bool:
        """True for ipc/inproc, and for tcp hosts that are, or resolve only to, loopback addresses."""
        host = self.host
        if host is None:
            return True
        if host in _WILDCARDS:
            return False
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, None)
        except (OSError, UnicodeError):
            return False
        return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)

    def __str__(self) -> str:
        return {True: "@", False: ">", None: ""}[self.bind] + self.address
