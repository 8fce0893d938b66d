"""ZeroMQ plumbing shared by the stages: endpoint attachment, a REP server thread and a REQ client call.

Endpoints follow CZMQ's convention: ``@addr`` binds, ``>addr`` connects, a bare address takes the caller's
default. Every socket gets a LINGER so closing never hangs. A client of an endpoint that is not loopback
passes its CURVE keys (``edge.pipeline.security.ClientCurve``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import zmq

from edge.logs import fields
from edge.pipeline.security import ClientCurve

log = logging.getLogger("edge.pipeline")
POLL_MS = 100


def attach(socket: zmq.Socket, endpoint: str, *, bind: bool) -> str:
    """Bind or connect ``socket`` to ``endpoint`` (prefix ``@``/``>`` overrides ``bind``); the address used."""
    if endpoint.startswith("@"):
        bind, endpoint = True, endpoint[1:]
    elif endpoint.startswith(">"):
        bind, endpoint = False, endpoint[1:]
    if bind:
        socket.bind(endpoint)
        return socket.getsockopt_string(zmq.LAST_ENDPOINT) or endpoint
    socket.connect(endpoint)
    return endpoint


def request(context: zmq.Context, endpoint: str, message: dict[str, Any], timeout_s: float = 10.0,
            curve: ClientCurve | None = None) -> dict[str, Any]:
    """One REQ/REP exchange (connecting by default); raise TimeoutError when no reply arrives in time.

    A CURVE server that does not admit ``curve`` (or a plain request to a CURVE server) never answers, so an
    unauthorized client sees the same TimeoutError as an absent server.
    """
    socket = context.socket(zmq.REQ)
    socket.linger = 0
    if curve is not None:
        curve.apply(socket)
    try:
        attach(socket, endpoint, bind=False)
        socket.send_json(message)
        if not socket.poll(int(timeout_s * 1000)):
            raise TimeoutError(f"no reply from {endpoint} within {timeout_s:g} s")
        return socket.recv_json()
    finally:
        socket.close()


class ReplyServer(threading.Thread):
    """Owns a REP socket and answers JSON requests with ``handler(request) -> reply`` until stopped.

    A request that is not a JSON object, or a handler that raises, still gets a reply ``{"ok": false, "error"}``
    (REP must answer every request, and a client must never be left waiting).
    """

    def __init__(self, name: str, socket: zmq.Socket, handler: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        super().__init__(name=name, daemon=True)
        self.socket = socket
        self.handler = handler
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                if self.socket.poll(POLL_MS):
                    self.socket.send(json.dumps(self._answer(self.socket.recv()), allow_nan=False).encode())
        finally:
            self.socket.close()

    def _answer(self, raw: bytes) -> dict[str, Any]:
        try:
            message = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return {"ok": False, "error": f"bad JSON request: {exc}"}
        if not isinstance(message, dict):
            return {"ok": False, "error": "request must be a JSON object"}
        try:
            return self.handler(message)
        except Exception as exc:  # a handler bug must not kill the socket loop
            log.exception("request failed", extra=fields(server=self.name, request=message))
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
