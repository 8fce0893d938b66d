"""`pcinspect bridge mqtt` against a real Mosquitto broker and a live `pcinspect serve`."""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from stationkit import Scanner, Station, free_port, port_open, start_command, stop_process, wait_for

from edge.bridges.cursor import Cursor
from edge.bridges.mqtt import MqttBridge
from edge.config import load_config

MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed (make install adds it as root)")


class Broker:
    """A Mosquitto on one loopback port with persistence in ``folder`` (a restart keeps sessions)."""

    def __init__(self, folder: Path, port: int) -> None:
        self.conf = folder / "mosquitto.conf"
        # `user`: a broker started as root would otherwise drop to "mosquitto" and could not write its database.
        self.conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                             f"persistence_location {folder}/\nautosave_interval 1\nuser {getpass.getuser()}\n")
        self.port = port
        self.log = folder / "mosquitto.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                        stderr=open(self.log, "a"))

    def stop(self) -> None:
        stop_process(self.process)


class Subscriber:
    """A PLC/MES-side client with a persistent session, collecting verdicts and status messages."""

    def __init__(self, port: int, topics: tuple[str, str]) -> None:
        self.verdicts: list[dict[str, Any]] = []
        self.status: list[str] = []
        self.lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="mes-test", clean_session=False)
        self.client.reconnect_delay_set(0.2, 0.5)
        self.topics = topics
        self.client.on_connect = lambda c, *_: c.subscribe([(topic, 1) for topic in topics])
        self.client.on_message = self._on_message
        self.client.connect_async("127.0.0.1", port, keepalive=5)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        with self.lock:
            if message.topic == self.topics[0]:
                self.verdicts.append({"retain": message.retain, **json.loads(message.payload)})
            else:
                self.status.append(message.payload.decode())

    def seqs(self) -> list[int]:
        with self.lock:
            return [v["seq"] for v in self.verdicts if not v["retain"]]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(station: Station, tmp_path: Path) -> Broker:
    running = Broker(tmp_path, station.ports["mqtt"])
    running.start()
    yield running
    running.stop()


def test_every_verdict_arrives_once_in_order_across_broker_and_bridge_restarts(
        station: Station, scanner: Scanner, broker: Broker, tmp_path: Path) -> None:
    topics = ("plant/line1/cell-it/verdict", "plant/line1/cell-it/status")
    mes = Subscriber(broker.port, topics)
    wait_for(lambda: mes.client.is_connected(), what="the test subscriber to connect")
    bridge = start_command(tmp_path, "bridge", "bridge", "mqtt", "--config", str(station.config))
    try:
        wait_for(lambda: any(s.startswith("{") for s in mes.status), 120, "the bridge's first status")
        expected = scanner.stream(["tiny", "good", "tiny"])
        wait_for(lambda: mes.seqs() == expected, what=f"seqs {expected} (got {mes.seqs()})")

        broker.stop()  # inspection goes on without a broker: stream() returns once these are journaled
        expected += scanner.stream(["tiny", "bulge", "tiny"])
        broker.start()
        wait_for(lambda: mes.seqs() == expected, what=f"seqs {expected} after the broker restart (got {mes.seqs()})")

        assert stop_process(bridge) == 0
        wait_for(lambda: mes.status[-1] == "offline", what="the stopped bridge's status to say offline")
        expected += scanner.stream(["tiny", "tiny"])
        bridge = start_command(tmp_path, "bridge", "bridge", "mqtt", "--config", str(station.config))
        wait_for(lambda: mes.seqs() == expected, what=f"seqs {expected} after the bridge restart (got {mes.seqs()})")
        wait_for(lambda: mes.status[-1].startswith("{"), what="the restarted bridge's status")
        bridge.kill()
        wait_for(lambda: mes.status[-1] == "offline", what="the broker to publish the killed bridge's last will")
    finally:
        stop_process(bridge)
        mes.close()
    by_seq = {v["seq"]: v for v in mes.verdicts}
    assert [by_seq[s]["verdict"] for s in expected[:3]] == ["ERROR", "PASS", "ERROR"]
    assert by_seq[expected[4]]["verdict"] == "FAIL" and by_seq[expected[4]]["regions"]
    assert "outside recipe 'bracket' limits" in by_seq[expected[0]]["reason"]


def tls_files(folder: Path) -> dict[str, Path]:
    """A CA and a broker certificate for 127.0.0.1 signed by it (openssl)."""
    files = {name: folder / name for name in ("ca.crt", "ca.key", "server.crt", "server.key", "server.csr", "san")}
    files["san"].write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for command in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
         "-keyout", files["ca.key"], "-out", files["ca.crt"]],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", files["server.key"],
         "-out", files["server.csr"]],
        ["x509", "-req", "-in", files["server.csr"], "-CA", files["ca.crt"], "-CAkey", files["ca.key"],
         "-CAcreateserial", "-days", "2", "-extfile", files["san"], "-out", files["server.crt"]],
    ):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return files


@pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None,
                    reason="openssl and mosquitto_passwd are needed to set up a TLS broker with a login")
def test_the_bridge_publishes_over_tls_with_the_configured_login(station: Station, scanner: Scanner,
                                                                 tmp_path: Path) -> None:
    tls = tls_files(tmp_path)
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(tmp_path / "users"), "edge", "pa55"], check=True)
    (tmp_path / "edge.password").write_text("pa55\n")
    port = free_port()
    broker = Broker(tmp_path, port)
    broker.conf.write_text(f"listener {port} 127.0.0.1\ncafile {tls['ca.crt']}\ncertfile {tls['server.crt']}\n"
                           f"keyfile {tls['server.key']}\nallow_anonymous false\npassword_file {tmp_path / 'users'}\n"
                           f"user {getpass.getuser()}\n")
    broker.start()
    raw = yaml.safe_load(station.config.read_text())
    raw["mqtt"] = {"broker": f"127.0.0.1:{port}", "prefix": "secure", "tls": True, "ca_file": str(tls["ca.crt"]),
                   "username": "edge", "password_file": str(tmp_path / "edge.password"), "client_id": "edge-tls",
                   "cursor": str(tmp_path / "mqtt.cursor")}
    (tmp_path / "station.yaml").write_text(yaml.safe_dump(raw))
    stop = threading.Event()
    bridge = threading.Thread(target=MqttBridge(load_config(tmp_path / "station.yaml"), stop).run, daemon=True)
    got: list[dict[str, Any]] = []
    reader = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="mes-tls")
    reader.tls_set(ca_certs=str(tls["ca.crt"]))
    reader.username_pw_set("edge", "pa55")
    reader.on_connect = lambda c, *_: c.subscribe("secure/cell-it/verdict", 1)
    reader.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    try:
        wait_for(lambda: port_open(port), what="the TLS broker to listen")
        reader.connect("127.0.0.1", port)
        reader.loop_start()
        Cursor(tmp_path / "mqtt.cursor").save(station.last_seq())  # deliver everything from here on
        bridge.start()
        seqs = scanner.stream(["tiny", "tiny"])
        wait_for(lambda: [v["seq"] for v in got if v["seq"] in seqs] == seqs, what=f"seqs {seqs} over TLS")
    finally:
        stop.set()
        bridge.join(20)
        reader.loop_stop()
        broker.stop()
    assert (tmp_path / "mqtt.cursor").read_text().strip() == str(seqs[-1])
