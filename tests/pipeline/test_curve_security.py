"""CURVE on endpoints that are not loopback: only allow-listed clients reach the service (DESIGN.md section 4).

The service binds ingest, verdicts and query to tcp://0.0.0.0 (not loopback, so CURVE applies) and the clients
connect through 127.0.0.1. A refused client is observed through its socket monitor, then an allowed client's
frame proves that nothing of the refused one got in.
"""

from __future__ import annotations

import argparse
import json
import stat
import threading
import time
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
import zmq
import zmq.auth
from servicekit import StubInspector, curve_keys, open_station, via_loopback
from zmq.auth.thread import AuthenticationThread
from zmq.utils.monitor import recv_monitor_message

from edge.cli import keys as keys_command
from edge.cli import watch as watch_command
from edge.config import ConfigError, json_schema, load_config
from edge.pipeline.codec import encode, make_header
from edge.pipeline.security import ClientCurve, KeyFileError
from edge.pipeline.sockets import request
from edge.service import Service

TIMEOUT_S = 20.0
REFUSED_QUERY_S = 1.0


class Client:
    """One client process's sockets to a secured service: PUSH frames, SUB verdicts, REQ queries."""

    def __init__(self, service: Service, curve: ClientCurve | None) -> None:
        self.service = service
        self.curve = curve
        self.context = zmq.Context()
        self.sockets: list[zmq.Socket] = []

    def socket(self, kind: int, name: str) -> tuple[zmq.Socket, zmq.Socket]:
        """A connected socket of ``kind`` to the service's ``name`` endpoint, with its monitor."""
        socket = self.context.socket(kind)
        socket.linger = 0
        if self.curve is not None:
            self.curve.apply(socket)
        if kind == zmq.SUB:
            socket.setsockopt(zmq.SUBSCRIBE, b"verdict.")
        monitor = socket.get_monitor_socket()
        socket.connect(via_loopback(self.service.addresses[name]))
        self.sockets.append(socket)
        return socket, monitor

    def push(self, frame_id: str) -> zmq.Socket:
        """Connect a PUSH socket, queue one valid frame on it and return its monitor."""
        socket, monitor = self.socket(zmq.PUSH, "ingest")
        points = np.random.default_rng(0).normal(size=(500, 3)).astype(np.float32)
        header = make_header(frame_id=frame_id, part_id=frame_id, recipe="bracket", seq=1, n=len(points),
                             ts=time.time())
        socket.send_multipart(encode(header, points), flags=zmq.NOBLOCK)
        return monitor

    def query(self, message: dict[str, Any], timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        return request(self.context, via_loopback(self.service.addresses["query"]), message, timeout_s, self.curve)

    def close(self) -> None:
        self.context.destroy(linger=0)


def wait_event(monitor: zmq.Socket, wanted: int, timeout_s: float = TIMEOUT_S) -> None:
    """Block until the monitored socket reports ``wanted`` (e.g. a failed handshake)."""
    end = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < end:
        if monitor.poll(100):
            event = recv_monitor_message(monitor)["event"]
            if event == wanted:
                return
            seen.append(event)
    raise AssertionError(f"no {zmq.Event(wanted).name} within {timeout_s} s (saw {seen})")


def pcinspect(register: Callable[[argparse._SubParsersAction], None], *argv: str) -> int:
    """Run one `pcinspect` sub-command through its own parser (independent of the other installed commands)."""
    parser = argparse.ArgumentParser(prog="pcinspect")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def next_verdict(sub: zmq.Socket, timeout_s: float = TIMEOUT_S) -> dict[str, Any] | None:
    if not sub.poll(int(timeout_s * 1000)):
        return None
    return json.loads(sub.recv_multipart()[1])


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    return curve_keys(tmp_path)


@pytest.fixture
def service(tmp_path: Path, keys: dict[str, Path]) -> Iterator[Service]:
    """A running service (stub Inspector) whose ingest, verdicts and query endpoints are not loopback."""
    running = Service(open_station(tmp_path, {"bracket": tmp_path / "stub-bundle"}, keys),
                      loader=lambda path: StubInspector(path.name))
    running.start()
    yield running
    if running.state != "stopped":
        running.request_stop()
        running.shutdown()


@pytest.fixture
def client(service: Service, keys: dict[str, Path]) -> Iterator[Callable[[str | None], Client]]:
    """``client("plc")`` / ``client("intruder")`` / ``client(None)`` (plain); closed at teardown."""
    made: list[Client] = []

    def make(name: str | None) -> Client:
        curve = None if name is None else ClientCurve.load(keys[name], keys["station"])
        made.append(Client(service, curve))
        return made[-1]

    yield make
    for each in made:
        each.close()


def allowed_frame_is_the_only_one_received(service: Service, plc: Client) -> None:
    """Push a frame as the allowed client; its verdict arriving with ``received == 1`` proves nothing else got in."""
    sub, monitor = plc.socket(zmq.SUB, "verdicts")
    wait_event(monitor, zmq.EVENT_HANDSHAKE_SUCCEEDED)
    plc.push("allowed")
    verdict = next_verdict(sub)
    assert verdict is not None and verdict["frame_id"] == "allowed"
    assert service.ingest.received == 1


# allowed clients -------------------------------------------------------------------------------------------
def test_allowed_client_gets_the_verdict_of_its_frame(service, client) -> None:
    plc = client("plc")
    sub, monitor = plc.socket(zmq.SUB, "verdicts")
    wait_event(monitor, zmq.EVENT_HANDSHAKE_SUCCEEDED)
    plc.push("F1")
    verdict = next_verdict(sub)
    assert verdict is not None and (verdict["frame_id"], verdict["verdict"]) == ("F1", "PASS")


def test_allowed_client_gets_query_answers(service, client) -> None:
    plc = client("plc")
    allowed_frame_is_the_only_one_received(service, plc)
    reply = plc.query({"op": "get", "frame_id": "allowed"})
    assert reply["ok"] and [v["frame_id"] for v in reply["verdicts"]] == ["allowed"]


# clients missing from the allow-list ------------------------------------------------------------------------
def test_frames_from_a_client_missing_from_the_allow_list_are_refused(service, client) -> None:
    wait_event(client("intruder").push("intruder"), zmq.EVENT_HANDSHAKE_FAILED_AUTH)
    allowed_frame_is_the_only_one_received(service, client("plc"))


def test_subscriber_missing_from_the_allow_list_gets_no_verdicts(service, client) -> None:
    sub, monitor = client("intruder").socket(zmq.SUB, "verdicts")
    wait_event(monitor, zmq.EVENT_HANDSHAKE_FAILED_AUTH)
    allowed_frame_is_the_only_one_received(service, client("plc"))
    assert next_verdict(sub, timeout_s=0.5) is None


def test_query_from_a_client_missing_from_the_allow_list_gets_no_answer(service, client) -> None:
    with pytest.raises(TimeoutError):
        client("intruder").query({"op": "get", "since_seq": 0}, timeout_s=REFUSED_QUERY_S)


# plain (non-CURVE) clients ---------------------------------------------------------------------------------
def test_frames_from_a_plain_client_are_refused(service, client) -> None:
    wait_event(client(None).push("plain"), zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
    allowed_frame_is_the_only_one_received(service, client("plc"))


def test_plain_subscriber_gets_no_verdicts(service, client) -> None:
    sub, monitor = client(None).socket(zmq.SUB, "verdicts")
    wait_event(monitor, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
    allowed_frame_is_the_only_one_received(service, client("plc"))
    assert next_verdict(sub, timeout_s=0.5) is None


def test_plain_query_gets_no_answer(service, client) -> None:
    with pytest.raises(TimeoutError):
        client(None).query({"op": "get", "since_seq": 0}, timeout_s=REFUSED_QUERY_S)


def test_loopback_control_endpoint_stays_plain_beside_encrypted_ones(service, client) -> None:
    plain = client(None)
    assert request(plain.context, service.addresses["control"], {"op": "status"}, TIMEOUT_S)["ok"]


# lifecycle -------------------------------------------------------------------------------------------------
def test_stopping_the_service_stops_the_zap_handler_promptly(service) -> None:
    started = time.monotonic()
    service.request_stop()
    assert service.shutdown() == 0
    assert time.monotonic() - started < 5.0
    assert not [t for t in threading.enumerate() if isinstance(t, AuthenticationThread) and t.is_alive()]


def test_service_with_an_unreadable_server_key_refuses_to_start_naming_the_key(tmp_path, keys) -> None:
    keys["station_secret"].unlink()
    config = open_station(tmp_path, {"bracket": tmp_path / "stub-bundle"}, keys)
    with pytest.raises(OSError, match=r"security\.server_secret_key: .*station\.key_secret"):
        Service(config, loader=lambda path: StubInspector(path.name)).start()


def test_service_with_a_public_certificate_as_server_key_refuses_to_start(tmp_path, keys) -> None:
    config = open_station(tmp_path, {"bracket": tmp_path / "stub-bundle"}, keys,
                          security={"server_secret_key": str(keys["station"])})
    with pytest.raises(OSError, match=r"security\.server_secret_key: .*holds no secret key"):
        Service(config, loader=lambda path: StubInspector(path.name)).start()


# station file ----------------------------------------------------------------------------------------------
def station_file(tmp_path: Path, ingest: str, **security: object) -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump({
        "station": "s1", "recipes": {"bracket": {"bundle": "bundles/bracket"}},
        "endpoints": {"ingest": ingest, "verdicts": "tcp://127.0.0.1:5556", "query": "ipc:///run/pcinspect/q.sock"},
        "security": {"bundle_public_key": "keys/bundles.pub", **security},
    }))
    return path


def test_station_with_an_open_endpoint_and_no_keys_fails_validation_naming_file_and_key_paths(tmp_path) -> None:
    path = station_file(tmp_path, "tcp://0.0.0.0:5555")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}: line ")
    assert ("security.server_secret_key: required because endpoints.ingest (tcp://0.0.0.0:5555) is not loopback"
            in message)
    assert "security.client_keys_dir: required" in message and "NAME.key_secret" in message


def test_station_with_an_open_endpoint_and_only_a_server_key_names_the_missing_allow_list(tmp_path) -> None:
    path = station_file(tmp_path, "tcp://*:5555", server_secret_key="keys/cell.key_secret")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert "security.client_keys_dir: required" in str(info.value)
    assert "security.server_secret_key" not in str(info.value)


def test_environment_override_to_an_open_endpoint_also_requires_keys(tmp_path) -> None:
    path = station_file(tmp_path, "tcp://127.0.0.1:5555")
    with pytest.raises(ConfigError, match="security.server_secret_key: required"):
        load_config(path, environ={"PCINSPECT_ENDPOINT_INGEST": "tcp://10.0.0.7:5555"})


def test_station_with_only_loopback_and_ipc_endpoints_needs_no_keys(tmp_path) -> None:
    config = load_config(station_file(tmp_path, "tcp://127.0.0.1:5555"), environ={})
    assert config.security.server_secret_key is None and config.exposed_endpoints() == {}


def test_security_paths_resolve_against_the_station_file(tmp_path) -> None:
    config = load_config(station_file(tmp_path, "tcp://*:5555", server_secret_key="keys/cell.key_secret",
                                      client_keys_dir="clients", bundle_public_key="keys/bundles.pub"), environ={})
    security = config.security
    assert (security.server_secret_key, security.client_keys_dir, security.bundle_public_key) == (
        tmp_path / "keys" / "cell.key_secret", tmp_path / "clients", tmp_path / "keys" / "bundles.pub")


def test_bundle_public_key_is_null_only_with_allow_unsigned_bundles_and_is_in_the_schema(tmp_path) -> None:
    path = station_file(tmp_path, "ipc:///run/in.sock", bundle_public_key=None, allow_unsigned_bundles=True)
    assert load_config(path, environ={}).security.bundle_public_key is None
    security = json_schema()["$defs"]["SecurityConfig"]["properties"]
    assert {"server_secret_key", "client_keys_dir", "bundle_public_key", "allow_unsigned_bundles"} <= set(security)


# pcinspect keys ---------------------------------------------------------------------------------------------
def test_keys_is_an_installed_pcinspect_command() -> None:
    assert entry_points(group="pcinspect.commands")["keys"].value == "edge.cli.keys:register"


def test_keys_generate_writes_a_loadable_certificate_pair_and_prints_the_public_key(tmp_path, capsys) -> None:
    assert pcinspect(keys_command.register, "keys", "generate", "cell-07", "--out", str(tmp_path / "keys")) == 0
    public, secret = tmp_path / "keys" / "cell-07.key", tmp_path / "keys" / "cell-07.key_secret"
    public_key, no_secret_key = zmq.auth.load_certificate(public)
    same_public_key, secret_key = zmq.auth.load_certificate(secret)
    assert no_secret_key is None and same_public_key == public_key and len(secret_key) == 40
    assert capsys.readouterr().out.strip() == public_key.decode()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_keys_generate_never_overwrites_an_existing_key(tmp_path) -> None:
    assert pcinspect(keys_command.register, "keys", "generate", "cell-07", "--out", str(tmp_path)) == 0
    before = (tmp_path / "cell-07.key_secret").read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        pcinspect(keys_command.register, "keys", "generate", "cell-07", "--out", str(tmp_path))
    assert (tmp_path / "cell-07.key_secret").read_bytes() == before


# client command lines ---------------------------------------------------------------------------------------
def test_client_curve_options_must_be_given_together(keys) -> None:
    args = argparse.Namespace(curve_client_cert=keys["plc"], curve_server_key=None)
    with pytest.raises(ValueError, match="go together"):
        keys_command.client_curve(args)


def test_scan_and_watch_reach_a_secured_service_with_their_curve_options(service, keys, capsys) -> None:
    from trainer.cli import scan as scan_command

    curve = ["--curve-client-cert", str(keys["plc"]), "--curve-server-key", str(keys["station"])]
    assert pcinspect(scan_command.register, "scan", "--endpoint", via_loopback(service.addresses["ingest"]),
                     "--source", "synthetic", "--points", "500", "--count", "1", "--rate", "0", "--ingest", "pull",
                     *curve) == 0
    deadline = time.monotonic() + TIMEOUT_S
    while service.publisher.frames < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    capsys.readouterr()
    assert pcinspect(watch_command.register, "watch", "--verdicts", via_loopback(service.addresses["verdicts"]),
                     "--query", via_loopback(service.addresses["query"]), "--since", "0", "--count", "1",
                     "--duration", "20", "--json", *curve) == 0
    assert '"delivery": "recovered"' in capsys.readouterr().out
