"""Bad input on the Sync stream: each gets a clear status or Reject, nothing bad is stored, and
other clients never notice. Real gRPC + mutual TLS on 127.0.0.1, SQLite storage."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import hubkit
import pytest
from hubkit import Hub, Pki, Stream, TestNode, connect, envelope, expired_node_cert, start_hub

from borderlink.proto.keys import SigningKey
from borderlink.proto.record import RecordChain
from borderlink.proto.record_types import Agency, RecordType, RecordTypeRegistry, req
from borderlink.proto.v1 import admin_pb2, common_pb2, sync_pb2

pki = hubkit.pki
hub = hubkit.hub

R = sync_pb2


def _rejects(stream: Stream, batch_id: int, envelopes: list) -> tuple[list, int]:
    stream.batch(batch_id, envelopes)
    ack, before = stream.until("ack")
    return [m.reject for m in before], ack.ack.highest_contiguous_seq


@pytest.fixture
def node(hub: Hub, pki: Pki) -> TestNode:
    n = TestNode.make(pki, "bil-dr-10")
    n.enroll(hub)
    return n


def _nothing_stored(hub: Hub, node_id: str, size_before: int) -> None:
    assert hub.storage.log_state().size == size_before
    assert hub.storage.get_node(node_id).last_seq == 0


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda raw: b"\x00garbage", R.REJECT_REASON_MALFORMED),
        (lambda raw: raw[:-70] + bytes(64) + raw[-6:], R.REJECT_REASON_MALFORMED),
        (lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), R.REJECT_REASON_BAD_SIGNATURE),
    ],
    ids=["not-cbor", "truncated-signature", "flipped-signature-bit"],
)
def test_malformed_and_forged_records_are_refused(hub: Hub, node: TestNode, mutate, reason) -> None:
    stream, _ = connect(hub, node)
    size = hub.storage.log_state().size
    rec = node.record()
    rejects, head = _rejects(stream, 1, [common_pb2.Envelope(record=mutate(rec.raw))])
    assert [r.reason for r in rejects] == [reason] and rejects[0].message
    assert head == 0
    _nothing_stored(hub, node.node_id, size)
    stream.close()


def test_record_signed_by_another_key_is_bad_signature(hub: Hub, node: TestNode) -> None:
    stream, _ = connect(hub, node)
    rogue = RecordChain(
        SigningKey.generate(), node_id=node.node_id, site=node.site, registry=node.registry
    )
    rec = rogue.prepare("document.check", hubkit.DOC_BODY, time_ms=node.t0)
    rejects, _ = _rejects(stream, 1, [envelope(rec)])
    assert [r.reason for r in rejects] == [R.REJECT_REASON_BAD_SIGNATURE]
    assert "key id" in rejects[0].message and rejects[0].seq == 1
    _nothing_stored(hub, node.node_id, 0)
    stream.close()


def test_replayed_record_of_another_node_is_refused(hub: Hub, pki: Pki, node: TestNode) -> None:
    other = TestNode.make(pki, "bil-dr-11")
    other.enroll(hub)
    # The other node's genuine record, replayed on this node's stream.
    stream, _ = connect(hub, node)
    rejects, _ = _rejects(stream, 1, [envelope(other.record())])
    assert rejects[0].reason in (R.REJECT_REASON_BAD_SIGNATURE, R.REJECT_REASON_UNKNOWN_NODE)
    # Same key on two node ids (a cloned key): the node id check catches it.
    clone = RecordChain(node.key, node_id="bil-dr-11", site=node.site, registry=node.registry)
    rec = clone.prepare("document.check", hubkit.DOC_BODY, time_ms=node.t0)
    rejects, _ = _rejects(stream, 2, [envelope(rec)])
    assert [r.reason for r in rejects] == [R.REJECT_REASON_UNKNOWN_NODE]
    assert "bil-dr-11" in rejects[0].message
    _nothing_stored(hub, node.node_id, 0)
    stream.close()


def test_chain_gap_mismatch_and_the_rest_of_the_batch(hub: Hub, node: TestNode) -> None:
    stream, _ = connect(hub, node)
    recs = node.records(5)
    # Gap: 1 then 3 -> 1 stored, 3 refused, 4 and 5 refused behind it.
    rejects, head = _rejects(stream, 1, [envelope(recs[0]), *[envelope(r) for r in recs[2:]]])
    assert head == 1
    assert [(r.index_in_batch, r.seq, r.reason) for r in rejects] == [
        (1, 3, R.REJECT_REASON_CHAIN_GAP),
        (2, 4, R.REJECT_REASON_CHAIN_GAP),
        (3, 5, R.REJECT_REASON_CHAIN_GAP),
    ]
    # Mismatch: a seq-2 record whose prev is not record 1's hash.
    wrong = RecordChain(
        node.key,
        node_id=node.node_id,
        site=node.site,
        registry=node.registry,
        next_seq=2,
        prev_hash=bytes(range(32)),
    )
    rejects, head = _rejects(
        stream, 2, [envelope(wrong.prepare("document.check", hubkit.DOC_BODY, time_ms=node.t0))]
    )
    assert [r.reason for r in rejects] == [R.REJECT_REASON_CHAIN_MISMATCH] and head == 1
    assert hub.storage.log_state().size == 1
    stream.close()


def test_bad_disclosure_and_invalid_body(hub: Hub, pki: Pki, node: TestNode) -> None:
    stream, _ = connect(hub, node)
    a, b = node.records(2)
    # b's disclosure beside a: not signed by a.
    rejects, head = _rejects(stream, 1, [envelope(a, [b.disclosure_bytes[0]])])
    assert [r.reason for r in rejects] == [R.REJECT_REASON_BAD_DISCLOSURE] and head == 0
    rejects, head = _rejects(stream, 2, [envelope(a, [b"\x01\x02"])])
    assert [r.reason for r in rejects] == [R.REJECT_REASON_BAD_DISCLOSURE]
    # A known type with a body that breaks its schema (signed by a lax registry).
    lax = RecordTypeRegistry(
        [t for t in node.registry if t.name != "node.boot"]
        + [RecordType("node.boot", Agency.SBS, {"whatever": req("uint")})]
    )
    other = TestNode.make(pki, "bil-dr-12", registry=lax)
    other.enroll(hub)
    s2, _ = connect(hub, other)
    rejects, head = _rejects(s2, 1, [envelope(other.record("node.boot", {"whatever": 1}))])
    assert [r.reason for r in rejects] == [R.REJECT_REASON_INVALID_BODY] and head == 0
    assert hub.storage.log_state().size == 0
    stream.close()
    s2.close()


def test_revocation_is_judged_by_arrival_never_by_the_claimed_time(hub: Hub, node: TestNode) -> None:
    """A stolen key dates its records before the revocation: still refused, none stored."""
    stream, _ = connect(hub, node)
    before = node.record(time_ms=node.t0 + 10)
    rejects, head = _rejects(stream, 1, [envelope(before)])
    assert rejects == [] and head == 1  # logged before the revocation: stays valid
    hub.admin().RevokeNode(
        admin_pb2.RevokeNodeRequest(
            node_id=node.node_id, revoked_at_unix_ms=node.t0 + 1_000, reason="stolen"
        ),
        timeout=5,
    )
    backdated = node.record(time_ms=node.t0 + 20)  # claims to predate the revocation
    late = node.record(time_ms=node.t0 + 5_000)
    rejects, head = _rejects(stream, 2, [envelope(backdated), envelope(late)])
    assert head == 1
    assert [(r.seq, r.reason) for r in rejects][0] == (2, R.REJECT_REASON_REVOKED)
    assert "revoked" in rejects[0].message and "not evidence" in rejects[0].message
    assert hub.storage.get_record(node.node_id, 2) is None
    assert hub.storage.get_record(node.node_id, 1) is not None
    stream.close()


def test_unknown_node_wrong_id_and_no_hello(hub: Hub, pki: Pki, node: TestNode) -> None:
    stranger = TestNode.make(pki, "bil-dr-99")  # valid certificate, never enrolled
    s = Stream(hub.channel(stranger.cert))
    s.hello(stranger)
    err = s.ended()
    assert (
        err is not None
        and err.code() == grpc.StatusCode.NOT_FOUND
        and "not enrolled" in err.details()
    )
    # Hello naming another node than the certificate.
    s = Stream(hub.channel(node.cert))
    s.hello(node, node_id="bil-dr-11")
    err = s.ended()
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "certificate" in err.details()
    # A batch before Hello.
    s = Stream(hub.channel(node.cert))
    s.batch(1, [envelope(node.record())])
    err = s.ended()
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "Hello" in err.details()
    # An admin certificate is not a node.
    s = Stream(hub.channel(pki.admin))
    s.hello(node)
    assert s.ended().code() == grpc.StatusCode.PERMISSION_DENIED
    assert hub.storage.log_state().size == 0


def test_silent_stream_is_closed_and_others_do_not_notice(
    hub: Hub, pki: Pki, node: TestNode
) -> None:
    good, _ = connect(hub, node)
    silent = Stream(hub.channel(node.cert))  # opens and sends nothing
    t0 = time.monotonic()
    # Meanwhile the good stream works.
    rejects, head = _rejects(good, 1, [envelope(r) for r in node.records(3)])
    assert rejects == [] and head == 3
    err = silent.ended(timeout=5)
    took = time.monotonic() - t0
    assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED and "Hello" in err.details()
    assert 0.5 <= took < 3.0  # hello_timeout_s = 0.6 in these tests (10 s by default)
    rejects, head = _rejects(good, 2, [envelope(r) for r in node.records(2)])
    assert rejects == [] and head == 5
    good.close()


def test_oversized_batches_and_messages(hub: Hub, node: TestNode) -> None:
    stream, _ = connect(hub, node)
    recs = node.records(257)
    stream.batch(1, [envelope(r) for r in recs])
    err = stream.ended()
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "257 records" in err.details()
    # Over 1 MiB in one batch.
    stream, _ = connect(hub, node)
    big = common_pb2.Envelope(record=recs[0].raw, disclosures=[b"x" * 8000] * 64)
    stream.batch(2, [big, big, big])
    err = stream.ended()
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "bytes" in err.details()
    # Over the 4 MiB message limit: refused by gRPC itself.
    stream, _ = connect(hub, node)
    stream.batch(3, [common_pb2.Envelope(record=b"\x00" * (5 * 1024 * 1024))])
    err = stream.ended()
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # One record over 64 KiB: a Reject, the stream lives on.
    stream, _ = connect(hub, node)
    rejects, head = _rejects(
        stream, 4, [common_pb2.Envelope(record=b"\xd2" + b"\x00" * (70 * 1024))]
    )
    assert [r.reason for r in rejects] == [R.REJECT_REASON_OVERSIZED]
    rejects, head = _rejects(stream, 5, [envelope(recs[0])])
    assert rejects == [] and head == 1
    assert hub.storage.log_state().size == 1
    stream.close()


def test_expired_and_revoked_certificates(
    hub: Hub, pki: Pki, node: TestNode, tmp_path: Path
) -> None:
    expired = expired_node_cert(pki, node.node_id)
    s = Stream(hub.channel(expired))
    s.hello(node)
    err = s.ended()
    assert err.code() == grpc.StatusCode.UNAVAILABLE  # the TLS handshake refuses it
    # A certificate on the CA's CRL: the hub checks after the handshake.
    crl_path = tmp_path / "crl.pem"
    from borderlink.provisioning.ca import crl_to_pem

    crl_path.write_bytes(crl_to_pem(pki.ca.revoke(node.cert.certificate)))
    h2 = start_hub(pki, f"sqlite://{tmp_path / 'hub2.db'}", crl_path=crl_path)
    try:
        node.enroll(h2)
        s = Stream(h2.channel(node.cert))
        s.hello(node)
        err = s.ended()
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED and "revoked" in err.details()
        fresh = pki.ca.issue_node(node.node_id)
        node.cert = fresh
        _, resume = connect(h2, node)
        assert resume.next_seq == 1
    finally:
        h2.server.stop(0.2)


def test_admin_needs_an_admin_certificate(hub: Hub, node: TestNode) -> None:
    from borderlink.proto.v1 import admin_pb2_grpc

    stub = admin_pb2_grpc.AdminStub(hub.channel(node.cert))
    with pytest.raises(grpc.RpcError) as err:
        stub.ListNodes(admin_pb2.ListNodesRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        stub.EnrollNode(
            admin_pb2.EnrollNodeRequest(node_id="x", public_key=bytes(32), site="s", agency="SBS"),
            timeout=5,
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert [
        n.node_id for n in hub.admin().ListNodes(admin_pb2.ListNodesRequest(), timeout=5).nodes
    ] == [node.node_id]
