"""The authenticated site bus: a real Mosquitto started from `site-bus-config`'s files (its TLS
certificate from the deployment's CA, `provision cert broker`), the real SiteBus and the real
`borderlink edge run` as the node, plain paho clients as consoles, an intruder and a stolen
node identity."""

from __future__ import annotations

import getpass
import json
import os
import queue
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from borderlink.cli import main
from borderlink.edge.errors import ConfigError
from borderlink.edge.journal import Journal, read_stats
from borderlink.edge.processors.base import AlertLevel, Decision
from borderlink.edge.recorder import Recorder
from borderlink.edge.sitebus import SiteBus, SiteBusConfig, console_ack_topic, read_password
from borderlink.edge.sitebus_broker import Identity, write_site_bus_config
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import decode_record
from borderlink.provisioning.trust import init_ca_directory

from ._radio import gen_emergency, gen_fix
from .conftest import NODE_ID, SITE

pytestmark = pytest.mark.mqtt

MOSQUITTO = "/usr/sbin/mosquitto"
STOLEN = "bil-test-02"
EMERGENCY = Decision("radio.emergency", {"unit": "P7", "message": "help"}, 1.79e9,
                     AlertLevel.ALARM, "emergency from P7")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class Broker:
    port: int
    passwords: Path
    ca: Path  # the deployment's CA bundle
    log: Path

    def password(self, name: str) -> str:
        return read_password(self.passwords / name)

    def bus(self, recorder: Recorder | None, *, username: str | None = NODE_ID,
            password: str | None = None, ca: Path | None = None, tls: bool = True) -> SiteBus:
        config = SiteBusConfig(
            port=self.port, keepalive_s=5, username=username,
            password=password or (self.password(username) if username else None),
            ca=(ca or self.ca) if tls else None)
        bus = SiteBus(config, node_id=NODE_ID, site=SITE, recorder=recorder,
                      agent_version="test")
        if recorder is not None:
            recorder.add_listener(bus.on_recorded)
        return bus

    def denied(self) -> int:
        return self.log.read_text().count("Denied PUBLISH")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The technician's two commands: the broker's certificate from the deployment's CA, then
    the site's Mosquitto config; Mosquitto started from it. Run as root (as here), Mosquitto
    drops to its own account before it reads the files, as on a site."""
    tmp = tmp_path_factory.mktemp("site-bus")
    # Under /tmp, not pytest's 0700 folder: the broker's account must reach its folder.
    bus_dir = Path(tempfile.mkdtemp(prefix="borderlink-site-bus-"))
    user = "mosquitto" if os.geteuid() == 0 else getpass.getuser()
    ca = init_ca_directory(tmp / "ca")
    assert main(["provision", "cert", "broker", SITE, "--dir", str(ca.path), "--out",
                 str(tmp / "tls"), "--ip", "127.0.0.1"]) == 0
    port = _free_port()
    assert main(["edge", "site-bus-config", "--dir", str(bus_dir), "--site", SITE,
                 "--node", NODE_ID, "--node", STOLEN, "--console", "cc-a", "--console", "cc-b",
                 "--port", str(port), "--bind", "127.0.0.1", "--user", user,
                 "--tls-ca", str(ca.path / "trust.pem"), "--tls-cert",
                 str(tmp / "tls" / f"{SITE}.pem"), "--tls-key",
                 str(tmp / "tls" / f"{SITE}.key")]) == 0
    log = tmp / "mosquitto.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([MOSQUITTO, "-v", "-c", str(bus_dir / "mosquitto.conf")],
                                stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"mosquitto did not start: {log.read_text()}")
            time.sleep(0.05)
    try:
        yield Broker(port, bus_dir / "passwords", ca.path / "trust.pem", log)
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(bus_dir)


class Client:
    """A plain paho client, as a console or an intruder would run it: with a username or
    none, over TLS checked against *ca* or in plain MQTT."""

    def __init__(self, broker: Broker, name: str | None, *, password: str | None = None,
                 ca: Path | None = None, tls: bool = True) -> None:
        self.refused: str | None = None
        self.error: Exception | None = None
        self.got: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.ready = threading.Event()
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                      client_id=f"t-{uuid.uuid4().hex[:8]}")
        if name is not None:
            c.username_pw_set(name, password or broker.password(name))
        if tls:
            c.tls_set_context(ssl.create_default_context(cafile=str(ca or broker.ca)))

        def on_connect(cl, ud, flags, reason, props) -> None:  # type: ignore[no-untyped-def]
            if reason.is_failure:
                self.refused = str(reason)
            self.ready.set()

        c.on_connect = on_connect
        c.on_message = lambda cl, ud, m: self.got.put((m.topic, json.loads(m.payload)))
        try:
            c.connect("127.0.0.1", broker.port)
        except OSError as exc:  # ssl.SSLError among them: the handshake failed
            self.error = exc
            return
        c.loop_start()
        self.ready.wait(3)

    @property
    def in_session(self) -> bool:
        return self.error is None and self.ready.is_set() and self.refused is None

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        time.sleep(0.2)

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        self.client.publish(topic, json.dumps(data), qos=1).wait_for_publish(5)

    def next(self, topic: str, timeout: float = 5.0,
             where: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            t, data = self.got.get(timeout=max(0.01, deadline - time.monotonic()))
            if t == topic and (where is None or where(data)):
                return data

    def close(self) -> None:
        if self.error is None:
            self.client.disconnect()
            self.client.loop_stop()


def _acks(journal: Journal) -> list[dict[str, Any]]:
    return [dict(decode_record(r.raw).body) for r in journal.iter_all()
            if r.record_type == "alert.ack"]


def test_only_the_authenticated_console_on_its_own_topic_makes_an_alert_ack(
        broker: Broker, recorder: Recorder, journal: Journal) -> None:
    bus = broker.bus(recorder)
    console_a, console_b, stolen_node = (Client(broker, n) for n in ("cc-a", "cc-b", STOLEN))
    anonymous = Client(broker, None)
    plain = Client(broker, "cc-a", tls=False)  # the right password, but not over TLS
    guess = Client(broker, "cc-a", password="guess")
    clients = [console_a, console_b, stolen_node, anonymous, plain, guess]
    bus.start()
    try:
        assert bus.connected.wait(5) and bus.accepts_acks
        assert anonymous.refused == "Not authorized"  # allow_anonymous false: no session
        assert not plain.in_session and not guess.in_session
        assert console_a.in_session and console_b.in_session and stolen_node.in_session
        console_a.subscribe(f"borderlink/{SITE}/+/alert")
        item = recorder.record(EMERGENCY)
        assert item is not None
        assert console_a.next(f"borderlink/{SITE}/{NODE_ID}/alert")["seq"] == item.seq

        ack = {"node": NODE_ID, "seq": item.seq, "action": "resolved_false_alarm",
               "operator": "invented"}
        denied = broker.denied()
        stolen_node.publish(console_ack_topic(SITE, "cc-a"), ack)
        stolen_node.publish(console_ack_topic(SITE, STOLEN), ack)  # no pattern %u
        console_a.publish(console_ack_topic(SITE, "cc-b"), ack)
        console_b.publish(f"borderlink/{SITE}/console/ack", ack)  # the old anonymous topic
        wait_for(lambda: broker.denied() - denied == 4, what="the broker to deny 4 publishes")
        # Let through by the broker (its own topic) but naming another console: the node
        # refuses it.
        console_a.publish(console_ack_topic(SITE, "cc-a"), {**ack, "console": "cc-b"})
        console_a.publish(console_ack_topic(SITE, "cc-a"), {**ack, "action": "dispatched"})
        wait_for(lambda: bus.acks_recorded == 1 and bus.refused_acks == 1, what="the ack")
        time.sleep(0.3)  # anything else the broker let through would have arrived by now
        assert [(b["console"], b["action"]) for b in _acks(journal)] == [("cc-a", "dispatched")]
        assert (bus.acks_recorded, bus.refused_acks) == (1, 1)
    finally:
        bus.stop()
        for c in clients:
            c.close()


def test_an_ack_is_recorded_once_and_malformed_or_foreign_ones_are_not(
        broker: Broker, recorder: Recorder, journal: Journal) -> None:
    bus = broker.bus(recorder)
    console = Client(broker, "cc-b")
    bus.start()
    try:
        assert bus.connected.wait(5)
        item = recorder.record(EMERGENCY)
        assert item is not None
        time.sleep(0.3)  # the node's subscription settles
        mine = console_ack_topic(SITE, "cc-b")
        ack = {"node": NODE_ID, "seq": item.seq, "console": "cc-b", "action": "dispatched",
               "operator": "Sgt. Huseynov", "note": "patrol 2 sent"}
        console.publish(mine, ack)
        console.publish(mine, ack)  # a duplicate delivery: recorded once
        console.publish(mine, {"node": "someone-else", "seq": 1})  # another node's alert
        console.publish(mine, {"garbage": True})
        console.publish(mine, {"node": NODE_ID, "seq": 0})
        wait_for(lambda: bus.bad_acks == 2, what="two malformed acks")
        (body,) = _acks(journal)
        assert (body["alert_seq"], body["console"], body["action"]) == (item.seq, "cc-b",
                                                                        "dispatched")
        assert "operator" not in body  # personal data: signed as a digest, disclosed apart
        stored = next(r for r in journal.iter_all() if r.record_type == "alert.ack")
        assert len(stored.disclosures) == 1
        assert (bus.acks_recorded, bus.refused_acks) == (1, 0)
    finally:
        bus.stop()
        console.close()


def test_a_broker_the_deployments_ca_did_not_sign_is_never_trusted(
        broker: Broker, recorder: Recorder, tmp_path: Path) -> None:
    foreign = init_ca_directory(tmp_path / "foreign-ca").path / "trust.pem"
    bus = broker.bus(recorder, ca=foreign)
    bus.start()
    try:
        assert not bus.connected.wait(3)  # the handshake fails before the password is sent
    finally:
        bus.stop()
    console = Client(broker, "cc-a", ca=foreign)
    assert not console.in_session and "CERTIFICATE_VERIFY_FAILED" in str(console.error)
    console.close()
    # Plain MQTT to the TLS listener gets no session either, and a wrong password none.
    for bus in (broker.bus(recorder, tls=False), broker.bus(recorder, password="guess")):
        bus.start()
        try:
            assert not bus.connected.wait(1.5)
        finally:
            bus.stop()


def test_only_the_broker_reads_its_files_and_passwords_stay_the_technicians(
        broker: Broker) -> None:
    folder = broker.passwords.parent
    for name in ("passwd", "acl", "mosquitto.conf", "tls/broker.key", "tls/ca.pem"):
        assert stat.S_IMODE((folder / name).stat().st_mode) & 0o007 == 0, name
    assert stat.S_IMODE(broker.passwords.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in broker.passwords.iterdir())
    assert "$7$" in (folder / "passwd").read_text()  # hashed by mosquitto_passwd
    assert broker.password("cc-a") not in (folder / "passwd").read_text()


def test_site_bus_config_refuses_ambiguous_or_unsafe_identities(tmp_path: Path) -> None:
    tls = (tmp_path / "ca.pem", tmp_path / "b.pem", tmp_path / "b.key")
    with pytest.raises(ConfigError, match="given twice"):
        write_site_bus_config(tmp_path, site="S", nodes=[Identity("x")],
                              consoles=[Identity("x")], tls=tls)
    with pytest.raises(ConfigError, match="no MQTT wildcards"):
        write_site_bus_config(tmp_path, site="S", nodes=[], consoles=[Identity("a/+")],
                              tls=tls)
    with pytest.raises(ConfigError, match="not found: install Mosquitto"):
        write_site_bus_config(tmp_path, site="S", nodes=[Identity("n")], consoles=[],
                              tls=tls, mosquitto_passwd=str(tmp_path / "no-such-tool"))
    with pytest.raises(ConfigError, match="ca.pem: no such TLS file"):
        write_site_bus_config(tmp_path, site="S", nodes=[Identity("n")], consoles=[],
                              tls=tls)
    assert not (tmp_path / "passwd").exists()


def test_the_site_bus_needs_tls_from_the_command_line(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["edge", "site-bus-config", "--dir", str(tmp_path), "--site", "S",
              "--console", "c"])
    assert exit_.value.code == 2 and "--tls-ca" in capsys.readouterr().err
    assert main(["provision", "cert", "broker", "S", "--dir", str(tmp_path / "ca"), "--out",
                 str(tmp_path)]) == 2  # nodes check the broker against the names given
    assert "--dns, --ip" in capsys.readouterr().err


def _radio_server() -> tuple[socket.socket, int, queue.Queue[socket.socket]]:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: queue.Queue[socket.socket] = queue.Queue()

    def accept() -> None:
        try:
            while True:
                accepted.put(server.accept()[0])
        except OSError:
            return

    threading.Thread(target=accept, daemon=True).start()
    return server, server.getsockname()[1], accepted


def test_edge_run_alerts_the_console_and_records_its_ack_naming_it(broker: Broker,
                                                                   tmp_path: Path) -> None:
    """The real agent process (patrol radio over TCP) with its [broker] login from node.toml."""
    SigningKey.generate().write_pem(tmp_path / "sign.pem")
    server, port, accepted = _radio_server()
    (tmp_path / "node.toml").write_text(f"""
[node]
id = "{NODE_ID}"
site = "{SITE}"
signing_key = "sign.pem"
[device]
profile = "patrol-radio"
url = "tcp://127.0.0.1:{port}"
[hub]
enabled = false
[broker]
host = "127.0.0.1"
port = {broker.port}
ca = "{broker.ca}"
username = "{NODE_ID}"
password_file = "{broker.passwords / NODE_ID}"
[journal]
path = "state/journal.db"
[status]
interval_s = 0.2
""")
    console = Client(broker, "cc-a")
    console.subscribe(f"borderlink/{SITE}/{NODE_ID}/#")
    log = tmp_path / "agent.log"
    agent = subprocess.Popen([sys.executable, "-m", "borderlink", "--log-level", "DEBUG",
                              "edge", "run", "--config", str(tmp_path / "node.toml")],
                             stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    journal = tmp_path / "state/journal.db"
    try:
        console.next(f"borderlink/{SITE}/{NODE_ID}/birth", timeout=20,
                     where=lambda d: d["state"] == "online")
        radio = accepted.get(timeout=15)
        radio.sendall(b"".join(gen_fix(i) for i in range(4)) + gen_emergency(5))
        alert = console.next(f"borderlink/{SITE}/{NODE_ID}/alert", timeout=15)
        assert alert["type"] == "radio.emergency"
        console.publish(console_ack_topic(SITE, "cc-a"),
                        {"node": NODE_ID, "seq": alert["seq"], "action": "dispatched"})
        wait_for(lambda: read_stats(journal)["tip_seq"] > alert["seq"], timeout=10,
                 what="alert.ack")
        wait_for(lambda: json.loads((tmp_path / "state/status.json").read_text())["broker"]
                 ["acks_recorded"] == 1, what="the status to count the ack")
        status = json.loads((tmp_path / "state/status.json").read_text())["broker"]
        assert status["accepts_acks"] is True and status["connected"] is True
        radio.close()
    finally:
        agent.terminate()
        agent.wait(15)
        console.close()
        server.close()
    with Journal.open(journal) as j:
        (ack,) = _acks(j)
    assert (ack["console"], ack["alert_seq"], ack["action"]) == ("cc-a", alert["seq"],
                                                                 "dispatched")
    assert broker.password(NODE_ID) not in log.read_text()  # not even at DEBUG
