"""Read and write point-cloud files by suffix: .pcd, .ply, .npy, .npz, .xyz/.txt/.csv."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge.io import arrays, pcd, ply
from edge.io.cloud import PointCloud
from edge.io.errors import CloudFormatError

_READERS: dict[str, Callable[[Path], PointCloud]] = {
    ".pcd": pcd.read_pcd,
    ".ply": ply.read_ply,
    ".npy": arrays.read_npy,
    ".npz": arrays.read_npz,
    ".xyz": arrays.read_xyz,
    ".txt": arrays.read_xyz,
    ".csv": arrays.read_xyz,
}
SUFFIXES = tuple(_READERS)


def read_cloud(path: str | Path) -> PointCloud:
    """Read any supported point-cloud file; a malformed file raises `CloudFormatError`.

    A missing or unreadable file raises the usual `OSError` (e.g. `FileNotFoundError`).
    """
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise CloudFormatError(path, f"unsupported file type {path.suffix!r} (supported: {' '.join(SUFFIXES)})")
    return reader(path)


def write_cloud(path: str | Path, cloud: PointCloud, *, data: str = "binary") -> None:
    """Write ``cloud`` in the format named by the suffix of ``path``.

    ``data`` selects the encoding of PCD (``ascii``, ``binary``, ``binary_compressed``) and PLY
    (``ascii``, ``binary`` = little endian, ``binary_big_endian``) files; NPY, NPZ and text
    tables have a single encoding and ignore it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pcd":
        pcd.write_pcd(path, cloud, data=data)
    elif suffix == ".ply":
        ply.write_ply(path, cloud, data=data)
    elif suffix == ".npy":
        arrays.write_npy(path, cloud)
    elif suffix == ".npz":
        arrays.write_npz(path, cloud)
    elif suffix in (".xyz", ".txt", ".csv"):
        arrays.write_xyz(path, cloud)
    else:
        supported = " ".join(SUFFIXES)
        raise ValueError(f"cannot write {path}: unsupported file type {path.suffix!r} (supported: {supported})")
