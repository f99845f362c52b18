"""Sync with ``verify_workers``: batches verified ahead on worker processes, stored in order.

The hub runs a real process pool (one worker); the node sends several batches without
waiting for acknowledgements, so later batches are verified while earlier ones are stored.
Acks stay in order, every signature is still checked, and a refusal in one batch stops the
chain exactly as without the pool.
"""

from __future__ import annotations

from collections.abc import Iterator

import hubkit
import pytest
from hubkit import Hub, Pki, TestNode, connect, envelope, start_hub

from borderlink.proto.v1 import sync_pb2


@pytest.fixture(scope="module")
def pool_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.make(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def pool_hub(pool_pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    db = tmp_path_factory.mktemp("db") / "hub.db"
    h = start_hub(pool_pki, f"sqlite://{db}", verify_workers=1)
    try:
        yield h
    finally:
        h.server.stop(0.5)


def _acks_and_rejects(stream: hubkit.Stream, n_acks: int) -> tuple[list, list]:
    acks, rejects = [], []
    while len(acks) < n_acks:
        msg = stream.recv(10)
        assert msg is not None, f"stream ended: {stream.error!r}"
        kind = msg.WhichOneof("msg")
        if kind == "ack":
            acks.append(msg.ack)
        elif kind == "reject":
            rejects.append(msg.reject)
    return acks, rejects


def test_batches_in_flight_are_acked_in_order(pool_hub: Hub, pool_pki: Pki) -> None:
    assert hasattr(pool_hub.server.ingest.verifier, "submit")  # the worker pool is in use
    node = TestNode.make(pool_pki, "bil-dr-11")
    node.enroll(pool_hub)
    stream, resume = connect(pool_hub, node)
    assert resume.next_seq == 1
    recs = node.records(60)
    for i in range(6):  # six batches sent back to back, none acknowledged yet
        stream.batch(i + 1, [envelope(r) for r in recs[i * 10 : (i + 1) * 10]])
    acks, rejects = _acks_and_rejects(stream, 6)
    assert rejects == []
    assert [(a.batch_id, a.highest_contiguous_seq) for a in acks] == [
        (i + 1, (i + 1) * 10) for i in range(6)
    ]
    for seq in (1, 33, 60):
        assert pool_hub.storage.get_record("bil-dr-11", seq).record == recs[seq - 1].raw
    stream.close()
    assert stream.ended() is None


def test_a_forged_signature_in_a_later_batch_stops_the_chain(pool_hub: Hub, pool_pki: Pki) -> None:
    node = TestNode.make(pool_pki, "bil-dr-12")
    node.enroll(pool_hub)
    stream, _ = connect(pool_hub, node)
    recs = node.records(30)
    forged = envelope(recs[14])
    forged.record = recs[14].raw[:-1] + bytes([recs[14].raw[-1] ^ 1])
    stream.batch(1, [envelope(r) for r in recs[:10]])
    stream.batch(2, [envelope(r) for r in recs[10:14]] + [forged] + [envelope(recs[15])])
    stream.batch(3, [envelope(r) for r in recs[16:30]])
    acks, rejects = _acks_and_rejects(stream, 3)
    assert [a.highest_contiguous_seq for a in acks] == [10, 14, 14]
    assert (rejects[0].batch_id, rejects[0].seq, rejects[0].reason) == (
        2,
        15,
        sync_pb2.REJECT_REASON_BAD_SIGNATURE,
    )
    # Batch 3 no longer continues the stored chain.
    assert {r.reason for r in rejects[2:]} == {sync_pb2.REJECT_REASON_CHAIN_GAP}
    assert pool_hub.storage.get_node("bil-dr-12").last_seq == 14
    assert pool_hub.storage.get_record("bil-dr-12", 15) is None
    stream.close()


def test_an_oversized_batch_after_good_ones_acks_them_first(pool_hub: Hub, pool_pki: Pki) -> None:
    node = TestNode.make(pool_pki, "bil-dr-13")
    node.enroll(pool_hub)
    stream, _ = connect(pool_hub, node)
    recs = node.records(12)
    stream.batch(1, [envelope(r) for r in recs[:6]])
    stream.batch(2, [envelope(r) for r in recs[6:12]])
    stream.batch(3, [envelope(recs[0])] * 300)  # over the 256-record limit
    acks, _ = _acks_and_rejects(stream, 2)
    assert [a.highest_contiguous_seq for a in acks] == [6, 12]
    err = stream.ended(10)
    assert err is not None and err.code().name == "RESOURCE_EXHAUSTED"
    assert pool_hub.storage.get_node("bil-dr-13").last_seq == 12


def test_pool_hub_resumes_after_reconnect(pool_hub: Hub, pool_pki: Pki) -> None:
    node = TestNode.make(pool_pki, "bil-dr-14")
    node.enroll(pool_hub)
    stream, _ = connect(pool_hub, node)
    recs = node.records(20)
    stream.batch(1, [envelope(r) for r in recs[:10]])
    _acks_and_rejects(stream, 1)
    stream.cancel()
    again, resume = connect(pool_hub, node)
    assert resume.next_seq == 11
    again.batch(1, [envelope(r) for r in recs[5:20]])  # overlap: 6..10 acknowledged again
    acks, rejects = _acks_and_rejects(again, 1)
    assert rejects == [] and acks[0].highest_contiguous_seq == 20
    assert pool_hub.storage.log_state().size >= 20
    again.close()
