"""The Sync service over real gRPC + mutual TLS on 127.0.0.1, storage SQLite."""

from __future__ import annotations

import time

import grpc
import hubkit
from hubkit import Hub, Pki, TestNode, connect, envelope, wait_for

from borderlink.hub.log import clock_signer
from borderlink.proto.checkpoint import cosignature_timestamp, open_checkpoint, open_note
from borderlink.proto.merkle import leaf_hash, verify_consistency, verify_inclusion
from borderlink.proto.v1 import sync_pb2, transparency_pb2

pki = hubkit.pki
hub = hubkit.hub


def test_ingest_happy_path_acks_stores_and_logs(hub: Hub, pki: Pki) -> None:
    node = TestNode.make(pki, "bil-dr-01")
    node.enroll(hub)
    stream, resume = connect(hub, node, journal_seq=5)
    assert resume.next_seq == 1 and resume.last_hash == bytes(32)
    assert resume.max_batch_records == 256 and resume.max_in_flight_batches >= 1
    assert abs(resume.hub_time_unix_ms - time.time() * 1000) < 5000
    recs = node.records(5)
    stream.batch(7, [envelope(r) for r in recs])
    ack, before = stream.until("ack")
    assert before == []
    assert ack.ack.batch_id == 7 and ack.ack.highest_contiguous_seq == 5
    stored = hub.storage.get_record("bil-dr-01", 3, with_disclosures=True)
    assert stored is not None and stored.record == recs[2].raw
    # Disclosures kept apart, exact bytes.
    assert sorted(d.disclosure for d in stored.disclosures) == sorted(recs[2].disclosure_bytes)
    info = hub.storage.get_node("bil-dr-01")
    assert info.last_seq == 5 and info.clock_skew_ms is not None and info.clock_skew_ms > 0
    stream.close()
    assert stream.ended() is None


def test_resend_is_acknowledged_again_never_stored_twice(hub: Hub, pki: Pki) -> None:
    node = TestNode.make(pki, "bil-dr-02")
    node.enroll(hub)
    stream, _ = connect(hub, node)
    recs = node.records(4)
    stream.batch(1, [envelope(r) for r in recs[:3]])
    assert stream.until("ack")[0].ack.highest_contiguous_seq == 3
    size = hub.storage.log_state().size
    # Overlapping re-send: 2 and 3 again, then 4.
    stream.batch(2, [envelope(r) for r in recs[1:]])
    ack, before = stream.until("ack")
    assert before == [] and ack.ack.highest_contiguous_seq == 4
    assert hub.storage.log_state().size == size + 1
    stream.batch(3, [envelope(recs[0])])
    ack, before = stream.until("ack")
    assert before == [] and ack.ack.highest_contiguous_seq == 4
    assert hub.storage.log_state().size == size + 1
    stream.close()


def test_resume_after_reconnect(hub: Hub, pki: Pki) -> None:
    node = TestNode.make(pki, "bil-dr-03")
    node.enroll(hub)
    stream, _ = connect(hub, node)
    recs = node.records(6)
    stream.batch(1, [envelope(r) for r in recs[:4]])
    assert stream.until("ack")[0].ack.highest_contiguous_seq == 4
    stream.cancel()
    stream2, resume = connect(hub, node, journal_seq=6)
    assert resume.next_seq == 5 and resume.last_hash == recs[3].record.hash
    stream2.batch(2, [envelope(r) for r in recs[4:]])
    assert stream2.until("ack")[0].ack.highest_contiguous_seq == 6
    stream2.close()


def test_equivocation_is_refused_and_kept_as_evidence(hub: Hub, pki: Pki) -> None:
    node = TestNode.make(pki, "bil-dr-04")
    node.enroll(hub)
    stream, _ = connect(hub, node)
    recs = node.records(2)
    stream.batch(1, [envelope(r) for r in recs])
    assert stream.until("ack")[0].ack.highest_contiguous_seq == 2
    # A second, different record signed for seq 2 (same prev): a fork.
    fork = node.chain.prepare("node.boot", {"software": "x", "profile": "p"}, time_ms=node.t0 + 2)
    forged_seq2 = type(node.chain)(
        node.key,
        node_id=node.node_id,
        site=node.site,
        registry=node.registry,
        next_seq=2,
        prev_hash=recs[0].record.hash,
    ).prepare("node.boot", {"software": "x", "profile": "p"}, time_ms=node.t0 + 2)
    assert fork.record.seq == 3
    stream.batch(2, [envelope(forged_seq2)])
    ack, before = stream.until("ack")
    assert [m.reject.reason for m in before] == [sync_pb2.REJECT_REASON_EQUIVOCATION]
    assert before[0].reject.seq == 2 and "evidence" in before[0].reject.message
    assert ack.ack.highest_contiguous_seq == 2
    evidence = hub.storage.list_equivocations("bil-dr-04")
    assert len(evidence) == 1 and evidence[0].conflicting_record == forged_seq2.raw
    assert hub.storage.get_record("bil-dr-04", 2).record == recs[1].raw  # the first one stays
    assert hub.server.metrics.equivocations._value.get() == 1
    # Sent again: refused again, evidence not duplicated.
    stream.batch(3, [envelope(forged_seq2)])
    ack, before = stream.until("ack")
    assert [m.reject.reason for m in before] == [sync_pb2.REJECT_REASON_EQUIVOCATION]
    assert len(hub.storage.list_equivocations("bil-dr-04")) == 1
    stream.close()


def test_unknown_record_type_is_accepted_and_flagged(hub: Hub, pki: Pki) -> None:
    from borderlink.proto.record_types import Agency, RecordType, req

    node = TestNode.make(pki, "bil-x-01")
    node.registry = node.registry.extended(
        RecordType("future.thing", Agency.SBS, {"n": req("uint")}, "from a newer agent")
    )
    node.chain.registry = node.registry
    node.enroll(hub)
    stream, _ = connect(hub, node)
    rec = node.record("future.thing", {"n": 1})
    stream.batch(1, [envelope(rec)])
    assert stream.until("ack")[0].ack.highest_contiguous_seq == 1
    stored = hub.storage.get_record("bil-x-01", 1)
    assert stored.unknown_type and stored.record_type == "future.thing"
    stream.close()


def test_checkpoint_within_a_second_and_proofs_verify(hub: Hub, pki: Pki) -> None:
    node = TestNode.make(pki, "bil-dr-05")
    node.enroll(hub)
    stream, _ = connect(hub, node)
    recs = node.records(9)
    stream.batch(1, [envelope(r) for r in recs[:4]])
    stream.until("ack")
    t_ack = time.monotonic()
    tp = hub.transparency(node.cert)

    def checkpoint_at(n: int):
        cp = tp.GetCheckpoint(transparency_pb2.GetCheckpointRequest(), timeout=5)
        return cp if cp.tree_size >= n else None

    cp1 = wait_for(lambda: checkpoint_at(4), timeout=1.0)
    assert time.monotonic() - t_ack < 1.0
    verifier = hub.signer.verifier
    parsed = open_checkpoint(cp1.signed_note, verifier, origin="borderlink.example/AZ/log")
    assert parsed.size == cp1.tree_size == 4 and parsed.root_hash == cp1.root_hash
    # The signing time is signed too: a timestamped cosignature by the hub's clock key.
    clock = clock_signer(hub.signer).verifier
    opened = open_note(cp1.signed_note, [verifier, clock])
    (stamp,) = [s for s in opened.verified if s.name == clock.name]
    assert abs(cosignature_timestamp(stamp) - cp1.time_unix_ms // 1000) <= 1
    stream.batch(2, [envelope(r) for r in recs[4:]])
    stream.until("ack")
    cp2 = wait_for(lambda: checkpoint_at(9), timeout=1.0)
    # Inclusion by index and by leaf hash.
    for i, r in enumerate(recs):
        p = tp.GetInclusionProof(
            transparency_pb2.GetInclusionProofRequest(log_index=i, tree_size=9), timeout=5
        )
        assert p.leaf_hash == leaf_hash(r.raw)
        verify_inclusion(p.leaf_hash, i, 9, list(p.hashes), cp2.root_hash)
    p = tp.GetInclusionProof(
        transparency_pb2.GetInclusionProofRequest(leaf_hash=leaf_hash(recs[6].raw)), timeout=5
    )
    assert p.log_index == 6 and p.checkpoint.tree_size == 9
    verify_inclusion(p.leaf_hash, 6, 9, list(p.hashes), p.checkpoint.root_hash)
    c = tp.GetConsistencyProof(transparency_pb2.GetConsistencyProofRequest(first_size=4), timeout=5)
    assert c.second_size == 9
    verify_consistency(4, 9, list(c.hashes), cp1.root_hash, cp2.root_hash)
    # Out of range and unknown leaves are clear errors.
    try:
        tp.GetInclusionProof(transparency_pb2.GetInclusionProofRequest(log_index=99), timeout=5)
        raise AssertionError("expected OUT_OF_RANGE")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.OUT_OF_RANGE
    try:
        tp.GetInclusionProof(
            transparency_pb2.GetInclusionProofRequest(leaf_hash=bytes(32)), timeout=5
        )
        raise AssertionError("expected NOT_FOUND")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.NOT_FOUND
    stream.close()
