"""ZeroMQ plumbing shared by the stages: endpoint attachment, a REP server thread and a REQ client call.

Endpoints follow CZMQ's convention (parsed once by :class:`edge.pipeline.endpoint.Endpoint`): ``@addr`` binds,
``>addr`` connects, a bare address takes the caller's default. Every socket gets a LINGER so closing never hangs. A client of an endpoint that is not loopback
passes its CURVE keys (``edge.pipeline.security.ClientCurve``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import zmq

from edge.logs import fields
from edge.pipeline.endpoint import Endpoint
from edge.pipeline.liveness import Liveness
from edge.pipeline.security import ClientCurve
from edge.pipeline.stage import StageThread

log = logging.getLogger("edge.pipeline")
POLL_MS = 100


def attach(socket: zmq.Socket, endpoint: str | Endpoint, *, bind: bool) -> str:
    """Bind or connect ``socket`` to ``endpoint`` (its ``@``/``>`` prefix overrides ``bind``); the address used."""
    parsed = endpoint if isinstance(endpoint, Endpoint) else Endpoint.parse(endpoint)
    if parsed.binds(bind):
        socket.bind(parsed.address)
        return socket.getsockopt_string(zmq.LAST_ENDPOINT) or parsed.address
    socket.connect(parsed.address)
    return parsed.address


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


class ReplyServer(StageThread):
    """Owns a REP socket and answers JSON requests with ``handler(request) -> reply`` until stopped.

    Whatever arrives (several parts, not JSON, not an object, a handler that raises, a reply that cannot be
    encoded) still gets one reply ``{"ok": false, "error"}``: REP must answer every request, a client must never
    be left waiting, and no input may end the thread.
    """

    def __init__(self, name: str, socket: zmq.Socket, handler: Callable[[dict[str, Any]], dict[str, Any]],
                 liveness: Liveness) -> None:
        super().__init__(name, liveness)
        self.socket = socket
        self.handler = handler

    def loop(self) -> None:
        while not self.stopping:
            self.tick()
            if self.socket.poll(POLL_MS):
                parts = self.socket.recv_multipart()
                self.socket.send(self._encode(self._answer(parts)))

    def close(self) -> None:
        self.socket.close(linger=0)

    def _encode(self, reply: dict[str, Any]) -> bytes:
        try:
            return json.dumps(reply, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            log.exception("reply not encodable", extra=fields(server=self.name))
            return json.dumps({"ok": False, "error": f"reply could not be encoded: {exc}"}).encode()

    def _answer(self, parts: list[bytes]) -> dict[str, Any]:
        if len(parts) != 1:
            return {"ok": False, "error": f"request has {len(parts)} message parts, expected 1 (a JSON object)"}
        try:
            message = json.loads(parts[0])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return {"ok": False, "error": f"bad JSON request: {exc}"}
        if not isinstance(message, dict):
            return {"ok": False, "error": "request must be a JSON object"}
        try:
            return self.handler(message)
        except Exception as exc:  # a handler bug must not kill the socket loop
            log.exception("request failed", extra=fields(server=self.name, request=message))
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
