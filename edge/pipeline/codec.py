"""The frame wire codec, protocol v1 (DESIGN.md section 4).

A frame is two message parts: a JSON header and ``n * len(fields)`` little-endian float32 values, row-major.
``decode`` validates everything the protocol promises and returns the xyz points as a zero-copy view on the
payload buffer; each violation raises :class:`ProtocolError` whose message names it, carrying whatever header
fields could be read so the ERROR verdict can still identify the frame.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.units import MM_PER_UNIT, to_mm

VERSION = 1
DTYPE = "float32"
XYZ = ("x", "y", "z")
OPTIONAL_FIELDS = ("nx", "ny", "nz", "i")
REQUIRED = {"v": int, "frame_id": str, "part_id": str, "recipe": str, "seq": int, "ts": float, "n": int,
            "fields": list, "dtype": str, "units": str}
_WIRE_DTYPE = np.dtype("<f4")


class ProtocolError(ValueError):
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


def identity(header: Any) -> dict[str, Any]:
    """The identifying fields of a (possibly invalid) header, None where absent or of the wrong type."""
    if not isinstance(header, dict):
        return {"frame_id": None, "part_id": None, "recipe": None, "seq": None}
    out: dict[str, Any] = {}
    for key in ("frame_id", "part_id", "recipe"):
        out[key] = header[key] if isinstance(header.get(key), str) else None
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
    except ProtocolError as exc:
        raise ProtocolError(exc.reason, ident) from None
    return Frame(header=header, points=points, payload=parts[1])


def encode(header: dict[str, Any], values: np.ndarray) -> list[bytes | memoryview]:
    """The two message parts of a frame; ``values`` is (n, len(fields)) and is sent without a copy when possible."""
    data = np.ascontiguousarray(values, dtype=_WIRE_DTYPE)
    return [json.dumps(header, allow_nan=False).encode(), memoryview(data).cast("B")]


def make_header(*, frame_id: str, part_id: str, recipe: str, seq: int, n: int, ts: float,
                fields: Sequence[str] = XYZ, units: str = "mm") -> dict[str, Any]:
    """A v1 header with every required key."""
    return {"v": VERSION, "frame_id": frame_id, "part_id": part_id, "recipe": recipe, "seq": seq, "ts": ts,
            "n": n, "fields": list(fields), "dtype": DTYPE, "units": units}


def _buffer(part: Any) -> memoryview:
    buffer = getattr(part, "buffer", None)
    return buffer if buffer is not None else memoryview(part)


def _header(raw: memoryview) -> dict[str, Any]:
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
    if header["v"] != VERSION:
        raise ProtocolError(f"unsupported protocol version v={header['v']} (this edge speaks v={VERSION})")
    if header["dtype"] != DTYPE:
        raise ProtocolError(f"unsupported dtype '{header['dtype']}' (protocol v1 payloads are float32)")
    fields = header["fields"]
    if tuple(fields[:3]) != XYZ or any(f not in OPTIONAL_FIELDS for f in fields[3:]) or len(set(fields)) != len(fields):
        raise ProtocolError(f"bad fields {fields!r}: expected x, y, z then any of {', '.join(OPTIONAL_FIELDS)}")
    bounds = limits(header["recipe"])
    if bounds is None:
        raise ProtocolError(f"unknown recipe '{header['recipe']}'")
    low, high = bounds
    n = header["n"]
    if not low <= n <= high:
        raise ProtocolError(f"n={n} points outside recipe '{header['recipe']}' limits [{low}, {high}]")

