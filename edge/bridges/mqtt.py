"""`pcinspect bridge mqtt`: every verdict to ``<prefix>/<station>/verdict`` (QoS 1, retained), health to
``<prefix>/<station>/status`` (retained, last will ``offline``).

One verdict is in flight at a time: the next is published only after the broker's PUBACK, and only then is
its seq written to the cursor. A broker outage therefore holds the bridge (never the service); paho resends
the unacknowledged message after reconnecting and the journal supplies whatever the bridge did not read
meanwhile. Delivery is once and in order; a bridge killed between a PUBACK and its cursor write repeats that
one verdict after restart (consumers can drop a seq they have already seen).
"""

from __future__ import annotations

import collections
import json
import logging
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho

from edge.bridges.cursor import Cursor
from edge.bridges.source import ServiceAddress, VerdictStream, default_cursor, read_secret
from edge.config import MqttConfig, StationConfig
from edge.logs import fields

log = logging.getLogger("edge.bridges.mqtt")
OFFLINE = "offline"
POLL_S = 0.2
MAX_ACKS = 1000


@dataclass(frozen=True)
class Topics:
    verdict: str
    status: str

    @classmethod
    def of(cls, prefix: str, station: str) -> Topics:
        base = f"{prefix.rstrip('/')}/{station}"
        return cls(f"{base}/verdict", f"{base}/status")


class Acks:
    """PUBACKs by message id (paho's callback thread adds, the bridge waits)."""

    def __init__(self) -> None:
        self._acked: collections.OrderedDict[int, None] = collections.OrderedDict()
        self._condition = threading.Condition()
        self.connected = threading.Event()

    def on_publish(self, client: Any, userdata: Any, mid: int, reason: Any = None, properties: Any = None) -> None:
        with self._condition:
            self._acked[mid] = None
            while len(self._acked) > MAX_ACKS:  # acks nobody waits for (status messages)
                self._acked.popitem(last=False)
            self._condition.notify_all()

    def wait(self, mid: int, timeout_s: float) -> bool:
        with self._condition:
            done = self._condition.wait_for(lambda: mid in self._acked, timeout_s)
            self._acked.pop(mid, None)
            return done


def make_client(config: StationConfig, mqtt: MqttConfig, topics: Topics, acks: Acks) -> paho.Client:
    """A paho client with the station file's TLS, credentials and last will; not connected yet."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=mqtt.client_id or f"pcinspect-{config.station}",
                         clean_session=False)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    if mqtt.tls:
        client.tls_set(ca_certs=str(mqtt.ca_file) if mqtt.ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
    if mqtt.username is not None:
        client.username_pw_set(mqtt.username, read_secret(mqtt.password_file))
    client.will_set(topics.status, OFFLINE, qos=1, retain=True)
    client.on_publish = acks.on_publish

    def on_connect(client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection", extra=fields(broker=mqtt.broker, reason=str(reason)))
            return
        log.info("connected to broker", extra=fields(broker=mqtt.broker, session_present=flags.session_present))
        acks.connected.set()

    def on_disconnect(client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        acks.connected.clear()
        log.warning("disconnected from broker; reconnecting", extra=fields(broker=mqtt.broker, reason=str(reason)))

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    return client


class MqttBridge:
    """Runs until ``stop`` is set; ``run`` returns the process exit code."""

    def __init__(self, config: StationConfig, stop: threading.Event | None = None) -> None:
        if config.mqtt is None:
            raise ValueError("the station file has no mqtt: section (broker, prefix, ...)")
        self.config = config
        self.mqtt = config.mqtt
        self.stop = stop or threading.Event()
        self.topics = Topics.of(self.mqtt.prefix, config.station)
        self.cursor: Cursor = default_cursor(config, "mqtt", self.mqtt.cursor)
        self.address = ServiceAddress.from_config(config, self.mqtt)
        self.acks = Acks()
        self.client = make_client(config, self.mqtt, self.topics, self.acks)
        self.delivered = 0

    def run(self) -> int:
        host, port = self.mqtt.broker.rsplit(":", 1)
        self.client.connect_async(host.strip("[]"), int(port), keepalive=self.mqtt.keepalive_s)
        self.client.loop_start()
        stream = VerdictStream(self.address, self.cursor.load())
        log.info("bridging", extra=fields(station=self.config.station, broker=self.mqtt.broker,
                                          topics=[self.topics.verdict, self.topics.status],
                                          since=self.cursor.load()))
        next_status = 0.0
        try:
            while not self.stop.is_set():
                verdict = stream.next(POLL_S)
                if verdict is not None and not self._deliver(verdict):
                    break
                if time.monotonic() >= next_status and self.acks.connected.is_set():
                    self._publish_status(stream)
                    next_status = time.monotonic() + self.address.heartbeat_s
        finally:
            stream.close()
            self._publish(self.topics.status, OFFLINE, wait_s=2.0)
            self.client.disconnect()
            self.client.loop_stop()
        log.info("stopped", extra=fields(delivered=self.delivered, last_seq=self.cursor.load()))
        return 0

    def _deliver(self, verdict: dict[str, Any]) -> bool:
        """Publish until the broker acknowledges it (False only when asked to stop first), then save the seq."""
        info = self.client.publish(self.topics.verdict, json.dumps(verdict, allow_nan=False), qos=1, retain=True)
        while not self.acks.wait(info.mid, POLL_S):
            if self.stop.is_set():
                log.warning("stopped before the broker acknowledged a verdict; it is resent after restart",
                            extra=fields(seq=verdict["seq"]))
                return False
        self.cursor.save(verdict["seq"])
        self.delivered += 1
        return True

    def _publish_status(self, stream: VerdictStream) -> None:
        status = {"bridge": "online", "ts": time.time(), "delivered_seq": self.cursor.load(), **stream.health.summary()}
        self._publish(self.topics.status, json.dumps(status, allow_nan=False), wait_s=0.0)

    def _publish(self, topic: str, payload: str, wait_s: float) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=True)
        if wait_s:
            self.acks.wait(info.mid, wait_s)
