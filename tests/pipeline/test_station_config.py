"""Station YAML: the example validates, errors name file/key/expected value, env overrides endpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edge.cli import main
from edge.config import ConfigError, endpoint_is_loopback, load_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "station.example.yaml"


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def minimal() -> dict:
    return {"station": "s1", "recipes": {"bracket": {"bundle": "bundles/bracket"}},
            "endpoints": {"ingest": "tcp://*:5555", "verdicts": "tcp://*:5556", "query": "tcp://*:5557"},
            "security": {"server_secret_key": "keys/s1.key_secret", "client_keys_dir": "clients",
                         "bundle_public_key": "keys/bundles.pub"}}


def test_example_station_file_is_valid_and_sets_every_section() -> None:
    config = load_config(EXAMPLE, environ={})
    raw = yaml.safe_load(EXAMPLE.read_text())
    assert set(raw) == set(type(config).model_fields)
    assert config.limits_for("bracket").min_points == 5000


def test_relative_paths_resolve_against_the_file_and_defaults_apply(tmp_path) -> None:
    config = load_config(write(tmp_path, minimal()), environ={})
    assert config.recipes["bracket"].bundle == tmp_path / "bundles" / "bracket"
    assert config.journal.path == tmp_path / "journal.sqlite3"
    assert config.ingest.mode == "pull" and config.endpoints.control == "tcp://127.0.0.1:5558"


def test_environment_overrides_endpoints(tmp_path) -> None:
    config = load_config(write(tmp_path, minimal()), environ={"PCINSPECT_ENDPOINT_INGEST": "ipc:///run/scan.sock"})
    assert config.endpoints.ingest == "ipc:///run/scan.sock"


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["endpoints"].pop("query"), "endpoints.query: Field required"),
    (lambda r: r.update(ingest={"mode": "push"}), "ingest.mode: Input should be 'router', 'pull' or 'sub' (got 'push')"),
    (lambda r: r["endpoints"].update(control="tcp://10.1.2.3:5558"), "endpoints.control: Value error, must be loopback"),
    (lambda r: r.update(limits={"min_points": 10, "max_points": 5}), "limits: Value error, min_points (10)"),
    (lambda r: r.update(colour="red"), "colour: Extra inputs are not permitted"),
    (lambda r: r["recipes"]["bracket"].pop("bundle"), "recipes.bracket.bundle: Field required"),
])
def test_invalid_station_file_names_file_key_path_and_expectation(tmp_path, change, message) -> None:
    raw = minimal()
    change(raw)
    path = write(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_config_check_and_schema_commands(tmp_path, capsys) -> None:
    assert main(["config", "check", "--skip-bundles", str(write(tmp_path, minimal()))]) == 0
    assert main(["config", "check", str(write(tmp_path, {"station": "s1"}))]) == 2
    assert "endpoints: Field required" in capsys.readouterr().err
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"station", "endpoints", "recipes", "journal"} <= set(schema["properties"])


def test_station_without_a_bundle_key_refuses_unsigned_bundles_unless_it_says_so(tmp_path) -> None:
    raw = minimal()
    raw["security"].pop("bundle_public_key")
    with pytest.raises(ConfigError, match="security.bundle_public_key: required: bundles must be signed"):
        load_config(write(tmp_path, raw), environ={})
    raw["security"]["allow_unsigned_bundles"] = True
    assert load_config(write(tmp_path, raw), environ={}).security.allow_unsigned_bundles


@pytest.mark.parametrize("endpoint", ["tcp://127.evil.example:5555", "tcp://*:5555", "tcp://0.0.0.0:5555", "tcp://10.0.0.7:5555", "tcp://eth0:5555"])
def test_hosts_that_are_not_loopback_addresses_are_served_with_curve(endpoint) -> None:
    assert not endpoint_is_loopback(endpoint)


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:5555", "tcp://127.8.9.10:*", "tcp://[::1]:5555",
                                      "tcp://localhost:5555", "@ipc:///run/pcinspect/ingest.sock", ">inproc://x"])
def test_loopback_is_decided_by_parsing_the_address(endpoint) -> None:
    assert endpoint_is_loopback(endpoint)


def test_control_endpoint_on_a_name_that_merely_starts_with_127_is_refused(tmp_path) -> None:
    raw = minimal()
    raw["endpoints"]["control"] = "tcp://127.evil.example:5558"
    with pytest.raises(ConfigError, match="endpoints.control: Value error, must be loopback"):
        load_config(write(tmp_path, raw), environ={})


def test_config_check_verifies_bundle_paths_by_default(tmp_path, tiny_bundle, capsys) -> None:
    raw = minimal()
    assert main(["config", "check", str(write(tmp_path, raw))]) == 2
    assert "recipes.bracket.bundle: bundle directory" in capsys.readouterr().err
    raw["recipes"]["bracket"]["bundle"] = str(tiny_bundle)
    assert main(["config", "check", str(write(tmp_path, raw))]) == 0


def test_schema_errors_give_line_and_column_and_suggest_the_closest_key(tmp_path) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(minimal(), sort_keys=False) + "inspect:\n  devce: cpu\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    line = path.read_text().splitlines().index("  devce: cpu") + 1
    assert f"line {line} col 3: inspect.devce: Extra inputs are not permitted; did you mean 'device'?" in str(info.value)

