"""Idempotent ingest: which frame_ids are being inspected, and who waits for their acknowledgement.

A frame is inspected once per station: ``claim`` registers a new frame_id (a :class:`Ticket`), answers a
frame_id that is already journaled with an :class:`Ack` ``duplicate: true`` built from the journal, and adds
the sender of a frame_id still in flight to that ticket's waiters. ``settle`` is called after the verdict is
journaled (commit first, then forget the ticket, so a resend is never missed between the two) and returns
the acks to send. ``claim`` runs on the ingest thread only (``lookup`` uses that thread's journal reader).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.pipeline.codec import Ack

Lookup = Callable[[str], tuple[int, str] | None]


@dataclass(eq=False)
class Ticket:
    """One frame being inspected: its id (None when the header was unreadable) and the peers awaiting an ack."""

    frame_id: str | None
    peers: list[bytes | None] = field(default_factory=list)


class Ledger:
    """The frame_ids in flight, shared by the ingest thread (claim) and the publisher (settle/release)."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._inflight: dict[str, Ticket] = {}
        self._lock = threading.Lock()
        self.duplicates = 0

    def claim(self, frame_id: str | None, peer: bytes | None) -> Ticket | Ack | None:
        """A Ticket to inspect the frame, an Ack for a journaled duplicate, or None (in flight; peer waits)."""
        if frame_id is None:
            return Ticket(None, [peer])
        with self._lock:
            ticket = self._inflight.get(frame_id)
            if ticket is not None:
                ticket.peers.append(peer)
                self.duplicates += 1
                return None
            found = self._lookup(frame_id)
            if found is not None:
                self.duplicates += 1
                return Ack(ack=frame_id, seq=found[0], verdict=found[1], duplicate=True)
            ticket = self._inflight[frame_id] = Ticket(frame_id, [peer])
            return ticket

    def settle(self, ticket: Ticket, seq: int, verdict: str) -> list[tuple[bytes, Ack]]:
        """Forget a journaled ticket; the acks for its peers (the first is the original, later ones duplicates)."""
        with self._lock:
            if ticket.frame_id is not None:
                self._inflight.pop(ticket.frame_id, None)
            peers = list(ticket.peers)
        return [(peer, Ack(ack=ticket.frame_id, seq=seq, verdict=verdict, duplicate=i > 0))
                for i, peer in enumerate(peers) if peer is not None]

    def release(self, ticket: Ticket) -> None:
        """Forget a ticket whose verdict was not journaled, so a resend of the frame is inspected."""
        with self._lock:
            if ticket.frame_id is not None and self._inflight.get(ticket.frame_id) is ticket:
                del self._inflight[ticket.frame_id]

    def inflight(self) -> int:
        with self._lock:
            return len(self._inflight)
