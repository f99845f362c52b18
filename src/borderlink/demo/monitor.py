"""What the demo shows while it runs: alerts from the site bus and each node's sync backlog."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


@dataclass
class Alert:
    received: float  # wall clock at the console
    node: str
    seq: int
    record_type: str
    level: str
    summary: str
    time_ms: int


class SiteConsole:
    """A command-and-control console on the site bus: collects every alert once (node, seq)."""

    def __init__(self, host: str, port: int, site: str) -> None:
        self.alerts: list[Alert] = []
        self._seen: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._topic = f"borderlink/{site}/+/alert"
        self._connected = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"demo-console-{time.time_ns()}")
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._host, self._port = host, port

    def start(self, timeout: float = 5.0) -> bool:
        try:
            self._client.connect(self._host, self._port, keepalive=15)
        except OSError:
            return False
        self._client.loop_start()
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        client.subscribe(self._topic, qos=1)
        self._connected.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            alert = json.loads(message.payload)
            key = (str(alert["node"]), int(alert["seq"]))
        except (ValueError, KeyError, TypeError):
            return  # not ours to judge; the node counts malformed messages
        with self._lock:
            if key in self._seen:
                return  # QoS 1 is at least once
            self._seen.add(key)
            self.alerts.append(Alert(time.time(), key[0], key[1], str(alert.get("type", "")),
                                     str(alert.get("level", "")), str(alert.get("summary", "")),
                                     int(alert.get("time_ms", 0))))

    def snapshot(self) -> list[Alert]:
        with self._lock:
            return list(self.alerts)


@dataclass
class Progress:
    """A one-line live display on a terminal; a line every few seconds otherwise."""

    out: TextIO = sys.stdout
    interval_s: float = 5.0
    _last: float = 0.0
    _shown: int = 0
    backlog: dict[str, list[tuple[float, int]]] = field(default_factory=dict)

    def sample(self, site: Any, console: SiteConsole | None, elapsed: float, total: float,
               note: str = "") -> dict[str, Any]:
        records = unsynced = 0
        links_down = 0
        for node in site.nodes:
            status = site.read_status(node)
            journal = status.get("journal", {}) if isinstance(status.get("journal"), dict) else {}
            node_records = int(journal.get("tip_seq", 0) or 0)
            node_unsynced = int(journal.get("unsynced_records", 0) or 0)
            records += node_records
            unsynced += node_unsynced
            self.backlog.setdefault(node.node_id, []).append((time.time(), node_unsynced))
            if node.relay is not None and not node.relay.is_up:
                links_down += 1
        alerts = console.snapshot() if console else []
        by_type = Counter(a.record_type for a in alerts)
        line = (f"[{elapsed:5.0f}/{total:.0f} s] {len(site.nodes)} devices · {records} records "
                f"· {len(alerts)} alerts · backlog {unsynced}"
                + (f" · {links_down} links cut" if links_down else "") + (f" · {note}" if note else ""))
        now = time.time()
        if self.out.isatty():
            self.out.write("\r" + line[:150].ljust(150))
            self.out.flush()
        elif now - self._last >= self.interval_s:
            self.out.write(line + "\n")
            self.out.flush()
            self._last = now
        for alert in alerts[self._shown:]:
            if alert.level == "alarm":
                prefix = "\n" if self.out.isatty() else ""
                self.out.write(f"{prefix}  ALERT {alert.node} {alert.record_type}: {alert.summary}\n")
        self._shown = len(alerts)
        return {"records": records, "unsynced": unsynced, "alerts": len(alerts), "types": by_type}
