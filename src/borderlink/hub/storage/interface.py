"""The one storage interface of the hub; SQLite and PostgreSQL implement it.

A contract suite (``tests/hub/test_storage_contract.py``) runs the same checks on every
backend. All methods are thread-safe. Records are stored as the exact bytes received; their
disclosures live in their own table, so withholding a field never rewrites a record.

An acknowledged append is durable and in its node's chain (:meth:`Storage.chain_head`,
:meth:`Storage.get_record`). Its log indexes are given either inside the append transaction
(SQLite: one writer anyway) or later, in batches, by :meth:`Storage.assign_log_indexes`
(PostgreSQL: appenders of several hub processes then never wait on one another's commits;
the sequencer calls it each round). Either way they are contiguous, a node's records are
numbered in seq order, and once ``log_state().size`` reads ``n``, leaves ``0 .. n-1`` are
all committed. Everything that reads by log index (scans, leaves, proofs, federation) sees
only numbered records.
Interior Merkle nodes (perfect subtrees, ``(level, index)`` as in
:class:`borderlink.proto.merkle.NodeID`) are written by the one sequencer that holds
:meth:`Storage.acquire_sequencer`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from borderlink.hub.storage.model import (
    ANY_RECORD,
    MAX_EQUIVOCATIONS_KEPT,
    AppendResult,
    ChainHead,
    CheckpointRow,
    DownlinkAckRow,
    DownlinkItem,
    DownlinkKind,
    Equivocation,
    LogState,
    NewRecord,
    NodeEnrollment,
    NodeKeyRow,
    NodeRow,
    PolicyRow,
    RecordFilter,
    ScanPage,
    StoredDisclosure,
    StoredRecord,
)

#: (level, index) of a perfect Merkle subtree; level 0 is a leaf hash.
NodeKey = tuple[int, int]


@runtime_checkable
class Storage(Protocol):
    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Release connections (and the sequencer lock, if held). Idempotent."""

    # -- nodes ----------------------------------------------------------------------------
    def enroll_node(self, node: NodeEnrollment, *, enrolled_at_ms: int) -> NodeRow:
        """Add a node. :class:`NodeExistsError` if the id is enrolled and not revoked;
        a revoked id may be enrolled again (new key), keeping its chain head. Either way the
        key joins the node's key history (:meth:`node_keys`); the previous keys stay there."""

    def revoke_node(self, node_id: str, *, revoked_at_ms: int, reason: str = "") -> NodeRow:
        """Mark a node (and its current key) revoked from *revoked_at_ms* (node time).
        :class:`UnknownNodeError`."""

    def node_keys(self, node_ids: Sequence[str] | None = None) -> list[NodeKeyRow]:
        """Every key the given nodes (None: all nodes) were enrolled with, by node id, then
        oldest first: the key in force is its node's last. Unknown ids are absent."""

    def node_key(self, node_id: str, kid: bytes) -> NodeKeyRow | None:
        """The key *kid* of the node's history (current or past), or None."""

    def get_node(self, node_id: str) -> NodeRow | None: ...

    def list_nodes(
        self, *, site: str | None = None, agency: str | None = None, include_revoked: bool = True
    ) -> list[NodeRow]:
        """Nodes sorted by id."""

    def observe_node(
        self,
        node_id: str,
        *,
        seen_ms: int,
        clock_skew_ms: int | None = None,
        reported_seq: int | None = None,
    ) -> None:
        """Record that the node was heard from (and its skew / journal position, when given)."""

    def chain_head(self, node_id: str) -> ChainHead:
        """Last stored (seq, record hash) of the node; (0, zero hash) when none or unknown."""

    # -- records and the log --------------------------------------------------------------
    def append_records(self, records: Sequence[NewRecord], *, received_ms: int) -> AppendResult:
        """Atomically and durably store a batch, each record to get one leaf of the log.

        Per node, the batch's records must continue the stored chain: seq = head + 1 and
        prev_hash = head hash, then each other. :class:`DuplicateRecordError` when a
        (node, seq) is already stored, :class:`ChainConflictError` for any other break,
        :class:`UnknownNodeError` for a node not enrolled; in all cases nothing is stored.
        Returns the log indexes in batch order, or None when :meth:`assign_log_indexes`
        gives them later.
        """

    def assign_log_indexes(self, limit: int) -> int:
        """Give the next log indexes to at most *limit* stored records that have none, in
        the order they were stored (a node's in seq order), in one transaction; returns
        how many. The sequencer's job (call it while holding :meth:`acquire_sequencer`);
        0 from a backend that numbers records at append."""

    def get_record(
        self, node_id: str, seq: int, *, with_disclosures: bool = False
    ) -> StoredRecord | None:
        """The stored record (node, seq), numbered or not yet (``log_index`` None)."""

    def get_record_at(
        self, log_index: int, *, with_disclosures: bool = False
    ) -> StoredRecord | None: ...

    def get_disclosures(
        self, log_indexes: Iterable[int]
    ) -> dict[int, tuple[StoredDisclosure, ...]]:
        """Disclosures by log index (records without any are absent)."""

    def scan_records(
        self,
        start_index: int,
        *,
        limit: int,
        record_filter: RecordFilter = ANY_RECORD,
        end_index: int | None = None,
        with_disclosures: bool = True,
    ) -> ScanPage:
        """Matching records with ``start_index <= log_index < end`` in log order, at most
        *limit*; ``end`` is *end_index* or the log size at the time of the scan."""

    def scan_rows(
        self,
        start_index: int,
        *,
        limit: int,
        record_filter: RecordFilter = ANY_RECORD,
        end_index: int | None = None,
    ) -> tuple[list[tuple[int, str, bytes, str, str, str, int]], int]:
        """As :meth:`scan_records` (same rows, same next index), as plain ``(log_index,
        node_id, record, record_type, agency, site, received_ms)`` tuples: the federation's
        lean read."""

    def disclosure_rows(self, log_indexes: Sequence[int]) -> list[tuple[int, str, bytes]]:
        """``(log_index, field_name, disclosure)`` of the records at *log_indexes*
        (ascending), in (log index, position) order; may include rows of other indexes
        between the first and the last (merge by index)."""

    def log_state(self) -> LogState: ...

    def find_leaf(self, leaf_hash: bytes) -> int | None:
        """Lowest log index whose leaf hash is *leaf_hash*."""

    def leaf_hashes(self, start_index: int, end_index: int) -> list[bytes]:
        """Leaf hashes of ``[start_index, end_index)`` (clipped to the log size)."""

    def put_merkle_nodes(
        self, nodes: Iterable[tuple[NodeKey, bytes]], *, integrated_size: int
    ) -> None:
        """Store interior perfect-subtree hashes and advance the integrated size (never
        backwards) in one transaction. Level-0 entries are ignored (the leaves are stored by
        :meth:`append_records`); writing a stored node again is a no-op."""

    def get_merkle_nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """Hashes of the requested perfect subtrees (level 0 = leaf hashes); missing keys absent."""

    # -- sequencer ------------------------------------------------------------------------
    def acquire_sequencer(self) -> bool:
        """Try to become the one sequencer of this store (across processes); non-blocking."""

    def release_sequencer(self) -> None: ...

    # -- checkpoints ----------------------------------------------------------------------
    def add_checkpoint(self, checkpoint: CheckpointRow) -> None:
        """Store a signed checkpoint; storing the same tree size again is a no-op."""

    def latest_checkpoint(self) -> CheckpointRow | None: ...

    def get_checkpoint(self, tree_size: int) -> CheckpointRow | None: ...

    # -- equivocation evidence ------------------------------------------------------------
    def add_equivocation(
        self,
        *,
        node_id: str,
        seq: int,
        conflicting_record: bytes,
        detected_at_ms: int,
        note: str = "",
        keep_at_most: int = MAX_EQUIVOCATIONS_KEPT,
    ) -> Equivocation | None:
        """Keep a conflicting record as evidence (beside the stored one at that seq).

        At most *keep_at_most* distinct versions are kept per (node, seq): the same version
        again returns the row kept for it; one more beyond the limit is only counted
        (:meth:`equivocations_dropped`) and None is returned, so a stolen key flooding one
        seq with variants cannot fill the hub's disk.
        """

    def equivocations_dropped(self, node_id: str, seq: int) -> int:
        """Conflicting records for (node, seq) counted but not kept (over the limit)."""

    def list_equivocations(self, node_id: str | None = None) -> list[Equivocation]: ...

    # -- downlink -------------------------------------------------------------------------
    def put_downlink(self, item: DownlinkItem) -> None:
        """:class:`DownlinkVersionError` unless newer than the latest of its kind and target."""

    def latest_downlinks(self, targets: Sequence[str]) -> list[DownlinkItem]:
        """The newest item per (kind, target) for the given targets."""

    def add_downlink_ack(self, ack: DownlinkAckRow) -> None:
        """Keep a node's answer to a downlink item. :class:`UnknownNodeError`."""

    def latest_downlink_acks(self, node_ids: Sequence[str] | None = None) -> list[DownlinkAckRow]:
        """The last ack received per (node, kind) of the given nodes (None: all), by node id
        and kind."""

    # -- policy ---------------------------------------------------------------------------
    def put_policy(self, policy_toml: bytes, *, digest: str, loaded_at_ms: int) -> PolicyRow: ...

    def current_policy(self) -> PolicyRow | None: ...


__all__ = ["DownlinkKind", "NodeKey", "Storage"]
