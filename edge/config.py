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

from edge.config_errors import describe, node_marks

ENV_PREFIX = "PCINSPECT_ENDPOINT_"
_ENDPOINT = re.compile(r"^[@>]?(tcp://[^\s]+:(\d+|\*)|ipc://[^\s]+|inproc://[^\s]+)$")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


class ConfigError(ValueError):
    """The station file cannot be used; the message names the file, the key path and what was expected."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def endpoint_is_loopback(endpoint: str) -> bool:
    """True for ipc/inproc endpoints and tcp endpoints on the loopback interface."""
    address = endpoint.lstrip("@>")
    if not address.startswith("tcp://"):
        return True
    host = address[len("tcp://"):].rsplit(":", 1)[0]
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


class Endpoints(_Strict):
    """ZeroMQ addresses. ``@addr`` binds, ``>addr`` connects; a bare address binds (the service is the server)."""

    ingest: str = Field(description="frames in (PULL or SUB), e.g. tcp://*:5555")
    verdicts: str = Field(description="verdicts and heartbeats out (PUB), e.g. tcp://*:5556")
    query: str = Field(description="journal queries (REP), e.g. tcp://*:5557")
    control: str = Field("tcp://127.0.0.1:5558", description="operator control (REP); must be loopback or ipc")

    @field_validator("ingest", "verdicts", "query", "control")
    @classmethod
    def _zmq_endpoint(cls, value: str) -> str:
        if not _ENDPOINT.match(value):
            raise ValueError("expected a ZeroMQ endpoint: tcp://HOST:PORT, tcp://HOST:* (free port) or ipc://PATH")
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

    mode: Literal["pull", "sub"] = Field("pull", description="pull: lossless with backpressure; sub: lossy fan-out")
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
    stall_s: PositiveFloat = Field(60.0, description="a stage silent this long stops the systemd watchdog pings")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


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
        None, description="ed25519 public key file; when set, the edge refuses unsigned or wrongly signed bundles")


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
    keys = {name: base / path for name, path in config.security.model_dump().items() if path is not None}
    security = config.security.model_copy(update=keys)
    return config.model_copy(update={"recipes": recipes, "journal": journal, "security": security})
