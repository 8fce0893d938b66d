"""LZF compression (the codec of PCD ``DATA binary_compressed``) in vectorised numpy.

An LZF stream is a sequence of tokens: a control byte ``c < 32`` is followed by ``c + 1``
literal bytes; any other control byte starts a back-reference of ``(c >> 5) + 2`` bytes
(``7`` in the top bits means one more length byte follows) copied from ``offset + 1`` bytes
back in the output, where the offset is 13 bits (low 5 bits of ``c`` and the next byte).

Parsing token by token in Python is too slow for multi-megabyte clouds, so the work is done on
whole arrays where the format allows it:

* token boundaries form a chain ``p -> next(p)`` over byte positions; ``next`` is computed for
  every position at once and the chain from position 0 is followed by pointer doubling
  (``O(n log n)`` array work instead of a Python loop over bytes);
* decoding scatters all literal runs at once; only the back-reference copies, whose sources may
  be the output of earlier copies, run in a loop of bytearray slice assignments (one per token);
* encoding finds, for every position, the most recent earlier occurrence of its 3-byte prefix by
  one sort, extends matches once per run of equal offsets, and parses greedily with the same
  pointer-doubling walk.
"""

from __future__ import annotations

import numpy as np
from edge.errors import PcinspectError

MAX_LITERAL = 32
MAX_MATCH = 264
MAX_OFFSET = 8192
MIN_MATCH = 3
MAX_EXPANSION = 88
"""Upper bound of output bytes per input byte: a 3-byte token can expand to 264 bytes."""


class LZFError(PcinspectError, ValueError):
    """An LZF stream is corrupt or does not decode to the expected size."""


def _index_dtype(n: int) -> type[np.signedinteger]:
    return np.int32 if n < 2**31 - 4 else np.int64


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


def decompress(data: bytes | bytearray | memoryview | np.ndarray, size: int) -> bytes:
    """Decode the LZF stream ``data`` that must expand to exactly ``size`` bytes."""
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).ravel()
    n = len(buf)
    if size < 0:
        raise LZFError(f"negative decompressed size {size}")
    if size == 0:
        if n:
            raise LZFError("non-empty LZF stream for an empty output")
        return b""
    if n == 0 or size > MAX_EXPANSION * n + MAX_LITERAL:
        raise LZFError(f"{n} compressed bytes cannot expand to {size} bytes")
    itype = _index_dtype(max(n, size) + 2)
    ctrl = buf.astype(itype)
    pos = np.arange(n, dtype=itype)
    succ = np.where(ctrl < 32, pos + ctrl + 2, np.where((ctrl >> 5) == 7, pos + 3, pos + 2)).astype(itype)
    np.minimum(succ, n + 1, out=succ)
    succ = np.concatenate([succ, np.array([n, n + 1], dtype=itype)])
    tokens, end = walk_chain(succ, 0, n)
    if end != n:
        raise LZFError("LZF stream ends inside a token (truncated or corrupt)")

    c = ctrl[tokens]
    literal = c < 32
    short_len = c >> 5
    b1 = ctrl[np.minimum(tokens + 1, n - 1)]
    b2 = ctrl[np.minimum(tokens + 2, n - 1)]
    long_ref = ~literal & (short_len == 7)
    length = np.where(literal, c + 1, np.where(long_ref, b1 + 9, short_len + 2)).astype(itype)
    offset = ((c & 31) << 8 | np.where(long_ref, b2, b1)) + 1
    ends = np.cumsum(length, dtype=np.int64)
    if ends[-1] != size:
        raise LZFError(f"LZF stream decodes to {int(ends[-1])} bytes, expected {size}")
    starts = (ends - length).astype(itype)
    if np.any(~literal & (offset > starts)):
        raise LZFError("LZF back-reference points before the start of the output")

    out = _scatter_literals(buf, tokens[literal], length[literal], starts[literal], size)
    copy_from = (starts[~literal] - offset[~literal]).tolist()
    for dst, src, count in zip(starts[~literal].tolist(), copy_from, length[~literal].tolist()):
        if dst - src >= count:
            out[dst : dst + count] = out[src : src + count]
        else:
            out[dst : dst + count] = (out[src:dst] * (count // (dst - src) + 1))[:count]
    return bytes(out)


def _scatter_literals(
    buf: np.ndarray, tokens: np.ndarray, length: np.ndarray, starts: np.ndarray, size: int
) -> bytearray:
    """The output buffer with every literal run copied into place (back-references still zero)."""
    total = int(length.sum())
    run_of = np.repeat(np.arange(len(tokens)), length)
    within = np.arange(total) - (np.cumsum(length) - length)[run_of]
    out = np.zeros(size, dtype=np.uint8)
    out[starts[run_of] + within] = buf[tokens[run_of] + 1 + within]
    return bytearray(out.tobytes())


def _common_prefix(buf: np.ndarray, at: np.ndarray, ref: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Bytes shared by ``buf[at:]`` and ``buf[ref:]``, at most ``limit`` and never past the end."""
    n = len(buf)
    padded = np.concatenate([buf, np.zeros(8, dtype=np.uint8)])
    words = np.ndarray(shape=(n + 1,), dtype="<u8", buffer=padded.data, strides=(1,))
    length = np.zeros(len(at), dtype=np.int64)
    active = np.flatnonzero(limit > 0)
    while active.size:
        diff = words[at[active] + length[active]] ^ words[ref[active] + length[active]]
        same = diff == 0
        differ = ~same
        length[active[differ]] += np.argmax(diff[differ].view(np.uint8).reshape(-1, 8) != 0, axis=1)
        active = active[same]
        length[active] += 8
        active = active[(length[active] < limit[active]) & (at[active] + length[active] < n)]
    return np.minimum(np.minimum(length, limit), n - at)


def _find_matches(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every position: length and offset of a match with the most recent earlier 3-byte twin.

    Positions that share one offset with their neighbours form a diagonal segment whose bytes
    are known to match up to the segment's last key; only that end is extended byte-wise, so
    long runs cost one extension instead of one per position.
    """
    n = len(buf)
    length = np.zeros(n, dtype=np.int64)
    offset = np.zeros(n, dtype=np.int64)
    if n < MIN_MATCH + 1:
        return length, offset
    b = buf.astype(np.int64)
    m = n - 2
    packed = np.sort((b[:-2] | b[1:-1] << 8 | b[2:] << 16) << 32 | np.arange(m, dtype=np.int64))
    pos_sorted = packed & 0xFFFFFFFF
    twin = (packed[1:] >> 32) == (packed[:-1] >> 32)
    offset[pos_sorted[1:][twin]] = pos_sorted[1:][twin] - pos_sorted[:-1][twin]
    offset[offset > MAX_OFFSET] = 0
    has = offset[:m] > 0
    same_diag = has[1:] & has[:-1] & (offset[1:m] == offset[: m - 1])
    first = np.flatnonzero(has & ~np.concatenate([[False], same_diag]))
    last = np.flatnonzero(has & ~np.concatenate([same_diag, [False]]))
    known_end = last + MIN_MATCH
    diag = offset[first]
    ext = _common_prefix(buf, known_end, known_end - diag, np.full(len(first), MAX_MATCH - MIN_MATCH))
    match_end = known_end + ext
    seg_len = last - first + 1
    seg_of = np.repeat(np.arange(len(first)), seg_len)
    members = np.flatnonzero(has)
    length[members] = np.minimum(match_end[seg_of] - members, MAX_MATCH)
    return length, offset


def compress(data: bytes | bytearray | memoryview | np.ndarray) -> bytes:
    """Encode ``data`` as an LZF stream (greedy parse, most recent 3-byte match within 8 KiB)."""
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).ravel()
    n = len(buf)
    if n == 0:
        return b""
    match_len, match_off = _find_matches(buf)
    itype = _index_dtype(n + 2)
    succ = np.arange(1, n + 3, dtype=itype)
    succ[n:] = (n, n + 1)
    has = np.flatnonzero(match_len)
    succ[has] = (has + match_len[has]).astype(itype)
    steps, _ = walk_chain(succ, 0, n)

    step_len = match_len[steps]
    is_match = step_len > 0
    is_lit = ~is_match
    lit_starts = np.flatnonzero(is_lit & np.concatenate([[True], is_match[:-1]]))
    lit_ends = np.flatnonzero(is_lit & np.concatenate([is_match[1:], [True]])) + 1
    starts_run = np.zeros(len(steps), dtype=bool)
    starts_run[lit_starts] = True
    run_of = np.cumsum(starts_run) - 1
    rank = np.arange(len(steps)) - lit_starts[np.maximum(run_of, 0)]
    chunk_head = is_lit & (rank % MAX_LITERAL == 0)
    mlen = step_len - 2
    long_ref = mlen >= 7
    emit = np.where(is_lit, 1 + chunk_head, np.where(long_ref, 3, 2))
    at = np.cumsum(emit) - emit
    out = np.empty(int(at[-1] + emit[-1]), dtype=np.uint8)

    heads = np.flatnonzero(chunk_head)
    run_len = lit_ends - lit_starts
    out[at[heads]] = np.minimum(MAX_LITERAL, run_len[run_of[heads]] - rank[heads]) - 1
    lits = np.flatnonzero(is_lit)
    out[at[lits] + chunk_head[lits]] = buf[steps[lits]]

    refs = np.flatnonzero(is_match)
    off = match_off[steps[refs]] - 1
    longs = long_ref[refs]
    out[at[refs]] = np.minimum(mlen[refs], 7) << 5 | off >> 8
    out[at[refs[longs]] + 1] = mlen[refs[longs]] - 7
    out[at[refs] + 1 + longs] = off & 255
    return out.tobytes()
