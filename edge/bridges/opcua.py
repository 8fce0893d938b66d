"""`pcinspect bridge opcua`: an OPC UA server (asyncua) with the station's last verdict and health.

Address space, under Objects/<station> in the namespace ``opcua.namespace`` (docs/integration.md has the map):

    LastVerdict/  FrameId PartId Recipe Decision(enum PASS=0 FAIL=1 ERROR=2) Pass Fail Error Reason Score
                  RegionCount LargestDefectMm TsIn TsOut Seq Json
    Health/       State BundleId Frames Errors Queue LatencyP50Ms LatencyP99Ms ServiceReachable DeliveredSeq
    VerdictCounter   the journal seq of LastVerdict (UInt32), written after every LastVerdict field

A PLC triggers on VerdictCounter and then reads LastVerdict; ``Json`` carries the whole verdict, so a client
that subscribes to it with a queue receives every verdict even when several arrive within one publishing
interval. Nodes are read-only. The server offers Basic256Sha256 (Sign, SignAndEncrypt) with the station's
certificate when the endpoint is not loopback, and anonymous or one user/password login as configured.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from asyncua import Node, Server, ua
from asyncua.common.structures104 import new_enum
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager

from edge.bridges.cursor import Cursor
from edge.bridges.source import Health, ServiceAddress, VerdictStream, default_cursor, read_secret
from edge.config import OpcuaConfig, StationConfig
from edge.logs import fields

log = logging.getLogger("edge.bridges.opcua")
POLL_S = 0.2
DECISIONS = ("PASS", "FAIL", "ERROR")
V = ua.VariantType
LAST_VERDICT = {
    "FrameId": V.String, "PartId": V.String, "Recipe": V.String, "Pass": V.Boolean, "Fail": V.Boolean,
    "Error": V.Boolean, "Reason": V.String, "Score": V.Double, "RegionCount": V.UInt32, "LargestDefectMm": V.Double,
    "TsIn": V.DateTime, "TsOut": V.DateTime, "Seq": V.Int64, "Json": V.String,
}
HEALTH = {
    "State": V.String, "BundleId": V.String, "Frames": V.UInt32, "Errors": V.UInt32, "Queue": V.UInt32,
    "LatencyP50Ms": V.Double, "LatencyP99Ms": V.Double, "ServiceReachable": V.Boolean, "DeliveredSeq": V.Int64,
}
EMPTY = {V.String: "", V.Boolean: False, V.Double: 0.0, V.UInt32: 0, V.Int64: 0,
         V.DateTime: dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)}


def verdict_values(verdict: dict[str, Any]) -> dict[str, Any]:
    """LastVerdict node values of one wire verdict (docs/protocol.md); None where the verdict has none."""
    regions = verdict.get("regions") or []
    decision = verdict.get("verdict")
    return {
        "FrameId": verdict.get("frame_id") or "", "PartId": verdict.get("part_id") or "",
        "Recipe": verdict.get("recipe") or "", "Decision": DECISIONS.index(decision),
        "Pass": decision == "PASS", "Fail": decision == "FAIL", "Error": decision == "ERROR",
        "Reason": verdict.get("reason") or "", "Score": verdict.get("score"), "RegionCount": len(regions),
        "LargestDefectMm": max((max(r["extent"]) for r in regions), default=0.0),
        "TsIn": _time(verdict.get("ts_in")), "TsOut": _time(verdict.get("ts_out")), "Seq": verdict["seq"],
        "Json": json.dumps(verdict, allow_nan=False),
    }


def health_values(health: Health, delivered: int | None) -> dict[str, Any]:
    summary = health.summary()
    return {
        "State": summary["state"], "BundleId": ", ".join(f"{r}={b}" for r, b in sorted(summary["bundle"].items())),
        "Frames": summary["frames"] or 0, "Errors": summary["errors"] or 0, "Queue": summary["queue"] or 0,
        "LatencyP50Ms": summary["latency_p50_ms"], "LatencyP99Ms": summary["latency_p99_ms"],
        "ServiceReachable": health.reachable(), "DeliveredSeq": -1 if delivered is None else delivered,
    }


def _time(ts: float | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc)


class OneUser(UserManager):
    """Admits exactly the configured user with the configured password (read-only role)."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username == self.username and password == self.password:
            return User(role=UserRole.User, name=username)
        return None


@dataclass
class AddressSpace:
    """The nodes the bridge writes."""

    counter: Node
    decision: Node
    last: dict[str, Node]
    health: dict[str, Node]

    async def write_verdict(self, verdict: dict[str, Any]) -> None:
        """Every LastVerdict field, then the counter (so a PLC triggered by it reads a complete verdict)."""
        values = verdict_values(verdict)
        for name, node in self.last.items():
            await _write(node, values[name], LAST_VERDICT[name])
        await self.decision.write_value(ua.DataValue(ua.Variant(values["Decision"], V.Int32)))
        await _write(self.counter, verdict["seq"] % 2**32, V.UInt32)
        await _write(self.health["DeliveredSeq"], verdict["seq"], V.Int64)

    async def write_health(self, values: dict[str, Any]) -> None:
        for name, node in self.health.items():
            await _write(node, values[name], HEALTH[name])


async def _write(node: Node, value: Any, kind: ua.VariantType) -> None:
    """Write ``value``; None (e.g. the score of an ERROR) becomes the type's empty value with status Uncertain."""
    if value is None:
        unknown = ua.StatusCode(ua.StatusCodes.UncertainNoCommunicationLastUsableValue)
        await node.write_value(ua.DataValue(ua.Variant(EMPTY[kind], kind), StatusCode=unknown))
    else:
        await node.write_value(ua.DataValue(ua.Variant(value, kind)))


async def build_server(config: StationConfig, opcua: OpcuaConfig) -> tuple[Server, AddressSpace]:
    """An initialised (not yet started) server with the station's nodes and security."""
    users = OneUser(opcua.username, read_secret(opcua.password_file)) if opcua.username else None
    server = Server(user_manager=users)
    await server.init()
    server.set_endpoint(opcua.endpoint)
    server.set_server_name(f"pcinspect {config.station}")
    await server.set_application_uri(f"{opcua.namespace}:{config.station}")
    if opcua.secure():
        await server.load_certificate(str(opcua.certificate))
        await server.load_private_key(str(opcua.private_key))
        server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                                    ua.SecurityPolicyType.Basic256Sha256_Sign])
    else:
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    server.set_identity_tokens([ua.UserNameIdentityToken] if opcua.username else [ua.AnonymousIdentityToken])
    idx = await server.register_namespace(opcua.namespace)
    decision_type = await new_enum(server, idx, "Decision", list(DECISIONS))
    station = await server.nodes.objects.add_object(idx, config.station)
    last_folder = await station.add_object(idx, "LastVerdict")
    health_folder = await station.add_object(idx, "Health")
    last = {name: await last_folder.add_variable(idx, name, EMPTY[kind], varianttype=kind)
            for name, kind in LAST_VERDICT.items()}
    decision = await last_folder.add_variable(idx, "Decision", 2, varianttype=V.Int32, datatype=decision_type.nodeid)
    health = {name: await health_folder.add_variable(idx, name, EMPTY[kind], varianttype=kind)
              for name, kind in HEALTH.items()}
    counter = await station.add_variable(idx, "VerdictCounter", 0, varianttype=V.UInt32)
    return server, AddressSpace(counter, decision, last, health)


class OpcuaBridge:
    """Runs until ``stop`` is set; ``run`` returns the process exit code."""

    def __init__(self, config: StationConfig, stop: threading.Event | None = None) -> None:
        if config.opcua is None:
            raise ValueError("the station file has no opcua: section (endpoint, security, ...)")
        self.config = config
        self.opcua = config.opcua
        self.stop = stop or threading.Event()
        self.cursor: Cursor = default_cursor(config, "opcua", self.opcua.cursor)
        self.address = ServiceAddress.from_config(config, self.opcua)

    def run(self) -> int:
        return asyncio.run(self._serve())

    async def _serve(self) -> int:
        server, space = await build_server(self.config, self.opcua)
        since = self.cursor.load()
        # The ZeroMQ sockets live in one worker thread; the event loop keeps serving OPC UA clients meanwhile.
        reader = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="verdicts")
        loop = asyncio.get_running_loop()
        stream = await loop.run_in_executor(reader, VerdictStream, self.address, since)
        delivered = since
        async with server:
            log.info("serving", extra=fields(station=self.config.station, endpoint=self.opcua.endpoint,
                                              security="Basic256Sha256" if self.opcua.secure() else "none",
                                              login=self.opcua.username or "anonymous", since=since))
            next_health = 0.0
            while not self.stop.is_set():
                verdict = await loop.run_in_executor(reader, stream.next, POLL_S)
                if verdict is not None:
                    await space.write_verdict(verdict)
                    self.cursor.save(verdict["seq"])
                    delivered = verdict["seq"]
                if loop.time() >= next_health:
                    await space.write_health(health_values(stream.health, delivered))
                    next_health = loop.time() + self.address.heartbeat_s
        await loop.run_in_executor(reader, stream.close)
        reader.shutdown()
        log.info("stopped", extra=fields(last_seq=delivered))
        return 0
