"""The edge daemon: wires ingest -> workers -> publisher (+ journal), the query and control servers.

Threads and their sockets (each socket is created and bound here, then used only by its thread):

    ingest (ROUTER|PULL|SUB) --jobs--> worker x N --verdicts--> publisher (journal, then PUB, then acks)
        ^------------------------------- acks (router mode) ---------------'
    query (REP, journal reader)       control (REP, calls back into this object)

The main thread supervises: systemd notifications (READY after every bundle is loaded and smoke-tested,
WATCHDOG while every thread is alive and ticking, RELOADING, STOPPING), faults (a dead or stalled thread, a
journal that cannot be written: state "fault" in heartbeat and status), SIGHUP reloads the configured bundles.
SIGTERM/SIGINT drain: read what the ingest socket holds until it is quiet, inspect every received frame (or,
past the inspection budget, answer ERROR "service stopping"), journal and publish each, send the acks, close.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import zmq

from edge.bundle import BundleError
from edge.config import InspectConfig, StationConfig, endpoint_is_loopback
from edge.logs import fields
from edge.metrics import ServiceMetrics
from edge.notify import Notifier
from edge.pipeline import ingest as ingest_stage
from edge.pipeline import publisher as publisher_stage
from edge.pipeline.codec import Heartbeat, max_message_bytes
from edge.pipeline.control import ControlHandler
from edge.pipeline.ingest import Ingest
from edge.pipeline.journal import Journal
from edge.pipeline.ledger import Ledger
from edge.pipeline.liveness import Liveness
from edge.pipeline.publisher import Publisher
from edge.pipeline.query import QueryHandler
from edge.pipeline.recipes import Loader, Recipes
from edge.pipeline.security import CurveServer, KeyFileError, load_key_pair
from edge.pipeline.sockets import ReplyServer, attach
from edge.pipeline.worker import Worker

log = logging.getLogger("edge.service")
SUPERVISE_S = 0.2
INSPECT_SHARE = 0.7  # of drain_s spent inspecting drained frames; the rest answers, journals and publishes
THREADS = "threads"


def inspector_loader(inspect: InspectConfig) -> Loader:
    """Loads bundles with the real Inspector (hash check, backend selection, golden-sample smoke test)."""
    from edge.inspector import Inspector

    def load(path: Path) -> Inspector:
        inspector = Inspector.from_bundle(path, inspect.device, backends=inspect.backends, precision=inspect.precision)
        for line in inspector.backend_report:
            log.info("bundle %s: %s", inspector.bundle_id, line)
        return inspector

    return load


class Service:
    """One station's edge service. ``start()`` then ``run()`` (blocking) or ``shutdown()`` from a test."""

    def __init__(self, config: StationConfig, *, loader: Loader | None = None, notifier: Notifier | None = None,
                 context: zmq.Context | None = None) -> None:
        self.config = config
        self.recipes = Recipes(
            self._warn_unsigned(loader or inspector_loader(config.inspect)), public_key=config.security.bundle_public_key
        )
        self.notifier = notifier or Notifier()
        self.context = context or zmq.Context()
        self._own_context = context is None
        self.liveness = Liveness()
        self.jobs: queue.Queue = queue.Queue(maxsize=config.ingest.queue)
        self.verdicts: queue.Queue = queue.Queue(maxsize=config.publish.queue)
        self.paused = threading.Event()
        self.addresses: dict[str, str] = {}
        self._state = "starting"
        self.started_at = time.time()
        self._inspect_until = float("inf")
        self.dead: list[str] = []
        self._stop = threading.Event()
        self._hup = threading.Event()
        self._reload_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.curve: CurveServer | None = None
        self.metrics = ServiceMetrics(config.service.metrics)

    # lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Load and smoke-test every recipe, open the journal, bind the sockets, start the stages."""
        cfg = self.config
        if cfg.inspect.torch_threads:
            import torch

            torch.set_num_threads(cfg.inspect.torch_threads)
        # Frames are inspected straight from the (read-only) ZeroMQ buffer; the Inspector never writes its input.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        self.recipes.sensitivity = {name: r.sensitivity for name, r in cfg.recipes.items() if r.sensitivity is not None}
        self.recipes.load_all({name: recipe.bundle for name, recipe in cfg.recipes.items()})
        journal = Journal(cfg.journal.path, synchronous=cfg.journal.synchronous, max_rows=cfg.journal.max_rows,
                          max_age_days=cfg.journal.max_age_days)
        journal.apply_retention()
        journal = self.metrics.instrument(journal)
        reader = Journal(cfg.journal.path, readonly=True)
        ledger_reader = Journal(cfg.journal.path, readonly=True)
        try:
            self._start_curve()
            self._open_stages(journal, reader, Ledger(ledger_reader.verdict_of))
        except BaseException:
            self._stop_curve()
            raise
        self._threads = [self.publisher, *self.workers, self.ingest, self.query, self.control]
        self.metrics.serve(self)
        for thread in self._threads:
            thread.start()
        self._state = "running"
        summary = ", ".join(f"{n}={self.recipes.current(n).inspector.bundle_id}" for n in self.recipes.names())
        log.info("serving", extra=fields(station=cfg.station, endpoints=self.addresses, bundles=summary))
        self.notifier.ready(status=f"serving {summary}")

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (or ``request_stop``), then drain; the process exit code."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
            signal.signal(signal.SIGINT, lambda *_: self.request_stop())
            signal.signal(signal.SIGHUP, lambda *_: self._hup.set())
        if self.state == "starting":
            self.start()
        ping_s = min(self.notifier.watchdog_s / 2, 1.0) if self.notifier.watchdog_s else 1.0
        if self.notifier.watchdog_s and self.config.service.stall_s >= self.notifier.watchdog_s:
            log.warning("service.stall_s is not below the systemd WatchdogSec: a stuck thread is found by systemd "
                        "before the service names it", extra=fields(stall_s=self.config.service.stall_s,
                                                                    watchdog_s=self.notifier.watchdog_s))
        next_ping = 0.0
        while not self._stop.wait(SUPERVISE_S):
            if self._hup.is_set():
                self._hup.clear()
                self.reload()
            healthy = self.supervise()
            if healthy and time.monotonic() >= next_ping:
                next_ping = time.monotonic() + ping_s
                self.notifier.watchdog()
        return self.shutdown()

    def supervise(self) -> bool:
        """Check every thread; a dead or stalled one is a fault (logged once, named). True when none is."""
        dead = [t.name for t in self._threads if not t.is_alive()]
        stalled = [name for name in self.liveness.stalled(self.config.service.stall_s) if name not in dead]
        self.dead = dead
        faults = [f"thread {name} died" for name in dead]
        faults += [f"thread {name} silent for more than {self.config.service.stall_s:g} s" for name in stalled]
        if self.liveness.set_faults(THREADS, faults) and faults:
            log.error("thread fault: withholding the systemd watchdog ping", extra=fields(dead=dead, stalled=stalled))
        return not faults

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        """What SIGHUP does: reload the configured bundles from the supervising thread."""
        self._hup.set()

    def shutdown(self) -> int:
        """Drain: read what the socket holds, answer every received frame, send acks, close; 0 when complete.

        Every frame received before the end of the drain gets one journaled verdict: inspected within the first
        ``INSPECT_SHARE`` of ``drain_s``, ERROR "service stopping" after that. Not complete (exit 1): a thread
        that died or is stuck, or verdicts withheld because the journal could not be written.
        """
        self.supervise()
        self._state = "draining"
        self.notifier.stopping()
        log.info("draining", extra=fields(queued=self.jobs.qsize()))
        start = time.monotonic()
        deadline = start + self.config.service.drain_s
        self._inspect_until = start + INSPECT_SHARE * self.config.service.drain_s
        self.ingest.stop_receiving()
        # Reading can wait on a full queue while workers inspect; past the inspection budget they answer fast.
        drained = self.ingest.drained.wait(max(0.0, deadline - 0.1 * self.config.service.drain_s - time.monotonic()))
        if not drained:
            self.ingest.stop(abort=True)
        for _ in self.workers:
            drained &= self._put(self.jobs, ingest_stage.STOP, deadline)
        for worker in self.workers:
            drained &= self._join(worker, deadline)
        drained &= self._put(self.verdicts, publisher_stage.STOP, deadline)
        if not self._join(self.publisher, deadline):
            self.publisher.stop(abort=True)
            drained &= self._join(self.publisher, deadline + 1.0)
        self.ingest.stop()
        self._join(self.ingest, deadline + self.config.service.linger_ms / 1000 + 1.0)
        for server in (self.query, self.control):
            server.stop()
            server.join(timeout=1.0)
        stuck = [t.name for t in self._threads if t.is_alive()]
        if not stuck:
            self._stop_curve()
        if self._own_context and not stuck:
            self.context.term()
        self.notifier.close()
        self.metrics.close()
        self._state = "stopped"
        counts = self.ingest.counts
        complete = drained and not stuck and not self.dead and not self.publisher.withheld
        log.info("stopped", extra=fields(
            drained=complete, stuck=stuck, dead=self.dead, received=counts.received, read_while_draining=counts.drained,
            duplicates=counts.duplicates, frames=self.publisher.frames, withheld=self.publisher.withheld,
            service_stopping=sum(w.stopping_errors for w in self.workers), seconds=round(time.monotonic() - start, 3)))
        return 0 if complete else 1

    @property
    def state(self) -> str:
        """starting | running | paused | fault | draining | stopped ("fault" while any fault is named)."""
        if self._state in ("running", "paused") and self.liveness.faults():
            return "fault"
        return self._state

    # control target -------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        counts = self.ingest.counts
        return {
            "station": self.config.station, "state": self.state, "fault": self.liveness.faults(), "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started_at, 3), "recipes": self.recipes.describe(),
            "received": counts.received, "duplicates": counts.duplicates, "disconnects": counts.disconnects,
            "frames": self.publisher.frames, "errors": self.publisher.errors, "last_seq": self.publisher.last_seq,
            "queue": {"depth": self.jobs.qsize(), "capacity": self.config.ingest.queue},
            "ingest": {"mode": self.config.ingest.mode, "maxmsgsize": self.maxmsgsize},
            "unsigned_bundles": self.config.security.bundle_public_key is None,
            "endpoints": self.addresses,
        }

    def reload(self, bundle: str | None = None, recipe: str | None = None) -> dict[str, Any]:
        """Load a bundle (or, without one, every configured bundle) beside the running one and swap it in.

        A failure keeps the running bundle and is reported in the reply and the log.
        """
        with self._reload_lock:
            self.notifier.reloading()
            try:
                if bundle is not None:
                    return self._reload_one(Path(bundle), recipe)
                results = {}
                for name, configured in self.config.recipes.items():
                    if recipe is None or recipe == name:
                        results[name] = self._reload_one(configured.bundle, name)
                ok = all(r["ok"] for r in results.values()) and bool(results)
                return {"ok": ok, "recipes": results, **({} if results else {"error": f"unknown recipe '{recipe}'"})}
            finally:
                self.notifier.ready()

    def rollback(self, recipe: str | None = None) -> dict[str, Any]:
        name, loaded = self.recipes.rollback(recipe)
        log.warning("rolled back", extra=fields(recipe=name, bundle=loaded.describe()))
        return {"recipe": name, "bundle": loaded.describe()}

    def set_sensitivity(self, recipe: str | None, value: float) -> dict[str, Any]:
        """Change a recipe's run-time sensitivity without a reload (frames after this one use it); logged."""
        names = self.recipes.names()
        name = recipe or (names[0] if len(names) == 1 else None)
        if name is None:
            raise BundleError(f"sensitivity: name the recipe (serves: {', '.join(names)})")
        previous = self.recipes.set_sensitivity(name, value)
        log.warning("sensitivity changed", extra=fields(recipe=name, sensitivity=value, previous=previous))
        return {"recipe": name, "sensitivity": value, "previous": previous}

    def pause(self) -> None:
        self.paused.set()
        self._state = "paused"
        log.info("paused: not receiving frames")

    def resume(self) -> None:
        self.paused.clear()
        self._state = "running"
        log.info("resumed")

    # internals ------------------------------------------------------------------------------------------
    def _reload_one(self, path: Path, recipe: str | None) -> dict[str, Any]:
        try:
            name, loaded = self.recipes.reload(path, recipe)
        except BundleError as exc:
            log.error("reload failed; keeping the running bundle", extra=fields(bundle=str(path), error=str(exc)))
            return {"ok": False, "error": str(exc)}
        log.info("reloaded", extra=fields(recipe=name, bundle=loaded.describe()))
        return {"ok": True, "recipe": name, "bundle": loaded.describe()}

    def _open_stages(self, journal: Journal, reader: Journal, ledger: Ledger) -> None:
        """Create and attach every socket and the stage that owns it (started later by ``start``)."""
        cfg = self.config
        kind = {"router": zmq.ROUTER, "pull": zmq.PULL, "sub": zmq.SUB}[cfg.ingest.mode]
        self.maxmsgsize = max_message_bytes(max(cfg.limits_for(name).max_points for name in cfg.recipes))
        source = self._socket("ingest", kind, rcvhwm=cfg.ingest.hwm, maxmsgsize=self.maxmsgsize)
        if kind == zmq.SUB:
            source.setsockopt(zmq.SUBSCRIBE, cfg.ingest.subscribe.encode())
        self.ingest = Ingest(source, self.jobs, self._limits, self._taking, self.liveness, ledger,
                             router=kind == zmq.ROUTER, quiet_s=cfg.service.drain_quiet_ms / 1000,
                             linger_ms=cfg.service.linger_ms)
        self.ingest.convert_units = cfg.ingest.convert_units
        pub = self._socket("verdicts", zmq.PUB, sndhwm=cfg.publish.hwm)
        self.publisher = Publisher(pub, cfg.station, self.verdicts, journal, cfg.publish.heartbeat_s,
                                   self._heartbeat, self.liveness, cfg.service.linger_ms, ledger,
                                   lambda peer, ack: self.ingest.outbox.put((peer, ack)))
        self.workers = [Worker(i, cfg.station, self.jobs, self.verdicts, self.recipes, cfg.inspect.deadline_ms,
                               self.liveness, lambda: self._inspect_until, cuda_graphs=cfg.inspect.cuda_graphs,
                               device=cfg.inspect.device)
                        for i in range(cfg.inspect.workers)]
        self.query = ReplyServer("query", self._socket("query", zmq.REP), QueryHandler(reader, cfg.journal.query_limit),
                                 self.liveness)
        self.control = ReplyServer("control", self._socket("control", zmq.REP), ControlHandler(self), self.liveness)

    def _start_curve(self) -> None:
        """Start the ZAP handler before any socket is bound when an endpoint is not loopback."""
        if not self.config.exposed_endpoints():
            return
        security = self.config.security
        try:
            key_pair = load_key_pair(security.server_secret_key)
        except KeyFileError as exc:
            raise OSError(f"security.server_secret_key: {exc}") from None
        try:
            self.curve = CurveServer(self.context, key_pair, security.client_keys_dir)
        except KeyFileError as exc:
            raise OSError(f"security.client_keys_dir: {exc}") from None
        self.curve.start()

    def _stop_curve(self) -> None:
        """Stop the ZAP handler once the sockets it guards are closed."""
        if self.curve is not None:
            self.curve.stop()
            self.curve = None

    def _socket(self, name: str, kind: int, **options: int) -> zmq.Socket:
        socket = self.context.socket(kind)
        socket.linger = self.config.service.linger_ms
        for option, value in options.items():
            setattr(socket, option, value)
        endpoint = getattr(self.config.endpoints, name)
        if not endpoint_is_loopback(endpoint):
            self.curve.secure(socket)
        try:
            self.addresses[name] = attach(socket, endpoint, bind=True)
        except zmq.ZMQError as exc:
            socket.close(linger=0)
            raise OSError(f"endpoints.{name}: cannot use {endpoint}: {exc}") from None
        return socket

    def _limits(self, recipe: str) -> tuple[int, int] | None:
        if recipe not in self.config.recipes:
            return None
        limits = self.config.limits_for(recipe)
        return limits.min_points, limits.max_points

    def _taking(self) -> bool:
        """Whether ingest reads frames: not while paused, and not while the journal cannot be written."""
        return not self.paused.is_set() and not self.liveness.faults(publisher_stage.FAULT)

    def _warn_unsigned(self, loader: Loader) -> Loader:
        """``loader``, logging a warning at every load when the station serves unsigned bundles."""
        if self.config.security.bundle_public_key is not None:
            return loader

        def load(path: Path) -> Any:
            log.warning("loading a bundle without checking its signature (security.allow_unsigned_bundles)",
                        extra=fields(bundle=str(path)))
            return loader(path)

        return load

    def _heartbeat(self) -> Heartbeat:
        bundles = {}
        for name in self.recipes.names():
            inspector = self.recipes.current(name).inspector
            bundles[name] = {"id": inspector.bundle_id, "sha256": inspector.bundle_sha256}
        return Heartbeat(station=self.config.station, ts=time.time(), state=self.state, bundle=bundles,
                         frames=self.publisher.frames, errors=self.publisher.errors, queue=self.jobs.qsize(),
                         seq=self.publisher.last_seq, fault=self.liveness.faults(),
                         unsigned_bundles=self.config.security.bundle_public_key is None)

    @staticmethod
    def _join(thread: threading.Thread, deadline: float) -> bool:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return not thread.is_alive()

    @staticmethod
    def _put(target: queue.Queue, item: Any, deadline: float) -> bool:
        try:
            target.put(item, timeout=max(0.01, deadline - time.monotonic()))
            return True
        except queue.Full:
            return False
