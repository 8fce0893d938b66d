"""The frame wire codec, protocol v1 (DESIGN.md section 4).

A frame is two message parts: a JSON header and ``n * len(fields)`` little-endian float32 values, row-major.
The messages the edge sends (verdicts, heartbeats, ingest acks) are typed dataclasses here: a new field is added
in exactly one place and every sender and the journal carry it.
``decode`` validates everything the protocol promises and returns the xyz points as a zero-copy view on the
payload buffer; each violation raises :class:`ProtocolError` whose message names it, carrying whatever header
fields could be read so the ERROR verdict can still identify the frame.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
from edge.errors import PcinspectError

from edge.units import MM_PER_UNIT, to_mm

VERSION = 1
DTYPE = "float32"
XYZ = ("x", "y", "z")
OPTIONAL_FIELDS = ("nx", "ny", "nz", "i")
REQUIRED = {"v": int, "frame_id": str, "part_id": str, "recipe": str, "seq": int, "ts": float, "n": int,
            "fields": list, "dtype": str, "units": str}
_WIRE_DTYPE = np.dtype("<f4")
MAX_TEXT = 256
TEXT_KEYS = ("frame_id", "part_id", "recipe", "units")
MAX_HEADER_BYTES = 65_536
VIEWPOINT = "viewpoint"
"""Optional header key: ``[x, y, z]``, where the scanner stood, in the frame's coordinates and units (a single
view is then judged on what is visible from there; without it the Inspector estimates the direction)."""


def max_message_bytes(max_points: int) -> int:
    """The largest message part a frame of at most ``max_points`` points can need (ZeroMQ's MAXMSGSIZE)."""
    return max(MAX_HEADER_BYTES, max_points * (len(XYZ) + len(OPTIONAL_FIELDS)) * _WIRE_DTYPE.itemsize)


@dataclass(kw_only=True)
class Message:
    """A JSON message the edge sends; ``to_json`` is its wire form."""

    v: int = VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), allow_nan=False).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """The message from its JSON object (keys it does not know are ignored, missing ones take defaults)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(kw_only=True)
class VerdictMessage(Message):
    """One frame's verdict, as journaled and published on ``verdict.<station>`` (DESIGN.md section 4)."""

    station: str
    frame_id: str | None
    part_id: str | None
    recipe: str | None
    seq: int | None = None
    frame_seq: int | None = None
    verdict: str
    reason: str | None = None
    score: float | None = None
    raw_score: float | None = None
    regions: list[dict[str, Any]] = field(default_factory=list)
    sensitivity: float | None = None
    severity: float | None = None
    timing_ms: dict[str, float] = field(default_factory=dict)
    bundle: dict[str, str] | None = None
    ts_in: float
    ts_out: float | None = None


@dataclass(kw_only=True)
class Heartbeat(Message):
    """The service's state on ``heartbeat.<station>``; ``fault`` names what is wrong while state is "fault"."""

    station: str
    ts: float
    state: str
    bundle: dict[str, dict[str, str]]
    frames: int
    errors: int
    queue: int
    seq: int
    fault: list[str] = field(default_factory=list)
    unsigned_bundles: bool = False


@dataclass(kw_only=True)
class Ack(Message):
    """The edge's answer to a scanner on ``router`` ingest, sent once the frame's verdict is journaled."""

    ack: str | None
    seq: int | None
    verdict: str
    duplicate: bool = False


class ProtocolError(PcinspectError, ValueError):
    """A frame that breaks protocol v1; ``header`` holds the identifying fields that could be read."""

    def __init__(self, reason: str, header: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.header = header or {}


@dataclass
class Frame:
    """A decoded frame: its header, its (n, 3) float32 points (a view on the payload), and the payload frame."""

    header: dict[str, Any]
    points: np.ndarray
    payload: Any = field(repr=False, default=None)

    @property
    def viewpoint(self) -> list[float] | None:
        """The scanner's position ``[x, y, z]`` in mm when the header gives it, else None."""
        return self.header.get(VIEWPOINT)


def identity(header: Any) -> dict[str, Any]:
    """The identifying fields of a (possibly invalid) header, None where absent or of the wrong type."""
    if not isinstance(header, dict):
        return {"frame_id": None, "part_id": None, "recipe": None, "seq": None}
    out: dict[str, Any] = {}
    for key in ("frame_id", "part_id", "recipe"):
        value = header.get(key)
        out[key] = value if isinstance(value, str) and len(value) <= MAX_TEXT else None
    seq = header.get("seq")
    out["seq"] = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    return out


def decode(parts: Sequence[Any], limits: Callable[[str], tuple[int, int] | None], *,
           convert_units: bool = True) -> Frame:
    """Validate a received multipart message and view its payload as points.

    ``parts`` are ``zmq.Frame`` objects (received with ``copy=False``) or bytes; ``limits(recipe)`` returns
    ``(min_points, max_points)`` or None for a recipe the station does not serve. Points in other ``units``
    than mm are converted to mm, or refused when ``convert_units`` is False.
    """
    if not parts:
        raise ProtocolError("empty message")
    header = _header(_buffer(parts[0]))
    ident = identity(header)
    try:
        _check_header(header, limits)
        if len(parts) < 2:
            raise ProtocolError("missing payload frame (message has only the header part)")
        if len(parts) > 2:
            raise ProtocolError(f"message has {len(parts)} parts, expected 2 (header, payload)")
        payload = _buffer(parts[1])
        n, width = header["n"], len(header["fields"])
        expected = n * width * _WIRE_DTYPE.itemsize
        if payload.nbytes != expected:
            raise ProtocolError(
                f"payload has {payload.nbytes} bytes, expected {expected} (n={n} x {width} fields x 4 bytes float32)"
            )
        values = np.frombuffer(payload, dtype=_WIRE_DTYPE).reshape(n, width)
        points = values[:, :3]
        finite = np.isfinite(points).all(axis=1)
        if not finite.all():
            bad = int(n - finite.sum())
            raise ProtocolError(f"non-finite coordinates in {bad} of {n} points")
        units = header["units"]
        if units not in MM_PER_UNIT:
            raise ProtocolError(f"unknown units '{units}' (expected one of {', '.join(MM_PER_UNIT)})")
        if units != "mm":
            if not convert_units:
                raise ProtocolError(f"units '{units}' refused: this station takes mm only (ingest.convert_units is "
                                    "false); send millimetres or set ingest.convert_units: true")
            points = to_mm(points, units)
            if header.get(VIEWPOINT) is not None:
                header = {**header, VIEWPOINT: to_mm(np.asarray(header[VIEWPOINT], np.float32).reshape(1, 3), units)[0].tolist()}
    except ProtocolError as exc:
        raise ProtocolError(exc.reason, ident) from None
    return Frame(header=header, points=points, payload=parts[1])


def encode(header: dict[str, Any], values: np.ndarray) -> list[bytes | memoryview]:
    """The two message parts of a frame; ``values`` is (n, len(fields)) and is sent without a copy when possible."""
    data = np.ascontiguousarray(values, dtype=_WIRE_DTYPE)
    return [json.dumps(header, allow_nan=False).encode(), memoryview(data).cast("B")]


def make_header(*, frame_id: str, part_id: str, recipe: str, seq: int, n: int, ts: float,
                fields: Sequence[str] = XYZ, units: str = "mm", viewpoint: Sequence[float] | None = None) -> dict[str, Any]:
    """A v1 header with every required key, and the scanner's ``viewpoint`` when given."""
    header = {"v": VERSION, "frame_id": frame_id, "part_id": part_id, "recipe": recipe, "seq": seq, "ts": ts,
              "n": n, "fields": list(fields), "dtype": DTYPE, "units": units}
    if viewpoint is not None:
        header[VIEWPOINT] = [float(c) for c in viewpoint]
    return header


def _buffer(part: Any) -> memoryview:
    buffer = getattr(part, "buffer", None)
    return buffer if buffer is not None else memoryview(part)


def _header(raw: memoryview) -> dict[str, Any]:
    if raw.nbytes > MAX_HEADER_BYTES:
        raise ProtocolError(f"header part has {raw.nbytes} bytes, at most {MAX_HEADER_BYTES}")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"bad JSON header: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"bad JSON header: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(header, dict):
        raise ProtocolError(f"bad JSON header: expected an object, got {type(header).__name__}")
    return header


def _check_header(header: dict[str, Any], limits: Callable[[str], tuple[int, int] | None]) -> None:
    for key, kind in REQUIRED.items():
        if key not in header:
            raise ProtocolError(f"header missing key '{key}'")
        value = header[key]
        ok = isinstance(value, (int, float)) and math.isfinite(value) if kind is float else isinstance(value, kind)
        if isinstance(value, bool) or not ok:
            raise ProtocolError(f"header key '{key}' must be {kind.__name__}, got {value!r}")
    for key in TEXT_KEYS:
        if len(header[key]) > MAX_TEXT:
            raise ProtocolError(f"header key '{key}' has {len(header[key])} characters, at most {MAX_TEXT}")
    if header["v"] != VERSION:
        raise ProtocolError(f"unsupported protocol version v={header['v']} (this edge speaks v={VERSION})")
    if header["dtype"] != DTYPE:
        raise ProtocolError(f"unsupported dtype '{header['dtype']}' (protocol v1 payloads are float32)")
    fields = header["fields"]
    if tuple(fields[:3]) != XYZ or any(f not in OPTIONAL_FIELDS for f in fields[3:]) or len(set(fields)) != len(fields):
        raise ProtocolError(f"bad fields {fields!r}: expected x, y, z then any of {', '.join(OPTIONAL_FIELDS)}")
    viewpoint = header.get(VIEWPOINT)
    if viewpoint is not None and not (
        isinstance(viewpoint, list) and len(viewpoint) == 3
        and all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in viewpoint)
    ):
        raise ProtocolError(f"header key '{VIEWPOINT}' must be [x, y, z] (3 finite numbers: the scanner's position in "
                            f"the frame's coordinates and units), got {viewpoint!r}")
    bounds = limits(header["recipe"])
    if bounds is None:
        raise ProtocolError(f"unknown recipe '{header['recipe']}'")
    low, high = bounds
    n = header["n"]
    if not low <= n <= high:
        raise ProtocolError(f"n={n} points outside recipe '{header['recipe']}' limits [{low}, {high}]")

