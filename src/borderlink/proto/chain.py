"""Hash chains of one node's records: verify a segment, find gaps, reorders, changes and forks.

Each record names the SHA-256 of its predecessor's exact bytes (``prev``); sequence numbers
run 1, 2, 3 … without gaps. :class:`ChainVerifier` takes records in any order, one at a
time (a hub ingesting, an auditor reading a bundle), and reports every defect it sees
instead of stopping at the first: an auditor wants the whole picture. Two different records
with one sequence number, both validly signed by the node, are a fork (equivocation): both
are kept as evidence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from .record import GENESIS_PREV, Record, record_hash


class ChainDefect(StrEnum):
    GAP = "gap"  # sequence numbers missing between two records held
    REORDERED = "reordered"  # a record arrived before one with a lower sequence number
    BROKEN_LINK = "broken_link"  # prev does not match the hash of the record before it
    FORK = "fork"  # two different records with one sequence number
    WRONG_NODE = "wrong_node"  # a record of another node in this node's chain
    BAD_GENESIS = "bad_genesis"  # record 1 does not start from 32 zero bytes


@dataclass(frozen=True)
class Finding:
    defect: ChainDefect
    seq: int
    detail: str


@dataclass
class ChainReport:
    """What a verifier found in a segment of one node's chain."""

    node_id: str
    first_seq: int | None = None
    last_seq: int | None = None
    records: int = 0
    findings: list[Finding] = field(default_factory=list)
    forks: dict[int, list[bytes]] = field(default_factory=dict)  # seq -> the differing records

    @property
    def ok(self) -> bool:
        return not self.findings

    def defects(self) -> set[ChainDefect]:
        return {f.defect for f in self.findings}


class ChainVerifier:
    """Feed one node's records (signatures already checked); read :meth:`report` at any time.

    *start_seq*/*start_prev* let a segment begin mid-chain: the hash of the record before
    the segment, when known, is checked too.
    """

    def __init__(
        self, node_id: str, *, start_seq: int = 1, start_prev: bytes | None = None
    ) -> None:
        self._node_id = node_id
        self._start_seq = start_seq
        self._start_prev = GENESIS_PREV if start_seq == 1 else start_prev
        self._by_seq: dict[int, Record] = {}
        self._encodings: dict[int, set[bytes]] = {}  # seq -> hashes of re-encodings held
        self._report = ChainReport(node_id)
        self._highest_seen = 0

    def feed(self, record: Record) -> None:
        report = self._report
        if record.node_id != self._node_id:
            report.findings.append(Finding(
                ChainDefect.WRONG_NODE, record.seq,
                f"record of node {record.node_id!r} in the chain of {self._node_id!r}"))
            return
        held = self._by_seq.get(record.seq)
        if held is not None:
            if held.raw != record.raw and held.message.payload == record.message.payload:
                # One signed statement in another encoding (untagged, other length heads):
                # not equivocation — third parties could fabricate that. Either hash links.
                self._encodings.setdefault(record.seq, set()).add(record.hash)
            elif held.raw != record.raw:
                evidence = report.forks.setdefault(record.seq, [held.raw])
                if record.raw not in evidence:
                    evidence.append(record.raw)
                report.findings.append(Finding(
                    ChainDefect.FORK, record.seq,
                    f"two different records with sequence number {record.seq}"))
            return  # an exact duplicate is harmless
        if record.seq < self._highest_seen:
            report.findings.append(Finding(
                ChainDefect.REORDERED, record.seq,
                f"record {record.seq} arrived after record {self._highest_seen}"))
        self._highest_seen = max(self._highest_seen, record.seq)
        self._by_seq[record.seq] = record
        report.records += 1

    def feed_all(self, records: Iterable[Record]) -> ChainReport:
        for record in records:
            self.feed(record)
        return self.report()

    def report(self) -> ChainReport:
        """Links and gaps are judged over everything fed so far."""
        base = self._report
        report = ChainReport(
            base.node_id, records=base.records, findings=list(base.findings),
            forks={k: list(v) for k, v in base.forks.items()},
        )
        if not self._by_seq:
            return report
        seqs = sorted(self._by_seq)
        report.first_seq, report.last_seq = seqs[0], seqs[-1]
        if seqs[0] > self._start_seq:
            report.findings.append(Finding(
                ChainDefect.GAP, self._start_seq,
                f"records {self._start_seq}..{seqs[0] - 1} are missing"))
        previous: Record | None = None
        for seq in seqs:
            record = self._by_seq[seq]
            if previous is None:
                expected = self._start_prev if seq == self._start_seq else None
                if seq == 1 and record.prev_hash != GENESIS_PREV:
                    report.findings.append(Finding(
                        ChainDefect.BAD_GENESIS, 1, "record 1 must name 32 zero bytes as prev"))
                elif expected is not None and seq != 1 and record.prev_hash != expected:
                    report.findings.append(Finding(
                        ChainDefect.BROKEN_LINK, seq,
                        f"record {seq} does not follow the record before the segment"))
            elif seq == previous.seq + 1:
                # After a fork, the next record may follow either of the forked records.
                allowed = {previous.hash}
                allowed.update(record_hash(raw) for raw in base.forks.get(previous.seq, ()))
                allowed.update(self._encodings.get(previous.seq, ()))
                if record.prev_hash not in allowed and seq not in base.forks:
                    report.findings.append(Finding(
                        ChainDefect.BROKEN_LINK, seq,
                        f"record {seq} names prev {record.prev_hash.hex()[:16]}…, but record "
                        f"{previous.seq} hashes to {previous.hash.hex()[:16]}…"))
            else:
                report.findings.append(Finding(
                    ChainDefect.GAP, previous.seq + 1,
                    f"records {previous.seq + 1}..{seq - 1} are missing"))
            previous = record
        return report


def verify_chain(records: Iterable[Record], node_id: str | None = None) -> ChainReport:
    """Check a segment of one node's chain (any order); see :class:`ChainVerifier`."""
    records = list(records)
    if node_id is None:
        if not records:
            raise ValueError("an empty segment needs a node id")
        node_id = records[0].node_id
    start = min(r.seq for r in records if r.node_id == node_id) if records else 1
    verifier = ChainVerifier(node_id, start_seq=start, start_prev=None)
    return verifier.feed_all(records)
