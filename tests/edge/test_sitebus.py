"""The site bus against the real Mosquitto broker: alerts, birth/death, status; no console
ack on this anonymous broker (test_sitebus_auth.py: the authenticated bus)."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

import pytest

from borderlink.edge.journal import Journal
from borderlink.edge.processors.base import AlertLevel, Decision
from borderlink.edge.recorder import Recorder
from borderlink.edge.sitebus import SiteBus, SiteBusConfig, ack_console, console_ack_topic, topics
from borderlink.proto.record import verify_record

from ._mqtt import Subscriber, require_broker, unique_site
from .conftest import NODE_ID

pytestmark = pytest.mark.mqtt

EMERGENCY = Decision("radio.emergency", {"unit": "P7", "message": "help"}, 1.79e9,
                     AlertLevel.ALARM, "emergency from P7")
POSITION = Decision("radio.position", {"unit": "P7", "lat": 39.4, "lon": 48.5, "fix_ms": 1},
                    1.79e9)


@pytest.fixture
def site() -> Iterator[str]:
    require_broker()
    s = unique_site()
    yield s
    cleaner = Subscriber()  # clear what this test left retained on the broker
    t = topics(s, NODE_ID)
    for topic in (t.birth, t.status):
        cleaner.publish(topic, None, retain=True)
    cleaner.close()


def _bus(site: str, recorder: Recorder, port: int = 1883) -> SiteBus:
    bus = SiteBus(SiteBusConfig(port=port, keepalive_s=5), node_id=NODE_ID, site=site,
                  recorder=recorder, agent_version="test")
    recorder.add_listener(bus.on_recorded)
    return bus


def test_alert_is_published_once_durable_and_routine_records_are_not(
        site: str, recorder: Recorder, journal: Journal, node_key) -> None:
    t = topics(site, NODE_ID)
    sub = Subscriber(f"borderlink/{site}/#")
    bus = _bus(site, recorder)
    bus.start()
    try:
        assert bus.connected.wait(5)
        birth = sub.next(t.birth)
        assert birth["state"] == "online" and birth["node"] == NODE_ID
        recorder.record(POSITION)
        item = recorder.record(EMERGENCY)
        assert item is not None
        alert = sub.next(t.alert)
        assert alert["seq"] == item.seq == 2 and alert["level"] == "alarm"
        assert alert["type"] == "radio.emergency" and alert["summary"] == "emergency from P7"
        # The console can verify what it got: the exact record bytes, durable in the journal.
        import base64

        raw = base64.b64decode(alert["record_b64"])
        assert verify_record(raw, node_key.public).record.seq == 2
        assert journal.read_from(2, max_records=1)[0].raw == raw
        bus.publish_status({"link": "up", "tip": 2})
        assert sub.next(t.status)["tip"] == 2
        with pytest.raises(queue.Empty):
            sub.next(t.alert, timeout=0.3)  # the position made no alert
    finally:
        bus.stop()
        sub.close()


def test_an_unauthenticated_bus_takes_no_acknowledgement(site: str, recorder: Recorder,
                                                         journal: Journal) -> None:
    """The anonymous LAN ack of issue #18 §3: on a broker that logs nobody in (this development
    broker), anyone may publish on any console's topic, so the node does not even subscribe;
    its alerts still go out. (tests/edge/test_sitebus_auth.py: the authenticated bus.)"""
    t = topics(site, NODE_ID)
    intruder = Subscriber(t.alert)
    bus = _bus(site, recorder)
    bus.start()
    try:
        assert bus.connected.wait(5) and not bus.accepts_acks
        item = recorder.record(EMERGENCY)
        assert item is not None
        assert intruder.next(t.alert)["seq"] == item.seq
        ack = {"node": NODE_ID, "seq": item.seq, "action": "resolved_false_alarm",
               "operator": "an invented operator"}
        intruder.publish(console_ack_topic(site, "bcp-cc-1"), ack)
        intruder.publish(f"borderlink/{site}/console/ack", {**ack, "console": "bcp-cc-1"})
        time.sleep(0.5)
        assert [r for r in journal.iter_all() if r.record_type == "alert.ack"] == []
        assert (bus.acks_recorded, bus.refused_acks) == (0, 0)  # none even reached the node
    finally:
        bus.stop()
        intruder.close()


def test_only_a_console_ack_topic_of_this_site_names_a_console() -> None:
    assert ack_console("borderlink/s1/console/bcp-cc-1/ack", "s1") == "bcp-cc-1"
    for topic in ("borderlink/s1/console/ack", "borderlink/s1/console//ack",
                  "borderlink/s2/console/bcp-cc-1/ack", "borderlink/s1/console/a/b/ack",
                  "borderlink/s1/node-1/alert", "borderlink/s1/console/bcp-cc-1/acks"):
        assert ack_console(topic, "s1") is None, topic


def test_last_will_announces_a_vanished_node(site: str, recorder: Recorder) -> None:
    t = topics(site, NODE_ID)
    sub = Subscriber(t.birth)
    bus = _bus(site, recorder)
    bus.start()
    try:
        assert bus.connected.wait(5)
        assert sub.next(t.birth)["state"] == "online"
        bus._client.socket().close()  # type: ignore[union-attr]  # the link dies, no DISCONNECT
        assert sub.next(t.birth, where=lambda d: d["state"] == "offline")["reason"] == "last will"
        assert sub.next(t.birth, timeout=10)["state"] == "online"  # paho reconnects
    finally:
        bus.stop()
    assert sub.next(t.birth, where=lambda d: d["state"] == "offline")["reason"] == "stopped"
    sub.close()


def test_a_dead_broker_never_delays_recording(recorder: Recorder, journal: Journal) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead_port = s.getsockname()[1]  # bound, never listening: connections are refused
    bus = _bus("nowhere", recorder, port=dead_port)
    bus.start()
    try:
        t0 = time.monotonic()
        for _ in range(20):
            assert recorder.record(EMERGENCY) is not None
        assert time.monotonic() - t0 < 1.0
        assert journal.tip[0] == 20
        assert not bus.connected.is_set()
    finally:
        bus.stop()
        s.close()


def test_broker_password_and_tls_files_fail_clearly_and_the_secret_is_never_shown(
        tmp_path) -> None:
    from borderlink.edge.sitebus import SiteBusSetupError, read_password

    (tmp_path / "pw").write_text("s3cret-horse\n")
    assert read_password(tmp_path / "pw") == "s3cret-horse"
    config = SiteBusConfig(username="n1", password="s3cret-horse")
    assert "s3cret-horse" not in repr(config)
    for text in ("", "\n", "two\nlines\n"):
        (tmp_path / "pw").write_text(text)
        with pytest.raises(SiteBusSetupError, match="alone on one line"):
            read_password(tmp_path / "pw")
    with pytest.raises(SiteBusSetupError, match="cannot read the broker password file"):
        read_password(tmp_path / "missing")
    (tmp_path / "ca.pem").write_text("not a certificate")
    with pytest.raises(SiteBusSetupError, match="cannot load the broker CA"):
        SiteBus(SiteBusConfig(ca=tmp_path / "ca.pem"), node_id="n1", site="s")
