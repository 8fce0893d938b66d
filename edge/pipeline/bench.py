"""`pcinspect bench serve`: sustained frames/s and latency of the whole service over loopback TCP.

The service runs in-process with the given bundle, exactly as ``pcinspect serve`` wires it; a scanner thread
PUSHes frames as fast as backpressure allows while the bench subscribes to the verdicts. Frames are the
bundle's golden sample (a normal scan of the recipe's part) at ``--points``: a random subset when that is fewer
points, else the surface sampled more densely (new points between neighbouring samples, as a scanner at a finer
pitch would give, not repeated samples), with 0.05 unit jitter. Every frame is a good part and goes through the
full inspection rather than failing early on a foreign shape.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
import zmq

from edge.bundle import load_bundle
from edge.config import StationConfig
from edge.errors import UsageError
from edge.geometry.sampling import densify
from edge.pipeline.codec import encode, make_header
from edge.service import Service

TIMEOUT_S = 120.0
JITTER = 0.05
"""Standard deviation of the noise added to every frame point, in cloud units."""


def add_parser(targets: argparse._SubParsersAction) -> None:
    """Add the ``serve`` target to ``pcinspect bench``."""
    serve = targets.add_parser("serve", help="frames/s and latency of the edge service over loopback TCP")
    serve.add_argument("--bundle", type=Path, required=True, help="bundle directory (make one with `pcinspect train`)")
    serve.add_argument("--points", type=int, default=25_000, help="points per frame")
    serve.add_argument("--frames", type=int, default=20, help="frames measured (after 2 warm-up frames per worker)")
    serve.add_argument("--device", default="cpu", help="torch device")
    serve.add_argument("--workers", type=int, default=1, help="inspection threads")
    serve.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    serve.add_argument("--seed", type=int, default=0)
    serve.set_defaults(func=run)


def golden_sample(bundle: Path) -> np.ndarray:
    """The bundle's golden sample (finite rows), float32 (N, 3)."""
    loaded = load_bundle(bundle)
    golden = np.asarray(loaded.arrays[loaded.manifest.golden.file.removesuffix(".npy")], dtype=np.float32)
    return golden[np.isfinite(golden).all(axis=1)]


def golden_frame(golden: np.ndarray, points: int, seed: int) -> np.ndarray:
    """(points, 3) float32: ``golden`` subsampled or densified to ``points``, plus JITTER noise."""
    rng = np.random.default_rng(seed)
    if points > len(golden):
        golden = densify(torch.from_numpy(golden), rng, points / len(golden)).numpy()
    picked = golden[np.sort(rng.choice(len(golden), points, replace=False))]
    return (picked + rng.normal(0.0, JITTER, picked.shape)).astype(np.float32)


def frames_from_golden(bundle: Path, points: int, seed: int) -> np.ndarray:
    """:func:`golden_frame` of the bundle's golden sample."""
    return golden_frame(golden_sample(bundle), points, seed)


def run(args: argparse.Namespace) -> int:
    if args.frames < 1 or args.points < 1:
        raise UsageError("--frames and --points must be positive")
    cloud = frames_from_golden(args.bundle, args.points, args.seed)
    with tempfile.TemporaryDirectory(prefix="pcinspect-bench-") as tmp:
        config = StationConfig.model_validate({
            "station": "bench", "recipes": {"bench": {"bundle": str(args.bundle.resolve())}},
            "endpoints": {name: "tcp://127.0.0.1:*" for name in ("ingest", "verdicts", "query", "control")},
            "inspect": {"device": args.device, "workers": args.workers, "torch_threads": args.threads,
                        "deadline_ms": 3_600_000},
            "limits": {"min_points": 1, "max_points": max(args.points, 1)},
            "journal": {"path": str(Path(tmp) / "journal.sqlite3")},
            "service": {"linger_ms": 0, "log_level": "WARNING"}, "ingest": {"mode": "pull"},
            "security": {"allow_unsigned_bundles": True},
        })
        service = Service(config)
        service.start()
        try:
            results = _measure(service, cloud, args.frames)
        finally:
            service.request_stop()
            service.shutdown()
    _report(results, args)
    return 0


def _measure(service: Service, cloud: np.ndarray, frames: int) -> dict[str, np.ndarray | float]:
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.linger = 0
    sub.setsockopt(zmq.SUBSCRIBE, b"verdict.")
    sub.connect(service.addresses["verdicts"])
    push = context.socket(zmq.PUSH)
    push.linger = 0
    push.connect(service.addresses["ingest"])
    time.sleep(0.3)
    warmup = 2 * len(service.workers)
    sent_at: dict[str, float] = {}

    def scanner() -> None:
        for i in range(warmup + frames):
            header = make_header(frame_id=f"b{i}", part_id=f"b{i}", recipe="bench", seq=i, n=len(cloud), ts=time.time())
            sent_at[header["frame_id"]] = time.perf_counter()
            push.send_multipart(encode(header, cloud), copy=False)

    thread = threading.Thread(target=scanner, daemon=True)
    thread.start()
    end_to_end, processing, verdicts = [], [], []
    start = None
    deadline = time.monotonic() + TIMEOUT_S + frames * 30
    try:
        while len(verdicts) < warmup + frames and time.monotonic() < deadline:
            if not sub.poll(200):
                continue
            message = json.loads(sub.recv_multipart()[1])
            now = time.perf_counter()
            verdicts.append(message["verdict"])
            if len(verdicts) == warmup:
                start = now
            elif len(verdicts) > warmup:
                end_to_end.append((now - sent_at[message["frame_id"]]) * 1e3)
                timing = message["timing_ms"]
                processing.append(timing["total"] - timing["queue"])
        if len(verdicts) < warmup + frames:
            raise TimeoutError(f"only {len(verdicts)} of {warmup + frames} verdicts arrived")
        elapsed = time.perf_counter() - start
    finally:
        thread.join(timeout=1.0)
        context.destroy(linger=0)
    return {"fps": frames / elapsed, "e2e": np.array(end_to_end), "processing": np.array(processing),
            "verdicts": verdicts[warmup:]}


def _report(results: dict, args: argparse.Namespace) -> None:
    import torch
    from rich.console import Console
    from rich.table import Table

    counts = {v: results["verdicts"].count(v) for v in sorted(set(results["verdicts"]))}
    table = Table(title=f"pcinspect bench serve: {args.points} points/frame, {args.frames} frames, device "
                        f"{args.device}, {args.workers} worker(s), {torch.get_num_threads()} torch threads")
    table.add_column("metric")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    for name, key in (("end-to-end (push -> verdict, saturated)", "e2e"), ("in service (decode + inspect)", "processing")):
        table.add_row(name, f"{np.percentile(results[key], 50):.1f}", f"{np.percentile(results[key], 99):.1f}")
    Console().print(table)
    Console().print(f"sustained {results['fps']:.2f} frames/s; verdicts {counts}")
