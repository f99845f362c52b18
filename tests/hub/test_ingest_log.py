"""The sans-IO ingest core and the log sequencer, without gRPC."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderlink.hub.ingest import Accepted, Ingest, Reason, Refused, StoredSeq, check_envelope
from borderlink.hub.log import LogCorruptError, LogReader, Sequencer
from borderlink.hub.storage import ChainHead, NodeEnrollment, NodeRow, Storage, open_storage
from borderlink.proto.checkpoint import NoteSigner, open_checkpoint
from borderlink.proto.keys import SigningKey
from borderlink.proto.merkle import (
    consistency_plan,
    inclusion_plan,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from borderlink.proto.record import RecordChain
from borderlink.proto.record_types import default_registry

ORIGIN = "borderlink.example/AZ/log"
KEY = SigningKey(bytes(range(32)))
REG = default_registry()
ALL_TYPES = tuple(REG.names())
BOOT = {"software": "1.0", "profile": "p"}


def _node(revoked_at: int | None = None) -> NodeRow:
    return NodeRow(
        "n1",
        KEY.public,
        KEY.kid,
        "AZ-BIL",
        "SBS",
        "p",
        None,
        0,
        revoked_at,
        None,
        0,
        bytes(32),
        0,
        None,
        None,
    )


def _chain() -> RecordChain:
    return RecordChain(KEY, node_id="n1", site="AZ-BIL", registry=REG)


def test_check_envelope_decisions() -> None:
    chain = _chain()
    r1 = chain.prepare("node.boot", BOOT, time_ms=1000)
    chain.commit(r1)
    r2 = chain.prepare("node.boot", BOOT, time_ms=2000)
    head0 = ChainHead(0, bytes(32))
    out = check_envelope(r1.raw, [], node=_node(), head=head0, registry=REG, now_ms=1500)
    assert isinstance(out, Accepted) and out.new.seq == 1 and out.skew_ms == -500
    out = check_envelope(r2.raw, [], node=_node(), head=head0, registry=REG, now_ms=0)
    assert isinstance(out, Refused) and out.reason is Reason.CHAIN_GAP and out.seq == 2
    out = check_envelope(
        r1.raw, [], node=_node(), head=ChainHead(1, r1.record.hash), registry=REG, now_ms=0
    )
    assert isinstance(out, StoredSeq)
    out = check_envelope(
        r2.raw,
        [],
        node=_node(revoked_at=1500),
        head=ChainHead(1, r1.record.hash),
        registry=REG,
        now_ms=0,
    )
    assert isinstance(out, Refused) and out.reason is Reason.REVOKED
    out = check_envelope(r1.raw, [b"x"] * 65, node=_node(), head=head0, registry=REG, now_ms=0)
    assert isinstance(out, Refused) and out.reason is Reason.OVERSIZED
    out = check_envelope(r1.raw[:10], [], node=_node(), head=head0, registry=REG, now_ms=0)
    assert isinstance(out, Refused) and out.reason is Reason.MALFORMED


def test_reason_values_match_the_contract() -> None:
    from borderlink.proto.v1 import sync_pb2

    for reason in Reason:
        assert sync_pb2.RejectReason.Value(f"REJECT_REASON_{reason.name}") == reason.value


@pytest.fixture
def store(tmp_path: Path):
    s = open_storage(f"sqlite://{tmp_path / 'h.db'}")
    yield s
    s.close()


def test_sequencer_checkpoints_restores_and_proves(open_store: Callable[[], Storage]) -> None:
    """On both backends (PostgreSQL: the sequencer numbers the pending records itself,
    in batches of at most max_leaves_per_round, here 7)."""
    store = open_store()
    store.enroll_node(
        NodeEnrollment("n1", KEY.public, KEY.kid, "AZ-BIL", "SBS", "p", record_types=ALL_TYPES), enrolled_at_ms=0
    )
    ingest = Ingest(store, REG)
    chain = _chain()
    signer = NoteSigner.generate(ORIGIN)
    seq = Sequencer(store, signer, origin=ORIGIN, max_leaves_per_round=7)
    raws: list[bytes] = []
    sizes = []
    for batch in (5, 1, 20, 3):
        recs = []
        for _ in range(batch):
            r = chain.prepare("node.boot", BOOT, time_ms=1)
            chain.commit(r)
            recs.append(r)
        res = ingest.ingest("n1", [(r.raw, []) for r in recs])
        assert res.stored == batch and not res.rejections
        raws += [r.raw for r in recs]
        cp = seq.step()
        assert cp is not None and cp.tree_size == len(raws)
        sizes.append(cp.tree_size)
    assert seq.step() is None  # idle: nothing new, no new checkpoint
    from borderlink.proto.merkle import leaf_hash

    leaves = [leaf_hash(r) for r in raws]
    cp = store.latest_checkpoint()
    assert cp.root_hash == root_from_leaf_hashes(leaves)
    assert open_checkpoint(cp.signed_note, signer.verifier, origin=ORIGIN).size == 29
    reader = LogReader(store)
    for size in sizes:
        for i in range(size):
            ans = reader.inclusion(size, log_index=i)
            verify_inclusion(leaves[i], i, size, ans.hashes, root_from_leaf_hashes(leaves[:size]))
        for first in range(size + 1):
            f, s, hashes = reader.consistency(first, size)
            verify_consistency(
                f, s, hashes, root_from_leaf_hashes(leaves[:f]), root_from_leaf_hashes(leaves[:s])
            )
    # A second sequencer on the same store cannot take the lock while the first holds it.
    other = open_store()
    try:
        assert Sequencer(other, signer, origin=ORIGIN).step() is None
        seq.stop(final_round=False)
        # After release, a new sequencer restores the compact range from stored nodes.
        s2 = Sequencer(other, signer, origin=ORIGIN)
        r = chain.prepare("node.boot", BOOT, time_ms=1)
        chain.commit(r)
        Ingest(other, REG).ingest("n1", [(r.raw, [])])
        cp = s2.step()
        assert cp.tree_size == 30 and cp.root_hash == root_from_leaf_hashes(
            [*leaves, leaf_hash(r.raw)]
        )
        s2.stop(final_round=False)
    finally:
        other.close()
    # Appended with no sequencer running: the next one numbers and checkpoints everything.
    backlog, thirtieth = [], leaf_hash(r.raw)
    for _ in range(3):
        recs = []
        for _ in range(10):
            r = chain.prepare("node.boot", BOOT, time_ms=1)
            chain.commit(r)
            recs.append(r)
        assert ingest.ingest("n1", [(r.raw, []) for r in recs]).stored == 10
        backlog += [leaf_hash(r.raw) for r in recs]
    s3 = Sequencer(store, signer, origin=ORIGIN, max_leaves_per_round=7)
    cp = s3.step()
    all_leaves = [*leaves, thirtieth, *backlog]
    assert cp is not None and cp.tree_size == 60
    assert cp.root_hash == root_from_leaf_hashes(all_leaves)
    assert store.leaf_hashes(0, 100) == all_leaves
    s3.stop(final_round=False)


def test_sequencer_refuses_nodes_that_disagree_with_the_checkpoint(store) -> None:
    from borderlink.hub.storage import CheckpointRow

    store.enroll_node(
        NodeEnrollment("n1", KEY.public, KEY.kid, "AZ-BIL", "SBS", "p", record_types=ALL_TYPES), enrolled_at_ms=0
    )
    chain = _chain()
    r = chain.prepare("node.boot", BOOT, time_ms=1)
    Ingest(store, REG).ingest("n1", [(r.raw, [])])
    store.put_merkle_nodes([], integrated_size=1)
    store.add_checkpoint(CheckpointRow(1, bytes(32), 0, b"forged"))
    with pytest.raises(LogCorruptError):
        Sequencer(store, NoteSigner.generate(ORIGIN), origin=ORIGIN).step()


@pytest.mark.parametrize("size", [10**6, 10**8, 2**40 + 12345])
def test_proofs_read_o_log_n_nodes_at_any_size(size: int) -> None:
    bound = 2 * size.bit_length()
    for index in (0, size // 3, size - 1):
        assert len(inclusion_plan(index, size).nodes) + 1 <= bound
    for first in (1, size // 2 + 1, size - 1):
        assert len(consistency_plan(first, size).nodes) <= bound


def test_pool_verifier_decides_like_the_thread(store) -> None:
    from borderlink.hub.ingest import PoolVerifier, verify_batch

    chain = _chain()
    recs = []
    for _ in range(70):
        r = chain.prepare("node.boot", BOOT, time_ms=1)
        chain.commit(r)
        recs.append(r)
    envelopes = [(r.raw, []) for r in recs]
    envelopes[40] = (recs[40].raw[:-1] + b"\x00", [])  # forged signature
    envelopes.append((b"junk", []))
    pool = PoolVerifier(1, chunk=16)
    try:
        assert pool(KEY.public, envelopes) == verify_batch(KEY.public, envelopes, REG)
        store.enroll_node(
            NodeEnrollment("n1", KEY.public, KEY.kid, "AZ-BIL", "SBS", "p", record_types=ALL_TYPES), enrolled_at_ms=0
        )
        result = Ingest(store, REG, verifier=pool).ingest("n1", envelopes)
    finally:
        pool.close()
    assert result.highest_contiguous_seq == 40 and result.stored == 40
    assert (
        result.rejections[0].reason is Reason.BAD_SIGNATURE
        and result.rejections[0].index_in_batch == 40
    )


_SAMPLE = _chain().prepare(
    "document.check",
    {
        "line": 1,
        "doc_format": "TD3",
        "doc_code": "P",
        "issuing_state": "AZE",
        "nationality": "AZE",
        "verdict": "clear",
        "reasons": [],
        "surname": "ALIYEV",
        "document_number": "C01234567",
    },
    time_ms=5,
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_records_are_refused_never_raise(data) -> None:
    """Fuzz: any change to a signed record's bytes or its disclosures is refused with a
    reason; the core never raises and never accepts bytes the node did not sign."""
    raw = bytearray(_SAMPLE.raw)
    disclosures = list(_SAMPLE.disclosure_bytes)
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "disclosure"]))
    if kind == "flip":
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif kind == "insert":
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=8))
    else:
        j = data.draw(st.integers(0, len(disclosures) - 1))
        d = bytearray(disclosures[j])
        d[data.draw(st.integers(0, len(d) - 1))] ^= 0x01
        disclosures[j] = bytes(d)
    out = check_envelope(
        bytes(raw), disclosures, node=_node(), head=ChainHead(0, bytes(32)), registry=REG, now_ms=0
    )
    assert isinstance(out, Refused), out
    assert out.reason in Reason and out.message
