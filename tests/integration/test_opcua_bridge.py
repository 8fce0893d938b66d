"""`pcinspect bridge opcua` read by a real asyncua client, as a PLC would, against a live `pcinspect serve`."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from asyncua import Client, Node
from stationkit import Scanner, Station, free_port, port_open, start_command, stop_process, wait_for

from edge.bridges.opcua import OpcuaBridge
from edge.config import load_config

NAMESPACE = "urn:pcinspect"


class Recorder:
    """Subscription handler: every value each node reported, in order."""

    def __init__(self) -> None:
        self.values: dict[str, list[Any]] = {}

    def datachange_notification(self, node: Node, value: Any, data: Any) -> None:
        self.values.setdefault(node.nodeid.to_string(), []).append(value)


async def connect(url: str, timeout_s: float = 120.0) -> Client:
    """A connected client, retrying while the bridge starts."""
    end = time.monotonic() + timeout_s
    while True:
        client = Client(url)
        try:
            await client.connect()
            return client
        except (OSError, asyncio.TimeoutError):
            if time.monotonic() > end:
                raise
            await asyncio.sleep(0.5)


async def nodes(client: Client, station: str) -> dict[str, Node]:
    idx = await client.get_namespace_index(NAMESPACE)
    root = await client.nodes.objects.get_child(f"{idx}:{station}")
    found = {"VerdictCounter": await root.get_child(f"{idx}:VerdictCounter")}
    for folder in ("LastVerdict", "Health"):
        for node in await (await root.get_child(f"{idx}:{folder}")).get_children():
            found[f"{folder}/{(await node.read_browse_name()).Name}"] = node
    return found


async def until(condition: Any, timeout_s: float = 60.0) -> None:
    end = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.1)


async def plc_session(url: str, station: Station, scanner: Scanner, kinds: list[str]) -> tuple[list[int], dict, dict]:
    """Subscribe like a PLC, stream ``kinds``; (expected seqs, recorded notifications, final node values)."""
    client = await connect(url)
    try:
        found = await nodes(client, station.raw["station"])
        recorder = Recorder()
        subscription = await client.create_subscription(20, recorder)
        await subscription.subscribe_data_change([found["VerdictCounter"], found["LastVerdict/Json"]], queuesize=100)
        expected = await asyncio.to_thread(scanner.stream, kinds)
        json_id = found["LastVerdict/Json"].nodeid.to_string()

        async def all_seen() -> bool:
            seen = [json.loads(v)["seq"] for v in recorder.values.get(json_id, []) if v]
            return seen[-len(expected):] == expected

        await until(all_seen)
        values = {name: (await node.read_data_value(raise_on_bad_status=False)).Value.Value
                  for name, node in found.items()}
        score = await found["LastVerdict/Score"].read_data_value(raise_on_bad_status=False)
        values["_score_good"] = score.StatusCode.is_good()
        return expected, recorder.values, values | {"_json_id": json_id}
    finally:
        await client.disconnect()


def test_a_plc_reads_every_verdict_and_the_counter_resumes_after_a_bridge_restart(
        station: Station, scanner: Scanner, tmp_path: Path) -> None:
    url = station.raw["opcua"]["endpoint"]
    bridge = start_command(tmp_path, "opcua", "bridge", "opcua", "--config", str(station.config))
    try:
        expected, notes, values = asyncio.run(plc_session(url, station, scanner, ["tiny", "bulge", "tiny"]))
        delivered = [json.loads(v)["seq"] for v in notes[values["_json_id"]] if v]
        assert delivered == sorted(set(delivered)) and delivered[-3:] == expected
        assert values["VerdictCounter"] == expected[-1]
        assert (values["LastVerdict/Seq"], values["LastVerdict/Error"], values["LastVerdict/Decision"]) == \
            (expected[-1], True, 2)
        assert values["_score_good"] is False  # an ERROR has no score: Uncertain, not a number a PLC could trust
        assert values["Health/State"] == "running" and values["Health/ServiceReachable"] is True
        assert values["Health/BundleId"].startswith("bracket=")
        bulge = next(json.loads(v) for v in notes[values["_json_id"]] if v and json.loads(v)["seq"] == expected[1])
        assert bulge["verdict"] == "FAIL" and bulge["regions"]

        assert stop_process(bridge) == 0
        missed = scanner.stream(["tiny", "tiny"])
        bridge = start_command(tmp_path, "opcua", "bridge", "opcua", "--config", str(station.config))
        expected, notes, values = asyncio.run(plc_session(url, station, scanner, ["good", "tiny"]))
        assert values["Health/DeliveredSeq"] == values["VerdictCounter"] == expected[-1] == missed[-1] + 2
        assert (values["LastVerdict/Pass"], values["LastVerdict/Fail"], values["LastVerdict/Error"]) == \
            (False, False, True)
    finally:
        stop_process(bridge)
    assert (station.folder / "cell-it.opcua.cursor").read_text().strip() == str(expected[-1])


def test_largest_defect_of_a_failed_part_is_its_longest_region_extent() -> None:
    from edge.bridges.opcua import verdict_values

    regions = [{"kind": "surface", "centroid": [0, 0, 0], "extent": [1.5, 4.0, 0.5], "points": 9, "peak": 2.0},
               {"kind": "missing", "centroid": [9, 0, 0], "extent": [2.0, 1.0, 3.0], "points": 5, "peak": 1.2}]
    values = verdict_values({"verdict": "FAIL", "seq": 3, "score": 0.9, "regions": regions})
    assert (values["Fail"], values["Decision"], values["RegionCount"], values["LargestDefectMm"]) == (True, 1, 2, 4.0)


def certificate(folder: Path, name: str, uri: str) -> tuple[Path, Path]:
    """A self-signed OPC UA application certificate (DER) and key (PEM) made with openssl."""
    cert, key = folder / f"{name}.der", folder / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", str(key),
                    "-outform", "der", "-out", str(cert), "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=URI:{uri},DNS:localhost",
                    "-addext", "keyUsage=digitalSignature,keyEncipherment,dataEncipherment,nonRepudiation",
                    "-addext", "extendedKeyUsage=serverAuth,clientAuth"], check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_a_secured_endpoint_admits_only_basic256sha256_with_the_configured_user(station: Station,
                                                                               tmp_path: Path) -> None:
    server_cert, server_key = certificate(tmp_path, "server", "urn:pcinspect:cell-it")
    client_cert, client_key = certificate(tmp_path, "client", "urn:example.org:FreeOpcUa:opcua-asyncio")
    (tmp_path / "plc.password").write_text("s3cret\n")
    port = free_port()
    raw = yaml.safe_load(station.config.read_text())
    raw["opcua"] = {"endpoint": f"opc.tcp://127.0.0.1:{port}", "security": "Basic256Sha256",
                    "certificate": str(server_cert), "private_key": str(server_key), "username": "plc",
                    "password_file": str(tmp_path / "plc.password"), "cursor": str(tmp_path / "opcua.cursor")}
    config = tmp_path / "station.yaml"
    config.write_text(yaml.safe_dump(raw))
    stop = threading.Event()
    bridge = threading.Thread(target=OpcuaBridge(load_config(config), stop).run, daemon=True)
    bridge.start()
    url = f"opc.tcp://127.0.0.1:{port}"

    async def attempt(security: str | None, password: str | None) -> str:
        """Health/State as read with this security and login, or the name of the refusal."""
        client = Client(url)
        try:
            if security:
                await client.set_security_string(f"Basic256Sha256,{security},{client_cert},{client_key}")
            if password:
                client.set_user("plc")
                client.set_password(password)
            await client.connect()
        except Exception as exc:  # the server's refusal, as the client library reports it
            return type(exc).__name__
        try:
            return await (await nodes(client, "cell-it"))["Health/State"].read_value()
        finally:
            await client.disconnect()

    try:
        wait_for(lambda: port_open(port), what="the secured bridge to listen")
        # the bridge listens before its first health write: the right login reads "running" once it is there
        wait_for(lambda: asyncio.run(attempt("SignAndEncrypt", "s3cret")) == "running",
                 what="Health/State over Basic256Sha256 with the configured user")
        assert asyncio.run(attempt(None, None)) != "running"
        assert asyncio.run(attempt("SignAndEncrypt", "wrong")) != "running"
    finally:
        stop.set()
        bridge.join(30)
