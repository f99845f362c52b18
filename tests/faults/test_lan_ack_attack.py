"""The attack row "anonymous LAN ack" against a real SiteBus on the real Mosquitto at
127.0.0.1:1883: refused by today's node, and answered "recorded" by a node that took
acknowledgements from an anonymous bus (as the node did before issue #18 §3), so the row can
fail."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from borderlink.edge.journal import Journal, ThinningPolicy
from borderlink.edge.recorder import Recorder
from borderlink.edge.sitebus import SiteBus, SiteBusConfig, topics
from borderlink.faults.attacks import anonymous_lan_ack
from borderlink.proto.keys import SigningKey
from borderlink.proto.record_types import default_registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edge._mqtt import Subscriber, require_broker, unique_site

pytestmark = pytest.mark.mqtt

NODE = "bil-radio-01"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[SimpleNamespace, Recorder]]:
    require_broker()
    site = unique_site()
    path = tmp_path / "journal.db"
    journal = Journal.open(path, max_bytes=1 << 20, policy=ThinningPolicy())
    recorder = Recorder.for_journal(SigningKey.generate(), journal, node_id=NODE, site=site,
                                    registry=default_registry())
    recorder.record_event("node.boot", {"software": "test", "profile": "patrol-radio"})
    yield (SimpleNamespace(site=SimpleNamespace(
        broker=("127.0.0.1", 1883), site_id=site,
        nodes=[SimpleNamespace(node_id=NODE, journal_path=path)])), recorder)
    journal.close()
    cleaner = Subscriber()
    for topic in (topics(site, NODE).birth, topics(site, NODE).status):
        cleaner.publish(topic, None, retain=True)
    cleaner.close()


@pytest.mark.parametrize(("takes_anonymous_acks", "answer"), [
    (False, "no record"), (True, f"recorded by {NODE}")])
def test_the_anonymous_lan_ack_row(node: tuple[SimpleNamespace, Recorder],
                                   takes_anonymous_acks: bool, answer: str) -> None:
    attacker, recorder = node
    bus = SiteBus(SiteBusConfig(port=1883, keepalive_s=5), node_id=NODE,
                  site=attacker.site.site_id, recorder=recorder)
    bus.accepts_acks = takes_anonymous_acks  # True: the node as it was before #18 §3
    bus.start()
    try:
        assert bus.connected.wait(5)
        assert anonymous_lan_ack(attacker) == answer  # type: ignore[arg-type]
    finally:
        bus.stop()
