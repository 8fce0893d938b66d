"""LZF compression (the codec of PCD ``DATA binary_compressed``) through python-lzf (liblzf, C).

This wrapper adds what the reader's error contract needs on top of the library: a declared size
that the stream cannot possibly reach is refused before anything is allocated (liblzf allocates
the whole output buffer up front), a stream that decodes to a different size is an error, and
every failure is an `LZFError`.
"""

from __future__ import annotations

import lzf as _liblzf
import numpy as np
from edge.errors import PcinspectError

MAX_LITERAL = 32
MAX_EXPANSION = 88
"""Upper bound of output bytes per input byte: a 3-byte back-reference can expand to 264 bytes."""


class LZFError(PcinspectError, ValueError):
    """An LZF stream is corrupt or does not decode to the expected size."""


def _as_bytes(data: bytes | bytearray | memoryview | np.ndarray) -> bytes:
    if isinstance(data, np.ndarray):
        return data.view(np.uint8).ravel().tobytes()
    return data if isinstance(data, bytes) else bytes(data)


def decompress(data: bytes | bytearray | memoryview | np.ndarray, size: int) -> bytes:
    """Decode the LZF stream ``data`` that must expand to exactly ``size`` bytes."""
    data = _as_bytes(data)
    n = len(data)
    if size < 0:
        raise LZFError(f"negative decompressed size {size}")
    if size == 0:
        if n:
            raise LZFError("non-empty LZF stream for an empty output")
        return b""
    if n == 0 or size > MAX_EXPANSION * n + MAX_LITERAL:
        raise LZFError(f"{n} compressed bytes cannot expand to {size} bytes")
    try:
        out = _liblzf.decompress(data, size)
    except ValueError:
        raise LZFError("corrupt LZF stream (truncated, or a back-reference before the start of the output)") from None
    if out is None:
        raise LZFError(f"LZF stream decodes to more than the expected {size} bytes")
    if len(out) != size:
        raise LZFError(f"LZF stream decodes to {len(out)} bytes, expected {size}")
    return out


def compress(data: bytes | bytearray | memoryview | np.ndarray) -> bytes:
    """Encode ``data`` as an LZF stream (liblzf; incompressible data grows by at most 1 byte in 32)."""
    data = _as_bytes(data)
    if not data:
        return b""
    packed = _liblzf.compress(data, len(data) + len(data) // MAX_LITERAL + 16)
    if packed is None:
        raise LZFError(f"liblzf could not compress {len(data)} bytes")
    return packed
