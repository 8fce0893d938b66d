"""`pcinspect watch --verdicts EP --query EP`: a PLC-side subscriber that never silently misses a verdict.

It prints every verdict once, in ``seq`` order. It tracks the last ``seq`` seen and asks the query socket for
``since_seq`` whenever it could have missed something: a jump in ``seq``, a heartbeat announcing a newer
``seq`` than the last one seen (loss at the tail), or a reconnect of the SUB socket. Against a station whose
endpoints are not loopback, both sockets use the CURVE keys given by ``--curve-client-cert`` and
``--curve-server-key``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from edge.cli.keys import add_client_options, client_curve
from edge.pipeline.security import ClientCurve
from edge.pipeline.sockets import attach, request

Sink = Callable[[dict[str, Any], str], None]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("watch", help="print verdicts as a PLC would receive them, catching up on gaps")
    parser.add_argument("--verdicts", required=True, help="the service's PUB endpoint (connects)")
    parser.add_argument("--query", required=True, help="the service's query REP endpoint (connects)")
    parser.add_argument("--station", default="", help="only this station's verdicts (default: all)")
    parser.add_argument("--since", type=int, help="first replay every journaled verdict after this seq")
    parser.add_argument("--count", type=int, help="exit after this many verdicts")
    parser.add_argument("--duration", type=float, help="exit after this many seconds")
    parser.add_argument("--json", action="store_true", help="one JSON verdict per line")
    add_client_options(parser)
    parser.set_defaults(func=run)


class Watcher:
    """Subscriber state machine; ``deliver`` is called once per verdict with how it arrived (live|recovered)."""

    def __init__(self, context: zmq.Context, verdicts: str, query: str, deliver: Sink, *, station: str = "",
                 since: int | None = None, query_timeout_s: float = 5.0, curve: ClientCurve | None = None) -> None:
        self.context = context
        self.query = query
        self.deliver = deliver
        self.last_seq = since
        self.query_timeout_s = query_timeout_s
        self.curve = curve
        self.socket = context.socket(zmq.SUB)
        self.socket.linger = 0
        if curve is not None:
            curve.apply(self.socket)
        suffix = f".{station}" if station else ""
        for topic in (f"verdict{suffix}", f"heartbeat{suffix}"):
            self.socket.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self.monitor = self.socket.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        self.monitor.linger = 0
        attach(self.socket, verdicts, bind=False)
        self._connections = 0
        if since is not None:
            self.catch_up()

    def poll(self, timeout_ms: int) -> None:
        """Handle whatever arrives within ``timeout_ms``."""
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        poller.register(self.monitor, zmq.POLLIN)
        events = dict(poller.poll(timeout_ms))
        if self.monitor in events:
            event = recv_monitor_message(self.monitor)
            if event["event"] == zmq.EVENT_CONNECTED:
                self._connections += 1
                if self._connections > 1:
                    self.catch_up()
        if self.socket in events:
            topic, body = self.socket.recv_multipart()
            message = json.loads(body)
            if topic.startswith(b"heartbeat"):
                self._on_heartbeat(message)
            else:
                self._on_verdict(message)

    def catch_up(self) -> None:
        """Fetch and deliver every journaled verdict after ``last_seq``."""
        if self.last_seq is None:
            return
        while True:
            try:
                reply = request(self.context, self.query, {"op": "get", "since_seq": self.last_seq},
                                self.query_timeout_s, self.curve)
            except TimeoutError as exc:
                print(f"warning: catch-up postponed: {exc}", file=sys.stderr)
                return
            if not reply.get("ok"):
                print(f"warning: query refused: {reply.get('error')}", file=sys.stderr)
                return
            first = reply.get("first_seq")
            if first is not None and first > self.last_seq + 1:
                print(f"warning: verdicts {self.last_seq + 1}..{first - 1} are no longer in the journal", file=sys.stderr)
            for verdict in reply["verdicts"]:
                self._emit(verdict, "recovered")
            if not reply.get("more") or not reply["verdicts"]:
                return

    def close(self) -> None:
        self.socket.disable_monitor()
        self.monitor.close()
        self.socket.close()

    def _on_verdict(self, verdict: dict[str, Any]) -> None:
        seq = verdict.get("seq")
        if not isinstance(seq, int):
            self.deliver(verdict, "live")
            return
        if self.last_seq is not None and seq > self.last_seq + 1:
            self.catch_up()
        if self.last_seq is None or seq > self.last_seq:
            self._emit(verdict, "live")

    def _on_heartbeat(self, beat: dict[str, Any]) -> None:
        seq = beat.get("seq")
        if isinstance(seq, int) and self.last_seq is not None and seq > self.last_seq:
            self.catch_up()
        elif self.last_seq is None and isinstance(seq, int):
            self.last_seq = seq

    def _emit(self, verdict: dict[str, Any], how: str) -> None:
        self.last_seq = verdict["seq"]
        self.deliver(verdict, how)


def run(args: argparse.Namespace) -> int:
    seen = 0

    def show(verdict: dict[str, Any], how: str) -> None:
        nonlocal seen
        seen += 1
        if args.json:
            print(json.dumps({**verdict, "delivery": how}), flush=True)
            return
        score = "n/a" if verdict.get("score") is None else f"{verdict['score']:.3f}"
        reason = f"  ({verdict['reason']})" if verdict.get("reason") else ""
        print(f"{verdict.get('seq')!s:>8} {verdict.get('station')} {verdict.get('part_id')} {verdict['verdict']:<5} "
              f"score {score} [{how}]{reason}", flush=True)

    curve = client_curve(args, args.verdicts, args.query)
    context = zmq.Context()
    watcher = Watcher(context, args.verdicts, args.query, show, station=args.station, since=args.since, curve=curve)
    end = time.monotonic() + args.duration if args.duration else None
    try:
        while (args.count is None or seen < args.count) and (end is None or time.monotonic() < end):
            watcher.poll(200)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.close()
        context.term()
    return 0
