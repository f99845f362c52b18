"""The site bus: alerts, node birth/death and status over MQTT to the site broker.

paho-mqtt with its v2 callback API, one network thread of paho's own (``loop_start``). The
topic tree is in ``docs/site-bus.md``::

    borderlink/<site>/<node>/birth    retained, QoS 1: {"state": "online"|"offline", ...}
                                      ("offline" is the last will, sent by the broker when
                                      the node vanishes, and on a clean stop)
    borderlink/<site>/<node>/alert    QoS 1: one message per alert record, once it is durable
    borderlink/<site>/<node>/status   retained, QoS 0: the agent's status, every few seconds
    borderlink/<site>/console/<console>/ack
                                      QoS 1, from a site console: an acknowledgement of an
                                      alert; the node it names records it as ``alert.ack``

The console is named by the topic, never by the payload: the site broker authenticates every
client and its ACL (``borderlink edge site-bus-config``: one ``user`` block per identity) lets
a console publish only on the topic carrying its own username, so the topic is the one claim
about who acknowledged that the broker vouches for. An ack on any other topic shape, or whose
payload names another console, is refused (logged, counted in ``refused_acks``, no record);
the payload's ``operator`` is kept only as what the console claims about the person at it.

That holds only on a broker that authenticates, reached over TLS the node verified: on an
anonymous broker anyone may publish on any console's topic, and over plain MQTT anyone on the
LAN can read the console's password or pose as the broker. So the node subscribes to acks
only when it has a CA for the broker (``ca``) and logs in itself (``username`` or a client
certificate) — :attr:`SiteBus.accepts_acks`; otherwise it still publishes alerts, birth and
status, and records no acknowledgement at all.

A dead or missing broker never stops recording or syncing: publishing hands the message to
paho and returns; paho keeps at most ``max_queued`` QoS 1 messages while disconnected and
sends them on reconnect (older alerts stay in the journal and reach the hub anyway).
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from .recorder import Recorded, Recorder

__all__ = ["SiteBus", "SiteBusConfig", "SiteBusSetupError", "ack_console", "console_ack_topic",
           "read_password", "topics"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SiteBusConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    keepalive_s: int = 15
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30
    max_queued: int = 1000  # QoS 1 messages held while the broker is away
    status_interval_s: float = 5.0
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log or a repr
    ca: Path | None = None  # set: TLS, the broker's certificate checked against ``host``
    cert: Path | None = None  # optional client certificate (with ``key``)
    key: Path | None = None


class SiteBusSetupError(ValueError):
    """The broker credentials or TLS files cannot be used (names the file, not the secret)."""


def read_password(path: Path) -> str:
    """The password alone in ``path`` (one trailing newline allowed)."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteBusSetupError(f"{path}: cannot read the broker password file: {exc}") from exc
    password = text[:-1] if text.endswith("\n") else text
    if not password or "\n" in password:
        raise SiteBusSetupError(f"{path}: expected the broker password alone on one line")
    return password


def tls_context(config: SiteBusConfig) -> ssl.SSLContext | None:
    """The TLS context for the broker, built now so bad files fail at start, not in paho."""
    if config.ca is None:
        return None
    try:
        ctx = ssl.create_default_context(cafile=str(config.ca))
    except (OSError, ssl.SSLError) as exc:
        raise SiteBusSetupError(f"{config.ca}: cannot load the broker CA: {exc}") from exc
    if config.cert is not None and config.key is not None:
        try:
            ctx.load_cert_chain(str(config.cert), str(config.key))
        except (OSError, ssl.SSLError) as exc:
            raise SiteBusSetupError(f"{config.cert}, {config.key}: cannot load the broker "
                                    f"client certificate and key: {exc}") from exc
    return ctx


@dataclass(frozen=True)
class Topics:
    birth: str
    alert: str
    status: str
    acks: str  # the subscription: every console's ack topic on this site


def topics(site: str, node: str) -> Topics:
    base = f"borderlink/{site}"
    return Topics(f"{base}/{node}/birth", f"{base}/{node}/alert", f"{base}/{node}/status",
                  f"{base}/console/+/ack")


def console_ack_topic(site: str, console: str) -> str:
    """Where console ``console`` (its broker username) publishes its acknowledgements."""
    return f"borderlink/{site}/console/{console}/ack"


def ack_console(topic: str, site: str) -> str | None:
    """The authenticated console identity an ack topic carries, or None if it is not one."""
    parts = topic.split("/")
    if (len(parts) != 5 or parts[0] != "borderlink" or parts[1] != site
            or parts[2] != "console" or parts[4] != "ack" or not parts[3]):
        return None
    return parts[3]


def alert_message(item: Recorded, node: str, site: str) -> dict[str, Any]:
    """The JSON of an alert: what a console shows, plus the record to verify it by."""
    record = item.signed.record
    return {
        "node": node, "site": site, "seq": record.seq, "type": record.record_type,
        "level": str(item.alert), "summary": item.summary, "time_ms": record.time_ms,
        "agency": record.agency, "body": _jsonable(dict(record.body)),
        "record_b64": base64.b64encode(record.raw).decode(),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class SiteBus:
    """The node's MQTT client. :meth:`start` connects in the background; never blocks callers."""

    def __init__(self, config: SiteBusConfig, *, node_id: str, site: str,
                 recorder: Recorder | None = None, agent_version: str = "") -> None:
        self.config = config
        self.node_id = node_id
        self.site = site
        self.recorder = recorder
        self.topics = topics(site, node_id)
        self.agent_version = agent_version
        self.connected = threading.Event()
        self.published_alerts = 0
        self.refused_alerts = 0  # paho's queue was full
        self.bad_acks = 0
        self.refused_acks = 0  # not on an authenticated console's ack topic, or naming another
        self.acks_recorded = 0
        self.on_alert_published: Callable[[Recorded], None] | None = None
        self._seen_acks: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        self._client: mqtt.Client | None = None
        self._tls = tls_context(config)
        #: Whether acknowledgements are taken at all (see the module doc).
        self.accepts_acks = self._tls is not None and (
            config.username is not None or config.cert is not None)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                        client_id=f"borderlink-edge-{self.node_id}", clean_session=True)
        c.will_set(self.topics.birth, self._birth("offline", "last will"), qos=1, retain=True)
        c.reconnect_delay_set(self.config.reconnect_min_s, self.config.reconnect_max_s)
        c.max_queued_messages_set(self.config.max_queued)
        if self.config.username is not None:
            c.username_pw_set(self.config.username, self.config.password)
        if self._tls is not None:
            c.tls_set_context(self._tls)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_connect_fail = self._on_connect_fail
        if not self.accepts_acks:
            log.warning("site bus: console acknowledgements are not accepted (the bus is not "
                        "authenticated: [broker] needs ca and username/password_file or "
                        "cert/key)")
        self._client = c
        c.connect_async(self.config.host, self.config.port, self.config.keepalive_s)
        c.loop_start()

    def stop(self) -> None:
        c, self._client = self._client, None
        if c is None:
            return
        if self.connected.is_set():
            info = c.publish(self.topics.birth, self._birth("offline", "stopped"), qos=1,
                             retain=True)
            try:
                info.wait_for_publish(2.0)
            except (RuntimeError, ValueError):
                pass
        c.disconnect()
        c.loop_stop()
        self.connected.clear()

    def _birth(self, state: str, reason: str = "") -> bytes:
        return json.dumps({"node": self.node_id, "site": self.site, "state": state,
                           "reason": reason, "agent_version": self.agent_version,
                           "time_ms": int(time.time() * 1000)}).encode()

    # -- paho callbacks (paho's thread) ---------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.warning("site broker refused the connection: %s", reason)
            return
        client.publish(self.topics.birth, self._birth("online"), qos=1, retain=True)
        if self.accepts_acks:
            client.subscribe(self.topics.acks, qos=1)
        self.connected.set()
        log.info("site bus connected to %s:%d%s%s", self.config.host, self.config.port,
                 " over TLS" if self._tls is not None else "",
                 f" as {self.config.username}" if self.config.username else " anonymously")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # A TLS handshake refused (a broker not signed by [broker] ca, or not named `host`)
        # ends here, before any password is sent; paho tries again with back-off.
        log.warning("cannot reach the site broker at %s:%d%s", self.config.host,
                    self.config.port, " (TLS: is its certificate from [broker] ca and does it "
                    "name the host?)" if self._tls is not None else "")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self.connected.clear()
        log.warning("site bus disconnected: %s", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._handle_ack(msg.topic, bytes(msg.payload))
        except Exception:  # a bad console message never kills the network thread
            log.exception("console acknowledgement failed")
            self.bad_acks += 1

    def _handle_ack(self, topic: str, payload: bytes) -> None:
        console = ack_console(topic, self.site) if self.accepts_acks else None
        if console is None:
            self.refused_acks += 1
            log.warning("refusing an acknowledgement on %r: not a console's ack topic", topic)
            return
        try:
            ack = json.loads(payload)
            node, seq = ack["node"], ack["seq"]
            action = str(ack.get("action", "acknowledged"))
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
                raise ValueError(f"seq must be a positive integer, got {seq!r}")
        except (ValueError, KeyError, TypeError) as exc:
            self.bad_acks += 1
            log.warning("ignoring a malformed console acknowledgement: %s", exc)
            return
        claimed = ack.get("console")
        if claimed is not None and claimed != console:
            self.refused_acks += 1
            log.warning("refusing an acknowledgement on %r claiming to be console %r",
                        topic, claimed)
            return
        if node != self.node_id or self.recorder is None:
            return
        key = (seq, console, action, ack.get("operator"), ack.get("note"))
        if key in self._seen_acks:  # a QoS 1 redelivery
            return
        self._seen_acks[key] = None
        if len(self._seen_acks) > 1024:
            self._seen_acks.popitem(last=False)
        body: dict[str, Any] = {"alert_node": node, "alert_seq": seq, "console": console,
                                "action": action}
        for name in ("note", "operator"):
            if isinstance(ack.get(name), str):
                body[name] = ack[name]
        self.recorder.record_event("alert.ack", body)
        self.acks_recorded += 1

    # -- publishing (any thread, never blocks) ----------------------------------------------

    def on_recorded(self, item: Recorded) -> None:
        """A recorder listener: publish alerts the moment they are durable."""
        if item.alert is None:
            return
        self.publish_alert(item)

    def publish_alert(self, item: Recorded) -> None:
        c = self._client
        if c is None:
            return
        payload = json.dumps(alert_message(item, self.node_id, self.site)).encode()
        info = c.publish(self.topics.alert, payload, qos=1)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.refused_alerts += 1
            log.warning("site bus queue full: alert %d stays in the journal only", item.seq)
            return
        self.published_alerts += 1
        if self.on_alert_published is not None:
            self.on_alert_published(item)

    def publish_status(self, status: Mapping[str, Any]) -> None:
        c = self._client
        if c is None or not self.connected.is_set():
            return
        c.publish(self.topics.status, json.dumps(_jsonable(dict(status))).encode(), qos=0,
                  retain=True)
