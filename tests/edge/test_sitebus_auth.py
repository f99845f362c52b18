"""The authenticated site bus: a real Mosquitto started from `site-bus-config`'s files, the real
SiteBus as the node, plain paho clients as consoles, an intruder and a stolen node identity."""

from __future__ import annotations

import getpass
import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from borderlink.edge.errors import ConfigError
from borderlink.edge.journal import Journal
from borderlink.edge.processors.base import AlertLevel, Decision
from borderlink.edge.recorder import Recorder
from borderlink.edge.sitebus import SiteBus, SiteBusConfig, console_ack_topic, read_password
from borderlink.edge.sitebus_broker import Identity, write_site_bus_config
from borderlink.proto.record import decode_record
from borderlink.provisioning.ca import CertificateAuthority

from .conftest import NODE_ID, SITE

pytestmark = pytest.mark.mqtt

MOSQUITTO = "/usr/sbin/mosquitto"
EMERGENCY = Decision("radio.emergency", {"unit": "P7", "message": "help"}, 1.79e9,
                     AlertLevel.ALARM, "emergency from P7")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(tmp_path: Path, tls: tuple[Path, Path, Path] | None = None
           ) -> Iterator[tuple[int, Path]]:
    port = _free_port()
    files = write_site_bus_config(
        tmp_path / "bus", site=SITE, nodes=[Identity(NODE_ID), Identity("bil-test-02")],
        consoles=[Identity("cc-a"), Identity("cc-b")], port=port, bind="127.0.0.1",
        user=getpass.getuser(), tls=tls)
    proc = subprocess.Popen([MOSQUITTO, "-c", str(files.conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"mosquitto did not start: {proc.communicate()[1]!r}")
            time.sleep(0.05)
    try:
        yield port, tmp_path / "bus" / "passwords"
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    yield from _start(tmp_path)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    ca = CertificateAuthority.create("site bus test CA")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    ca.issue_hub("site-broker").save(tmp_path / "broker.pem", tmp_path / "broker.key")
    for port, passwords in _start(tmp_path, (tmp_path / "ca.pem", tmp_path / "broker.pem",
                                             tmp_path / "broker.key")):
        yield port, passwords, tmp_path / "ca.pem"


class Client:
    """A plain paho client with a username (or none), as a console or an intruder would be."""

    def __init__(self, port: int, name: str | None, passwords: Path) -> None:
        self.refused: str | None = None
        self.got: list[tuple[str, dict]] = []
        self.ready = threading.Event()
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                      client_id=f"t-{uuid.uuid4().hex[:8]}")
        if name is not None:
            c.username_pw_set(name, read_password(passwords / name))

        def on_connect(cl, ud, flags, reason, props) -> None:  # type: ignore[no-untyped-def]
            if reason.is_failure:
                self.refused = str(reason)
            self.ready.set()

        c.on_connect = on_connect
        c.on_message = lambda cl, ud, m: self.got.append((m.topic, json.loads(m.payload)))
        c.connect("127.0.0.1", port)
        c.loop_start()
        assert self.ready.wait(5)

    def publish(self, topic: str, data: dict) -> None:
        self.client.publish(topic, json.dumps(data), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_only_the_authenticated_console_on_its_own_topic_makes_an_alert_ack(
        broker: tuple[int, Path], recorder: Recorder, journal: Journal) -> None:
    port, passwords = broker
    bus = SiteBus(SiteBusConfig(port=port, keepalive_s=5, username=NODE_ID,
                                password=read_password(passwords / NODE_ID)),
                  node_id=NODE_ID, site=SITE, recorder=recorder, agent_version="test")
    recorder.add_listener(bus.on_recorded)
    console_a = Client(port, "cc-a", passwords)
    console_b = Client(port, "cc-b", passwords)
    stolen_node = Client(port, "bil-test-02", passwords)
    anonymous = Client(port, None, passwords)
    bus.start()
    try:
        assert bus.connected.wait(5)
        assert anonymous.refused is not None  # allow_anonymous false: no session at all
        assert None is console_a.refused is console_b.refused is stolen_node.refused
        console_a.client.subscribe(f"borderlink/{SITE}/+/alert", qos=1)
        time.sleep(0.2)
        item = recorder.record(EMERGENCY)
        assert item is not None
        deadline = time.monotonic() + 5
        while not console_a.got and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [(t, d["seq"]) for t, d in console_a.got] == [
            (f"borderlink/{SITE}/{NODE_ID}/alert", item.seq)]  # alerts still reach consoles

        ack = {"node": NODE_ID, "seq": item.seq, "action": "resolved_false_alarm",
               "operator": "invented"}
        stolen_node.publish(console_ack_topic(SITE, "cc-a"), ack)
        stolen_node.publish(console_ack_topic(SITE, "bil-test-02"), ack)  # no pattern %u
        console_a.publish(console_ack_topic(SITE, "cc-b"), ack)
        console_b.publish(f"borderlink/{SITE}/console/ack", ack)
        console_a.publish(console_ack_topic(SITE, "cc-a"), {**ack, "action": "dispatched"})
        deadline = time.monotonic() + 5
        while bus.acks_recorded < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # anything the broker let through would have arrived by now
        acks = [decode_record(r.raw).body for r in journal.iter_all()
                if r.record_type == "alert.ack"]
        assert [(b["console"], b["action"]) for b in acks] == [("cc-a", "dispatched")]
        assert bus.acks_recorded == 1
    finally:
        bus.stop()
        for c in (console_a, console_b, stolen_node, anonymous):
            c.close()


def test_site_bus_config_refuses_ambiguous_or_unsafe_identities(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="given twice"):
        write_site_bus_config(tmp_path, site="S", nodes=[Identity("x")],
                              consoles=[Identity("x")])
    with pytest.raises(ConfigError, match="no MQTT wildcards"):
        write_site_bus_config(tmp_path, site="S", nodes=[], consoles=[Identity("a/+")])
    with pytest.raises(ConfigError, match="not found: install Mosquitto"):
        write_site_bus_config(tmp_path, site="S", nodes=[Identity("n")], consoles=[],
                              mosquitto_passwd=str(tmp_path / "no-such-tool"))


def test_over_tls_the_node_authenticates_and_its_alerts_reach_the_console(
        tls_broker: tuple[int, Path, Path], recorder: Recorder) -> None:
    port, passwords, ca = tls_broker
    bus = SiteBus(SiteBusConfig(port=port, keepalive_s=5, username=NODE_ID,
                                password=read_password(passwords / NODE_ID), ca=ca),
                  node_id=NODE_ID, site=SITE, recorder=recorder, agent_version="test")
    recorder.add_listener(bus.on_recorded)
    console = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t-tls-console")
    console.username_pw_set("cc-a", read_password(passwords / "cc-a"))
    console.tls_set(ca_certs=str(ca))
    got: list[str] = []
    console.on_message = lambda cl, ud, m: got.append(m.topic)
    console.connect("127.0.0.1", port)
    console.subscribe(f"borderlink/{SITE}/+/alert", qos=1)
    console.loop_start()
    bus.start()
    try:
        assert bus.connected.wait(5)
        time.sleep(0.2)
        assert recorder.record(EMERGENCY) is not None
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
        assert got == [f"borderlink/{SITE}/{NODE_ID}/alert"]
    finally:
        bus.stop()
        console.disconnect()
        console.loop_stop()
    # Plain MQTT to the TLS listener gets no session.
    plain = SiteBus(SiteBusConfig(port=port, keepalive_s=5, username=NODE_ID,
                                  password=read_password(passwords / NODE_ID)),
                    node_id=NODE_ID, site=SITE)
    plain.start()
    try:
        assert not plain.connected.wait(1.5)
    finally:
        plain.stop()
