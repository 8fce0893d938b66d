"""Station-file sections of the integration processes, the bridges' cursor, and the dashboard's shifts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from edge.bridges.cursor import Cursor, CursorError
from edge.bridges.source import connect_address
from edge.config import ConfigError, load_config
from edge.dashboard.state import shift_start

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "station.example.yaml"


def station_file(tmp_path: Path, **sections: object) -> Path:
    raw = {"station": "s1", "endpoints": {n: f"ipc://{tmp_path}/{n}" for n in ("ingest", "verdicts", "query")},
           "recipes": {"bracket": {"bundle": "b"}}, "security": {"allow_unsigned_bundles": True}, **sections}
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_example_station_file_has_every_integration_section() -> None:
    config = load_config(EXAMPLE)
    assert config.mqtt.broker and config.opcua.endpoint and config.service.metrics and config.dashboard.listen


def test_an_opcua_endpoint_off_loopback_needs_a_certificate(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="opcua: .*certificate and private_key are required"):
        load_config(station_file(tmp_path, opcua={"endpoint": "opc.tcp://0.0.0.0:4840"}))


def test_an_opcua_endpoint_off_loopback_refuses_security_none(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="security none is refused"):
        load_config(station_file(tmp_path, opcua={"endpoint": "opc.tcp://10.0.0.5:4840", "security": "none"}))


def test_a_metrics_address_needs_host_and_port(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="service.metrics: .*HOST:PORT"):
        load_config(station_file(tmp_path, service={"metrics": "9108"}))


def test_an_mqtt_user_needs_a_password_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mqtt: .*username and password_file go together"):
        load_config(station_file(tmp_path, mqtt={"broker": "127.0.0.1:1883", "username": "edge"}))


def test_relative_secret_and_cursor_paths_are_relative_to_the_station_file(tmp_path: Path) -> None:
    config = load_config(station_file(tmp_path, mqtt={"broker": "broker.lan:8883", "tls": True, "username": "edge",
                                                      "password_file": "mqtt.pw", "cursor": "state/mqtt.cursor"}))
    assert (config.mqtt.password_file, config.mqtt.cursor) == (tmp_path / "mqtt.pw", tmp_path / "state/mqtt.cursor")


def test_a_cursor_survives_a_restart_and_starts_empty(tmp_path: Path) -> None:
    assert Cursor(tmp_path / "c").load() is None
    Cursor(tmp_path / "c").save(41)
    Cursor(tmp_path / "c").save(42)
    assert Cursor(tmp_path / "c").load() == 42 and sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_a_damaged_cursor_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "c").write_text("forty")
    with pytest.raises(CursorError, match=f"{tmp_path / 'c'}: expected the last delivered seq"):
        Cursor(tmp_path / "c").load()


def test_bridges_reach_a_wildcard_endpoint_through_loopback() -> None:
    assert connect_address("tcp://*:5556", "verdicts") == "tcp://127.0.0.1:5556"
    assert connect_address("@ipc:///run/pcinspect/v", "verdicts") == "ipc:///run/pcinspect/v"
    with pytest.raises(ValueError, match="endpoints.query .* bridges need it to bind"):
        connect_address(">tcp://10.0.0.2:5557", "query")


def test_the_shift_is_the_latest_start_before_now_even_across_midnight() -> None:
    starts = ["06:00", "14:00", "22:00"]
    assert shift_start(dt.datetime(2026, 1, 2, 15, 30), starts) == dt.datetime(2026, 1, 2, 14, 0)
    assert shift_start(dt.datetime(2026, 1, 2, 3, 0), starts) == dt.datetime(2026, 1, 1, 22, 0)
