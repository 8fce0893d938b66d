"""`pcinspect dashboard`: a stdlib HTTP server with the page, its local assets and a JSON state endpoint.

GET only (the page is read-only): ``/`` the page, ``/static/*`` its script and style (no CDN: it works
offline), ``/api/state`` the live state, ``/api/verdict/<seq>`` a failed part with its regions for the 3D view.
A stream thread folds every verdict into ``DashboardState``; at start it replays the journal's tail so the
shift counts survive a dashboard restart.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import zmq

from edge.bridges.source import Health, ServiceAddress, VerdictStream
from edge.config import StationConfig
from edge.dashboard.state import DashboardState
from edge.logs import fields
from edge.pipeline.sockets import request

log = logging.getLogger("edge.dashboard")
STATIC = Path(__file__).resolve().parent / "static"
BACKFILL = 20_000
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
}


def backfill_start(address: ServiceAddress, context: zmq.Context, depth: int) -> int | None:
    """The seq to replay from so the page starts with the journal's last ``depth`` verdicts (None: no answer)."""
    try:
        reply = request(context, address.query, {"op": "get", "since_seq": 2**62}, 5.0, address.curve)
    except TimeoutError:
        return None
    if not reply.get("ok") or reply.get("last_seq") is None:
        return None
    first = reply.get("first_seq") or 1
    return max(first - 1, reply["last_seq"] - depth, 0)


class Feeder(threading.Thread):
    """Reads the verdict stream into the state until stopped."""

    def __init__(self, address: ServiceAddress, state: DashboardState) -> None:
        super().__init__(name="verdicts", daemon=True)
        self.address = address
        self.state = state
        self.stop_event = threading.Event()

    def run(self) -> None:
        context = zmq.Context()
        stream = VerdictStream(self.address, backfill_start(self.address, context, BACKFILL), context,
                               self.state.health)
        try:
            while not self.stop_event.is_set():
                verdict = stream.next(0.2)
                if verdict is not None:
                    self.state.add(verdict)
        finally:
            stream.close()
            context.term()


def handler_for(station: str, state: DashboardState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "pcinspect-dashboard"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._file(STATIC / "index.html")
            elif path.startswith("/static/"):
                self._file(STATIC / path[len("/static/"):])
            elif path == "/api/state":
                self._json(state.snapshot(station))
            elif path.startswith("/api/verdict/") and path[len("/api/verdict/"):].isdigit():
                verdict = state.verdict(int(path[len("/api/verdict/"):]))
                self._json(verdict) if verdict else self._error(HTTPStatus.NOT_FOUND, "no such failed part kept")
            else:
                self._error(HTTPStatus.NOT_FOUND, "not found")

        def _refuse(self) -> None:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "the dashboard is read-only")

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815

        def _file(self, path: Path) -> None:
            path = path.resolve()
            if path.parent != STATIC or not path.is_file():
                self._error(HTTPStatus.NOT_FOUND, "not found")
                return
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self._send(HTTPStatus.OK, path.read_bytes(), kind)

        def _json(self, body: Any) -> None:
            self._send(HTTPStatus.OK, json.dumps(body, allow_nan=False).encode(), "application/json")

        def _error(self, status: HTTPStatus, message: str) -> None:
            self._send(status, json.dumps({"error": message}).encode(), "application/json")

        def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind + ("; charset=utf-8" if kind.startswith("text/") else ""))
            self.send_header("Content-Length", str(len(body)))
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http", extra=fields(client=self.client_address[0], request=format % args))

    return Handler


class Dashboard:
    """The page server and its stream thread; ``run`` blocks until ``stop`` is set."""

    def __init__(self, config: StationConfig, stop: threading.Event | None = None) -> None:
        self.config = config
        self.stop = stop or threading.Event()
        address = ServiceAddress.from_config(config, config.dashboard)
        self.feeder = Feeder(address, DashboardState(config.dashboard.shifts, config.dashboard.recent,
                                                     config.dashboard.failed, Health.every(address.heartbeat_s)))
        host, port = config.dashboard.listen.rsplit(":", 1)
        try:
            self.server = ThreadingHTTPServer((host.strip("[]"), int(port)), handler_for(config.station, self.feeder.state))
        except OSError as exc:
            raise OSError(f"dashboard.listen: cannot listen on {config.dashboard.listen}: {exc.strerror}") from None
        self.server.daemon_threads = True

    def run(self) -> int:
        self.feeder.start()
        serving = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)
        serving.start()
        log.info("serving", extra=fields(station=self.config.station, url=f"http://{self.config.dashboard.listen}/"))
        self.stop.wait()
        self.server.shutdown()
        self.server.server_close()
        self.feeder.stop_event.set()
        self.feeder.join(5)
        return 0
