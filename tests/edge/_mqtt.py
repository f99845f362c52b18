"""Test helpers for the real Mosquitto broker at 127.0.0.1:1883 (tests fail, never skip, without it)."""

from __future__ import annotations

import json
import queue
import socket
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import pytest

BROKER = ("127.0.0.1", 1883)


def require_broker() -> None:
    try:
        socket.create_connection(BROKER, timeout=1.0).close()
    except OSError as exc:
        pytest.fail(f"Mosquitto is not listening on {BROKER[0]}:{BROKER[1]} ({exc}); "
                    "install and start it: apt-get install mosquitto && mosquitto -d")


def unique_site() -> str:
    return f"T{uuid.uuid4().hex[:10]}"


class Subscriber:
    """A plain paho client following topics, as any site console would."""

    def __init__(self, *topics: str) -> None:
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                      client_id=f"test-sub-{uuid.uuid4().hex[:8]}")
        c.on_message = lambda cl, ud, m: self.messages.put((m.topic, m.payload, m.retain))
        c.connect(*BROKER)
        for t in topics:
            c.subscribe(t, qos=1)
        c.loop_start()

    def next(self, topic: str | None = None, timeout: float = 5.0,
             where: Any = None) -> dict[str, Any]:
        """The next message on *topic* matching *where*; queue.Empty after *timeout* seconds."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise queue.Empty(f"no matching message on {topic} within {timeout} s")
            t, payload, _ = self.messages.get(timeout=left)
            if topic is not None and t != topic:
                continue
            if not payload:
                continue
            data = json.loads(payload)
            if where is None or where(data):
                return data

    def publish(self, topic: str, data: Any, retain: bool = False) -> None:
        info = self.client.publish(topic, json.dumps(data) if data is not None else b"",
                                   qos=1, retain=retain)
        info.wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
