"""Station YAML: the schema of one edge service's configuration (DESIGN.md sections 4-5).

``load_config`` reads the file, applies ``PCINSPECT_ENDPOINT_<NAME>`` environment overrides, validates it and
resolves relative paths against the file's folder. Every problem is reported as ``FILE: key.path: message``
so an operator can fix the YAML without reading code. ``json_schema()`` is what ``pcinspect config schema``
prints for editors (YAML language servers accept JSON Schema).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from edge.errors import PcinspectError
from edge.pipeline.endpoint import Endpoint

from edge.config_errors import describe, node_marks

ENV_PREFIX = "PCINSPECT_ENDPOINT_"


class ConfigError(PcinspectError, ValueError):
    """The station file cannot be used; the message names the file, the key path and what was expected."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def endpoint_is_loopback(endpoint: str) -> bool:
    """True for ipc/inproc endpoints and tcp endpoints whose host is (or resolves only to) loopback."""
    return Endpoint.parse(endpoint).is_loopback()


class Endpoints(_Strict):
    """ZeroMQ addresses. ``@addr`` binds, ``>addr`` connects; a bare address binds (the service is the server)."""

    ingest: str = Field(description="frames in (ROUTER, PULL or SUB), e.g. tcp://*:5555")
    verdicts: str = Field(description="verdicts and heartbeats out (PUB), e.g. tcp://*:5556")
    query: str = Field(description="journal queries (REP), e.g. tcp://*:5557")
    control: str = Field("tcp://127.0.0.1:5558", description="operator control (REP); must be loopback or ipc")

    @field_validator("ingest", "verdicts", "query", "control")
    @classmethod
    def _zmq_endpoint(cls, value: str) -> str:
        Endpoint.parse(value)
        return value

    @field_validator("control")
    @classmethod
    def _loopback(cls, value: str) -> str:
        if not endpoint_is_loopback(value):
            raise ValueError("must be loopback (tcp://127.0.0.1:PORT) or ipc://PATH")
        return value


class Limits(_Strict):
    """Point-count limits of a frame; a frame outside them is an ERROR without being inspected."""

    min_points: PositiveInt = Field(1000, description="fewer points than this is an ERROR")
    max_points: PositiveInt = Field(2_000_000, description="more points than this is an ERROR")

    @model_validator(mode="after")
    def _ordered(self) -> "Limits":
        if self.min_points > self.max_points:
            raise ValueError(f"min_points ({self.min_points}) must not exceed max_points ({self.max_points})")
        return self


class RecipeConfig(_Strict):
    """One recipe the station serves: the bundle to load at start (and on SIGHUP) and optional own limits."""

    bundle: Path = Field(description="bundle directory; relative paths are relative to this file")
    limits: Limits | None = Field(None, description="overrides the station's limits for this recipe")
    sensitivity: float | None = Field(
        None, gt=0.0, lt=1.0, description="run-time sensitivity in (0, 1): FAIL when the calibrated score reaches "
        "1 - sensitivity; higher fails more parts (default: the bundle's, 0.5 = the trained threshold); change it "
        "while running with `pcinspect control sensitivity`")


class IngestConfig(_Strict):
    """How frames are received."""

    mode: Literal["router", "pull", "sub"] = Field(
        "pull", description="router: acknowledged and idempotent by frame_id, lossless across edge restarts (use it "
                            "for new stations); pull: backpressure, at-most-once across a crash; sub: lossy fan-out")
    subscribe: str = Field("", description="SUB mode only: prefix the header frame must start with")
    hwm: PositiveInt = Field(4, description="ZeroMQ receive high-water mark (messages buffered in the socket)")
    queue: PositiveInt = Field(4, description="frames decoded and waiting for a worker (bounded queue)")
    convert_units: bool = Field(True, description="frames whose header declares units other than mm (m, cm, um, in) "
                                "are converted to mm; false: they get an ERROR verdict instead")


class InspectConfig(_Strict):
    """Where and how frames are inspected."""

    backends: list[Literal["tensorrt", "onnxruntime", "torch"]] = Field(
        default_factory=lambda: ["tensorrt", "onnxruntime", "torch"],
        min_length=1,
        description="inference backends in order of preference; each network goes to the first that can serve it "
        "(the log says which and why the others were skipped)",
    )
    precision: Literal["fp32", "fp16"] = Field("fp32", description="network precision for ONNX Runtime / TensorRT")
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:1, ...")
    workers: PositiveInt = Field(1, description="inspection threads sharing the loaded recipes")
    torch_threads: PositiveInt | None = Field(None, description="torch CPU threads (default: torch's choice)")
    deadline_ms: PositiveFloat = Field(5000.0, description="a frame waiting longer than this before inspection is an ERROR")
    cuda_graphs: bool = Field(True, description="on CUDA, replay the fixed-shape ops (FPS, normal orientation, ICP, "
                              "networks) from CUDA graphs captured per worker; false runs them eagerly")


class PublishConfig(_Strict):
    """The verdict publisher."""

    hwm: PositiveInt = Field(10_000, description="PUB send high-water mark per subscriber (slow ones drop beyond it)")
    heartbeat_s: PositiveFloat = Field(1.0, description="seconds between heartbeats")
    queue: PositiveInt = Field(64, description="verdicts waiting to be journaled and published")


class JournalConfig(_Strict):
    """The durable verdict journal (SQLite, WAL)."""

    path: Path = Field(Path("journal.sqlite3"), description="database file; relative paths are relative to this file")
    max_rows: PositiveInt = Field(1_000_000, description="keep at most this many verdicts")
    max_age_days: PositiveFloat = Field(30.0, description="delete verdicts older than this")
    synchronous: Literal["full", "normal"] = Field("full", description="full: fsync every verdict before publishing")
    query_limit: PositiveInt = Field(1000, description="most verdicts one query reply carries")


class ServiceConfig(_Strict):
    """Process behaviour: shutdown and liveness."""

    linger_ms: int = Field(2000, ge=0, description="how long sockets may flush on exit")
    drain_s: PositiveFloat = Field(30.0, description="SIGTERM: most seconds spent finishing in-flight frames")
    stall_s: PositiveFloat = Field(20.0, description="a thread silent this long is a fault: the heartbeat says so and "
                                                     "the systemd watchdog pings stop (keep it below WatchdogSec)")
    drain_quiet_ms: PositiveInt = Field(300, description="SIGTERM: the ingest socket is read until it has been "
                                                         "quiet this long (or drain_s runs out)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics: str | None = Field(None, description="HOST:PORT of the Prometheus /metrics endpoint (default: off)")

    @field_validator("metrics")
    @classmethod
    def _metrics_address(cls, value: str | None) -> str | None:
        return None if value is None else _host_port(value)


_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def _host_port(value: str) -> str:
    match = _HOST_PORT.match(value)
    if not match or not 0 < int(match[2]) < 65536:
        raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9108")
    return value


def host_is_loopback(host: str) -> bool:
    """True for 127.x, localhost and ::1 (what only processes on this box reach)."""
    host = host.strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


class BridgeClient(_Strict):
    """What every client of the service (bridges, dashboard) shares: where it keeps its place, its CURVE keys."""

    curve_client_cert: Path | None = Field(
        None, description="this client's secret CURVE certificate (NAME.key_secret), needed when the verdicts and "
                          "query endpoints are not loopback; its public half must be in security.client_keys_dir")


class MqttConfig(BridgeClient):
    """`pcinspect bridge mqtt`: verdicts and health to an MQTT broker (docs/integration.md)."""

    broker: str = Field(description="HOST:PORT of the broker, e.g. 127.0.0.1:1883 (8883 with TLS)")
    prefix: str = Field("pcinspect", pattern=r"^[^#+\s]+$",
                        description="topics are <prefix>/<station>/verdict and <prefix>/<station>/status")
    client_id: str | None = Field(None, description="MQTT client id (default pcinspect-<station>)")
    tls: bool = Field(False, description="connect with TLS (server certificate verified)")
    ca_file: Path | None = Field(None, description="CA bundle for TLS (default: the system's)")
    username: str | None = Field(None, description="broker user (default: anonymous)")
    password_file: Path | None = Field(None, description="file holding the broker password (first line)")
    keepalive_s: PositiveInt = Field(10, description="MQTT keep-alive; the broker publishes the last will after 1.5x")
    cursor: Path | None = Field(None, description="file keeping the last delivered seq "
                                                  "(default <journal dir>/<station>.mqtt.cursor)")

    _broker = field_validator("broker")(classmethod(lambda cls, v: _host_port(v)))

    @model_validator(mode="after")
    def _password_with_user(self) -> "MqttConfig":
        if (self.username is None) != (self.password_file is None):
            raise ValueError("username and password_file go together (both or neither)")
        return self


class OpcuaConfig(BridgeClient):
    """`pcinspect bridge opcua`: an OPC UA server with the last verdict and the station's health."""

    endpoint: str = Field("opc.tcp://127.0.0.1:4840", pattern=r"^opc\.tcp://[^\s/]+:\d{1,5}(/\S*)?$",
                          description="opc.tcp://HOST:PORT the server listens on")
    security: Literal["auto", "none", "Basic256Sha256"] = Field(
        "auto", description="auto: Basic256Sha256 (Sign and SignAndEncrypt) unless the endpoint is loopback; "
                            "none is refused on an endpoint that is not loopback")
    certificate: Path | None = Field(None, description="server certificate (DER or PEM); required with Basic256Sha256")
    private_key: Path | None = Field(None, description="server private key (PEM); required with Basic256Sha256")
    username: str | None = Field(None, description="the one user clients must log in as (default: anonymous)")
    password_file: Path | None = Field(None, description="file holding that user's password (first line)")
    namespace: str = Field("urn:pcinspect", description="namespace URI of the pcinspect nodes")
    cursor: Path | None = Field(None, description="file keeping the last delivered seq "
                                                  "(default <journal dir>/<station>.opcua.cursor)")

    def host(self) -> str:
        return self.endpoint[len("opc.tcp://"):].split("/", 1)[0].rsplit(":", 1)[0]

    def secure(self) -> bool:
        """Whether the server offers only Basic256Sha256 (as resolved from ``security`` and the endpoint)."""
        return self.security == "Basic256Sha256" or (self.security == "auto" and not host_is_loopback(self.host()))

    @model_validator(mode="after")
    def _security_needs_certificates(self) -> "OpcuaConfig":
        if (self.username is None) != (self.password_file is None):
            raise ValueError("username and password_file go together (both or neither)")
        if self.security == "none" and not host_is_loopback(self.host()):
            raise ValueError(f"security none is refused on {self.endpoint}, which is not loopback; use Basic256Sha256")
        if self.secure() and (self.certificate is None or self.private_key is None):
            raise ValueError(f"certificate and private_key are required: {self.endpoint} is served with "
                             "Basic256Sha256 (make them with openssl, see docs/integration.md)")
        return self


class DashboardConfig(BridgeClient):
    """`pcinspect dashboard`: the operator page (read-only)."""

    listen: str = Field("127.0.0.1:8080", description="HOST:PORT of the page; loopback keeps it on this box")
    recent: PositiveInt = Field(50, description="verdicts shown in the stream (and used for latency p50/p99)")
    failed: PositiveInt = Field(12, description="last failed parts kept with their regions")
    shifts: list[str] = Field(default_factory=lambda: ["06:00", "14:00", "22:00"], min_length=1,
                              description="local start times of the shifts; counts and yield reset at each")

    _listen = field_validator("listen")(classmethod(lambda cls, v: _host_port(v)))

    @field_validator("shifts")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", item):
                raise ValueError(f"shift start {item!r} is not HH:MM")
        return sorted(value)


_CURVE_KEYS = {
    "server_secret_key": "the path of the station's secret certificate NAME.key_secret "
                         "(make it with `pcinspect keys generate NAME --out DIR`)",
    "client_keys_dir": "a folder of the allowed clients' public certificates (*.key)",
}


class SecurityConfig(_Strict):
    """Keys: CURVE for endpoints that are not loopback (required there), and the bundle signing key."""

    server_secret_key: Path | None = Field(
        None, description="the station's secret CURVE certificate (NAME.key_secret from `pcinspect keys generate`); "
                          "required when an endpoint is not loopback")
    client_keys_dir: Path | None = Field(
        None, description="allow-list: folder of client public certificates (*.key); only these clients may "
                          "connect to endpoints that are not loopback; required when an endpoint is not loopback")
    bundle_public_key: Path | None = Field(
        None, description="ed25519 public key file: the edge refuses unsigned or wrongly signed bundles; required "
                          "unless allow_unsigned_bundles is true")
    allow_unsigned_bundles: bool = Field(
        False, description="serve bundles without checking a signature (development only): every load logs a "
                           "warning and the heartbeat says so")


class StationConfig(_Strict):
    """One edge service: the station it serves, its sockets, recipes and behaviour."""

    station: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="station name, used in topics verdict.<station>")
    endpoints: Endpoints
    recipes: dict[str, RecipeConfig] = Field(min_length=1, description="recipe name (the frame header's recipe) -> bundle")
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    inspect: InspectConfig = Field(default_factory=InspectConfig)
    limits: Limits = Field(default_factory=Limits)
    publish: PublishConfig = Field(default_factory=PublishConfig)
    journal: JournalConfig = Field(default_factory=JournalConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    mqtt: MqttConfig | None = Field(None, description="MQTT bridge (`pcinspect bridge mqtt`)")
    opcua: OpcuaConfig | None = Field(None, description="OPC UA bridge (`pcinspect bridge opcua`)")
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig, description="operator page")

    @model_validator(mode="after")
    def _curve_keys_for_open_endpoints(self) -> "StationConfig":
        """Fail closed: an endpoint that is not loopback is served only with CURVE keys and an allow-list."""
        exposed = self.exposed_endpoints()
        missing = [key for key in _CURVE_KEYS if getattr(self.security, key) is None]
        if not exposed or not missing:
            return self
        because = ", ".join(f"endpoints.{name} ({endpoint})" for name, endpoint in exposed.items())
        verb = "is" if len(exposed) == 1 else "are"
        errors = [
            InitErrorDetails(type=PydanticCustomError("curve_key_required", "required because {because} {verb} not "
                                                      "loopback and served with CURVE; expected {expected}",
                                                      {"because": because, "verb": verb, "expected": _CURVE_KEYS[key]}),
                             loc=("security", key), input=None)
            for key in missing
        ]
        raise ValidationError.from_exception_data(type(self).__name__, errors)

    @model_validator(mode="after")
    def _signed_bundles(self) -> "StationConfig":
        """Secure by default: bundles must be signed unless the station says otherwise explicitly."""
        if self.security.bundle_public_key is None and not self.security.allow_unsigned_bundles:
            error = InitErrorDetails(type=PydanticCustomError(
                "bundle_key_required", "required: bundles must be signed (the ed25519 public key file of "
                "`pcinspect signing-key`); set security.allow_unsigned_bundles: true to serve unsigned bundles "
                "(development only)"), loc=("security", "bundle_public_key"), input=None)
            raise ValidationError.from_exception_data(type(self).__name__, [error])
        return self

    def exposed_endpoints(self) -> dict[str, str]:
        """Endpoints that are not loopback, by name: they are served with CURVE encryption."""
        return {name: endpoint for name, endpoint in self.endpoints.model_dump().items()
                if not endpoint_is_loopback(endpoint)}

    def limits_for(self, recipe: str) -> Limits:
        """The point limits that apply to ``recipe``."""
        own = self.recipes[recipe].limits
        return own if own is not None else self.limits


def json_schema() -> dict[str, Any]:
    """JSON Schema of the station file, for editors and CI linters."""
    schema = StationConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pcinspect station"
    return schema


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> StationConfig:
    """Read, override from the environment, validate and resolve a station file; raise ConfigError."""
    path = Path(path)
    try:
        text = path.read_text()
        raw = yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    _apply_environment(raw, os.environ if environ is None else environ)
    try:
        config = StationConfig.model_validate(raw)
    except ValidationError as exc:
        marks = node_marks(text)
        raise ConfigError(f"{path}: " + "; ".join(describe(e, StationConfig, marks) for e in exc.errors())) from None
    return _resolved(config, path.resolve().parent)


def _apply_environment(raw: dict[str, Any], environ: Any) -> None:
    endpoints = raw.get("endpoints")
    for name in Endpoints.model_fields:
        value = environ.get(ENV_PREFIX + name.upper())
        if value:
            if not isinstance(endpoints, dict):
                endpoints = raw["endpoints"] = {}
            endpoints[name] = value


def _resolved(config: StationConfig, base: Path) -> StationConfig:
    recipes = {
        name: recipe.model_copy(update={"bundle": base / recipe.bundle}) for name, recipe in config.recipes.items()
    }
    journal = config.journal.model_copy(update={"path": base / config.journal.path})
    keys = {name: base / path for name, path in config.security.model_dump().items() if isinstance(path, Path)}
    security = config.security.model_copy(update=keys)
    clients = {name: _resolved_paths(getattr(config, name), base) for name in ("mqtt", "opcua", "dashboard")}
    return config.model_copy(update={"recipes": recipes, "journal": journal, "security": security, **clients})


def _resolved_paths(section: BaseModel | None, base: Path) -> BaseModel | None:
    """``section`` with its relative paths made relative to the station file's folder."""
    if section is None:
        return None
    paths = {name: base / value for name, value in section if isinstance(value, Path)}
    return section.model_copy(update=paths)
