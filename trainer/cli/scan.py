"""`pcinspect scan`: a scanner simulator that sends protocol-v1 frames to an edge service.

Frames come from point-cloud files in a folder (cycled) or from procedural parts with synthetic defects
(which is why this command lives in the trainer: the edge never imports it). Against ``router`` ingest (the
default) it is the package's acknowledging scanner client (:class:`edge.pipeline.scanner.ScannerClient`):
a window of unacknowledged frames, resent after a timeout or a reconnect, so nothing is lost when the edge
restarts. ``--ingest pull`` PUSHes instead (blocks under backpressure, no acks). An ingest endpoint that is not
loopback needs the scanner's CURVE keys (``--curve-client-cert``, ``--curve-server-key``).
"""

from __future__ import annotations

import argparse
import itertools
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import zmq

from edge.cli.keys import add_client_options, client_curve
from edge.io import read_cloud
from edge.pipeline.codec import encode, make_header
from edge.pipeline.scanner import ScannerClient, ScannerOptions
from edge.pipeline.security import ClientCurve
from edge.pipeline.sockets import attach
from trainer.data import DEFECT_KINDS, GOOD, PART_KINDS, synthetic_sample
from edge.errors import UsageError

SEND_POLL_MS = 200


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("scan", help="simulate a scanner: push frames to an edge service")
    parser.add_argument("--endpoint", required=True, help="the service's ingest endpoint (connects; @addr binds)")
    parser.add_argument("--source", required=True, help="a folder of point-cloud files, or 'synthetic'")
    parser.add_argument("--rate", type=float, default=1.0, help="frames per second (0: as fast as accepted)")
    parser.add_argument("--count", type=int, help="frames to send (default: until interrupted)")
    parser.add_argument("--defect-rate", type=float, default=0.0, help="synthetic: share of parts with a defect")
    parser.add_argument("--recipe", default="bracket", help="recipe named in every header")
    parser.add_argument("--part", choices=sorted(PART_KINDS), default="bracket", help="synthetic part kind")
    parser.add_argument("--points", type=int, default=25_000, help="synthetic: points per frame")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ingest", choices=("router", "pull"), default="router",
                        help="the station's ingest.mode: router (acknowledged, resends) or pull (PUSH, no acks)")
    parser.add_argument("--window", type=int, default=8, help="router: most unacknowledged frames in flight")
    parser.add_argument("--resend", type=float, default=10.0, help="router: seconds before an unacked frame is resent")
    add_client_options(parser)
    parser.set_defaults(func=run)


def clouds(source: str, part: str, points: int, defect_rate: float, seed: int) -> Iterator[tuple[np.ndarray, str]]:
    """Endless (points (n, 3) float32, label) pairs; label is the file name or the synthetic defect."""
    if source == "synthetic":
        rng = np.random.default_rng(seed)
        while True:
            defect = str(rng.choice(DEFECT_KINDS)) if rng.random() < defect_rate else GOOD
            yield synthetic_sample(part, defect, rng, points).points.astype(np.float32), defect
    files = sorted(p for p in Path(source).iterdir() if p.is_file())
    if not files:
        raise UsageError(f"{source}: no point-cloud files")
    for path in itertools.cycle(files):
        yield np.asarray(read_cloud(path).points, dtype=np.float32), path.name


def run(args: argparse.Namespace) -> int:
    if args.source != "synthetic" and not Path(args.source).is_dir():
        raise UsageError(f"--source must be a folder or 'synthetic', got {args.source!r}")
    if not 0.0 <= args.defect_rate <= 1.0:
        raise UsageError("--defect-rate must be within [0, 1]")
    if args.window < 1 or args.resend <= 0:
        raise UsageError("--window and --resend must be positive")
    curve = client_curve(args, args.endpoint)
    context = zmq.Context()
    sender = _Acked(context, args, curve) if args.ingest == "router" else _Pushed(context, args, curve)
    run_id = uuid.uuid4().hex[:8]
    period = 1.0 / args.rate if args.rate > 0 else 0.0
    start = time.monotonic()
    sent = 0
    try:
        for seq, (points, label) in enumerate(clouds(args.source, args.part, args.points, args.defect_rate, args.seed)):
            if args.count is not None and seq >= args.count:
                break
            header = make_header(frame_id=f"{run_id}-{seq:06d}", part_id=f"P{run_id}-{seq:06d}", recipe=args.recipe,
                                 seq=seq, n=len(points), ts=time.time())
            sender.send(header, points)
            sent += 1
            print(f"sent {header['frame_id']} part {header['part_id']} ({label}, {len(points)} points)", flush=True)
            delay = start + sent * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        unacked = sender.finish()
    except KeyboardInterrupt:
        unacked = 0
    finally:
        sender.close()
        context.term()
    elapsed = time.monotonic() - start
    print(f"{sent} frames in {elapsed:.1f} s ({sent / elapsed if elapsed else 0.0:.2f} frames/s)")
    if unacked:
        print(f"{unacked} frames never acknowledged")
    return 1 if unacked else 0


class _Pushed:
    """PUSH: blocks under backpressure; nothing to wait for at the end."""

    def __init__(self, context: zmq.Context, args: argparse.Namespace, curve: ClientCurve | None) -> None:
        self.socket = context.socket(zmq.PUSH)
        self.socket.linger = 2000
        self.socket.sndhwm = 4
        if curve is not None:
            curve.apply(self.socket)
        attach(self.socket, args.endpoint, bind=False)

    def send(self, header: dict, points: np.ndarray) -> None:
        while not self.socket.poll(SEND_POLL_MS, zmq.POLLOUT):
            pass
        self.socket.send_multipart(encode(header, points), copy=False)

    def finish(self) -> int:
        return 0

    def close(self) -> None:
        self.socket.close()


class _Acked:
    """DEALER with acks: prints each ack; at the end waits for the outstanding ones."""

    def __init__(self, context: zmq.Context, args: argparse.Namespace, curve: ClientCurve | None) -> None:
        options = ScannerOptions(window=args.window, resend_s=args.resend)
        self.client = ScannerClient(context, args.endpoint, options, curve)
        self.timeout_s = max(30.0, 3 * args.resend)

    def send(self, header: dict, points: np.ndarray) -> None:
        self.client.send(header, points)
        self._show(self.client.poll(0))

    def finish(self) -> int:
        end = time.monotonic() + self.timeout_s
        while self.client.pending and time.monotonic() < end:
            self._show(self.client.poll(100))
        return len(self.client.pending) + len(self.client.stats.failed)

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def _show(acks: list) -> None:
        for ack in acks:
            print(f"ack {ack.ack} seq {ack.seq} {ack.verdict}{' (duplicate)' if ack.duplicate else ''}", flush=True)
