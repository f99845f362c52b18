"""The uplink over real gRPC + mutual TLS on 127.0.0.1 against the STAND-IN Sync servicer.

See ``_standin_hub.py``: it implements the real generated SyncServicer interface until the
hub's own Sync server lands.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from borderlink.edge.downlink import DownlinkStore, DownlinkVerifier, sign_downlink
from borderlink.edge.journal import Journal
from borderlink.edge.recorder import Recorder
from borderlink.edge.uplink import TlsMaterial, Uplink, UplinkConfig, backoff_delay
from borderlink.proto.chain import verify_chain
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import ClockQuality, decode_record
from borderlink.proto.v1 import sync_pb2
from borderlink.provisioning.ca import CertificateAuthority, IssuedCertificate

from ._standin_hub import StandInHub, StandInSyncServicer, start_standin_hub
from .conftest import NODE_ID, SITE


def wait_for(cond: Callable[[], bool], timeout: float = 8.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("edge test CA")


@pytest.fixture(scope="module")
def hub_cert(ca: CertificateAuthority) -> IssuedCertificate:
    return ca.issue_hub()


@pytest.fixture(scope="module")
def tls(ca: CertificateAuthority) -> TlsMaterial:
    node = ca.issue_node(NODE_ID)
    return TlsMaterial(ca.cert_pem, node.cert_pem, node.key_pem())


@pytest.fixture
def hubs(ca: CertificateAuthority, hub_cert: IssuedCertificate) -> Iterator[list[StandInHub]]:
    started: list[StandInHub] = []
    yield started
    for h in started:
        h.stop()


def _tamper(recorder: Recorder, n: int) -> None:
    for i in range(n):
        recorder.record_event("node.tamper", {"kind": "test", "detail": str(i)})


def _uplink(tls: TlsMaterial, journal: Journal, recorder: Recorder, *addresses: str,
            **kw: object) -> Uplink:
    cfg = UplinkConfig(addresses=tuple(addresses), retry_initial_s=0.05, retry_max_s=0.3,
                       linger_ms=5, connect_timeout_s=1.0, **kw)  # type: ignore[arg-type]
    up = Uplink(cfg, tls, journal, node_id=NODE_ID, recorder=recorder, rng=random.Random(1))
    recorder.add_listener(up.notify)
    recorder.clock_quality = up.clock_quality
    return up


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, 0.5, 30.0, rng) for n in range(12)]
    for n, d in enumerate(delays):
        base = min(30.0, 0.5 * 2**n)
        assert base * 0.5 <= d <= base
    assert len({round(d, 6) for d in delays}) == len(delays)  # jitter: no two alike
    assert max(delays) <= 30.0


def test_catch_up_then_live_records_reach_the_hub_once_and_get_acked(
        tls: TlsMaterial, ca, hub_cert, hubs, journal: Journal, recorder: Recorder,
        node_key: SigningKey) -> None:
    servicer = StandInSyncServicer({NODE_ID: node_key.public}, max_batch_records=50)
    hubs.append(start_standin_hub(ca, hub_cert, servicer))
    _tamper(recorder, 300)  # a backlog from before the link came up
    up = _uplink(tls, journal, recorder, hubs[0].address)
    up.start()
    try:
        wait_for(lambda: journal.last_acked_seq == 300, what="backlog acked")
        assert up.state == "up"
        _tamper(recorder, 20)  # live records
        wait_for(lambda: journal.last_acked_seq == 320, what="live records acked")
        node = servicer.nodes[NODE_ID]
        assert sorted(node.records) == list(range(1, 321))
        assert node.received == list(range(1, 321))  # each sent exactly once
        assert verify_chain(node.records.values()).ok
        assert servicer.max_unacked_seen <= servicer.max_in_flight
        assert journal.stats().unsynced_records == 0
        assert servicer.hellos[0].last_journal_seq == 300
        # Clock agreed with the hub: the live records say so.
        assert up.clock_quality() == ClockQuality.HUB
        assert decode_record(journal.read_from(320)[0].raw).clock == ClockQuality.HUB
    finally:
        up.stop()


def test_resume_starts_where_the_hub_is_and_fails_over_past_a_dead_address(
        tls: TlsMaterial, ca, hub_cert, hubs, journal: Journal, recorder: Recorder,
        node_key: SigningKey) -> None:
    servicer = StandInSyncServicer({NODE_ID: node_key.public})
    _tamper(recorder, 30)
    node = servicer.nodes[NODE_ID]
    for r in journal.iter_all():  # the hub already holds 1..20 (e.g. from another stream)
        if r.seq <= 20:
            node.records[r.seq] = decode_record(r.raw)
    hubs.append(start_standin_hub(ca, hub_cert, servicer))
    dead = f"127.0.0.1:{_free_port()}"
    up = _uplink(tls, journal, recorder, dead, hubs[0].address)
    up.start()
    try:
        wait_for(lambda: journal.last_acked_seq == 30, what="resume")
        assert node.received == list(range(21, 31))  # nothing the hub held was resent
        assert up.hub_address == hubs[0].address
        assert dead in up.last_error or up.connects == 1
    finally:
        up.stop()


def test_outage_keeps_recording_and_catches_up_without_loss_or_duplicate(
        tls: TlsMaterial, ca, hub_cert, hubs, journal: Journal, recorder: Recorder,
        node_key: SigningKey) -> None:
    servicer = StandInSyncServicer({NODE_ID: node_key.public})
    hubs.append(start_standin_hub(ca, hub_cert, servicer))
    port = hubs[0].port
    up = _uplink(tls, journal, recorder, hubs[0].address)
    up.start()
    try:
        _tamper(recorder, 10)
        wait_for(lambda: journal.last_acked_seq == 10, what="first records")
        hubs[0].stop()  # the link is cut
        wait_for(lambda: up.state != "up", what="link down seen")
        t0 = time.monotonic()
        _tamper(recorder, 50)  # recording goes on, at local speed
        assert time.monotonic() - t0 < 2.0
        assert journal.tip[0] == 60 and journal.last_acked_seq == 10
        hubs.append(start_standin_hub(ca, hub_cert, servicer, port=port))  # link restored
        wait_for(lambda: journal.last_acked_seq == 60, what="catch-up")
        node = servicer.nodes[NODE_ID]
        assert sorted(node.records) == list(range(1, 61))
        assert verify_chain(node.records.values()).ok
        assert len(servicer.hellos) >= 2 and servicer.hellos[-1].last_journal_seq >= 60
    finally:
        up.stop()


def test_clock_skew_beyond_the_threshold_is_recorded_and_never_rewrites_time(
        tls: TlsMaterial, ca, hub_cert, hubs, journal: Journal, recorder: Recorder,
        node_key: SigningKey) -> None:
    servicer = StandInSyncServicer({NODE_ID: node_key.public}, clock_offset_ms=-30_000)
    hubs.append(start_standin_hub(ca, hub_cert, servicer))
    up = _uplink(tls, journal, recorder, hubs[0].address, clock_skew_threshold_ms=2000)
    up.start()
    try:
        wait_for(lambda: any(r.record_type == "node.clock_skew" for r in journal.iter_all()),
                 what="clock skew record")
        skew = next(decode_record(r.raw) for r in journal.iter_all()
                    if r.record_type == "node.clock_skew")
        assert 29_000 <= skew.body["skew_ms"] <= 31_000  # node is 30 s ahead of the hub
        assert skew.body["threshold_ms"] == 2000
        assert up.clock_quality() == ClockQuality.UNSYNCHRONISED
        before = time.time()
        item = recorder.record_event("node.tamper", {"kind": "t"})
        assert abs(item.signed.record.time_ms / 1000 - before) < 1  # the node's own clock
        assert item.signed.record.clock == ClockQuality.UNSYNCHRONISED
    finally:
        up.stop()


def test_a_refused_record_restarts_the_stream_and_is_resent(
        tls: TlsMaterial, ca, hub_cert, hubs, journal: Journal, recorder: Recorder,
        node_key: SigningKey) -> None:
    servicer = StandInSyncServicer({NODE_ID: node_key.public})
    servicer.reject_next = True
    hubs.append(start_standin_hub(ca, hub_cert, servicer))
    up = _uplink(tls, journal, recorder, hubs[0].address)
    _tamper(recorder, 5)
    up.start()
    try:
        wait_for(lambda: journal.last_acked_seq == 5, what="resent after reject")
        assert up.rejects == 1 and "INVALID_BODY" in up.last_error
        assert len(servicer.hellos) >= 2
    finally:
        up.stop()


def test_downlink_items_are_verified_and_applied_atomically_never_rolled_back(
        tls: TlsMaterial, ca, hub_cert, hubs, journal: Journal, recorder: Recorder,
        node_key: SigningKey, tmp_path: Path) -> None:
    sms = SigningKey.generate()
    rogue = SigningKey.generate()
    servicer = StandInSyncServicer({NODE_ID: node_key.public})

    def item(version: int, key: SigningKey = sms, target: str = "*", signed_version: int = 0,
             issuer: str = "SMS") -> sync_pb2.Downlink:
        signed = sign_downlink(key, kind="watchlist", version=signed_version or version,
                               target=target, issuer=issuer,
                               content={"entries": [f"v{version}"]})
        return sync_pb2.Downlink(kind=sync_pb2.DOWNLINK_KIND_WATCHLIST, version=version,
                                 signed_payload=signed, target=target)

    servicer.downlinks = [
        item(3),
        item(4, key=rogue),  # not a trusted issuer
        item(5, signed_version=9),  # the hub relabelled the version
        item(6, target="other-node"),
        item(7, target=f"site:{SITE}"),
        item(2),  # older than held: never going back
    ]
    hubs.append(start_standin_hub(ca, hub_cert, servicer))
    store = DownlinkStore(tmp_path / "downlink", journal)
    verifier = DownlinkVerifier({"watchlist": {"SMS": sms.public}}, node_id=NODE_ID, site=SITE)
    up = _uplink(tls, journal, recorder, hubs[0].address)
    up.verifier, up.store = verifier, store
    up.start()
    try:
        wait_for(lambda: len(servicer.downlink_acks) == 6, what="downlink acks")
        acks = {(a.version, a.applied) for a in servicer.downlink_acks}
        assert acks == {(3, True), (4, False), (5, False), (6, False), (7, True), (2, False)}
        messages = {a.version: a.message for a in servicer.downlink_acks}
        assert "not a trusted" in messages[4] and "not newer" in messages[2]
        assert "signed item says" in messages[5] and "not this node" in messages[6]
        assert store.held_version("watchlist") == 7
        import cbor2

        from borderlink.proto.cose import decode_sign1

        on_disk = cbor2.loads(decode_sign1(store.load("watchlist") or b"").payload)
        assert on_disk["content"] == {"entries": ["v7"]}
        applied = [decode_record(r.raw).body for r in journal.iter_all()
                   if r.record_type == "node.downlink_applied"]
        assert [(b["version"], b["issuer"]) for b in applied] == [(3, "SMS"), (7, "SMS")]
        wait_for(lambda: journal.last_acked_seq == journal.tip[0], what="applied records synced")
    finally:
        up.stop()
    # Reconnecting tells the hub what is held: nothing is delivered twice.
    servicer.downlink_acks.clear()
    up2 = _uplink(tls, journal, recorder, hubs[0].address)
    up2.verifier, up2.store = verifier, store
    up2.start()
    try:
        wait_for(lambda: len(servicer.hellos) == 2, what="second hello")
        held = {v.kind: v.version for v in servicer.hellos[-1].downlink_versions}
        assert held[sync_pb2.DOWNLINK_KIND_WATCHLIST] == 7
    finally:
        up2.stop()


def test_a_node_certificate_from_another_ca_never_gets_a_stream(
        hubs, ca, hub_cert, journal: Journal, recorder: Recorder, node_key) -> None:
    servicer = StandInSyncServicer({NODE_ID: node_key.public})
    hubs.append(start_standin_hub(ca, hub_cert, servicer))
    rogue_ca = CertificateAuthority.create("rogue")
    rogue = rogue_ca.issue_node(NODE_ID)
    up = _uplink(TlsMaterial(ca.cert_pem, rogue.cert_pem, rogue.key_pem()), journal, recorder,
                 hubs[0].address)
    _tamper(recorder, 2)
    up.start()
    try:
        time.sleep(1.0)
        assert servicer.hellos == [] and journal.last_acked_seq == 0
        assert up.state in ("connecting", "backoff")
    finally:
        up.stop()
