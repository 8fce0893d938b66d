"""PCD v0.7 files (Point Cloud Library): DATA ascii, binary and binary_compressed.

Every declared size is checked against the bytes actually present before anything is
allocated, and every defect is reported as a `CloudFormatError` naming the file.
Field mapping: ``x y z`` -> points, ``normal_x normal_y normal_z`` -> normals, ``intensity``
(or ``i``) -> intensity, ``_`` padding is dropped, everything else goes to ``extra`` with its
declared dtype, shape (N,) or (N, COUNT).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np

from edge.io import lzf
from edge.io.cloud import PointCloud
from edge.io.errors import CloudFormatError

DATA_MODES = ("ascii", "binary", "binary_compressed")
MAX_COUNT = 1 << 16
"""Upper bound on a field's COUNT; real descriptors (FPFH 33, SHOT 352) are far below it."""
MAX_HEADER_LINES = 4096
HEADER_KEYS = ("VERSION", "FIELDS", "COLUMNS", "SIZE", "TYPE", "COUNT", "WIDTH", "HEIGHT", "VIEWPOINT", "POINTS")
HEADER_KEYS += ("DATA",)
_TYPES = {
    ("F", 4): "<f4",
    ("F", 8): "<f8",
    ("U", 1): "u1",
    ("U", 2): "<u2",
    ("U", 4): "<u4",
    ("U", 8): "<u8",
    ("I", 1): "i1",
    ("I", 2): "<i2",
    ("I", 4): "<i4",
    ("I", 8): "<i8",
}
_KINDS = {"f": "F", "u": "U", "i": "I", "b": "U"}
PADDING = "_"


@dataclass(frozen=True)
class PCDField:
    """One FIELDS entry: name, element dtype (little-endian) and COUNT."""

    name: str
    dtype: np.dtype
    count: int

    @property
    def nbytes(self) -> int:
        """Bytes the field takes in one point."""
        return self.dtype.itemsize * self.count


@dataclass(frozen=True)
class PCDHeader:
    """The parsed header of a PCD file."""

    fields: tuple[PCDField, ...]
    width: int
    height: int
    points: int
    data: str
    data_offset: int

    @property
    def point_size(self) -> int:
        """Bytes per point in the binary (array-of-structs) layout, padding included."""
        return sum(f.nbytes for f in self.fields)

    def record_dtype(self) -> np.dtype:
        """Structured dtype of one binary point; padding fields get unique placeholder names."""
        names = [f.name if f.name != PADDING else f"padding {i}" for i, f in enumerate(self.fields)]
        formats = [f.dtype if f.count == 1 else (f.dtype, (f.count,)) for f in self.fields]
        return np.dtype({"names": names, "formats": formats})


def read_pcd(path: str | Path) -> PointCloud:
    """Read a PCD file into a `PointCloud` (organized clouds keep NaN slots, width and height)."""
    path = Path(path)
    return decode_pcd(path.read_bytes(), source=path)


def decode_pcd(raw: bytes, source: str | Path | None = None) -> PointCloud:
    """Decode the bytes of a whole PCD file; ``source`` names it in error messages."""
    header = parse_header(raw, source)
    with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 become +-inf, like a C cast
        if header.data == "ascii":
            columns = _read_ascii(raw, header, source)
        elif header.data == "binary":
            columns = _read_binary(raw, header, source)
        else:
            columns = _read_compressed(raw, header, source)
        cloud = _to_cloud(columns, header, source)
    cloud.path = Path(source) if source is not None else None
    return cloud


def _ints(values: list[str], key: str, source: str | Path | None) -> list[int]:
    try:
        out = [int(v) for v in values]
    except ValueError:
        raise CloudFormatError(source, f"header line {key} must hold integers, got {' '.join(values)!r}") from None
    if any(v < 0 for v in out):
        raise CloudFormatError(source, f"header line {key} has a negative value: {' '.join(values)!r}")
    return out


def _header_lines(raw: bytes, source: str | Path | None) -> tuple[dict[str, list[str]], int]:
    entries: dict[str, list[str]] = {}
    pos = 0
    for _ in range(MAX_HEADER_LINES):
        if pos >= len(raw):
            break
        nl = raw.find(b"\n", pos)
        end = len(raw) if nl < 0 else nl + 1
        try:
            line = raw[pos:end].decode("ascii").strip()
        except UnicodeDecodeError:
            raise CloudFormatError(source, "header is not ASCII text (not a PCD file?)") from None
        pos = end
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        if key not in HEADER_KEYS:
            raise CloudFormatError(source, f"unknown header line {line[:60]!r}")
        key = "FIELDS" if key == "COLUMNS" else key
        if key in entries:
            raise CloudFormatError(source, f"header line {key} appears twice")
        entries[key] = values
        if key == "DATA":
            return entries, pos
    raise CloudFormatError(source, "header has no DATA line")


def parse_header(raw: bytes, source: str | Path | None = None) -> PCDHeader:
    """Parse and validate the header; returns it with the byte offset where the data starts."""
    entries, offset = _header_lines(raw, source)
    for key in ("FIELDS", "SIZE", "TYPE", "WIDTH", "POINTS"):
        if key not in entries:
            raise CloudFormatError(source, f"header has no {key} line")
    names = entries["FIELDS"]
    if not names:
        raise CloudFormatError(source, "FIELDS line names no field")
    counts_given = entries.get("COUNT", ["1"] * len(names))
    for key, values in (("SIZE", entries["SIZE"]), ("TYPE", entries["TYPE"]), ("COUNT", counts_given)):
        if len(values) != len(names):
            raise CloudFormatError(source, f"{key} has {len(values)} entries but FIELDS has {len(names)}")
    sizes = _ints(entries["SIZE"], "SIZE", source)
    counts = _ints(counts_given, "COUNT", source)
    fields = []
    for name, size, kind, count in zip(names, sizes, entries["TYPE"], counts):
        if (kind, size) not in _TYPES:
            raise CloudFormatError(source, f"field {name!r} has unsupported TYPE {kind} with SIZE {size}")
        if not 1 <= count <= MAX_COUNT:
            raise CloudFormatError(source, f"field {name!r} has COUNT {count} (must be 1..{MAX_COUNT})")
        fields.append(PCDField(name, np.dtype(_TYPES[(kind, size)]), count))
    named = [f.name for f in fields if f.name != PADDING]
    if len(set(named)) != len(named):
        raise CloudFormatError(source, f"FIELDS repeats a name: {' '.join(names)}")
    (width,) = _single(entries, "WIDTH", source)
    (height,) = _single(entries, "HEIGHT", source) if "HEIGHT" in entries else (1,)
    (points,) = _single(entries, "POINTS", source)
    if width * height != points:
        raise CloudFormatError(source, f"WIDTH {width} x HEIGHT {height} != POINTS {points}")
    if "VIEWPOINT" in entries:
        _viewpoint(entries["VIEWPOINT"], source)
    data = entries["DATA"]
    if len(data) != 1 or data[0] not in DATA_MODES:
        raise CloudFormatError(source, f"DATA must be one of {', '.join(DATA_MODES)}, got {' '.join(data)!r}")
    return PCDHeader(tuple(fields), width, height, points, data[0], offset)


def _single(entries: dict[str, list[str]], key: str, source: str | Path | None) -> list[int]:
    values = _ints(entries[key], key, source)
    if len(values) != 1:
        raise CloudFormatError(source, f"header line {key} must hold one integer")
    return values


def _viewpoint(values: list[str], source: str | Path | None) -> None:
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        numbers = []
    if len(numbers) != 7:
        raise CloudFormatError(source, f"VIEWPOINT must hold 7 numbers, got {' '.join(values)!r}")


def _read_binary(raw: bytes, header: PCDHeader, source: str | Path | None) -> dict[str, np.ndarray]:
    need = header.points * header.point_size
    have = len(raw) - header.data_offset
    if need > have:
        problem = f"binary data truncated: {header.points} points need {need} bytes, file has {have}"
        raise CloudFormatError(source, problem)
    records = np.frombuffer(raw, dtype=header.record_dtype(), count=header.points, offset=header.data_offset)
    return {f.name: records[f.name].reshape(header.points, f.count) for f in header.fields if f.name != PADDING}


def _read_compressed(raw: bytes, header: PCDHeader, source: str | Path | None) -> dict[str, np.ndarray]:
    start = header.data_offset
    if len(raw) - start < 8:
        raise CloudFormatError(source, "binary_compressed data has no size header")
    compressed, expanded = struct.unpack_from("<II", raw, start)
    if compressed > len(raw) - start - 8:
        raise CloudFormatError(source, f"compressed size {compressed} exceeds the {len(raw) - start - 8} bytes present")
    fields = [f for f in header.fields if f.name != PADDING]
    need = header.points * sum(f.nbytes for f in fields)
    if not need <= expanded <= header.points * header.point_size:
        problem = f"uncompressed size {expanded} does not fit {header.points} points ({need} bytes)"
        raise CloudFormatError(source, problem)
    try:
        data = lzf.decompress(raw[start + 8 : start + 8 + compressed], expanded)
    except lzf.LZFError as exc:
        raise CloudFormatError(source, f"corrupt binary_compressed data: {exc}") from None
    columns, at = {}, 0
    for f in fields:
        size = header.points * f.nbytes
        columns[f.name] = np.frombuffer(data, dtype=f.dtype, count=header.points * f.count, offset=at).reshape(
            header.points, f.count
        )
        at += size
    return columns


def _read_ascii(raw: bytes, header: PCDHeader, source: str | Path | None) -> dict[str, np.ndarray]:
    try:
        text = raw[header.data_offset :].decode("ascii")
    except UnicodeDecodeError:
        raise CloudFormatError(source, "ascii data contains non-ASCII bytes") from None
    rows = [line.split() for line in text.splitlines()]
    rows = [row for row in rows if row]
    if len(rows) != header.points:
        raise CloudFormatError(source, f"ascii data has {len(rows)} rows but POINTS is {header.points}")
    full = sum(f.count for f in header.fields)
    bare = sum(f.count for f in header.fields if f.name != PADDING)
    widths = {len(row) for row in rows}
    if widths - {full, bare} or len(widths) > 1:
        raise CloudFormatError(source, f"ascii rows must hold {full} values each, found {sorted(widths)}")
    width = widths.pop() if widths else full
    try:
        table = np.array(list(chain.from_iterable(rows)), dtype=np.float64).reshape(header.points, width)
    except ValueError:
        raise CloudFormatError(source, "ascii data holds a value that is not a number") from None
    columns, at = {}, 0
    for f in header.fields:
        if f.name == PADDING and width != full:
            continue
        if f.name != PADDING:
            wide = f.dtype.kind != "f" and f.dtype.itemsize == 8
            exact = [row[at : at + f.count] for row in rows] if wide else None
            columns[f.name] = _ascii_column(table[:, at : at + f.count], exact, f, source)
        at += f.count
    return columns


def _ascii_column(
    values: np.ndarray, tokens: list[list[str]] | None, field: PCDField, source: str | Path | None
) -> np.ndarray:
    """Cast parsed values to the field's dtype; 64-bit integers are re-parsed from ``tokens`` exactly."""
    if field.dtype.kind == "f":
        return values.astype(field.dtype)
    info = np.iinfo(field.dtype)
    if not np.all((values == np.floor(values)) & (values >= info.min) & (values <= info.max)):
        raise CloudFormatError(source, f"field {field.name!r} holds a value that is not a {field.dtype.name}")
    if tokens is None:
        return values.astype(field.dtype)
    try:
        exact = np.array([[_integer(t) for t in row] for row in tokens], dtype=object).reshape(values.shape)
    except (ValueError, OverflowError):
        raise CloudFormatError(source, f"field {field.name!r} holds a value that is not a number") from None
    if exact.size and (exact.min() < info.min or exact.max() > info.max):
        raise CloudFormatError(source, f"field {field.name!r} holds a value outside {field.dtype.name}")
    return exact.astype(field.dtype)


def _integer(token: str) -> int:
    """An integer token; integral decimals such as ``3.0`` or ``1e3`` are accepted too."""
    try:
        return int(token)
    except ValueError:
        value = float(token)
        if not value.is_integer():
            raise
        return int(value)


def _to_cloud(columns: dict[str, np.ndarray], header: PCDHeader, source: str | Path | None) -> PointCloud:
    for axis in "xyz":
        if axis not in columns:
            raise CloudFormatError(source, f"no {axis!r} field (FIELDS: {' '.join(f.name for f in header.fields)})")
        if columns[axis].shape[1] != 1:
            raise CloudFormatError(source, f"field {axis!r} must have COUNT 1")
    points = np.hstack([columns.pop(a) for a in "xyz"]).astype(np.float32)
    normals = None
    if all(name in columns and columns[name].shape[1] == 1 for name in ("normal_x", "normal_y", "normal_z")):
        normals = np.hstack([columns.pop(n) for n in ("normal_x", "normal_y", "normal_z")]).astype(np.float32)
    intensity = None
    for name in ("intensity", "i"):
        if name in columns and columns[name].shape[1] == 1:
            intensity = columns.pop(name)[:, 0].astype(np.float32)
            break
    extra = {name: np.array(col[:, 0] if col.shape[1] == 1 else col) for name, col in columns.items()}
    return PointCloud(points, normals, intensity, width=header.width, height=header.height, extra=extra)


def _layout(cloud: PointCloud) -> tuple[list[PCDField], list[np.ndarray]]:
    """The fields written for ``cloud`` and their (N, COUNT) arrays."""
    n = len(cloud)
    fields = [PCDField(a, np.dtype("<f4"), 1) for a in "xyz"]
    arrays = [cloud.points[:, i : i + 1] for i in range(3)]
    if cloud.normals is not None:
        fields += [PCDField(f"normal_{a}", np.dtype("<f4"), 1) for a in "xyz"]
        arrays += [cloud.normals[:, i : i + 1] for i in range(3)]
    if cloud.intensity is not None:
        fields.append(PCDField("intensity", np.dtype("<f4"), 1))
        arrays.append(cloud.intensity.reshape(n, 1))
    taken = {f.name for f in fields}
    for name, values in cloud.extra.items():
        values = np.asarray(values)
        if not name or any(c.isspace() for c in name) or name in taken or name == PADDING:
            raise ValueError(f"extra field name {name!r} cannot be written to PCD")
        if values.ndim not in (1, 2) or len(values) != n or values.dtype.kind not in _KINDS:
            raise ValueError(f"extra field {name!r} must be a numeric (N,) or (N, C) array with N={n}")
        if values.dtype.kind == "b":
            values = values.astype(np.uint8)
        if (_KINDS[values.dtype.kind], values.dtype.itemsize) not in _TYPES:
            raise ValueError(f"extra field {name!r} has dtype {values.dtype}, which PCD cannot store")
        values = values.reshape(n, -1)
        fields.append(PCDField(name, values.dtype.newbyteorder("<"), values.shape[1]))
        arrays.append(values)
    return fields, arrays


def encode_pcd(cloud: PointCloud, data: str = "binary") -> bytes:
    """The bytes of a PCD v0.7 file holding ``cloud`` in DATA mode ``data``."""
    if data not in DATA_MODES:
        raise ValueError(f"PCD data mode must be one of {', '.join(DATA_MODES)}, got {data!r}")
    fields, arrays = _layout(cloud)
    n = len(cloud)
    organized = bool(cloud.width and cloud.height and cloud.width * cloud.height == n)
    width, height = (cloud.width, cloud.height) if organized else (n, 1)
    head = (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\n"
        f"FIELDS {' '.join(f.name for f in fields)}\n"
        f"SIZE {' '.join(str(f.dtype.itemsize) for f in fields)}\n"
        f"TYPE {' '.join(_KINDS[f.dtype.kind] for f in fields)}\n"
        f"COUNT {' '.join(str(f.count) for f in fields)}\n"
        f"WIDTH {width}\nHEIGHT {height}\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA {data}\n"
    ).encode("ascii")
    if data == "ascii":
        return head + _ascii_body(fields, arrays)
    if data == "binary":
        header = PCDHeader(tuple(fields), width, height, n, data, len(head))
        records = np.empty(n, dtype=header.record_dtype())
        for f, values in zip(fields, arrays):
            records[f.name] = values if f.count > 1 else values[:, 0]
        return head + records.tobytes()
    body = b"".join(np.ascontiguousarray(v, dtype=f.dtype).tobytes() for f, v in zip(fields, arrays))
    packed = lzf.compress(body)
    return head + struct.pack("<II", len(packed), len(body)) + packed


def _ascii_body(fields: list[PCDField], arrays: list[np.ndarray]) -> bytes:
    formats, columns = [], []
    for f, values in zip(fields, arrays):
        spec = "%.17g" if f.dtype == np.float64 else "%.9g" if f.dtype.kind == "f" else "%d"
        for j in range(f.count):
            formats.append(spec)
            columns.append(values[:, j].tolist())
    row = " ".join(formats)
    return "".join(row % values + "\n" for values in zip(*columns)).encode("ascii")


def write_pcd(path: str | Path, cloud: PointCloud, *, data: str = "binary") -> None:
    """Write ``cloud`` as a PCD v0.7 file in DATA mode ``ascii``, ``binary`` or ``binary_compressed``."""
    Path(path).write_bytes(encode_pcd(cloud, data))
