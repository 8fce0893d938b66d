"""PLY files: ascii, binary_little_endian and binary_big_endian.

Only the ``vertex`` element becomes the cloud (``x y z``, ``nx ny nz``, ``intensity`` or ``i``;
other scalar properties go to ``extra``). Every other element (``face``, Cyberware's
``range_grid``, ...) is walked past, before or after the vertices, list properties included, so
truncated or inconsistent files are detected instead of silently misread. Variable-length list
elements are walked with array operations: the successor of every candidate start position is
computed at once and the chain of instance starts is followed by pointer doubling.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.io.cloud import PointCloud
from edge.io.errors import CloudFormatError

FORMATS = ("ascii", "binary_little_endian", "binary_big_endian")
MAX_HEADER_LINES = 4096
WALK_CHUNK = 1 << 22
"""Candidate start positions evaluated per step when walking a variable-length binary element."""
_TYPES = {
    "char": "i1", "int8": "i1",
    "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4",
    "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4",
    "double": "f8", "float64": "f8",
}  # fmt: skip
_NAMES = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint"}
_NAMES |= {"f4": "float", "f8": "double"}
_NORMALS = (("nx", "ny", "nz"), ("normal_x", "normal_y", "normal_z"))


@dataclass(frozen=True)
class PLYProperty:
    """A scalar property, or a list property when ``count_dtype`` is set."""

    name: str
    dtype: np.dtype
    count_dtype: np.dtype | None = None


@dataclass(frozen=True)
class PLYElement:
    """An element declaration: name, number of instances and properties in file order."""

    name: str
    count: int
    properties: tuple[PLYProperty, ...]

    @property
    def has_lists(self) -> bool:
        """True when instances can differ in size."""
        return any(p.count_dtype is not None for p in self.properties)


@dataclass(frozen=True)
class PLYHeader:
    """The parsed header: data format, elements and where the data starts."""

    format: str
    elements: tuple[PLYElement, ...]
    data_offset: int

    @property
    def byte_order(self) -> str:
        """numpy byte-order character of the binary data."""
        return ">" if self.format == "binary_big_endian" else "<"


def read_ply(path: str | Path) -> PointCloud:
    """Read the vertices of a PLY file into a `PointCloud`."""
    path = Path(path)
    return decode_ply(path.read_bytes(), source=path)


def decode_ply(raw: bytes, source: str | Path | None = None) -> PointCloud:
    """Decode the bytes of a whole PLY file; ``source`` names it in error messages."""
    header = parse_header(raw, source)
    if not any(e.name == "vertex" for e in header.elements):
        raise CloudFormatError(source, "PLY file has no vertex element")
    with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 become +-inf, like a C cast
        if header.format == "ascii":
            vertices = _read_ascii(raw, header, source)
        else:
            vertices = _read_binary(raw, header, source)
        cloud = _to_cloud(vertices, source)
    cloud.path = Path(source) if source is not None else None
    return cloud


def _parse_property(words: list[str], source: str | Path | None) -> PLYProperty:
    if len(words) == 3 and words[1] in _TYPES:
        return PLYProperty(words[2], np.dtype(_TYPES[words[1]]))
    if len(words) == 5 and words[1] == "list" and words[2] in _TYPES and words[3] in _TYPES:
        count_dtype = np.dtype(_TYPES[words[2]])
        if count_dtype.kind == "f":
            raise CloudFormatError(source, f"list count type must be an integer type: {' '.join(words)!r}")
        return PLYProperty(words[4], np.dtype(_TYPES[words[3]]), count_dtype)
    raise CloudFormatError(source, f"malformed property line {' '.join(words)[:80]!r}")


def parse_header(raw: bytes, source: str | Path | None = None) -> PLYHeader:
    """Parse and validate the header of a PLY file."""
    lines, offset = _header_lines(raw, source)
    if not lines or lines[0] != ["ply"]:
        raise CloudFormatError(source, "not a PLY file (first line is not 'ply')")
    fmt = None
    elements: list[tuple[str, int, list[PLYProperty]]] = []
    for words in lines[1:]:
        key = words[0]
        if key in ("comment", "obj_info"):
            continue
        if key == "format":
            if fmt is not None or len(words) != 3 or words[1] not in FORMATS or words[2] != "1.0":
                raise CloudFormatError(source, f"bad format line {' '.join(words)[:80]!r}")
            fmt = words[1]
        elif key == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise CloudFormatError(source, f"bad element line {' '.join(words)[:80]!r}")
            if any(name == words[1] for name, _, _ in elements):
                raise CloudFormatError(source, f"element {words[1]!r} declared twice")
            elements.append((words[1], int(words[2]), []))
        elif key == "property":
            if not elements:
                raise CloudFormatError(source, "property line before any element line")
            prop = _parse_property(words, source)
            if any(p.name == prop.name for p in elements[-1][2]):
                raise CloudFormatError(source, f"property {prop.name!r} declared twice in {elements[-1][0]!r}")
            elements[-1][2].append(prop)
        else:
            raise CloudFormatError(source, f"unknown header line {' '.join(words)[:80]!r}")
    if fmt is None:
        raise CloudFormatError(source, "PLY header has no format line")
    return PLYHeader(fmt, tuple(PLYElement(n, c, tuple(p)) for n, c, p in elements), offset)


def _header_lines(raw: bytes, source: str | Path | None) -> tuple[list[list[str]], int]:
    lines: list[list[str]] = []
    pos = 0
    for _ in range(MAX_HEADER_LINES):
        nl = raw.find(b"\n", pos)
        if nl < 0:
            break
        try:
            words = raw[pos:nl].decode("ascii").split()
        except UnicodeDecodeError:
            raise CloudFormatError(source, "PLY header is not ASCII text") from None
        pos = nl + 1
        if words == ["end_header"]:
            return lines, pos
        if words:
            lines.append(words)
    raise CloudFormatError(source, "PLY header has no end_header line")


# ---------------------------------------------------------------- binary


def walk_chain(succ: np.ndarray, start: int, stop: int, steps: int | None = None) -> tuple[np.ndarray, int]:
    """Follow ``p -> succ[p]`` from ``start`` until a position ``>= stop`` (or ``steps`` hops).

    ``succ`` must be strictly increasing along the chain below ``stop`` and map the sentinels
    ``stop`` and ``stop + 1`` (overshoot) to themselves. Returns the visited positions (all
    ``< stop``, in order) and the position reached after them. Pointer doubling keeps this at
    ``O(len(succ) * log(chain length))`` vectorised work.
    """
    if start >= stop or steps == 0:
        return np.empty(0, dtype=succ.dtype), start
    visited = np.array([start], dtype=succ.dtype)
    jump = succ
    while True:
        if steps is not None and len(visited) >= steps:
            end = int(visited[steps]) if len(visited) > steps else int(succ[visited[-1]])
            return visited[:steps], end
        ahead = jump[visited]
        hit = int(np.searchsorted(ahead, stop, side="left"))
        if hit < len(ahead):
            visited = np.concatenate([visited, ahead[:hit]])
            if steps is not None and len(visited) > steps:
                return visited[:steps], int(visited[steps])
            return visited, int(ahead[hit])
        visited = np.concatenate([visited, ahead])
        if len(visited) > stop:
            raise ValueError("walk_chain: successor function does not advance")
        jump = jump[jump]


def _read_at(buf: np.ndarray, at: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Values of ``dtype`` stored at byte positions ``at`` (all inside ``buf``)."""
    idx = at[:, None] + np.arange(dtype.itemsize)
    return np.ascontiguousarray(buf[idx]).view(dtype).reshape(len(at))


def _advance(
    buf: np.ndarray, starts: np.ndarray, element: PLYElement, order: str, want: set[str] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """End position of the instance starting at each of ``starts``; ``len(buf) + 1`` where invalid.

    With ``want``, also the values of those scalar properties (only meaningful where valid).
    """
    end = len(buf)
    cur = starts.astype(np.int64)
    bad = np.zeros(len(cur), dtype=bool)
    values: dict[str, np.ndarray] = {}
    for prop in element.properties:
        if prop.count_dtype is None:
            if want is not None and prop.name in want:
                at = np.clip(cur, 0, end - prop.dtype.itemsize)
                values[prop.name] = _read_at(buf, at, prop.dtype.newbyteorder(order))
            cur += prop.dtype.itemsize
            continue
        size = prop.count_dtype.itemsize
        bad |= cur + size > end
        counts = _read_at(buf, np.clip(cur, 0, end - size), prop.count_dtype.newbyteorder(order)).astype(np.int64)
        bad |= counts < 0
        cur += size + np.maximum(counts, 0) * prop.dtype.itemsize
    bad |= cur > end
    cur[bad] = end + 1
    return cur, values


def _instance_starts(
    buf: np.ndarray, pos: int, element: PLYElement, order: str, source: str | Path | None
) -> tuple[np.ndarray, int]:
    """Start of every instance of a list-bearing element at ``pos``, and the position after it."""
    remaining = len(buf) - pos
    if element.count > remaining:
        problem = f"element {element.name!r} declares {element.count} instances in {remaining} bytes"
        raise CloudFormatError(source, problem)
    if element.count == 0:
        return np.empty(0, dtype=np.int64), pos
    first_end, _ = _advance(buf, np.array([pos]), element, order)
    stride = int(first_end[0]) - pos
    if first_end[0] <= len(buf) and element.count * stride <= remaining:
        starts = pos + np.arange(element.count, dtype=np.int64) * stride
        ends, _ = _advance(buf, starts, element, order)
        if np.array_equal(ends, starts + stride):
            return starts, pos + element.count * stride
    itype = np.int32 if remaining < 2**31 - 2 else np.int64
    pieces = []
    for at in range(pos, len(buf) + 2, WALK_CHUNK):
        ends, _ = _advance(buf, np.arange(at, min(at + WALK_CHUNK, len(buf) + 2)), element, order)
        pieces.append(np.minimum(ends - pos, remaining + 1).astype(itype))
    succ = np.concatenate(pieces)
    succ[-2:] = (remaining, remaining + 1)
    starts, end = walk_chain(succ, 0, remaining, steps=element.count)
    if len(starts) < element.count or end > remaining:
        raise CloudFormatError(source, f"element {element.name!r} is truncated or has corrupt list counts")
    return starts + pos, pos + end


def _read_binary(raw: bytes, header: PLYHeader, source: str | Path | None) -> dict[str, np.ndarray]:
    buf = np.frombuffer(raw, dtype=np.uint8)
    order = header.byte_order
    pos = header.data_offset
    vertices: dict[str, np.ndarray] = {}
    for element in header.elements:
        if element.has_lists:
            starts, after = _instance_starts(buf, pos, element, order, source)
            if element.name == "vertex":
                want = {p.name for p in element.properties if p.count_dtype is None}
                _, vertices = _advance(buf, starts, element, order, want)
        else:
            stride = sum(p.dtype.itemsize for p in element.properties)
            after = pos + element.count * stride
            if after > len(buf):
                problem = f"element {element.name!r} needs {element.count * stride} bytes, {len(buf) - pos} remain"
                raise CloudFormatError(source, problem)
            if element.name == "vertex":
                formats = [p.dtype.newbyteorder(order) for p in element.properties]
                record = np.dtype({"names": [p.name for p in element.properties], "formats": formats})
                table = np.frombuffer(raw, dtype=record, count=element.count, offset=pos)
                vertices = {p.name: table[p.name] for p in element.properties}
        pos = after
    return {name: values.astype(values.dtype.newbyteorder("=")) for name, values in vertices.items()}


# ---------------------------------------------------------------- ascii


def _read_ascii(raw: bytes, header: PLYHeader, source: str | Path | None) -> dict[str, np.ndarray]:
    try:
        tokens = raw[header.data_offset :].decode("ascii").split()
        values = np.array(tokens, dtype=np.float64)
    except (UnicodeDecodeError, ValueError):
        raise CloudFormatError(source, "ascii PLY data holds something that is not a number") from None
    del tokens
    pos = 0
    vertices: dict[str, np.ndarray] = {}
    for element in header.elements:
        if element.has_lists:
            starts, after = _token_starts(values, pos, element, source)
            if element.name == "vertex":
                vertices = _gather_tokens(values, starts, element)
        else:
            width = len(element.properties)
            after = pos + element.count * width
            if after > len(values):
                problem = f"element {element.name!r} needs {element.count * width} values, {len(values) - pos} remain"
                raise CloudFormatError(source, problem)
            if element.name == "vertex":
                table = values[pos:after].reshape(element.count, width)
                vertices = {p.name: table[:, j] for j, p in enumerate(element.properties)}
        pos = after
    element = next(e for e in header.elements if e.name == "vertex")
    return {p.name: _cast(vertices[p.name], p, source) for p in element.properties if p.count_dtype is None}


def _token_advance(values: np.ndarray, starts: np.ndarray, element: PLYElement) -> np.ndarray:
    """Token index after the instance starting at each of ``starts``; ``len(values) + 1`` where invalid."""
    end = len(values)
    cur = starts.astype(np.int64)
    bad = np.zeros(len(cur), dtype=bool)
    for prop in element.properties:
        if prop.count_dtype is None:
            cur += 1
            continue
        bad |= cur >= end
        counts = values[np.clip(cur, 0, max(end - 1, 0))] if end else np.zeros(len(cur))
        bad |= ~((counts >= 0) & (counts <= end) & (counts == np.floor(counts)))
        cur += 1 + np.where(bad, 0, counts).astype(np.int64)
    bad |= cur > end
    cur[bad] = end + 1
    return cur


def _token_starts(
    values: np.ndarray, pos: int, element: PLYElement, source: str | Path | None
) -> tuple[np.ndarray, int]:
    """Start token of every instance of a list-bearing element at token ``pos``, and the token after it."""
    remaining = len(values) - pos
    if element.count > remaining:
        problem = f"element {element.name!r} declares {element.count} instances in {remaining} values"
        raise CloudFormatError(source, problem)
    if element.count == 0:
        return np.empty(0, dtype=np.int64), pos
    succ = _token_advance(values, np.arange(pos, len(values) + 2), element)
    succ = np.minimum(succ - pos, remaining + 1)
    succ[-2:] = (remaining, remaining + 1)
    starts, end = walk_chain(succ, 0, remaining, steps=element.count)
    if len(starts) < element.count or end > remaining:
        raise CloudFormatError(source, f"element {element.name!r} is truncated or has corrupt list counts")
    return starts + pos, pos + end


def _gather_tokens(values: np.ndarray, starts: np.ndarray, element: PLYElement) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    cur = starts.copy()
    for prop in element.properties:
        if prop.count_dtype is None:
            out[prop.name] = values[cur]
            cur += 1
        else:
            cur += 1 + values[cur].astype(np.int64)
    return out


def _cast(values: np.ndarray, prop: PLYProperty, source: str | Path | None) -> np.ndarray:
    if prop.dtype.kind == "f":
        return values.astype(prop.dtype)
    info = np.iinfo(prop.dtype)
    if not np.all((values == np.floor(values)) & (values >= info.min) & (values <= info.max)):
        raise CloudFormatError(source, f"property {prop.name!r} holds a value that is not a {prop.dtype.name}")
    return values.astype(prop.dtype)


# ---------------------------------------------------------------- cloud


def _to_cloud(vertices: dict[str, np.ndarray], source: str | Path | None) -> PointCloud:
    for axis in "xyz":
        if axis not in vertices:
            raise CloudFormatError(source, f"vertex element has no {axis!r} property")
    columns = dict(vertices)
    points = np.stack([columns.pop(a) for a in "xyz"], axis=1).astype(np.float32)
    normals = None
    for names in _NORMALS:
        if all(n in columns for n in names):
            normals = np.stack([columns.pop(n) for n in names], axis=1).astype(np.float32)
            break
    intensity = None
    for name in ("intensity", "i"):
        if name in columns:
            intensity = columns.pop(name).astype(np.float32)
            break
    return PointCloud(points, normals, intensity, extra={k: np.array(v) for k, v in columns.items()})


def _layout(cloud: PointCloud) -> list[tuple[str, np.ndarray]]:
    """(property name, (N,) values) for every vertex property written."""
    columns = [(a, cloud.points[:, i]) for i, a in enumerate("xyz")]
    if cloud.normals is not None:
        columns += [(n, cloud.normals[:, i]) for i, n in enumerate(("nx", "ny", "nz"))]
    if cloud.intensity is not None:
        columns.append(("intensity", cloud.intensity))
    taken = {name for name, _ in columns}
    for name, values in cloud.extra.items():
        values = np.asarray(values)
        if values.dtype.kind == "b":
            values = values.astype(np.uint8)
        if values.ndim not in (1, 2) or len(values) != len(cloud) or values.dtype.str[1:] not in _NAMES:
            raise ValueError(f"extra field {name!r} ({values.dtype}, shape {values.shape}) cannot be written to PLY")
        names = [name] if values.ndim == 1 else [f"{name}_{j}" for j in range(values.shape[1])]
        if not name or any(c.isspace() for c in name) or taken & set(names):
            raise ValueError(f"extra field name {name!r} cannot be written to PLY")
        taken.update(names)
        columns += zip(names, values.reshape(len(cloud), -1).T)
    return columns


def encode_ply(cloud: PointCloud, data: str = "binary") -> bytes:
    """The bytes of a PLY file with ``cloud`` as its vertex element.

    ``data`` is ``binary`` (little endian), ``binary_little_endian``, ``binary_big_endian`` or
    ``ascii``.
    """
    fmt = "binary_little_endian" if data == "binary" else data
    if fmt not in FORMATS:
        raise ValueError(f"PLY data must be ascii, binary, binary_little_endian or binary_big_endian, got {data!r}")
    columns = _layout(cloud)
    head = ["ply", f"format {fmt} 1.0", "comment written by pcinspect", f"element vertex {len(cloud)}"]
    head += [f"property {_NAMES[values.dtype.str[1:]]} {name}" for name, values in columns]
    head = ("\n".join(head + ["end_header"]) + "\n").encode("ascii")
    if fmt == "ascii":
        specs = ["%.17g" if v.dtype == np.float64 else "%.9g" if v.dtype.kind == "f" else "%d" for _, v in columns]
        row = " ".join(specs)
        return head + "".join(row % r + "\n" for r in zip(*(v.tolist() for _, v in columns))).encode("ascii")
    order = ">" if fmt == "binary_big_endian" else "<"
    record = np.dtype({"names": [n for n, _ in columns], "formats": [v.dtype.newbyteorder(order) for _, v in columns]})
    table = np.empty(len(cloud), dtype=record)
    for name, values in columns:
        table[name] = values
    return head + table.tobytes()


def write_ply(path: str | Path, cloud: PointCloud, *, data: str = "binary") -> None:
    """Write ``cloud`` as a PLY vertex element (binary little endian by default, or ascii)."""
    Path(path).write_bytes(encode_ply(cloud, data))
