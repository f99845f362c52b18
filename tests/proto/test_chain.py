"""Hash chains: a node's records 1..n in any order; gaps, reorders, changed records, forks."""

from __future__ import annotations

from itertools import pairwise

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from record_samples import NODE_KEY, OTHER_KEY, sign

from borderlink.proto.chain import ChainDefect, ChainVerifier, verify_chain
from borderlink.proto.record import (
    GENESIS_PREV,
    Record,
    RecordChain,
    decode_record,
    record_hash,
)
from borderlink.proto.record_types import default_registry

REGISTRY = default_registry()


def build_chain(n: int, *, node_id: str = "bil-rpm-02", key=NODE_KEY) -> list[Record]:
    chain = RecordChain(key, node_id=node_id, site="AZ-BIL", registry=REGISTRY)
    records = []
    for i in range(n):
        signed = chain.prepare("link.status", {"link": "uplink", "state": "up", "since_ms": i},
                               time_ms=1000 + i)
        chain.commit(signed)
        records.append(decode_record(signed.raw))  # the verifier sees decoded bytes only
    return records


CHAIN = build_chain(8)


def defects(report) -> list[tuple[ChainDefect, int]]:
    return sorted((f.defect, f.seq) for f in report.findings)


def test_intact_chain() -> None:
    report = verify_chain(CHAIN)
    assert report.ok, report.findings
    assert (report.first_seq, report.last_seq, report.records) == (1, 8, 8)
    assert CHAIN[0].prev_hash == GENESIS_PREV
    assert all(b.prev_hash == record_hash(a.raw) for a, b in pairwise(CHAIN))


def test_gap_is_reported_with_the_missing_range() -> None:
    segment = [r for r in CHAIN if r.seq not in (3, 4)]
    report = verify_chain(segment, "bil-rpm-02")
    assert defects(report) == [(ChainDefect.GAP, 3)]
    assert "3..4" in report.findings[0].detail


def test_gap_before_the_first_record_held() -> None:
    verifier = ChainVerifier("bil-rpm-02")  # a whole chain from record 1
    report = verifier.feed_all(CHAIN[2:])
    assert defects(report) == [(ChainDefect.GAP, 1)]


def test_reordering_is_reported_but_links_still_check() -> None:
    order = [CHAIN[0], CHAIN[2], CHAIN[1], *CHAIN[3:]]
    report = ChainVerifier("bil-rpm-02").feed_all(order)
    assert defects(report) == [(ChainDefect.REORDERED, 2)]


def test_changed_record_breaks_the_next_link() -> None:
    """Record 4 re-signed with another body (same seq, same prev): record 5 no longer follows."""
    changed = sign("link.status", {"link": "uplink", "state": "down", "since_ms": 3}, REGISTRY,
                   seq=4, prev=CHAIN[3].prev_hash, node_id="bil-rpm-02")
    segment = [*CHAIN[:3], decode_record(changed.raw), *CHAIN[4:]]
    report = verify_chain(segment)
    assert defects(report) == [(ChainDefect.BROKEN_LINK, 5)]


def test_changed_prev_breaks_its_own_link() -> None:
    changed = sign("link.status", {"link": "uplink", "state": "up", "since_ms": 3}, REGISTRY,
                   seq=4, prev=b"\x01" * 32, node_id="bil-rpm-02")
    segment = [*CHAIN[:3], decode_record(changed.raw), *CHAIN[4:]]
    assert defects(verify_chain(segment)) == [(ChainDefect.BROKEN_LINK, 4),
                                              (ChainDefect.BROKEN_LINK, 5)]


def test_fork_keeps_both_records_as_evidence() -> None:
    other = sign("link.status", {"link": "uplink", "state": "down", "since_ms": 99}, REGISTRY,
                 seq=4, prev=CHAIN[3].prev_hash, node_id="bil-rpm-02")
    verifier = ChainVerifier("bil-rpm-02")
    verifier.feed_all(CHAIN)
    verifier.feed(decode_record(other.raw))
    verifier.feed(decode_record(other.raw))  # the same evidence twice is kept once
    report = verifier.report()
    assert (ChainDefect.FORK, 4) in defects(report)
    assert report.forks[4] == [CHAIN[3].raw, other.raw]
    # Record 5 follows one of the two forked records: no broken link on top of the fork.
    assert ChainDefect.BROKEN_LINK not in report.defects()


def test_fork_evidence_is_two_signed_statements_not_two_encodings() -> None:
    """The same signed record re-encoded (here: untagged) is not a fork. Otherwise anyone
    relaying one genuine record could fabricate 'equivocation' evidence against its node."""
    untagged = decode_record(CHAIN[3].raw[1:])
    assert untagged.raw != CHAIN[3].raw and untagged.message.payload == CHAIN[3].message.payload
    verifier = ChainVerifier("bil-rpm-02")
    verifier.feed_all(CHAIN)
    verifier.feed(untagged)
    report = verifier.report()
    assert ChainDefect.FORK not in report.defects()
    assert report.forks == {}
    # Held in the other encoding first, record 5 (which names the tagged bytes) still links.
    first = ChainVerifier("bil-rpm-02")
    first.feed_all([*CHAIN[:3], untagged, *CHAIN[3:]])
    assert first.report().ok, first.report().findings


def test_exact_duplicate_is_harmless() -> None:
    report = verify_chain([*CHAIN, CHAIN[2], CHAIN[5]])
    assert report.ok and report.records == 8


def test_record_of_another_node() -> None:
    stranger = build_chain(3, node_id="ast-dr-01")[2]
    report = verify_chain([*CHAIN[:3], stranger, *CHAIN[3:]], "bil-rpm-02")
    assert defects(report) == [(ChainDefect.WRONG_NODE, 3)]
    assert report.records == 8


def test_bad_genesis() -> None:
    first = sign("link.status", {"link": "uplink", "state": "up", "since_ms": 0}, REGISTRY,
                 seq=1, prev=b"\x07" * 32, node_id="bil-rpm-02")
    report = verify_chain([decode_record(first.raw)])
    assert defects(report) == [(ChainDefect.BAD_GENESIS, 1)]


def test_segment_from_the_middle_checks_the_hash_before_it() -> None:
    good = ChainVerifier("bil-rpm-02", start_seq=4, start_prev=record_hash(CHAIN[2].raw))
    assert good.feed_all(CHAIN[3:]).ok
    wrong = ChainVerifier("bil-rpm-02", start_seq=4, start_prev=b"\x00" * 32)
    assert defects(wrong.feed_all(CHAIN[3:])) == [(ChainDefect.BROKEN_LINK, 4)]
    unknown = ChainVerifier("bil-rpm-02", start_seq=4)  # hash before the segment not known
    assert unknown.feed_all(CHAIN[3:]).ok


def test_report_can_be_read_at_any_time_without_piling_up_findings() -> None:
    verifier = ChainVerifier("bil-rpm-02")
    verifier.feed_all([r for r in CHAIN if r.seq != 5])
    first, second = verifier.report(), verifier.report()
    assert defects(first) == defects(second) == [(ChainDefect.GAP, 5)]
    verifier.feed(CHAIN[4])  # the missing record arrives late
    assert defects(verifier.report()) == [(ChainDefect.REORDERED, 5)]


def test_same_seq_by_another_key_is_still_a_fork_for_the_chain() -> None:
    """Signatures are checked before the chain; a fork found here names two records."""
    other = build_chain(2, key=OTHER_KEY)[1]
    report = verify_chain([*CHAIN, other])
    assert (ChainDefect.FORK, 2) in defects(report)


def test_empty_segment_needs_a_node_id() -> None:
    with pytest.raises(ValueError):
        verify_chain([])
    assert verify_chain([], "x").ok


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(range(len(CHAIN))))
def test_any_order_of_an_intact_chain_is_only_reordered(order: list[int]) -> None:
    report = ChainVerifier("bil-rpm-02").feed_all(CHAIN[i] for i in order)
    assert report.defects() <= {ChainDefect.REORDERED}
    assert report.records == len(CHAIN)
    expected_late = {CHAIN[i].seq for n, i in enumerate(order)
                     if any(order[m] > i for m in range(n))}
    assert {f.seq for f in report.findings} == expected_late


@settings(max_examples=40, deadline=None)
@given(dropped=st.sets(st.integers(2, len(CHAIN) - 1), min_size=1))
def test_dropped_records_are_gaps_at_each_missing_run(dropped: set[int]) -> None:
    report = ChainVerifier("bil-rpm-02").feed_all(r for r in CHAIN if r.seq not in dropped)
    runs = {s for s in dropped if s - 1 not in dropped}
    assert defects(report) == sorted((ChainDefect.GAP, s) for s in runs)


def test_chain_hash_is_over_exact_bytes() -> None:
    assert record_hash(CHAIN[0].raw) == CHAIN[1].prev_hash
    assert record_hash(cbor2.dumps(cbor2.loads(CHAIN[0].raw))) == record_hash(CHAIN[0].raw)
