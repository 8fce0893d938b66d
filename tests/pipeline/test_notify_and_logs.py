"""sd_notify datagrams (filesystem and abstract sockets) and JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import uuid

import pytest

from edge.logs import fields, setup_logging
from edge.notify import Notifier


def receive(sock: socket.socket) -> str:
    sock.settimeout(2.0)
    return sock.recv(4096).decode()


@pytest.mark.parametrize("abstract", [False, True])
def test_notifier_sends_ready_reloading_stopping_and_watchdog(tmp_path, abstract) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"@pcinspect-test-{uuid.uuid4().hex}" if abstract else str(tmp_path / "notify.sock")
    sock.bind("\0" + name[1:] if abstract else name)
    notifier = Notifier({"NOTIFY_SOCKET": name})
    try:
        assert notifier.ready(status="serving")
        assert receive(sock) == "READY=1\nSTATUS=serving"
        notifier.reloading()
        assert receive(sock).startswith("RELOADING=1\nMONOTONIC_USEC=")
        notifier.watchdog()
        assert receive(sock) == "WATCHDOG=1"
        notifier.stopping()
        assert receive(sock) == "STOPPING=1"
    finally:
        notifier.close()
        sock.close()


def test_notifier_is_a_no_op_outside_systemd() -> None:
    assert not Notifier({}).ready()


def test_watchdog_interval_applies_only_to_the_named_process() -> None:
    assert Notifier({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}).watchdog_s == 4.0
    assert Notifier({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}).watchdog_s is None


def test_logs_are_one_json_object_per_line_with_extra_fields() -> None:
    stream = io.StringIO()
    setup_logging("INFO", stream)
    logger = logging.getLogger("edge.test")
    logger.info("verdict", extra=fields(seq=3, verdict="PASS"))
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["msg"], first["level"], first["seq"], first["verdict"]) == ("verdict", "INFO", 3, "PASS")
    assert second["level"] == "ERROR" and "ValueError: bad" in second["exc"]
