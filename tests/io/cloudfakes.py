"""Independent encoders for small PCD and PLY files, used to build test inputs byte by byte."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np

from edge.io import lzf

PCD_CODES = {("F", 4): "<f4", ("F", 8): "<f8", ("U", 1): "u1", ("U", 2): "<u2", ("U", 4): "<u4", ("U", 8): "<u8",
             ("I", 1): "i1", ("I", 2): "<i2", ("I", 4): "<i4", ("I", 8): "<i8"}  # fmt: skip
PLY_CODES = {"char": "b", "int8": "b", "uchar": "B", "uint8": "B", "short": "h", "int16": "h", "ushort": "H",
             "uint16": "H", "int": "i", "int32": "i", "uint": "I", "uint32": "I", "float": "f", "float32": "f",
             "double": "d", "float64": "d"}  # fmt: skip


def pcd_bytes(
    fields: Sequence[tuple[str, str, int, int]],
    columns: dict[str, np.ndarray],
    data: str,
    *,
    width: int | None = None,
    height: int = 1,
    pad_ascii: bool = True,
) -> bytes:
    """A PCD file: ``fields`` are (name, TYPE, SIZE, COUNT); ``_`` fields are zero padding."""
    n = len(next(iter(columns.values())))
    width = n if width is None else width
    head = (
        "# .PCD v0.7\nVERSION 0.7\n"
        f"FIELDS {' '.join(f[0] for f in fields)}\nSIZE {' '.join(str(f[2]) for f in fields)}\n"
        f"TYPE {' '.join(f[1] for f in fields)}\nCOUNT {' '.join(str(f[3]) for f in fields)}\n"
        f"WIDTH {width}\nHEIGHT {height}\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA {data}\n"
    ).encode()
    arrays = []
    for name, kind, size, count in fields:
        dtype = np.dtype(PCD_CODES[(kind, size)])
        values = np.zeros((n, count), dtype) if name == "_" else np.asarray(columns[name]).reshape(n, count)
        arrays.append((name, values.astype(dtype)))
    if data == "ascii":
        lines = []
        for i in range(n):
            row = [repr(v.item()) for name, a in arrays if pad_ascii or name != "_" for v in a[i]]
            lines.append(" ".join(row))
        return head + ("\n".join(lines) + "\n").encode()
    if data == "binary":
        return head + b"".join(b"".join(a[i].tobytes() for _, a in arrays) for i in range(n))
    body = b"".join(a.tobytes() for name, a in arrays if name != "_")
    packed = lzf.compress(body)
    return head + struct.pack("<II", len(packed), len(body)) + packed


def ply_bytes(fmt: str, elements: Sequence[tuple[str, Sequence[tuple[str, ...]], Sequence[Sequence]]]) -> bytes:
    """A PLY file. ``elements`` are (name, properties, rows); a property is (type, name) or
    ("list", count_type, item_type, name); a row holds one value (or a list) per property."""
    head = [f"ply\nformat {fmt} 1.0\ncomment test file\nobj_info made by cloudfakes"]
    for name, props, rows in elements:
        head.append(f"element {name} {len(rows)}")
        head += [f"property {' '.join(p)}" for p in props]
    out = ("\n".join(head) + "\nend_header\n").encode()
    order = ">" if fmt == "binary_big_endian" else "<"
    body = []
    for _, props, rows in elements:
        for row in rows:
            if fmt == "ascii":
                words = []
                for p, v in zip(props, row):
                    words += [str(len(v)), *map(repr, v)] if p[0] == "list" else [repr(v)]
                body.append((" ".join(words) + "\n").encode())
                continue
            for p, v in zip(props, row):
                if p[0] == "list":
                    body.append(struct.pack(order + PLY_CODES[p[1]], len(v)))
                    body.append(struct.pack(order + PLY_CODES[p[2]] * len(v), *v))
                else:
                    body.append(struct.pack(order + PLY_CODES[p[0]], v))
    return out + b"".join(body)


@contextmanager
def allocates_at_most(limit_bytes: int = 64 << 20):
    """Fail when the enclosed block's peak Python/numpy allocation exceeds ``limit_bytes`` (no giant buffers)."""
    tracemalloc.start()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak <= limit_bytes, f"peak allocation {peak} bytes exceeds {limit_bytes}"
