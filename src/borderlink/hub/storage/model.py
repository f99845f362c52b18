"""Values the hub storage takes and returns: frozen dataclasses, no I/O.

Times are Unix milliseconds (``*_ms``); hashes are raw 32-byte SHA-256 values.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from borderlink.proto.merkle import leaf_hash

#: The previous-record hash of a node's first record, and the chain head of an empty node.
ZERO_HASH = bytes(32)


class DownlinkKind(enum.Enum):
    """What a downlink item carries (mirrors ``borderlink.v1.DownlinkKind``)."""

    WATCHLIST = "watchlist"
    CONFIG = "config"
    FIRMWARE = "firmware"


@dataclass(frozen=True)
class NodeEnrollment:
    """What a technician supplies to enrol a node."""

    node_id: str
    public_key: bytes
    kid: bytes
    site: str
    agency: str
    profile: str
    certificate_der: bytes | None = None
    #: Record types the node's hardware profile produces, resolved from the profile by
    #: whoever enrols it (the hub never reads profiles). Empty: none declared, and ingest
    #: then accepts only the node lifecycle types (fail closed).
    record_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeRow:
    """A node as the hub knows it."""

    node_id: str
    public_key: bytes
    kid: bytes
    site: str
    agency: str
    profile: str
    certificate_der: bytes | None
    enrolled_at_ms: int
    revoked_at_ms: int | None
    revoke_reason: str | None
    last_seq: int
    last_hash: bytes
    #: Highest journal sequence number the node reported (Hello); ``reported_seq - last_seq``
    #: is its backlog.
    reported_seq: int
    #: node clock - hub clock at the last observation, in ms (None: never observed).
    clock_skew_ms: int | None
    last_seen_ms: int | None
    #: Record types declared at enrolment (see :class:`NodeEnrollment`).
    record_types: tuple[str, ...] = ()

    @property
    def revoked(self) -> bool:
        return self.revoked_at_ms is not None

    @property
    def backlog(self) -> int:
        return max(0, self.reported_seq - self.last_seq)


@dataclass(frozen=True)
class NodeKeyRow:
    """One key a node was enrolled with. A re-enrolment after revocation adds a key and keeps
    the old ones, so records signed before it still verify with the key their kid names."""

    node_id: str
    kid: bytes
    public_key: bytes
    enrolled_at_ms: int
    #: When this key was revoked (node time); None for the key in force.
    revoked_at_ms: int | None


@dataclass(frozen=True)
class ChainHead:
    """The last stored record of a node: (0, 32 zero bytes) when none."""

    seq: int
    hash: bytes
    #: The record's claimed (node) time, when the reader knows it (ingest's time check).
    time_ms: int | None = None


class NewDisclosure(NamedTuple):
    """One disclosure stored beside its record: its digest (as in the record), field, bytes.

    A named tuple: ingest builds one per disclosed field of every record.
    """

    digest: bytes
    field_name: str
    disclosure: bytes


@dataclass(frozen=True)
class NewRecord:
    """A verified record ready to be appended: its exact bytes and the indexed columns.

    ``prev_hash`` is the chain link the record carries; the store checks it against the
    node's head inside the append transaction. ``record_hash`` (SHA-256 of the bytes, the
    next record's ``prev_hash``) and ``leaf_hash`` (RFC 9162) are derived here.
    """

    node_id: str
    seq: int
    prev_hash: bytes
    record: bytes
    record_type: str
    agency: str
    site: str
    time_ms: int
    disclosures: Sequence[NewDisclosure] = ()
    #: The record type is not in the hub's registry (accepted, flagged).
    unknown_type: bool = False
    #: The record's ClockQuality (how far its time_ms can be trusted; ingest's time check).
    clock: int = 0

    # Cached: ingest, the chain check and the row all need them (a frozen dataclass without
    # slots keeps a __dict__, where cached_property stores the value).
    @cached_property
    def record_hash(self) -> bytes:
        return hashlib.sha256(self.record).digest()

    @cached_property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.record)

    @classmethod
    def hashed(
        cls,
        node_id: str,
        seq: int,
        prev_hash: bytes,
        record: bytes,
        record_type: str,
        agency: str,
        site: str,
        time_ms: int,
        disclosures: Sequence[NewDisclosure],
        unknown_type: bool,
        record_hash: bytes,
        leaf_hash: bytes,
        clock: int = 0,
    ) -> NewRecord:
        """A record whose two hashes were computed already (by a verify worker, in parallel):
        they go where the cached properties keep their values."""
        new = cls(
            node_id, seq, prev_hash, record, record_type, agency, site, time_ms, disclosures,
            unknown_type, clock,
        )
        new.__dict__["record_hash"] = record_hash
        new.__dict__["leaf_hash"] = leaf_hash
        return new


@dataclass(frozen=True)
class StoredDisclosure:
    position: int
    digest: bytes
    field_name: str
    disclosure: bytes


@dataclass(frozen=True)
class StoredRecord:
    """A stored record: exact bytes, indexed columns, log position, disclosures (when loaded).

    ``log_index`` is None only for a record that is stored (durable, in its node's chain)
    but not yet numbered by the sequencer (:meth:`Storage.assign_log_indexes`); only
    :meth:`Storage.get_record` returns such records.
    """

    log_index: int | None
    node_id: str
    seq: int
    record: bytes
    record_hash: bytes
    record_type: str
    agency: str
    site: str
    time_ms: int
    received_ms: int
    unknown_type: bool
    disclosures: tuple[StoredDisclosure, ...] = ()


@dataclass(frozen=True)
class RecordFilter:
    """Which records a scan returns; empty tuples and None bounds mean "any"."""

    types: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()
    node_ids: tuple[str, ...] = ()
    #: Inclusive lower bound on the record's (node) time.
    since_ms: int | None = None
    #: Exclusive upper bound on the record's (node) time.
    until_ms: int | None = None


#: The filter that matches every record.
ANY_RECORD = RecordFilter()


@dataclass(frozen=True)
class ScanPage:
    """Records of one scan, in log order, and where the next scan starts.

    ``next_index`` is past every index the scan examined (matching or not), so a reader
    that resumes from it neither repeats nor skips a record.
    """

    records: tuple[StoredRecord, ...]
    next_index: int


#: Distinct conflicting records kept as evidence per (node, seq); one already proves the key
#: signed twice, a few show what else it signed. The rest are counted, not kept.
MAX_EQUIVOCATIONS_KEPT = 4


@dataclass(frozen=True)
class Equivocation:
    """Evidence of two different records signed for one (node, seq)."""

    id: int
    node_id: str
    seq: int
    #: Log index of the record stored first (None if it was never stored, or had no log
    #: index yet when the evidence was kept).
    stored_log_index: int | None
    conflicting_record: bytes
    conflicting_hash: bytes
    detected_at_ms: int
    note: str


@dataclass(frozen=True)
class CheckpointRow:
    tree_size: int
    root_hash: bytes
    time_ms: int
    #: The C2SP signed note, exactly as signed.
    signed_note: bytes


@dataclass(frozen=True)
class LogState:
    """Size of the log (leaves appended) and how far the sequencer stored interior nodes."""

    size: int
    integrated_size: int


@dataclass(frozen=True)
class DownlinkItem:
    kind: DownlinkKind
    #: A node id, ``site:<site>`` or ``*``.
    target: str
    version: int
    signed_payload: bytes
    created_ms: int


@dataclass(frozen=True)
class DownlinkAckRow:
    """What a node answered to a downlink item (``DownlinkAck`` on the Sync stream)."""

    node_id: str
    kind: DownlinkKind
    version: int
    applied: bool
    #: Why it was not applied (empty when applied).
    message: str
    #: Hub time the ack arrived.
    received_ms: int


@dataclass(frozen=True)
class PolicyRow:
    id: int
    digest: str
    policy_toml: bytes
    loaded_at_ms: int


@dataclass(frozen=True)
class AppendResult:
    """Log indexes given to an appended batch, in batch order (None: the store gives them
    later, see :meth:`Storage.assign_log_indexes`), and the node heads after it."""

    log_indexes: tuple[int, ...] | None
    heads: dict[str, ChainHead] = field(default_factory=dict)
