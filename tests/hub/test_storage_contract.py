"""One contract, every storage backend (SQLite and PostgreSQL): see conftest.py."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Sequence

import pytest

from borderlink.hub.errors import (
    ChainConflictError,
    DownlinkVersionError,
    DuplicateRecordError,
    NodeExistsError,
    StorageError,
    UnknownNodeError,
)
from borderlink.hub.storage import (
    ZERO_HASH,
    ChainHead,
    CheckpointRow,
    DownlinkAckRow,
    DownlinkItem,
    DownlinkKind,
    NewDisclosure,
    NewRecord,
    NodeEnrollment,
    NodeKeyRow,
    RecordFilter,
    Storage,
)
from borderlink.proto import merkle

T0 = 1_795_000_000_000  # a fixed Unix-ms epoch for the tests


def enrollment(
    node_id: str, site: str = "AZ-BIL", agency: str = "SBS", profile: str = "regula-7024m"
) -> NodeEnrollment:
    key = hashlib.sha256(node_id.encode()).digest()
    return NodeEnrollment(node_id, key, key[:8], site, agency, profile, certificate_der=b"\x30\x00")


class Chain:
    """Makes a node's chain of fake records: plain bytes, correctly linked by SHA-256."""

    def __init__(
        self,
        node_id: str,
        *,
        record_type: str = "document_check",
        agency: str = "SBS",
        site: str = "AZ-BIL",
    ) -> None:
        self.node_id, self.record_type, self.agency, self.site = node_id, record_type, agency, site
        self.seq, self.prev = 0, ZERO_HASH

    def next(
        self,
        *,
        record_type: str | None = None,
        time_ms: int | None = None,
        disclosures: int = 0,
        salt: bytes = b"",
    ) -> NewRecord:
        self.seq += 1
        body = f"{self.node_id}|{self.seq}|".encode() + salt + bytes(range(self.seq % 7))
        disc = tuple(
            NewDisclosure(
                hashlib.sha256(body + bytes([i])).digest(), f"field{i}", b"\x83" + body + bytes([i])
            )
            for i in range(disclosures)
        )
        rec = NewRecord(
            node_id=self.node_id,
            seq=self.seq,
            prev_hash=self.prev,
            record=b"\xd2\x84" + body,
            record_type=record_type or self.record_type,
            agency=self.agency,
            site=self.site,
            time_ms=time_ms if time_ms is not None else T0 + self.seq * 1000,
            disclosures=disc,
        )
        self.prev = rec.record_hash
        return rec

    def batch(self, n: int, **kw: object) -> list[NewRecord]:
        return [self.next(**kw) for _ in range(n)]  # type: ignore[arg-type]


def numbered(store: Storage, records: Sequence[NewRecord]) -> tuple[int, ...]:
    """Number what the store holds unnumbered (the sequencer's job); *records*' indexes."""
    store.assign_log_indexes(10_000)
    found = [store.get_record(r.node_id, r.seq) for r in records]
    indexes = tuple(f.log_index for f in found if f is not None and f.log_index is not None)
    assert len(indexes) == len(records)
    return indexes


def append(
    store: Storage, records: Sequence[NewRecord], *, received_ms: int = T0 + 10**6
) -> tuple[int, ...]:
    """Append and number *records*: their log indexes, the same on every backend."""
    given = store.append_records(records, received_ms=received_ms).log_indexes
    indexes = numbered(store, records)
    assert given in (None, indexes)  # given at append, or by the sequencer later
    return indexes


# -- empty store and nodes ----------------------------------------------------------------


def test_empty_store(store: Storage) -> None:
    state = store.log_state()
    assert (state.size, state.integrated_size) == (0, 0)
    assert store.chain_head("nobody") == ChainHead(0, ZERO_HASH)
    assert store.get_node("nobody") is None
    assert store.latest_checkpoint() is None
    assert store.current_policy() is None
    assert store.list_nodes() == []
    assert store.scan_records(0, limit=10).records == ()
    assert isinstance(store, Storage)


def test_enroll_get_list(store: Storage) -> None:
    row = store.enroll_node(enrollment("bil-dr-01"), enrolled_at_ms=T0)
    store.enroll_node(enrollment("bil-rpm-01", agency="SCC"), enrolled_at_ms=T0 + 1)
    store.enroll_node(enrollment("ast-dr-01", site="AZ-AST"), enrolled_at_ms=T0 + 2)
    assert row.node_id == "bil-dr-01" and row.public_key == hashlib.sha256(b"bil-dr-01").digest()
    assert (row.last_seq, row.last_hash, row.revoked, row.certificate_der) == (
        0,
        ZERO_HASH,
        False,
        b"\x30\x00",
    )
    assert store.get_node("bil-dr-01") == row
    assert [n.node_id for n in store.list_nodes()] == ["ast-dr-01", "bil-dr-01", "bil-rpm-01"]
    assert [n.node_id for n in store.list_nodes(site="AZ-BIL")] == ["bil-dr-01", "bil-rpm-01"]
    assert [n.node_id for n in store.list_nodes(agency="SCC")] == ["bil-rpm-01"]
    with pytest.raises(NodeExistsError):
        store.enroll_node(enrollment("bil-dr-01"), enrolled_at_ms=T0 + 3)


def test_revoke_and_reenroll(store: Storage) -> None:
    store.enroll_node(enrollment("n1"), enrolled_at_ms=T0)
    chain = Chain("n1")
    append(store, chain.batch(3))
    revoked = store.revoke_node("n1", revoked_at_ms=T0 + 500, reason="stolen")
    assert (
        revoked.revoked and revoked.revoked_at_ms == T0 + 500 and revoked.revoke_reason == "stolen"
    )
    # A later revocation never moves the date forward; an earlier one does.
    assert store.revoke_node("n1", revoked_at_ms=T0 + 900).revoked_at_ms == T0 + 500
    assert store.revoke_node("n1", revoked_at_ms=T0 + 100).revoked_at_ms == T0 + 100
    assert [n.node_id for n in store.list_nodes(include_revoked=False)] == []
    new_key = NodeEnrollment("n1", b"\x01" * 32, b"\x01" * 8, "AZ-BIL", "SBS", "p")
    again = store.enroll_node(new_key, enrolled_at_ms=T0 + 2000)
    assert (again.revoked, again.public_key, again.last_seq) == (False, b"\x01" * 32, 3)
    assert again.last_hash == chain.prev
    with pytest.raises(UnknownNodeError):
        store.revoke_node("ghost", revoked_at_ms=T0)


def test_key_history_keeps_every_key_a_node_was_enrolled_with(store: Storage) -> None:
    first = enrollment("n1")
    store.enroll_node(first, enrolled_at_ms=T0)
    store.enroll_node(enrollment("n2"), enrolled_at_ms=T0 + 1)
    k1 = NodeKeyRow("n1", first.kid, first.public_key, T0, None)
    assert store.node_keys(["n1"]) == [k1]
    store.revoke_node("n1", revoked_at_ms=T0 + 500)
    store.revoke_node("n1", revoked_at_ms=T0 + 900)  # later: the date stays
    k1 = dataclasses.replace(k1, revoked_at_ms=T0 + 500)
    assert store.node_keys(["n1"]) == [k1]
    second = NodeEnrollment("n1", b"\x02" * 32, b"\x02" * 8, "AZ-BIL", "SBS", "p")
    store.enroll_node(second, enrolled_at_ms=T0 + 2000)
    k2 = NodeKeyRow("n1", second.kid, second.public_key, T0 + 2000, None)
    # Oldest first: the key in force is the last; the old one keeps its revocation date.
    assert store.node_keys(["n1"]) == [k1, k2]
    assert store.node_key("n1", first.kid) == k1 and store.node_key("n1", second.kid) == k2
    assert store.node_key("n1", b"\x09" * 8) is None and store.node_key("n9", first.kid) is None
    # Revoking again touches the current key only.
    store.revoke_node("n1", revoked_at_ms=T0 + 3000)
    k2 = dataclasses.replace(k2, revoked_at_ms=T0 + 3000)
    assert store.node_keys(["n1"]) == [k1, k2]
    # Re-enrolled with its first key: that key is in force again (and last); no duplicate.
    store.enroll_node(first, enrolled_at_ms=T0 + 4000)
    k1 = NodeKeyRow("n1", first.kid, first.public_key, T0 + 4000, None)
    assert store.node_keys(["n1"]) == [k2, k1]
    assert [k.node_id for k in store.node_keys()] == ["n1", "n1", "n2"]
    assert store.node_keys([]) == [] and store.node_keys(["ghost"]) == []


def test_opening_a_version_1_store_fills_the_key_history(
    store: Storage, open_store: Callable[[], Storage]
) -> None:
    store.enroll_node(enrollment("n1"), enrolled_at_ms=T0)
    store.enroll_node(enrollment("n2"), enrolled_at_ms=T0 + 1)
    store.revoke_node("n2", revoked_at_ms=T0 + 7)
    # Make it a store of schema version 1: no key history.
    with store._write() as tx:  # type: ignore[attr-defined]
        tx.execute("DROP TABLE node_keys")
        tx.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    reopened = open_store()
    with reopened._read() as tx:  # type: ignore[attr-defined]
        version = tx.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    assert version == "2"
    keys = reopened.node_keys()
    assert [(k.node_id, k.kid, k.enrolled_at_ms, k.revoked_at_ms) for k in keys] == [
        ("n1", enrollment("n1").kid, T0, None),
        ("n2", enrollment("n2").kid, T0 + 1, T0 + 7),
    ]
    # Opening again changes nothing.
    assert open_store().node_keys() == keys


def test_observe_node(store: Storage) -> None:
    store.enroll_node(enrollment("n1"), enrolled_at_ms=T0)
    store.observe_node("n1", seen_ms=T0 + 5, clock_skew_ms=-1500, reported_seq=40)
    store.observe_node("n1", seen_ms=T0 + 9, reported_seq=12)  # never moves backwards
    row = store.get_node("n1")
    assert row is not None
    assert (row.last_seen_ms, row.clock_skew_ms, row.reported_seq, row.backlog) == (
        T0 + 9,
        -1500,
        40,
        40,
    )
    append(store, Chain("n1").batch(10))
    row = store.get_node("n1")
    assert row is not None and row.backlog == 30 and row.last_seen_ms == T0 + 10**6
    with pytest.raises(UnknownNodeError):
        store.observe_node("ghost", seen_ms=T0)


# -- append -------------------------------------------------------------------------------


def test_append_assigns_contiguous_indexes_and_keeps_exact_bytes(store: Storage) -> None:
    for n in ("a", "b"):
        store.enroll_node(enrollment(n), enrolled_at_ms=T0)
    a, b = Chain("a"), Chain("b")
    first = a.batch(3, disclosures=2)
    assert append(store, first) == (0, 1, 2)
    mixed = [b.next(), a.next(), b.next()]
    result = store.append_records(mixed, received_ms=T0 + 7)
    assert numbered(store, mixed) == (3, 4, 5)
    assert result.heads == {"a": ChainHead(4, a.prev), "b": ChainHead(2, b.prev)}
    assert store.chain_head("a") == ChainHead(4, a.prev)
    assert store.log_state().size == 6
    got = store.get_record("a", 2, with_disclosures=True)
    assert got is not None
    assert got.record == first[1].record and got.log_index == 1 and got.received_ms == T0 + 10**6
    assert got.record_hash == hashlib.sha256(first[1].record).digest()
    assert [(d.position, d.field_name, d.digest, d.disclosure) for d in got.disclosures] == [
        (i, d.field_name, d.digest, d.disclosure) for i, d in enumerate(first[1].disclosures)
    ]
    assert store.get_record("a", 2).disclosures == ()  # type: ignore[union-attr]
    at4 = store.get_record_at(4)
    assert at4 is not None and (at4.node_id, at4.seq, at4.record) == ("a", 4, mixed[1].record)
    assert store.get_record("a", 99) is None and store.get_record_at(99) is None
    assert store.leaf_hashes(0, 100) == [merkle.leaf_hash(r.record) for r in first + mixed]
    assert store.find_leaf(merkle.leaf_hash(mixed[2].record)) == 5
    assert store.find_leaf(b"\x00" * 32) is None
    assert set(store.get_disclosures([0, 1, 2, 3])) == {0, 1, 2}


def _assert_nothing_stored(store: Storage, size: int, heads: dict[str, ChainHead]) -> None:
    assert store.log_state().size == size
    assert len(store.leaf_hashes(0, size + 100)) == size
    for node, head in heads.items():
        assert store.chain_head(node) == head


@pytest.mark.parametrize(
    "case",
    ["duplicate", "gap", "bad_prev", "unknown_node", "later_bad", "seq_zero", "replay_in_batch"],
)
def test_append_refusals_store_nothing(store: Storage, case: str) -> None:
    store.enroll_node(enrollment("a"), enrolled_at_ms=T0)
    store.enroll_node(enrollment("b"), enrolled_at_ms=T0)
    a, b = Chain("a"), Chain("b")
    done = a.batch(2)
    append(store, done)
    heads = {"a": ChainHead(2, a.prev), "b": ChainHead(0, ZERO_HASH)}
    expected: type[Exception] = ChainConflictError
    if case == "duplicate":
        batch, expected = [done[1]], DuplicateRecordError
    elif case == "gap":
        a.next()
        batch = [a.next()]
    elif case == "bad_prev":
        rec = a.next()
        batch = [dataclasses.replace(rec, prev_hash=b"\x07" * 32)]
    elif case == "unknown_node":
        batch, expected = [b.next(), Chain("ghost").next()], UnknownNodeError
    elif case == "later_bad":  # good records first, then one that breaks the chain
        batch = [b.next(), a.next(), b.next(), dataclasses.replace(a.next(), seq=9)]
    elif case == "seq_zero":
        batch = [dataclasses.replace(b.next(), seq=0)]
    else:  # the same record twice in one batch
        rec = b.next()
        batch, expected = [rec, rec], DuplicateRecordError
    with pytest.raises(expected):
        append(store, batch)
    _assert_nothing_stored(store, 2, heads)
    # The store still works after the refusal.
    c = Chain("a")
    c.batch(2)
    assert append(store, [c.next()]) == (2,)


def test_empty_append_is_a_no_op(store: Storage) -> None:
    assert store.append_records([], received_ms=T0).log_indexes == ()
    assert store.assign_log_indexes(10) == 0
    assert store.log_state().size == 0


def test_appended_records_are_durable_before_they_are_numbered(store: Storage) -> None:
    store.enroll_node(enrollment("a"), enrolled_at_ms=T0)
    chain = Chain("a")
    append(store, chain.batch(2))
    batch = chain.batch(3, disclosures=2)
    given = store.append_records(batch, received_ms=T0 + 5).log_indexes
    # Stored and in the chain at once, whether or not numbered yet.
    assert store.chain_head("a") == ChainHead(5, chain.prev)
    got = store.get_record("a", 4, with_disclosures=True)
    assert got is not None and got.record == batch[1].record
    assert [d.disclosure for d in got.disclosures] == [d.disclosure for d in batch[1].disclosures]
    with pytest.raises(DuplicateRecordError):
        store.append_records(batch[:1], received_ms=T0 + 6)
    if given is None:  # numbered later: invisible to everything that reads by log index
        assert got.log_index is None
        assert store.log_state().size == 2
        assert len(store.scan_records(0, limit=10).records) == 2
        assert len(store.leaf_hashes(0, 10)) == 2
        assert store.find_leaf(batch[0].leaf_hash) is None
    # Numbering in batches of at most *limit*, in the order stored, then nothing left.
    assert store.assign_log_indexes(2) == (0 if given else 2)
    assert store.assign_log_indexes(2) == (0 if given else 1)
    assert store.assign_log_indexes(2) == 0
    assert numbered(store, batch) == (2, 3, 4)
    assert store.log_state().size == 5
    assert store.leaf_hashes(0, 10)[2:] == [r.leaf_hash for r in batch]
    page = store.scan_records(2, limit=10)
    assert [(r.seq, r.record, r.received_ms) for r in page.records] == [
        (r.seq, r.record, T0 + 5) for r in batch
    ]
    assert [d.disclosure for d in page.records[1].disclosures] == [
        d.disclosure for d in batch[1].disclosures
    ]
    assert store.find_leaf(batch[2].leaf_hash) == 4


# -- scans ----------------------------------------------------------------------------------


def _fill(store: Storage) -> list[NewRecord]:
    nodes = {
        "bil-dr-01": Chain("bil-dr-01", record_type="document_check", agency="SBS", site="AZ-BIL"),
        "bil-rpm-01": Chain(
            "bil-rpm-01", record_type="radiation_occupancy", agency="SCC", site="AZ-BIL"
        ),
        "ast-dr-01": Chain("ast-dr-01", record_type="document_check", agency="SBS", site="AZ-AST"),
    }
    for chain in nodes.values():
        store.enroll_node(
            enrollment(chain.node_id, site=chain.site, agency=chain.agency), enrolled_at_ms=T0
        )
    out: list[NewRecord] = []
    for _round in range(4):
        batch = []
        for i, chain in enumerate(nodes.values()):
            for _ in range(i + 1):
                kind = (
                    "radiation_alarm"
                    if chain.record_type.startswith("radiation") and chain.seq % 3 == 2
                    else None
                )
                batch.append(
                    chain.next(record_type=kind, disclosures=1 if "dr" in chain.node_id else 0)
                )
        append(store, batch)
        out += batch
    return out


@pytest.mark.parametrize(
    "flt",
    [
        RecordFilter(),
        RecordFilter(types=("document_check",)),
        RecordFilter(types=("radiation_alarm", "radiation_occupancy")),
        RecordFilter(sites=("AZ-AST",)),
        RecordFilter(agencies=("SCC",), types=("radiation_alarm",)),
        RecordFilter(node_ids=("bil-dr-01", "ast-dr-01"), sites=("AZ-BIL",)),
        RecordFilter(since_ms=T0 + 3000, until_ms=T0 + 6000),
        RecordFilter(types=("lab_analysis",)),
    ],
    ids=["all", "type", "types", "site", "agency+type", "nodes+site", "time", "none"],
)
def test_scan_filters_and_resumes_without_loss_or_duplicates(
    store: Storage, flt: RecordFilter
) -> None:
    records = _fill(store)
    total = len(records)

    def matches(i: int, r: NewRecord) -> bool:
        return (
            (not flt.types or r.record_type in flt.types)
            and (not flt.sites or r.site in flt.sites)
            and (not flt.agencies or r.agency in flt.agencies)
            and (not flt.node_ids or r.node_id in flt.node_ids)
            and (flt.since_ms is None or r.time_ms >= flt.since_ms)
            and (flt.until_ms is None or r.time_ms < flt.until_ms)
        )

    expected = [(i, r.record) for i, r in enumerate(records) if matches(i, r)]
    seen, cursor, pages = [], 0, 0
    while True:
        page = store.scan_records(cursor, limit=4, record_filter=flt)
        assert page.next_index > cursor or (not page.records and page.next_index == total)
        seen += [(r.log_index, r.record) for r in page.records]
        pages += 1
        if page.next_index >= total:
            break
        cursor = page.next_index
        assert pages < 100
    assert seen == expected
    assert page.next_index == total
    # The lean read gives the same rows and cursors as plain tuples.
    lean, cursor = [], 0
    while cursor < total:
        rows, nxt = store.scan_rows(cursor, limit=4, record_filter=flt)
        assert nxt > cursor and len(rows) <= 4
        lean += [(i, rec) for i, _node, rec, *_ in rows]
        for i, node_id, _rec, rtype, agency, site, received_ms in rows:
            src = records[i]
            assert (node_id, rtype, agency, site) == (
                src.node_id,
                src.record_type,
                src.agency,
                src.site,
            )
            stored = store.get_record_at(i)
            assert stored is not None and received_ms == stored.received_ms
        cursor = nxt
    assert lean == expected


@pytest.mark.parametrize("indexes", [[0, 1, 2, 3, 5, 6], [0, 9, 18], [], [4]])
def test_disclosure_rows_dense_and_sparse(store: Storage, indexes: list[int]) -> None:
    records = _fill(store)
    rows = store.disclosure_rows(indexes)
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    if indexes:  # rows of other indexes only between the first and the last asked for
        assert all(indexes[0] <= r[0] <= indexes[-1] for r in rows)
    got = [(i, name, bytes(d)) for i, name, d in rows if i in indexes]
    expected = [(i, d.field_name, d.disclosure) for i in indexes for d in records[i].disclosures]
    assert got == expected


def test_scan_bounds_and_disclosures(store: Storage) -> None:
    records = _fill(store)
    page = store.scan_records(2, limit=100, end_index=7)
    assert [r.log_index for r in page.records] == [2, 3, 4, 5, 6] and page.next_index == 7
    for r in page.records:
        src = records[r.log_index]
        assert [d.disclosure for d in r.disclosures] == [d.disclosure for d in src.disclosures]
    bare = store.scan_records(2, limit=100, end_index=7, with_disclosures=False)
    assert all(r.disclosures == () for r in bare.records)
    beyond = store.scan_records(len(records) + 5, limit=10)
    assert beyond.records == () and beyond.next_index == len(records) + 5
    with pytest.raises(StorageError):
        store.scan_records(0, limit=0)


# -- Merkle log, checkpoints -----------------------------------------------------------------


def test_merkle_nodes_give_verifiable_proofs(store: Storage) -> None:
    store.enroll_node(enrollment("n1"), enrolled_at_ms=T0)
    chain = Chain("n1")
    cr = merkle.CompactRange()
    roots = {}
    for size in (5, 13, 37):
        append(store, chain.batch(size - store.log_state().size))
        state = store.log_state()
        done = cr.extend(store.leaf_hashes(state.integrated_size, state.size))
        store.put_merkle_nodes(done, integrated_size=state.size)
        roots[size] = cr.root()
    assert store.log_state().integrated_size == 37
    assert roots[37] == merkle.tree_hash(
        r for r in (store.get_record_at(i).record for i in range(37))
    )  # type: ignore[union-attr]

    def get_node(node: merkle.NodeID) -> bytes:
        return store.get_merkle_nodes([node])[node]

    for index in (0, 12, 31, 36):
        proof = merkle.inclusion_proof(index, 37, get_node)
        merkle.verify_inclusion(store.leaf_hashes(index, index + 1)[0], index, 37, proof, roots[37])
    for old in (5, 13):
        proof = merkle.consistency_proof(old, 37, get_node)
        merkle.verify_consistency(old, 37, proof, roots[old], roots[37])
    # Batch fetch: several levels at once, missing keys absent.
    got = store.get_merkle_nodes([(0, 3), (1, 2), (5, 0), (5, 1), (3, 3), (3, 4)])
    assert set(got) == {(0, 3), (1, 2), (5, 0), (3, 3)}  # (5, 1), (3, 4) incomplete
    assert got[(5, 0)] == merkle.tree_hash(store.get_record_at(i).record for i in range(32))  # type: ignore[union-attr]


def test_integrated_size_only_moves_forward_and_within_the_log(store: Storage) -> None:
    store.enroll_node(enrollment("n1"), enrolled_at_ms=T0)
    append(store, Chain("n1").batch(4))
    store.put_merkle_nodes([], integrated_size=4)
    store.put_merkle_nodes([], integrated_size=2)
    assert store.log_state().integrated_size == 4
    with pytest.raises(StorageError):
        store.put_merkle_nodes([], integrated_size=5)
    with pytest.raises(StorageError):
        store.put_merkle_nodes([((1, 0), b"short")], integrated_size=4)


def test_checkpoints(store: Storage) -> None:
    store.enroll_node(enrollment("n1"), enrolled_at_ms=T0)
    append(store, Chain("n1").batch(3))
    cp1 = CheckpointRow(1, b"\x01" * 32, T0, b"borderlink.test/log\n1\nAQ==\n\n- sig\n")
    cp3 = CheckpointRow(3, b"\x03" * 32, T0 + 1, b"note-3")
    store.add_checkpoint(cp3)
    store.add_checkpoint(cp1)
    store.add_checkpoint(CheckpointRow(3, b"\x09" * 32, T0 + 2, b"other"))  # same size: kept first
    assert store.latest_checkpoint() == cp3
    assert store.get_checkpoint(1) == cp1 and store.get_checkpoint(2) is None
    with pytest.raises(StorageError):
        store.add_checkpoint(CheckpointRow(4, b"\x04" * 32, T0, b"beyond"))


# -- evidence, downlink, policy -----------------------------------------------------------------


def test_equivocation_evidence_keeps_both_records(store: Storage) -> None:
    store.enroll_node(enrollment("n1"), enrolled_at_ms=T0)
    chain = Chain("n1")
    stored = chain.batch(2)
    append(store, stored)
    fork = Chain("n1")
    fork.next()
    other = fork.next(salt=b"forged")
    assert other.seq == 2 and other.record != stored[1].record
    with pytest.raises(DuplicateRecordError):
        append(store, [other])
    ev = store.add_equivocation(
        node_id="n1", seq=2, conflicting_record=other.record, detected_at_ms=T0 + 9, note="fork"
    )
    assert (ev.stored_log_index, ev.conflicting_record, ev.note) == (1, other.record, "fork")
    assert ev.conflicting_hash == other.record_hash
    orphan = store.add_equivocation(node_id="n2", seq=5, conflicting_record=b"x", detected_at_ms=T0)
    assert orphan.stored_log_index is None
    assert store.list_equivocations("n1") == [ev]
    assert store.list_equivocations() == [ev, orphan]
    assert store.get_record("n1", 2).record == stored[1].record  # type: ignore[union-attr]


def test_downlinks_are_versioned_per_kind_and_target(store: Storage) -> None:
    wl = DownlinkKind.WATCHLIST
    store.put_downlink(DownlinkItem(wl, "*", 1, b"wl-1", T0))
    store.put_downlink(DownlinkItem(wl, "*", 2, b"wl-2", T0 + 1))
    store.put_downlink(DownlinkItem(DownlinkKind.CONFIG, "bil-dr-01", 7, b"cfg-7", T0))
    store.put_downlink(DownlinkItem(DownlinkKind.FIRMWARE, "site:AZ-AST", 1, b"fw", T0))
    with pytest.raises(DownlinkVersionError):
        store.put_downlink(DownlinkItem(wl, "*", 2, b"again", T0 + 2))
    got = store.latest_downlinks(["bil-dr-01", "site:AZ-BIL", "*"])
    assert [(d.kind, d.target, d.version, d.signed_payload) for d in got] == [
        (DownlinkKind.CONFIG, "bil-dr-01", 7, b"cfg-7"),
        (wl, "*", 2, b"wl-2"),
    ]
    assert store.latest_downlinks([]) == []


def test_downlink_acks_latest_per_node_and_kind(store: Storage) -> None:
    store.enroll_node(enrollment("n1"), enrolled_at_ms=T0)
    store.enroll_node(enrollment("n2"), enrolled_at_ms=T0)
    cfg, wl = DownlinkKind.CONFIG, DownlinkKind.WATCHLIST
    acks = [
        DownlinkAckRow("n1", cfg, 1, True, "", T0 + 1),
        DownlinkAckRow("n1", wl, 3, False, "bad signature", T0 + 2),
        DownlinkAckRow("n2", cfg, 1, True, "", T0 + 3),
        DownlinkAckRow("n1", cfg, 2, False, "older than held", T0 + 4),
    ]
    for ack in acks:
        store.add_downlink_ack(ack)
    # The last one received per (node, kind), whatever its version.
    assert store.latest_downlink_acks() == [acks[3], acks[1], acks[2]]
    assert store.latest_downlink_acks(["n2", "ghost"]) == [acks[2]]
    assert store.latest_downlink_acks([]) == []
    with pytest.raises(UnknownNodeError):
        store.add_downlink_ack(DownlinkAckRow("ghost", cfg, 1, True, "", T0))


def test_policy_latest_wins(store: Storage) -> None:
    p1 = store.put_policy(b"[agency.SBS]\n", digest="d1", loaded_at_ms=T0)
    p2 = store.put_policy(b"[agency.SCC]\n", digest="d2", loaded_at_ms=T0 + 1)
    assert p2.id > p1.id
    assert store.current_policy() == p2


# -- several handles, several threads -----------------------------------------------------------


def test_one_sequencer_across_handles(open_store: Callable[[], Storage]) -> None:
    one, two = open_store(), open_store()
    assert one.acquire_sequencer() is True
    assert one.acquire_sequencer() is True  # re-entrant for its holder
    assert two.acquire_sequencer() is False
    one.release_sequencer()
    assert two.acquire_sequencer() is True
    assert one.acquire_sequencer() is False
    two.close()  # closing releases it
    assert one.acquire_sequencer() is True


def test_concurrent_appends_from_two_handles_never_fork_the_log(
    open_store: Callable[[], Storage],
) -> None:
    handles = [open_store(), open_store()]
    nodes = [f"n{i}" for i in range(4)]
    for n in nodes:
        handles[0].enroll_node(enrollment(n), enrolled_at_ms=T0)
    errors: list[BaseException] = []
    got: dict[str, list[int]] = {}

    def worker(i: int, node: str) -> None:
        chain = Chain(node)
        try:
            for round_ in range(10):
                handles[i % 2].append_records(chain.batch(5), received_ms=T0)
                if round_ % 3 == i % 3:  # numbering runs between and during appends
                    handles[i % 2].assign_log_indexes(7)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i, n)) for i, n in enumerate(nodes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    handles[0].assign_log_indexes(10_000)
    for node in nodes:
        got[node] = [handles[1].get_record(node, seq).log_index for seq in range(1, 51)]  # type: ignore[union-attr,misc]
    everything = sorted(i for idx in got.values() for i in idx)
    assert everything == list(range(4 * 50))
    for node in nodes:
        assert store_chain_ok(handles[1], node, 50)
        assert got[node] == sorted(got[node])  # a node's records stay in log order


def store_chain_ok(store: Storage, node: str, n: int) -> bool:
    prev = ZERO_HASH
    for seq in range(1, n + 1):
        rec = store.get_record(node, seq)
        if rec is None:
            return False
        expect = Chain(node)
        for _ in range(seq):
            made = expect.next()
        if rec.record != made.record or made.prev_hash != prev:
            return False
        prev = rec.record_hash
    return store.chain_head(node) == ChainHead(n, prev)


def test_record_types_declared_at_enrolment_and_added_to_an_older_store(
    open_store: Callable[[], Storage],
) -> None:
    store = open_store()
    types = ("radiation.occupancy", "radiation.alarm", "alert.ack")
    row = store.enroll_node(
        dataclasses.replace(enrollment("n1"), record_types=types), enrolled_at_ms=T0
    )
    assert row.record_types == types and store.get_node("n1") == row
    # A store made before the column: the column is added when it is opened again, and its
    # nodes have no declared types (ingest then accepts only node.* records from them).
    with store._write() as tx:  # type: ignore[attr-defined]
        tx.execute("ALTER TABLE nodes DROP COLUMN record_types")
    store.close()
    reopened = open_store()
    old = reopened.get_node("n1")
    assert old is not None and old.record_types == () and old.site == "AZ-BIL"
    # Re-enrolment after revocation declares them again.
    reopened.revoke_node("n1", revoked_at_ms=T0 + 1)
    again = reopened.enroll_node(
        dataclasses.replace(enrollment("n1"), record_types=types[:1]), enrolled_at_ms=T0 + 2
    )
    assert again.record_types == types[:1]
