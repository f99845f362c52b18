"""What a node may assert inside a valid signature (issue #18 §1), against the real hub: real
gRPC over mutual TLS, SQLite storage, the example federation policy. Each record below is
validly signed with the node's enrolled key; each refusal has its own reason, is never
stored, never federated, and is counted in the metrics by reason."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hubkit
import pytest
from hubkit import Hub, Pki, Stream, TestNode, connect, envelope, start_hub, wait_for

from borderlink.hardware_profiles.loader import load_profile
from borderlink.hub.policy import EXAMPLE_POLICY
from borderlink.hub.storage import NodeEnrollment
from borderlink.proto.record import ClockQuality, RecordChain, SignedRecord
from borderlink.proto.record_types import node_registry
from borderlink.proto.v1 import (
    admin_pb2,
    common_pb2,
    federation_pb2,
    federation_pb2_grpc,
    sync_pb2,
)

pki = hubkit.pki
R = sync_pb2

HIT = {**hubkit.DOC_BODY, "verdict": "hit", "reasons": ["watchlist"],
       "watchlist": {"list": "SMS-banned", "version": 7, "score": 0.99}}  # fmt: skip
BOOT = {"software": "borderlink-edge test", "profile": "rpm-lane"}
OCCUPANCY = {
    "lane": "L1", "start_ms": 0, "end_ms": 2000, "gamma_counts": 400,
    "gamma_background_cps": 180.0, "neutron_counts": 3, "neutron_background_cps": 1.2,
    "max_sigma": 0.4, "alarm": False,
}  # fmt: skip
YEAR_2200_MS = 7_258_118_400_000
NOW_MS = int(time.time() * 1000)


@pytest.fixture
def hub(pki: Pki, tmp_path: Path) -> Iterator[Hub]:
    h = start_hub(pki, f"sqlite://{tmp_path / 'hub.db'}", metrics_port=0)
    policy = EXAMPLE_POLICY.read_bytes()
    h.admin().LoadPolicy(admin_pb2.LoadPolicyRequest(policy_toml=policy), timeout=5)
    try:
        yield h
    finally:
        h.server.stop(0.2)


def rpm_node(pki: Pki, hub: Hub, node_id: str = "bil-rpm-01") -> TestNode:
    """A radiation portal node of SCC, enrolled with its profile's record types."""
    node = TestNode.make(
        pki, node_id, agency="SCC", registry=node_registry("SCC"),
        record_types=load_profile("rpm-lane").produces, profile="rpm-lane",
    )  # fmt: skip
    node.enroll(hub)
    return node


def doc_node(pki: Pki, hub: Hub, node_id: str = "bil-dr-01") -> TestNode:
    profile = "docreader-first-line"
    node = TestNode.make(
        pki, node_id, record_types=load_profile(profile).produces, profile=profile
    )
    node.enroll(hub)
    return node


def forged(
    node: TestNode,
    record_type: str,
    body: dict[str, Any],
    *,
    site: str | None = None,
    agency: str | None = None,
    time_ms: int | None = None,
    clock: int = ClockQuality.HUB,
) -> SignedRecord:
    """The node's next record, signed with its enrolled key, saying what the caller wants;
    not committed to the node's chain (its next record takes the same place)."""
    chain = RecordChain(
        node.key, node_id=node.node_id, site=site or node.site, registry=node.registry,
        next_seq=node.chain.next_seq, prev_hash=node.chain.prev_hash,
    )  # fmt: skip
    return chain.prepare(
        record_type, body, time_ms=NOW_MS if time_ms is None else time_ms, agency=agency,
        clock=clock,
    )  # fmt: skip


def refused(stream: Stream, batch_id: int, rec: SignedRecord) -> sync_pb2.Reject:
    stream.batch(batch_id, [envelope(rec)])
    ack, before = stream.until("ack")
    rejects = [m.reject for m in before if m.WhichOneof("msg") == "reject"]
    assert len(rejects) == 1, before
    assert ack.ack.highest_contiguous_seq == rec.record.seq - 1
    return rejects[0]


def accepted(stream: Stream, batch_id: int, recs: list[SignedRecord]) -> None:
    stream.batch(batch_id, [envelope(r) for r in recs])
    ack, before = stream.until("ack")
    assert not [m for m in before if m.WhichOneof("msg") == "reject"], before
    assert ack.ack.highest_contiguous_seq == recs[-1].record.seq


def federated(hub: Hub, pki: Pki, agency: str) -> list[federation_pb2.FederatedRecord]:
    cert = pki.ca.issue_agency(agency)
    with pki.channel(hub.port, cert) as ch:
        resp = federation_pb2_grpc.FederationStub(ch).Query(
            federation_pb2.QueryRequest(filter=common_pb2.RecordFilter()), timeout=5
        )
    return list(resp.records)


def metric(hub: Hub, reason: str) -> float:
    url = f"http://127.0.0.1:{hub.server.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    line = f'borderlink_hub_records_refused_total{{reason="{reason}"}} '
    found = [ln for ln in text.splitlines() if ln.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def test_radiation_portal_cannot_sign_a_watchlist_hit(hub: Hub, pki: Pki) -> None:
    node = rpm_node(pki, hub)
    stream, _ = connect(hub, node)
    rej = refused(stream, 1, forged(node, "document.check", HIT, agency="SBS"))
    assert rej.reason == R.REJECT_REASON_TYPE_NOT_ALLOWED
    assert "'document.check'" in rej.message and "rpm-lane" in rej.message
    assert "radiation.occupancy" in rej.message
    # Never stored, never federated; counted by reason.
    assert hub.storage.log_state().size == 0 and hub.storage.get_node(node.node_id).last_seq == 0
    assert federated(hub, pki, "SBS") == [] and federated(hub, pki, "SMS") == []
    assert metric(hub, "TYPE_NOT_ALLOWED") == 1
    # What the portal does produce is accepted in the same place of its chain.
    accepted(stream, 2, [node.record("radiation.occupancy", OCCUPANCY, time_ms=NOW_MS)])
    stream.close()


@pytest.mark.parametrize(
    ("claim", "reason", "words"),
    [
        ({"site": "AZ-ASTARA"}, R.REJECT_REASON_WRONG_SITE, ["'AZ-ASTARA'", "'AZ-BIL'"]),
        ({"agency": "SMS"}, R.REJECT_REASON_WRONG_AGENCY, ["'SMS'", "owner of document.check"]),
        ({"time_ms": YEAR_2200_MS}, R.REJECT_REASON_TIME_IN_FUTURE, ["clock quality 1"]),
    ],
    ids=["another-site", "another-agency", "dated-2200"],
)
def test_document_reader_cannot_claim_another_site_agency_or_the_future(
    hub: Hub, pki: Pki, claim: dict[str, Any], reason: int, words: list[str]
) -> None:
    node = doc_node(pki, hub)
    stream, _ = connect(hub, node)
    accepted(stream, 1, [node.record("document.check", hubkit.DOC_BODY, time_ms=NOW_MS)])
    rej = refused(stream, 2, forged(node, "document.check", HIT, **claim))
    assert rej.reason == reason and rej.seq == 2
    for word in words:
        assert word in rej.message, rej.message
    assert hub.storage.log_state().size == 1 and hub.storage.get_record(node.node_id, 2) is None
    assert len(federated(hub, pki, "SBS")) == 1
    assert metric(hub, R.RejectReason.Name(reason).removeprefix("REJECT_REASON_")) == 1
    stream.close()


def test_clock_quality_sets_the_future_allowance(hub: Hub, pki: Pki) -> None:
    node = doc_node(pki, hub)
    stream, _ = connect(hub, node)
    ahead = int(time.time() * 1000) + 60_000  # one minute ahead of the hub
    rej = refused(stream, 1, forged(node, "document.check", HIT, time_ms=ahead,
                                    clock=ClockQuality.GNSS))  # fmt: skip
    assert rej.reason == R.REJECT_REASON_TIME_IN_FUTURE and "allows 2000 ms" in rej.message
    # A free-running clock a minute ahead is within what it may drift: accepted.
    accepted(stream, 2, [node.chain.prepare("document.check", HIT, time_ms=ahead,
                                            clock=ClockQuality.UNSYNCHRONISED)])  # fmt: skip
    stream.close()


def test_record_dated_1970_after_a_newer_record_is_refused(hub: Hub, pki: Pki) -> None:
    node = doc_node(pki, hub)
    stream, _ = connect(hub, node)
    accepted(stream, 1, [node.record("document.check", hubkit.DOC_BODY, time_ms=NOW_MS)])
    rej = refused(stream, 2, forged(node, "document.check", HIT, time_ms=1000))
    assert rej.reason == R.REJECT_REASON_TIME_BEFORE_PREVIOUS
    assert f"previous record ({NOW_MS} ms)" in rej.message
    # Also when the newer record is the one before it in the same batch.
    fresh = doc_node(pki, hub, "bil-dr-02")
    s2, _ = connect(hub, fresh)
    first = fresh.record("document.check", hubkit.DOC_BODY, time_ms=NOW_MS)
    old = forged(fresh, "document.check", HIT, time_ms=1000)
    s2.batch(1, [envelope(first), envelope(old)])
    ack, before = s2.until("ack")
    assert [m.reject.reason for m in before] == [R.REJECT_REASON_TIME_BEFORE_PREVIOUS]
    assert ack.ack.highest_contiguous_seq == 1
    assert metric(hub, "TIME_BEFORE_PREVIOUS") == 2
    stream.close()
    s2.close()


def test_offline_catch_up_of_old_records_in_order_is_accepted(hub: Hub, pki: Pki) -> None:
    node = doc_node(pki, hub)
    stream, _ = connect(hub, node)
    three_days = 3 * 86_400_000
    # Three days offline, a record an hour; jitter of a second back is within the tolerance.
    times = [NOW_MS - three_days + h * 3_600_000 for h in range(72)]
    times[10] = times[9] - 1000
    backlog = [node.record("document.check", hubkit.DOC_BODY, time_ms=t) for t in times]
    for i in range(0, len(backlog), 25):
        accepted(stream, 1 + i, backlog[i : i + 25])
    assert hub.storage.get_node(node.node_id).last_seq == 72
    # The hub's own receive time is kept beside each record and served to agencies.
    wait_for(lambda: len(federated(hub, pki, "SBS")) == 72)
    got = federated(hub, pki, "SBS")
    for fed in got:
        stored = hub.storage.get_record_at(fed.log_index)
        assert stored is not None and fed.received_at_unix_ms == stored.received_ms
        assert fed.received_at_unix_ms >= NOW_MS > stored.time_ms
    stream.close()


def test_scc_node_health_records_are_its_own_and_reach_scc(hub: Hub, pki: Pki) -> None:
    node = rpm_node(pki, hub)
    stream, _ = connect(hub, node)
    # The old edge stamped the registry's default owner (SBS) on node.* records: refused.
    rej = refused(stream, 1, forged(node, "node.boot", BOOT, agency="SBS"))
    assert rej.reason == R.REJECT_REASON_WRONG_AGENCY
    assert "the node's enrolled agency, 'SCC'" in rej.message
    # Signed as the edge now signs them (its own agency), they reach SCC's grant, not SBS's.
    boot = node.record("node.boot", BOOT, time_ms=NOW_MS)
    assert boot.record.agency == "SCC"
    accepted(stream, 2, [boot])
    wait_for(lambda: len(federated(hub, pki, "SCC")) == 1)
    (fed,) = federated(hub, pki, "SCC")
    assert fed.record == boot.raw and fed.received_at_unix_ms > 0
    assert federated(hub, pki, "SBS") == []
    stream.close()


def test_node_enrolled_without_record_types_may_send_only_lifecycle_records(
    hub: Hub, pki: Pki
) -> None:
    # A node enrolled before the hub declared record types (a migrated store).
    node = TestNode.make(pki, "bil-dr-09")
    hub.storage.enroll_node(
        NodeEnrollment(node.node_id, node.key.public, node.key.kid, node.site, "SBS", "old"),
        enrolled_at_ms=NOW_MS - 1000,
    )
    stream, _ = connect(hub, node)
    rej = refused(stream, 1, forged(node, "document.check", hubkit.DOC_BODY))
    assert rej.reason == R.REJECT_REASON_TYPE_NOT_ALLOWED
    assert "enrolled without a list of record types" in rej.message and "re-enrol" in rej.message
    accepted(stream, 2, [node.record("node.boot", BOOT, time_ms=NOW_MS)])
    stream.close()
