"""`pcinspect soak`: a bounded fault-injection run through a live `pcinspect serve` on loopback.

It streams N frames (the bundle's golden sample, resampled) through the acknowledging scanner client while it
injects, at fixed points of the run: ``kill -9`` + restart, SIGTERM + restart, malformed frames, duplicate
frame_ids, subscriber drop-outs, a bundle reload, and a full journal disk (the service process's file-size
limit is set to 0 with ``prlimit``: every journal write fails with EFBIG, as on a full disk, until it is lifted).
At the end it reads the journal and reports frames sent, journaled, published, lost, duplicated, crashes and
the service's RSS at the start and end of its last life.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml
import zmq

from edge.pipeline.bench import frames_from_golden
from edge.pipeline.codec import make_header
from edge.pipeline.scanner import ScannerClient, ScannerOptions
from edge.pipeline.sockets import request

FAULTS = ("kill", "term", "malformed", "duplicate", "dropout", "reload", "disk-full")
# Where in the run each fault is injected. The reload comes before the last restart: a reload keeps the previous
# bundle in memory for rollback, which is not growth; RSS is measured over the service's last life.
AT = {"kill": 0.1, "reload": 0.2, "dropout": 0.25, "term": 0.3, "malformed": 0.45, "duplicate": 0.5,
      "disk-full": 0.75}
RSS_EVERY = 0.1
START_TIMEOUT_S = 120.0
WARMUP_SHARE = 0.1
_LIFTERS: list[threading.Thread] = []  # disk-full injections waiting to free the disk (joined before the tally)


@dataclass
class SoakOptions:
    """What to run: ``frames`` of ``points`` points from ``bundle``, with these ``faults``."""

    bundle: Path
    frames: int = 2000
    points: int = 2000
    faults: tuple[str, ...] = FAULTS
    seed: int = 0
    disk_full_s: float = 2.0
    workdir: Path | None = None


@dataclass
class SoakReport:
    """The measured outcome; ``ok`` when nothing was lost or duplicated and every frame was acked."""

    frames_sent: int = 0
    acked: int = 0
    journaled: int = 0
    published: int = 0
    lost: int = 0
    duplicated: int = 0
    duplicate_acks: int = 0
    malformed_errors: int = 0
    journal_faults: int = 0
    crashes: int = 0
    restarts: int = 0
    resent: int = 0
    faults: list[str] = field(default_factory=list)
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_growth_pct: float = 0.0
    rss_mb: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.acked == self.frames_sent


class _Service:
    """One `pcinspect serve` process at a time, on ipc endpoints in ``folder``."""

    def __init__(self, folder: Path, bundle: Path) -> None:
        self.folder = folder
        self.ends = {name: f"ipc://{folder}/{name}.sock" for name in ("ingest", "verdicts", "query", "control")}
        self.config = folder / "station.yaml"
        self.config.write_text(yaml.safe_dump({
            "station": "soak", "endpoints": self.ends, "recipes": {"bench": {"bundle": str(bundle.resolve())}},
            "ingest": {"mode": "router"}, "inspect": {"torch_threads": 1, "deadline_ms": 600000},
            "limits": {"min_points": 10}, "journal": {"path": "journal.sqlite3", "synchronous": "normal"},
            "publish": {"heartbeat_s": 0.5}, "service": {"linger_ms": 500, "drain_s": 30, "log_level": "WARNING"},
            "security": {"allow_unsigned_bundles": True},
        }))
        self.process: subprocess.Popen | None = None
        self.log = open(folder / "serve.log", "a")  # noqa: SIM115 (closed in close())

    def start(self, context: zmq.Context) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "edge", "serve", "--config", str(self.config)],
                                        stderr=self.log)
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}; see {self.folder / 'serve.log'}")
            try:
                request(context, self.ends["control"], {"op": "status"}, 0.5)
                return
            except TimeoutError:
                continue
        raise RuntimeError("serve did not start")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def signal(self, sig: int, timeout_s: float = 60.0) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout_s)

    def file_size_limit(self, limit: int) -> None:
        """Set the soft RLIMIT_FSIZE of the service process (``-1``: back to its hard limit)."""
        _, hard = resource.prlimit(self.process.pid, resource.RLIMIT_FSIZE)
        soft = hard if limit < 0 else (limit if hard == resource.RLIM_INFINITY else min(limit, hard))
        resource.prlimit(self.process.pid, resource.RLIMIT_FSIZE, (soft, hard))

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGTERM)
        self.log.close()


def run_soak(options: SoakOptions, progress=print) -> SoakReport:
    """Run the soak; the report (also when a fault was not survived: then ``ok`` is False)."""
    with tempfile.TemporaryDirectory(prefix="pcinspect-soak-") as tmp:
        folder = Path(options.workdir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        return _run(options, folder, progress)


def _run(options: SoakOptions, folder: Path, progress) -> SoakReport:
    report = SoakReport()
    started = time.monotonic()
    cloud = frames_from_golden(options.bundle, options.points, options.seed)
    schedule = {int(AT[name] * options.frames): name for name in options.faults}
    context = zmq.Context()
    service = _Service(folder, options.bundle)
    service.start(context)
    scanner = ScannerClient(context, service.ends["ingest"], ScannerOptions(window=4, resend_s=30.0))
    sub = _subscribe(context, service.ends["verdicts"])
    seen: Counter[str] = Counter()
    rss_at = max(1, int(WARMUP_SHARE * options.frames))
    try:
        for i in range(options.frames):
            fault = schedule.get(i)
            if fault:
                progress(f"frame {i}: injecting {fault}")
                report.faults.append(fault)
                sub = _inject(fault, service, context, scanner, sub, report, options, seen)
                if fault in ("kill", "term"):
                    rss_at = i + max(1, int(WARMUP_SHARE * options.frames))
            header = make_header(frame_id=f"s{i:06d}", part_id=f"p{i:06d}", recipe="bench", seq=i, n=len(cloud),
                                 ts=time.time())
            scanner.send(header, cloud)
            report.frames_sent += 1
            _collect(sub, seen)
            if i == rss_at:
                scanner.flush(60.0)
                report.rss_start_mb = service.rss_mb()
            if i % max(1, int(RSS_EVERY * options.frames)) == 0:
                report.rss_mb.append(round(service.rss_mb(), 1))
        while _LIFTERS:
            _LIFTERS.pop().join(timeout=180.0)
        if not scanner.flush(120.0):
            progress(f"{len(scanner.pending)} frames never acked")
        _collect(sub, seen, 1.0)
        report.rss_end_mb = service.rss_mb()
    finally:
        scanner.close()
        sub.close(linger=0)
        service.close()
        context.term()
    return _tally(report, scanner, seen, folder, started)


def _inject(fault: str, service: _Service, context: zmq.Context, scanner: ScannerClient, sub: zmq.Socket,
            report: SoakReport, options: SoakOptions, seen: Counter) -> zmq.Socket:
    if fault in ("kill", "term"):
        code = service.signal(signal.SIGKILL if fault == "kill" else signal.SIGTERM)
        report.crashes += int(fault == "kill")
        if fault == "term" and code != 0:
            raise RuntimeError(f"SIGTERM: serve exited with {code}, expected 0 (a complete drain)")
        service.start(context)
        report.restarts += 1
    elif fault == "malformed":
        report.malformed_errors += _malformed(context, service.ends["ingest"])
    elif fault == "duplicate":
        report.duplicate_acks += _duplicates(context, service.ends["ingest"], sorted(scanner.acks)[:5])
    elif fault == "dropout":
        _collect(sub, seen)
        sub.close(linger=0)
        time.sleep(0.5)
        sub = _subscribe(context, service.ends["verdicts"])
    elif fault == "reload":
        reply = request(context, service.ends["control"], {"op": "reload"}, 120.0)
        if not reply.get("ok"):
            raise RuntimeError(f"reload failed: {reply}")
    elif fault == "disk-full":
        service.file_size_limit(0)
        lifter = threading.Thread(target=_lift_when_faulted, args=(service, context, report, options.disk_full_s),
                                  name="soak-disk-full", daemon=True)
        lifter.start()
        _LIFTERS.append(lifter)
    return sub


def _lift_when_faulted(service: _Service, context: zmq.Context, report: SoakReport, hold_s: float) -> None:
    """Wait until the service reports the journal fault, keep the disk full ``hold_s`` longer, then free it."""
    end = time.monotonic() + 120.0
    try:
        while time.monotonic() < end:
            status = request(context, service.ends["control"], {"op": "status"}, 10.0)
            if any(fault.startswith("journal write failed") for fault in status.get("fault", [])):
                report.journal_faults += 1
                time.sleep(hold_s)
                return
            time.sleep(0.1)
    finally:
        service.file_size_limit(-1)


def _malformed(context: zmq.Context, endpoint: str) -> int:
    """Send malformed frames on their own DEALER; the number of ERROR acks received."""
    dealer = context.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.connect(endpoint)
    bad = [[b"not json", b""], [json.dumps(make_header(frame_id="bad-count", part_id="b", recipe="bench", seq=0,
                                                         n=100, ts=time.time())).encode(), b"\x00" * 7],
           [json.dumps({"v": 1, "frame_id": "bad-keys"}).encode(), b""]]
    for parts in bad:
        dealer.send_multipart(parts)
    errors = 0
    end = time.monotonic() + 30.0
    while errors < len(bad) and time.monotonic() < end:
        if dealer.poll(100):
            errors += int(json.loads(dealer.recv())["verdict"] == "ERROR")
    dealer.close()
    return errors


def _duplicates(context: zmq.Context, endpoint: str, frame_ids: list[str]) -> int:
    """Resend already acked frame_ids (payload irrelevant: never inspected); the duplicate acks received."""
    dealer = context.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.connect(endpoint)
    for frame_id in frame_ids:
        header = make_header(frame_id=frame_id, part_id="dup", recipe="bench", seq=0, n=10, ts=time.time())
        dealer.send_multipart([json.dumps(header).encode(), np.zeros((10, 3), "<f4").tobytes()])
    got = 0
    end = time.monotonic() + 30.0
    while got < len(frame_ids) and time.monotonic() < end:
        if dealer.poll(100):
            got += int(json.loads(dealer.recv())["duplicate"])
    dealer.close()
    return got


def _subscribe(context: zmq.Context, endpoint: str) -> zmq.Socket:
    sub = context.socket(zmq.SUB)
    sub.rcvhwm = 0
    sub.setsockopt(zmq.SUBSCRIBE, b"verdict.")
    sub.connect(endpoint)
    return sub


def _collect(sub: zmq.Socket, seen: Counter, seconds: float = 0.0) -> None:
    end = time.monotonic() + seconds
    while True:
        while sub.poll(0):
            seen[json.loads(sub.recv_multipart()[1])["frame_id"]] += 1
        if time.monotonic() >= end:
            return
        time.sleep(0.05)


def _tally(report: SoakReport, scanner: ScannerClient, seen: Counter, folder: Path, started: float) -> SoakReport:
    with sqlite3.connect(folder / "journal.sqlite3") as db:
        rows = [row[0] for row in db.execute("SELECT frame_id FROM verdicts WHERE frame_id LIKE 's%'")]
    journaled = Counter(rows)
    sent = {f"s{i:06d}" for i in range(report.frames_sent)}
    report.acked = len(set(scanner.acks) & sent)
    report.journaled = len(set(journaled) & sent)
    report.published = sum(1 for frame_id in seen if frame_id in sent)
    report.lost = len(sent - set(journaled))
    report.duplicated = sum(n - 1 for n in journaled.values() if n > 1) + sum(n - 1 for n in seen.values() if n > 1)
    report.resent = scanner.stats.resent
    if report.rss_start_mb:
        report.rss_growth_pct = 100.0 * (report.rss_end_mb - report.rss_start_mb) / report.rss_start_mb
    report.seconds = time.monotonic() - started
    return report


def report_json(report: SoakReport) -> str:
    return json.dumps({**asdict(report), "ok": report.ok}, indent=2)


def soak_environment() -> dict[str, str]:
    """Where the soak ran (for the figures in docs)."""
    return {"cpus": str(os.cpu_count()), "python": sys.version.split()[0]}
