"""A scanner client written only from docs/protocol.md "Frames in — ROUTER" (no pcinspect imports).

It is what a line integrator would write in another language: a DEALER, frames ``[header JSON, float32 LE
payload]``, a window of unacknowledged frames, and a resend of every unacknowledged frame after a timeout.
"""

from __future__ import annotations

import json
import struct
import time

import zmq


class SpecScanner:
    def __init__(self, endpoint: str, window: int = 4, resend_s: float = 3.0) -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.connect(endpoint)
        self.window, self.resend_s = window, resend_s
        self.unacked: dict[str, tuple[list[bytes], float]] = {}
        self.acks: dict[str, dict] = {}
        self.resends = 0

    @staticmethod
    def frame(frame_id: str, recipe: str, points: list[tuple[float, float, float]]) -> list[bytes]:
        header = {"v": 1, "frame_id": frame_id, "part_id": "part-" + frame_id, "recipe": recipe, "seq": 0,
                  "ts": time.time(), "n": len(points), "fields": ["x", "y", "z"], "dtype": "float32", "units": "mm"}
        payload = b"".join(struct.pack("<3f", *p) for p in points)
        return [json.dumps(header).encode(), payload]

    def send(self, frame_id: str, parts: list[bytes]) -> None:
        while len(self.unacked) >= self.window:
            self.pump(0.1)
        self.unacked[frame_id] = (parts, time.monotonic())
        self.socket.send_multipart(parts)

    def pump(self, seconds: float) -> None:
        if self.socket.poll(int(seconds * 1000)):
            while self.socket.poll(0):
                ack = json.loads(self.socket.recv())
                if ack.get("ack") in self.unacked:
                    del self.unacked[ack["ack"]]
                    self.acks[ack["ack"]] = ack
        now = time.monotonic()
        for frame_id, (parts, sent) in list(self.unacked.items()):
            if now - sent > self.resend_s:
                self.unacked[frame_id] = (parts, now)
                self.resends += 1
                self.socket.send_multipart(parts)

    def finish(self, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while self.unacked and time.monotonic() < end:
            self.pump(0.1)
        return not self.unacked

    def close(self) -> None:
        self.context.destroy(linger=0)
