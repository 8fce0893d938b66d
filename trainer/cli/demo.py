"""`pcinspect demo`: the whole line on one machine, from nothing to verdicts.

The default (streaming) demo makes a synthetic part family, trains a bundle from a few good scans, starts the
real edge service in-process on loopback sockets, streams good and defective parts through a PUSH socket (the
scanner simulator's wire encoding), prints each verdict as it arrives on a SUB socket, then summarises accuracy
against the known truth and latency, and draws heatmaps of every failed part. Its exit code is non-zero when a
frame gets no verdict in time, a well-formed frame gets an ERROR, or the service fails; misclassifications are
reported, not fatal.

``--frontend`` runs the geometry front end instead: for each dev-bench class it reads a defective test scan,
voxel-downsamples, estimates normals, computes FPFH, selects group centers with AGCS and groups the points,
printing what AGCS selected and how long each stage took (against plain farthest point sampling where ground
truth is known). Without the shared data it runs on procedural parts with synthetic defects.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
import zmq
from rich.console import Console
from rich.table import Table

from edge.config import StationConfig
from edge.errors import UsageError
from edge.geometry.agcs import agcs
from edge.geometry.fpfh import fpfh
from edge.geometry.fps import farthest_point_sampling
from edge.geometry.grouping import group_points
from edge.geometry.knn import knn
from edge.geometry.normals import estimate_normals
from edge.geometry.sampling import voxel_downsample
from edge.pipeline.codec import encode, make_header
from edge.service import Service
from edge.timing import StageTimer
from trainer.cli.options import add_override_argument, parse_overrides
from trainer.data import (DEFECT_KINDS, GOOD, PART_KINDS, Sample, apply_defect, list_classes, load_split, make_part,
                          synthetic_sample)

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dev-bench"
STAGES = ("voxel", "normals", "fpfh", "agcs", "grouping")

RECIPE_OVERRIDES: dict[str, object] = {"features.groups": 128}
SEND_POLL_MS = 100


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="train a bundle on synthetic parts, serve it and stream good and defective parts through it")
    stream = parser.add_argument_group("streaming demo (default)")
    stream.add_argument("--parts", type=int, default=50, help="parts to stream")
    stream.add_argument("--part", choices=sorted(PART_KINDS), default="bracket", help="synthetic part family")
    stream.add_argument("--defect-rate", type=float, default=0.4, help="share of streamed parts with a defect")
    stream.add_argument("--points", type=int, default=10_000, help="points per scan")
    stream.add_argument("--train-scans", type=int, default=5, help="good scans the bundle is trained from")
    stream.add_argument("--target-points", type=int, default=6000, help="training: points after voxel downsampling")
    stream.add_argument("--in-flight", type=int, default=1, help="frames sent ahead of their verdicts")
    stream.add_argument("--timeout", type=float, default=30.0, help="most seconds to wait for any one verdict")
    stream.add_argument("--threads", type=int, help="torch CPU threads for training and the service (default: torch's)")
    stream.add_argument("--seed", type=int, default=0)
    add_override_argument(stream)
    stream.add_argument("--out", type=Path, default=Path("demo-out"),
                        help="bundle, journal, station.yaml and heatmaps/ go here (default: ./demo-out)")
    front = parser.add_argument_group("front-end demo (--frontend)")
    front.add_argument("--frontend", action="store_true", help="run the AGCS geometry front end on real scans instead")
    front.add_argument("--data", type=Path, default=Path(os.environ.get("PCINSPECT_DEMO_DATA", DEFAULT_DATA)),
                       help="a Real3D-AD layout folder (default: ../shared/data/dev-bench)")
    front.add_argument("--groups", type=int, default=256, help="group centers G")
    front.add_argument("--group-size", type=int, default=32, help="points per group K")
    front.add_argument("--alpha", type=float, default=0.5, help="share of centers on high FPFH variation")
    front.add_argument("--voxel", type=float, default=0.6, help="voxel edge in the scans' units (mm)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_frontend(args) if args.frontend else run_streaming(args)


# streaming demo ------------------------------------------------------------------------------------------------
@dataclass
class Sent:
    """One streamed part: its scan (with ground truth) and when it was sent."""

    frame_id: str
    part_id: str
    sample: Sample
    ts: float = 0.0


@dataclass
class Tally:
    """Verdicts received so far, against the known truth."""

    tp: list[Sent] = field(default_factory=list)
    fp: list[Sent] = field(default_factory=list)
    tn: list[Sent] = field(default_factory=list)
    fn: list[Sent] = field(default_factory=list)
    errors: list[tuple[Sent, str]] = field(default_factory=list)
    failed: list[Sent] = field(default_factory=list)
    service_ms: list[float] = field(default_factory=list)
    e2e_ms: list[float] = field(default_factory=list)

    def add(self, sent: Sent, verdict: dict[str, Any], e2e_ms: float) -> None:
        self.service_ms.append((verdict["ts_out"] - verdict["ts_in"]) * 1e3)
        self.e2e_ms.append(e2e_ms)
        defective = sent.sample.kind != GOOD
        if verdict["verdict"] == "ERROR":
            self.errors.append((sent, str(verdict.get("reason"))))
            return
        if verdict["verdict"] == "FAIL":
            self.failed.append(sent)
            (self.tp if defective else self.fp).append(sent)
        else:
            (self.fn if defective else self.tn).append(sent)

    @property
    def answered(self) -> int:
        return len(self.service_ms)


def run_streaming(args: argparse.Namespace) -> int:
    """Train, serve, stream and summarise; the exit code (0 only when every frame got a non-ERROR verdict)."""
    if args.parts < 1 or args.train_scans < 1 or args.in_flight < 1 or args.timeout <= 0:
        raise UsageError("--parts, --train-scans, --in-flight and --timeout must be positive")
    if not 0.0 <= args.defect_rate <= 1.0:
        raise UsageError("--defect-rate must be within [0, 1]")
    args.overrides = {**RECIPE_OVERRIDES, **parse_overrides(args.overrides)}
    if args.threads:
        torch.set_num_threads(args.threads)
    console = Console(width=max(120, Console().width))
    out = _fresh_out(args.out)
    started = time.monotonic()
    rng = np.random.default_rng(args.seed)
    console.print(f"[bold]pcinspect demo[/]: {args.parts} synthetic '{args.part}' parts through a live edge service "
                  f"(output in {out})")

    with console.status("making parts and training the bundle") as status:
        train = [synthetic_sample(args.part, GOOD, rng, args.points).points for _ in range(args.train_scans)]
        stream = [Sent(f"F{i:04d}", f"{args.part}-{i:04d}", synthetic_sample(args.part, kind, rng, args.points))
                  for i, kind in enumerate(_plan(args.parts, args.defect_rate, rng))]
        bundle = _train(train, args, out / "bundle", lambda msg: status.update(f"training: {msg}"))
    trained_s = time.monotonic() - started
    console.print(f"trained bundle {bundle} from {args.train_scans} good scans in {trained_s:.1f} s; "
                  f"streaming {sum(s.sample.kind == GOOD for s in stream)} good and "
                  f"{sum(s.sample.kind != GOOD for s in stream)} defective parts")

    try:
        service = Service(_station(args, bundle, out))
        service.start()
    except Exception as exc:  # noqa: BLE001 - any start failure is reported as the demo's failure
        console.print(f"[bold red]service failed to start[/]: {type(exc).__name__}: {exc}")
        return 1
    (out / "station.yaml").write_text(yaml.safe_dump(_station_raw(args, bundle, out, service.addresses), sort_keys=False))
    tally = Tally()
    problem: str | None = None
    stream_s = 0.0
    try:
        stream_start = time.monotonic()
        problem = _stream(service.addresses, stream, args, tally, console)
        stream_s = time.monotonic() - stream_start
    finally:
        service.request_stop()
        drained = service.shutdown() == 0
    if not drained:
        problem = problem or "the service did not drain cleanly on shutdown"

    _summary(console, tally, stream, stream_s)
    heatmaps = _heatmaps(bundle, tally.failed, out / "heatmaps") if tally.failed else []
    if heatmaps:
        console.print(f"heatmaps of {len(heatmaps)} failed parts in {out / 'heatmaps'}")
    console.print(f"demo took {time.monotonic() - started:.1f} s")
    for sent, reason in tally.errors:
        console.print(f"[bold red]ERROR[/] {sent.frame_id} ({sent.sample.kind}): {reason}")
    if tally.errors:
        problem = problem or f"{len(tally.errors)} well-formed frames got an ERROR verdict"
    if problem:
        console.print(f"[bold red]demo failed[/]: {problem}")
        return 1
    return 0


def _fresh_out(out: Path) -> Path:
    """The output folder, emptied of what an earlier demo run left there (bundle, journal, heatmaps)."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in ("bundle", "heatmaps"):
        shutil.rmtree(out / name, ignore_errors=True)
    for path in out.glob("journal.sqlite3*"):
        path.unlink()
    (out / "heatmaps").mkdir()
    return out


def _plan(parts: int, defect_rate: float, rng: np.random.Generator) -> list[str]:
    """Truth of each streamed part, shuffled: ``defect_rate`` of them defective, cycling through every defect kind."""
    defective = int(round(parts * defect_rate))
    kinds = [DEFECT_KINDS[i % len(DEFECT_KINDS)] for i in range(defective)] + [GOOD] * (parts - defective)
    return [kinds[i] for i in rng.permutation(parts)]


def _train(scans: list[np.ndarray], args: argparse.Namespace, dest: Path, progress: Callable[[str], None]) -> Path:
    """Fit and calibrate the recipe from good ``scans`` and write its bundle at ``dest``."""
    from trainer.fit.recipe import TrainOptions, train_recipe
    from trainer.fit.save import save_recipe

    options = TrainOptions.quick(target_points=args.target_points, seed=args.seed)
    trained = train_recipe(scans, options=options, progress=progress, overrides=args.overrides)
    return save_recipe(trained, args.part, dest)


def _station_raw(args: argparse.Namespace, bundle: Path, out: Path, endpoints: dict[str, str]) -> dict[str, Any]:
    """The station file of the demo (absolute paths), serving ``args.part`` from ``bundle``."""
    return {
        "station": "demo",
        "endpoints": endpoints,
        "recipes": {args.part: {"bundle": str(bundle)}},
        "inspect": {"workers": 1, "torch_threads": args.threads, "deadline_ms": int(max(5.0, args.timeout) * 1000)},
        "limits": {"min_points": 1000, "max_points": max(2 * args.points, 1000)},
        "publish": {"heartbeat_s": 0.25},
        "journal": {"path": str(out / "journal.sqlite3"), "synchronous": "normal"},
        "service": {"linger_ms": 500, "drain_s": max(10.0, args.timeout)},
        "security": {"allow_unsigned_bundles": True},
    }


def _station(args: argparse.Namespace, bundle: Path, out: Path) -> StationConfig:
    loopback = {name: "tcp://127.0.0.1:*" for name in ("ingest", "verdicts", "query", "control")}
    return StationConfig.model_validate(_station_raw(args, bundle, out, loopback))


def _stream(addresses: dict[str, str], stream: list[Sent], args: argparse.Namespace, tally: Tally,
            console: Console) -> str | None:
    """Push every part (at most ``args.in_flight`` unanswered), print each verdict; a problem, or None."""
    context = zmq.Context()
    try:
        sub = context.socket(zmq.SUB)
        sub.linger = 0
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(addresses["verdicts"])
        push = context.socket(zmq.PUSH)
        push.linger = 0
        push.sndhwm = max(2, args.in_flight)
        push.connect(addresses["ingest"])
        if not _wait_heartbeat(sub, args.timeout):
            return f"no heartbeat from the service within {args.timeout:.0f} s"
        console.print(_rows_table(header=True))
        pending: dict[str, Sent] = {}
        queue: Iterator[tuple[int, Sent]] = iter(enumerate(stream))
        next_part = next(queue, None)
        last_progress = time.monotonic()
        while next_part is not None or pending:
            if next_part is not None and len(pending) < args.in_flight and push.poll(0, zmq.POLLOUT):
                seq, sent = next_part
                sent.ts = time.time()
                points = sent.sample.points.astype(np.float32)
                header = make_header(frame_id=sent.frame_id, part_id=sent.part_id, recipe=args.part, seq=seq,
                                     n=len(points), ts=sent.ts)
                push.send_multipart(encode(header, points), copy=False)
                pending[sent.frame_id] = sent
                next_part = next(queue, None)
                continue
            if sub.poll(SEND_POLL_MS):
                topic, body = sub.recv_multipart()
                if not topic.startswith(b"verdict."):
                    continue
                verdict = json.loads(body)
                sent = pending.pop(verdict.get("frame_id"), None)
                if sent is None:
                    continue
                e2e_ms = (time.time() - sent.ts) * 1e3
                tally.add(sent, verdict, e2e_ms)
                console.print(_row(sent, verdict, e2e_ms))
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > args.timeout:
                missing = ", ".join(sorted(pending)) or "(none sent: the service applies backpressure)"
                return f"no verdict within {args.timeout:.0f} s for {missing}"
        return None
    finally:
        context.destroy(linger=0)


def _wait_heartbeat(sub: zmq.Socket, timeout_s: float) -> bool:
    """True once a heartbeat arrives (the subscription is live, so no verdict can be missed)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if sub.poll(SEND_POLL_MS) and sub.recv_multipart()[0].startswith(b"heartbeat."):
            return True
    return False


ROW_COLUMNS = (("frame", 6, "left"), ("part", 14, "left"), ("truth", 10, "left"), ("verdict", 7, "left"),
               ("score", 6, "right"), ("regions", 28, "left"), ("service ms", 10, "right"), ("e2e ms", 8, "right"))


def _rows_table(header: bool = False) -> Table:
    """A borderless table with the verdict columns at fixed widths, so one-row tables line up as a live table."""
    table = Table(box=None, show_header=header, header_style="bold", pad_edge=False)
    for name, width, justify in ROW_COLUMNS:
        table.add_column(name, width=width, justify=justify, no_wrap=True, overflow="ellipsis")
    return table


def _row(sent: Sent, verdict: dict[str, Any], e2e_ms: float) -> Table:
    decision = verdict["verdict"]
    defective = sent.sample.kind != GOOD
    right = decision != "ERROR" and (decision == "FAIL") == defective
    colour = {"PASS": "green", "FAIL": "red"}.get(decision, "yellow")
    kinds: dict[str, int] = {}
    for region in verdict.get("regions") or []:
        kinds[region["kind"]] = kinds.get(region["kind"], 0) + 1
    regions = f"{sum(kinds.values())}" + (" (" + ", ".join(f"{n} {k}" for k, n in kinds.items()) + ")" if kinds else "")
    score = "-" if verdict.get("score") is None else f"{verdict['score']:.3f}"
    table = _rows_table()
    table.add_row(sent.frame_id, sent.part_id, sent.sample.kind, f"[{colour}]{decision}[/]" + ("" if right else " [bold]![/]"),
                  score, regions, f"{(verdict['ts_out'] - verdict['ts_in']) * 1e3:.0f}", f"{e2e_ms:.0f}")
    return table


def _summary(console: Console, tally: Tally, stream: list[Sent], stream_s: float) -> None:
    judged = len(tally.tp) + len(tally.fp) + len(tally.tn) + len(tally.fn)
    right = len(tally.tp) + len(tally.tn)
    accuracy = right / judged if judged else 0.0
    console.print(f"\n[bold]answered {tally.answered}/{len(stream)} frames[/]; "
                  f"accuracy {accuracy:.3f} ({right}/{judged}): TP {len(tally.tp)}  FP {len(tally.fp)}  "
                  f"TN {len(tally.tn)}  FN {len(tally.fn)}  ERROR {len(tally.errors)}")
    for label, parts in (("missed defects (FN)", tally.fn), ("false alarms (FP)", tally.fp)):
        if parts:
            console.print(f"{label}: " + ", ".join(f"{s.part_id} ({s.sample.kind})" for s in parts))
    if tally.answered:
        service = np.percentile(tally.service_ms, [50, 99])
        e2e = np.percentile(tally.e2e_ms, [50, 99])
        rate = tally.answered / stream_s if stream_s > 0 else 0.0
        console.print(f"latency ms: service (ts_out - ts_in) p50 {service[0]:.0f} p99 {service[1]:.0f}; "
                      f"end-to-end p50 {e2e[0]:.0f} p99 {e2e[1]:.0f}; {rate:.2f} frames/s")


def _heatmaps(bundle: Path, failed: list[Sent], folder: Path) -> list[Path]:
    """A heatmap PNG per FAIL part: the bundle's per-point scores, ground-truth defect points outlined."""
    from edge.heatmap import render_heatmap
    from edge.inspector import Inspector

    inspector = Inspector.from_bundle(bundle, "cpu", smoke_test=False)
    written = []
    for sent in failed:
        points = sent.sample.points.astype(np.float32)
        verdict = inspector.inspect(points, point_scores=True)
        written.append(render_heatmap(points, verdict.point_scores, folder / f"{sent.frame_id}-{sent.part_id}.png",
                                      title=f"{sent.part_id} ({sent.sample.kind}): {verdict.decision.value} "
                                            f"score {verdict.score:.3f}", labels=sent.sample.labels))
    return written


# front-end demo ------------------------------------------------------------------------------------------------
@dataclass
class DemoScan:
    name: str
    points: np.ndarray
    labels: np.ndarray | None


def run_frontend(args: argparse.Namespace) -> int:
    """The AGCS front-end table on real scans (procedural parts when the shared data is absent)."""
    console = Console(width=max(150, Console().width))
    scans = _real_scans(args.data) if args.data.is_dir() else []
    source = f"real scans from {args.data}" if scans else "procedural parts with synthetic defects (no shared data found)"
    if not scans:
        scans = _procedural_scans()
    console.print(f"[bold]pcinspect demo[/]: AGCS front end on {len(scans)} {source}")
    table = Table(show_lines=False)
    for column in ("scan", "points", "voxels", "G", "on defect: AGCS", "on defect: FPS", *STAGES, "total ms"):
        table.add_column(column, justify="right" if column != "scan" else "left")
    for scan in scans:
        table.add_row(*_run_scan(scan, args))
    console.print(table)
    console.print("'on defect': group centers within 2 voxels of a ground-truth anomalous point (AGCS vs plain FPS, same G).")
    return 0


def _run_scan(scan: DemoScan, args: argparse.Namespace) -> list[str]:
    timer = StageTimer("cpu")
    points = torch.from_numpy(scan.points)
    with timer.stage("voxel"):
        cloud, _ = voxel_downsample(points, args.voxel)
    with timer.stage("normals"):
        normals = estimate_normals(cloud, 16)
    with timer.stage("fpfh"):
        features = fpfh(cloud, normals, radius=5 * args.voxel, max_nn=48)
    groups = min(args.groups, cloud.shape[0])
    with timer.stage("agcs"):
        centers = agcs(cloud, features, groups, args.alpha)
    with timer.stage("grouping"):
        group_points(cloud, centers, min(args.group_size, cloud.shape[0]))
    on_agcs = on_fps = "-"
    if scan.labels is not None and scan.labels.any():
        defect = torch.from_numpy(scan.points[scan.labels > 0])
        fps = farthest_point_sampling(cloud, groups)
        near = lambda idx: int((knn(cloud[idx], defect, 1)[0][:, 0].sqrt() <= 2 * args.voxel).sum())  # noqa: E731
        on_agcs, on_fps = str(near(centers)), str(near(fps))
    ms = timer.as_dict()
    return [scan.name, str(len(scan.points)), str(cloud.shape[0]), str(groups), on_agcs, on_fps,
            *(f"{ms[s]:.0f}" for s in STAGES), f"{ms['total']:.0f}"]


def _real_scans(root: Path) -> list[DemoScan]:
    scans = []
    for name in list_classes(root, "real3d"):
        test = load_split(root, "real3d", name, "test")
        defective = [i for i, kind in enumerate(test.kinds) if kind != "good"]
        if defective:
            sample = test[defective[0]]
            scans.append(DemoScan(f"{name}/{sample.path.stem}", sample.points, sample.labels))
    return scans


def _procedural_scans() -> list[DemoScan]:
    rng = np.random.default_rng(0)
    scans = []
    for kind, defect in (("bracket", "bulge"), ("flange", "hole"), ("housing", "crack")):
        part = make_part(kind, rng, 16000)
        result = apply_defect(defect, part.points, rng, normals=part.normals)
        scans.append(DemoScan(f"{kind}/{defect}", result.points.astype(np.float32), result.labels))
    return scans
