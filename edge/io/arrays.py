"""Plain array files: NPY (N, >=3), NPZ (``points`` + optional ``normals``, ``intensity``) and XYZ text.

Columns beyond the third of an NPY or XYZ table are kept, unnamed, as ``extra["columns"]``
(N, C-3); an NPZ's other arrays of length N are kept under their own keys. Array headers are
checked against the bytes present before numpy allocates anything.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from edge.io.cloud import PointCloud
from edge.io.errors import CloudFormatError

EXTRA_COLUMNS = "columns"
NPZ_KEYS = ("points", "normals", "intensity")
MAX_NPZ_RATIO = 1100
"""deflate cannot expand by more than ~1032x; a larger declared ratio is a forged member."""
_SEPARATORS = re.compile(r"[\s,;]+")
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError)


def _load_array(stream: io.BufferedIOBase, available: int, source: str | Path | None, what: str) -> np.ndarray:
    """One ``.npy`` payload from ``stream`` holding at most ``available`` bytes, header validated first."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as exc:  # numpy's header parser raises ValueError, SyntaxError, TokenError, ...
        raise CloudFormatError(source, f"{what} is not a valid .npy array: {exc}") from None
    if any(d < 0 for d in shape):
        raise CloudFormatError(source, f"{what} declares a negative dimension {shape}")
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None:
        raise CloudFormatError(source, f"{what} has dtype {dtype}, expected a plain numeric array")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes > available:
        raise CloudFormatError(source, f"{what} declares shape {shape} ({nbytes} bytes) but holds at most {available}")
    data = stream.read(nbytes)
    if len(data) != nbytes:
        raise CloudFormatError(source, f"{what} is truncated: {len(data)} of {nbytes} bytes")
    array = np.frombuffer(data, dtype=dtype)
    return (array.reshape(shape[::-1]).T if fortran else array.reshape(shape)).copy()


def _table_cloud(table: np.ndarray, source: str | Path | None, what: str) -> PointCloud:
    if table.ndim != 2 or table.shape[1] < 3:
        raise CloudFormatError(source, f"{what} has shape {table.shape}, expected (N, 3) or more columns")
    extra = {EXTRA_COLUMNS: table[:, 3:].copy()} if table.shape[1] > 3 else {}
    return PointCloud(table[:, :3], extra=extra)


def read_npy(path: str | Path) -> PointCloud:
    """Read an (N, >=3) ``.npy`` array: columns 0-2 are x y z."""
    path = Path(path)
    with path.open("rb") as stream:
        table = _load_array(stream, path.stat().st_size, path, "array")
    cloud = _table_cloud(table, path, "array")
    cloud.path = path
    return cloud


def read_npz(path: str | Path) -> PointCloud:
    """Read an ``.npz`` archive with ``points`` (N, 3) and optional ``normals``, ``intensity``."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    with path.open("rb") as stream:
        try:
            with zipfile.ZipFile(stream) as archive:
                for info in archive.infolist():
                    if not info.filename.endswith(".npy"):
                        continue
                    if info.file_size > MAX_NPZ_RATIO * max(info.compress_size, 1) + 4096:
                        raise CloudFormatError(path, f"{info.filename} declares an impossible size {info.file_size}")
                    with archive.open(info) as member:
                        arrays[info.filename[:-4]] = _load_array(member, info.file_size, path, info.filename)
        except _ZIP_ERRORS as exc:
            if isinstance(exc, CloudFormatError):
                raise
            raise CloudFormatError(path, f"not a readable .npz archive: {exc}") from None
    if "points" not in arrays:
        raise CloudFormatError(path, f"archive has no 'points' array (has: {', '.join(sorted(arrays)) or 'nothing'})")
    points = arrays.pop("points")
    if points.ndim != 2 or points.shape[1] != 3:
        raise CloudFormatError(path, f"'points' has shape {points.shape}, expected (N, 3)")
    n = len(points)
    normals, intensity = arrays.pop("normals", None), arrays.pop("intensity", None)
    if normals is not None and normals.shape != (n, 3):
        raise CloudFormatError(path, f"'normals' has shape {normals.shape}, expected ({n}, 3)")
    if intensity is not None and intensity.shape != (n,):
        raise CloudFormatError(path, f"'intensity' has shape {intensity.shape}, expected ({n},)")
    extra = {k: v for k, v in arrays.items() if v.ndim >= 1 and len(v) == n}
    return PointCloud(points, normals, intensity, path=path, extra=extra)


def read_xyz(path: str | Path) -> PointCloud:
    """Read a text table with 3+ numeric columns (whitespace or comma separated, ``#`` comments)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CloudFormatError(path, "text file is not UTF-8") from None
    rows = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip(" \t,;")
        if line:
            rows.append(_SEPARATORS.split(line))
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise CloudFormatError(path, f"rows have different numbers of columns: {sorted(widths)}")
    try:
        table = np.array(rows, dtype=np.float64).reshape(len(rows), -1 if rows else 3)
    except ValueError:
        raise CloudFormatError(path, "text table holds a value that is not a number") from None
    cloud = _table_cloud(table, path, "text table")
    cloud.path = path
    return cloud


def write_npy(path: str | Path, cloud: PointCloud) -> None:
    """Write the points as an (N, 3) float32 ``.npy`` array (other attributes are not kept)."""
    with Path(path).open("wb") as stream:
        np.save(stream, cloud.points, allow_pickle=False)


def write_npz(path: str | Path, cloud: PointCloud) -> None:
    """Write points, normals, intensity and numeric extras as a compressed ``.npz`` archive."""
    arrays = {"points": cloud.points}
    if cloud.normals is not None:
        arrays["normals"] = cloud.normals
    if cloud.intensity is not None:
        arrays["intensity"] = cloud.intensity
    for name, values in cloud.extra.items():
        if name in arrays:
            raise ValueError(f"extra field {name!r} clashes with a standard NPZ key")
        arrays[name] = np.asarray(values)
    with Path(path).open("wb") as stream:
        np.savez_compressed(stream, allow_pickle=False, **arrays)


def write_xyz(path: str | Path, cloud: PointCloud) -> None:
    """Write the points as ``x y z`` text lines (float32-exact; other attributes are not kept)."""
    body = "".join("%.9g %.9g %.9g\n" % tuple(row) for row in cloud.points.tolist())
    Path(path).write_text(body, encoding="ascii")
