"""`pcinspect scan`: a scanner simulator that PUSHes protocol-v1 frames to an edge service.

Frames come from point-cloud files in a folder (cycled) or from procedural parts with synthetic defects
(which is why this command lives in the trainer: the edge never imports it). PUSH blocks when the service
applies backpressure, exactly like a real scanner driver would. An ingest endpoint that is not loopback
needs the scanner's CURVE keys (``--curve-client-cert``, ``--curve-server-key``).
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
    curve = client_curve(args, args.endpoint)
    context = zmq.Context()
    socket = context.socket(zmq.PUSH)
    socket.linger = 2000
    socket.sndhwm = 4
    if curve is not None:
        curve.apply(socket)
    attach(socket, args.endpoint, bind=False)
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
            while not socket.poll(SEND_POLL_MS, zmq.POLLOUT):
                pass
            socket.send_multipart(encode(header, points), copy=False)
            sent += 1
            print(f"sent {header['frame_id']} part {header['part_id']} ({label}, {len(points)} points)", flush=True)
            delay = start + sent * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    except KeyboardInterrupt:
        pass
    finally:
        socket.close()
        context.term()
    elapsed = time.monotonic() - start
    print(f"{sent} frames in {elapsed:.1f} s ({sent / elapsed if elapsed else 0.0:.2f} frames/s)")
    return 0
