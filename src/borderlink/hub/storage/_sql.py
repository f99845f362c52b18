"""The SQL both backends share: schema, statements, row mapping. Backends supply connections.

Placeholders are written ``?`` and translated for psycopg (``%s``); no statement here
contains a literal ``?`` or ``%``. Every type is portable between SQLite and PostgreSQL
(``{INT}``/``{BLOB}``/``{SERIAL}`` in the schema template).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from borderlink.hub.errors import (
    ChainConflictError,
    DownlinkVersionError,
    DuplicateRecordError,
    NodeExistsError,
    StorageError,
    UnknownNodeError,
)
from borderlink.hub.storage.interface import NodeKey
from borderlink.hub.storage.model import (
    ANY_RECORD,
    MAX_EQUIVOCATIONS_KEPT,
    ZERO_HASH,
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

#: 2: ``node_keys`` (key history; filled from ``nodes`` when a version-1 store is opened)
#: and ``downlink_acks``.
SCHEMA_VERSION = "2"

#: Run whole each time a store is opened, so every statement is idempotent. The ``node_keys``
#: ``INSERT … SELECT`` migrates a version-1 store (each node's current key becomes its first
#: history row) and is a no-op after; its ``WHERE 1 = 1`` is what SQLite's parser needs to
#: read ``ON CONFLICT`` after a ``SELECT``.
SCHEMA_TEMPLATE = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size {INT} NOT NULL,
    integrated_size {INT} NOT NULL
);
INSERT INTO log_state (id, size, integrated_size) VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS nodes (
    node_id TEXT PRIMARY KEY,
    public_key {BLOB} NOT NULL,
    kid {BLOB} NOT NULL,
    site TEXT NOT NULL,
    agency TEXT NOT NULL,
    profile TEXT NOT NULL,
    certificate_der {BLOB},
    enrolled_at_ms {INT} NOT NULL,
    revoked_at_ms {INT},
    revoke_reason TEXT,
    last_seq {INT} NOT NULL DEFAULT 0,
    last_hash {BLOB} NOT NULL,
    reported_seq {INT} NOT NULL DEFAULT 0,
    clock_skew_ms {INT},
    last_seen_ms {INT},
    record_types TEXT
);
CREATE TABLE IF NOT EXISTS node_keys (
    node_id TEXT NOT NULL,
    kid {BLOB} NOT NULL,
    public_key {BLOB} NOT NULL,
    enrolled_at_ms {INT} NOT NULL,
    revoked_at_ms {INT},
    PRIMARY KEY (node_id, kid)
);
INSERT INTO node_keys (node_id, kid, public_key, enrolled_at_ms, revoked_at_ms)
SELECT node_id, kid, public_key, enrolled_at_ms, revoked_at_ms FROM nodes WHERE 1 = 1
ON CONFLICT (node_id, kid) DO NOTHING;
CREATE TABLE IF NOT EXISTS records (
    log_index {INT} PRIMARY KEY,
    node_id TEXT NOT NULL,
    seq {INT} NOT NULL,
    record {BLOB} NOT NULL,
    record_hash {BLOB} NOT NULL,
    record_type TEXT NOT NULL,
    agency TEXT NOT NULL,
    site TEXT NOT NULL,
    time_ms {INT} NOT NULL,
    received_ms {INT} NOT NULL,
    unknown_type INTEGER NOT NULL DEFAULT 0,
    UNIQUE (node_id, seq)
);
CREATE INDEX IF NOT EXISTS records_type ON records (record_type, log_index);
CREATE INDEX IF NOT EXISTS records_site ON records (site, log_index);
CREATE INDEX IF NOT EXISTS records_time ON records (time_ms);
CREATE TABLE IF NOT EXISTS disclosures (
    log_index {INT} NOT NULL,
    position INTEGER NOT NULL,
    digest {BLOB} NOT NULL,
    field_name TEXT NOT NULL,
    disclosure {BLOB} NOT NULL,
    PRIMARY KEY (log_index, position)
){WITHOUT_ROWID};
CREATE TABLE IF NOT EXISTS leaves (
    log_index {INT} PRIMARY KEY,
    leaf_hash {BLOB} NOT NULL
);
CREATE INDEX IF NOT EXISTS leaves_hash ON leaves (leaf_hash);
CREATE TABLE IF NOT EXISTS merkle_nodes (
    level INTEGER NOT NULL,
    idx {INT} NOT NULL,
    hash {BLOB} NOT NULL,
    PRIMARY KEY (level, idx)
){WITHOUT_ROWID};
CREATE TABLE IF NOT EXISTS checkpoints (
    tree_size {INT} PRIMARY KEY,
    root_hash {BLOB} NOT NULL,
    time_ms {INT} NOT NULL,
    signed_note {BLOB} NOT NULL
);
CREATE TABLE IF NOT EXISTS equivocations (
    id {SERIAL},
    node_id TEXT NOT NULL,
    seq {INT} NOT NULL,
    stored_log_index {INT},
    conflicting_record {BLOB} NOT NULL,
    conflicting_hash {BLOB} NOT NULL,
    detected_at_ms {INT} NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS equivocations_node ON equivocations (node_id, seq);
CREATE TABLE IF NOT EXISTS equivocations_dropped (
    node_id TEXT NOT NULL,
    seq {INT} NOT NULL,
    dropped {INT} NOT NULL,
    PRIMARY KEY (node_id, seq)
){WITHOUT_ROWID};
CREATE TABLE IF NOT EXISTS downlinks (
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    version {INT} NOT NULL,
    signed_payload {BLOB} NOT NULL,
    created_ms {INT} NOT NULL,
    PRIMARY KEY (kind, target, version)
);
CREATE TABLE IF NOT EXISTS downlink_acks (
    id {SERIAL},
    node_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    version {INT} NOT NULL,
    applied INTEGER NOT NULL,
    message TEXT NOT NULL,
    received_ms {INT} NOT NULL
);
CREATE INDEX IF NOT EXISTS downlink_acks_node ON downlink_acks (node_id, kind, id);
CREATE TABLE IF NOT EXISTS policies (
    id {SERIAL},
    digest TEXT NOT NULL,
    policy_toml {BLOB} NOT NULL,
    loaded_at_ms {INT} NOT NULL
);
INSERT INTO meta (key, value) VALUES ('schema_version', '2') ON CONFLICT (key) DO NOTHING;
UPDATE meta SET value = '2' WHERE key = 'schema_version' AND value = '1';
"""

_NODE_COLS = (
    "node_id, public_key, kid, site, agency, profile, certificate_der, enrolled_at_ms, "
    "revoked_at_ms, revoke_reason, last_seq, last_hash, reported_seq, clock_skew_ms, last_seen_ms, "
    "record_types"
)
#: Columns added to a table after its first release: (table, column, type), added by
#: :meth:`SqlStorage` backends to a store created before them. ``nodes.record_types`` is
#: NULL for a node enrolled before it (none declared: ingest accepts only node.* records).
ADDED_COLUMNS = (("nodes", "record_types", "TEXT"),)
_KEY_COLS = "node_id, kid, public_key, enrolled_at_ms, revoked_at_ms"
_ACK_COLS = "node_id, kind, version, applied, message, received_ms"
_LEAN_COLS = "log_index, node_id, record, record_type, agency, site, received_ms"
RECORD_COLS = (
    "log_index, node_id, seq, record, record_hash, record_type, agency, site, time_ms, "
    "received_ms, unknown_type"
)
#: The columns of a record that ``records`` and ``pending_records`` share (no log index).
DATA_COLS = (
    "node_id, seq, record, record_hash, record_type, agency, site, time_ms, received_ms, "
    "unknown_type"
)
_EQUIV_COLS = (
    "id, node_id, seq, stored_log_index, conflicting_record, conflicting_hash, detected_at_ms, note"
)


def schema_statements(int_type: str, blob_type: str, serial: str, without_rowid: str) -> list[str]:
    ddl = SCHEMA_TEMPLATE.format(
        INT=int_type, BLOB=blob_type, SERIAL=serial, WITHOUT_ROWID=without_rowid
    )
    return [s.strip() for s in ddl.split(";") if s.strip()]


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """One connection inside a transaction (writes) or in autocommit (reads)."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def insert_rows(
        self,
        table: str,
        columns: str,
        rows: Sequence[Sequence[Any]],
        *,
        skip_existing: bool = False,
    ) -> None:
        """Insert *rows* (values in *columns* order): the bulk path of appends and of the
        sequencer; with *skip_existing*, a row whose primary key is stored is skipped."""


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _node(row: Sequence[Any]) -> NodeRow:
    return NodeRow(
        node_id=row[0],
        public_key=bytes(row[1]),
        kid=bytes(row[2]),
        site=row[3],
        agency=row[4],
        profile=row[5],
        certificate_der=bytes(row[6]) if row[6] is not None else None,
        enrolled_at_ms=row[7],
        revoked_at_ms=row[8],
        revoke_reason=row[9],
        last_seq=row[10],
        last_hash=bytes(row[11]),
        reported_seq=row[12],
        clock_skew_ms=row[13],
        last_seen_ms=row[14],
        record_types=decode_types(row[15]),
    )


def encode_types(types: Sequence[str]) -> str:
    """Record type names as stored: space-separated (names never hold spaces)."""
    return " ".join(dict.fromkeys(types))


def decode_types(text: str | None) -> tuple[str, ...]:
    return tuple(text.split()) if text else ()


def _node_key(row: Sequence[Any]) -> NodeKeyRow:
    return NodeKeyRow(row[0], bytes(row[1]), bytes(row[2]), row[3], row[4])


def _downlink_ack(row: Sequence[Any]) -> DownlinkAckRow:
    return DownlinkAckRow(row[0], DownlinkKind(row[1]), row[2], bool(row[3]), row[4], row[5])


def record_from_row(
    row: Sequence[Any], disclosures: tuple[StoredDisclosure, ...] = ()
) -> StoredRecord:
    return StoredRecord(
        log_index=row[0],
        node_id=row[1],
        seq=row[2],
        record=bytes(row[3]),
        record_hash=bytes(row[4]),
        record_type=row[5],
        agency=row[6],
        site=row[7],
        time_ms=row[8],
        received_ms=row[9],
        unknown_type=bool(row[10]),
        disclosures=disclosures,
    )


def _equivocation(row: Sequence[Any]) -> Equivocation:
    return Equivocation(
        id=row[0],
        node_id=row[1],
        seq=row[2],
        stored_log_index=row[3],
        conflicting_record=bytes(row[4]),
        conflicting_hash=bytes(row[5]),
        detected_at_ms=row[6],
        note=row[7],
    )


def data_row(rec: NewRecord, received_ms: int) -> tuple[Any, ...]:
    """*rec*'s values in :data:`DATA_COLS` order."""
    return (
        rec.node_id,
        rec.seq,
        rec.record,
        rec.record_hash,
        rec.record_type,
        rec.agency,
        rec.site,
        rec.time_ms,
        received_ms,
        int(rec.unknown_type),
    )


def _follow(head: ChainHead | None, rec: NewRecord) -> ChainHead:
    """The node's head after *rec*, which must continue *head* (None: node not enrolled)."""
    if head is None:
        raise UnknownNodeError(f"node {rec.node_id!r} is not enrolled")
    if rec.seq <= head.seq:
        raise DuplicateRecordError(
            f"node {rec.node_id!r} seq {rec.seq} is already stored (head {head.seq})"
        )
    if rec.seq != head.seq + 1:
        raise ChainConflictError(f"node {rec.node_id!r}: seq {rec.seq} does not follow {head.seq}")
    if rec.prev_hash != head.hash:
        raise ChainConflictError(
            f"node {rec.node_id!r} seq {rec.seq}: previous hash "
            f"{rec.prev_hash.hex()} is not {head.hash.hex()}"
        )
    return ChainHead(rec.seq, rec.record_hash)


def _check_new_record(rec: NewRecord) -> None:
    if rec.seq < 1:
        raise ChainConflictError(f"node {rec.node_id!r}: sequence number {rec.seq} < 1")
    if len(rec.prev_hash) != 32:
        raise ChainConflictError(
            f"node {rec.node_id!r} seq {rec.seq}: previous hash of {len(rec.prev_hash)} bytes, not 32"
        )


class SqlStorage:
    """Every :class:`~borderlink.hub.storage.interface.Storage` method, over :class:`Tx`.

    Subclasses provide ``_write()`` (a transaction), ``_read()``, the sequencer lock and
    ``close()``; a backend with ``_indexes_at_append = False`` also stores pending records
    (``_insert_pending``), finds them (``get_record``) and numbers them
    (``assign_log_indexes``).
    """

    #: True: an append takes its log indexes itself (one writer at a time, as in SQLite).
    #: False: an append stores its records as pending (chain checked, durable) and
    #: :meth:`assign_log_indexes` numbers them later, so appenders of several processes do
    #: not serialise on one ``log_state`` row through their commits.
    _indexes_at_append = True
    #: Row-lock clause for reading node heads in an append (PostgreSQL: ``FOR UPDATE``),
    #: so concurrent appends of one node serialise on its row; empty where the whole
    #: write transaction is exclusive.
    _lock_rows = ""

    #: Exceptions of the driver that mean a unique constraint was violated.
    _integrity_errors: tuple[type[BaseException], ...] = ()
    #: Most bound parameters per statement (SQLite's default limit is 32766).
    _max_params = 30000
    #: Prefix of a column that keeps the planner off its index (SQLite: unary ``+``), so a
    #: short bounded range is read in primary-key order; empty where there is none.
    _no_index = ""

    def _write(self) -> AbstractContextManager[Tx]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Tx]:
        raise NotImplementedError

    # -- nodes ----------------------------------------------------------------------------

    def enroll_node(self, node: NodeEnrollment, *, enrolled_at_ms: int) -> NodeRow:
        with self._write() as tx:
            row = tx.execute(
                f"SELECT {_NODE_COLS} FROM nodes WHERE node_id = ?", (node.node_id,)
            ).fetchone()
            if row is None:
                tx.execute(
                    "INSERT INTO nodes (node_id, public_key, kid, site, agency, profile, "
                    "certificate_der, enrolled_at_ms, last_seq, last_hash, reported_seq, "
                    "record_types) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 0, ?)",
                    (
                        node.node_id,
                        node.public_key,
                        node.kid,
                        node.site,
                        node.agency,
                        node.profile,
                        node.certificate_der,
                        enrolled_at_ms,
                        ZERO_HASH,
                        encode_types(node.record_types),
                    ),
                )
            elif _node(row).revoked:
                # Re-enrolment after revocation: new key, same chain head.
                tx.execute(
                    "UPDATE nodes SET public_key = ?, kid = ?, site = ?, agency = ?, profile = ?, "
                    "certificate_der = ?, enrolled_at_ms = ?, revoked_at_ms = NULL, "
                    "revoke_reason = NULL, record_types = ? WHERE node_id = ?",
                    (
                        node.public_key,
                        node.kid,
                        node.site,
                        node.agency,
                        node.profile,
                        node.certificate_der,
                        enrolled_at_ms,
                        encode_types(node.record_types),
                        node.node_id,
                    ),
                )
            else:
                raise NodeExistsError(f"node {node.node_id!r} is already enrolled")
            # The key joins the history; a key enrolled before (same kid) is in force again.
            tx.execute(
                "INSERT INTO node_keys (node_id, kid, public_key, enrolled_at_ms, revoked_at_ms) "
                "VALUES (?, ?, ?, ?, NULL) ON CONFLICT (node_id, kid) DO UPDATE SET "
                "public_key = excluded.public_key, enrolled_at_ms = excluded.enrolled_at_ms, "
                "revoked_at_ms = NULL",
                (node.node_id, node.kid, node.public_key, enrolled_at_ms),
            )
            out = tx.execute(
                f"SELECT {_NODE_COLS} FROM nodes WHERE node_id = ?", (node.node_id,)
            ).fetchone()
        return _node(out)

    def revoke_node(self, node_id: str, *, revoked_at_ms: int, reason: str = "") -> NodeRow:
        with self._write() as tx:
            row = tx.execute(
                f"SELECT {_NODE_COLS} FROM nodes WHERE node_id = ?", (node_id,)
            ).fetchone()
            if row is None:
                raise UnknownNodeError(f"node {node_id!r} is not enrolled")
            current = _node(row)
            # A second revocation can only move the date earlier.
            if current.revoked_at_ms is None or revoked_at_ms < current.revoked_at_ms:
                tx.execute(
                    "UPDATE nodes SET revoked_at_ms = ?, revoke_reason = ? WHERE node_id = ?",
                    (revoked_at_ms, reason, node_id),
                )
                tx.execute(
                    "UPDATE node_keys SET revoked_at_ms = ? WHERE node_id = ? AND kid = ?",
                    (revoked_at_ms, node_id, current.kid),
                )
            out = tx.execute(
                f"SELECT {_NODE_COLS} FROM nodes WHERE node_id = ?", (node_id,)
            ).fetchone()
        return _node(out)

    def get_node(self, node_id: str) -> NodeRow | None:
        with self._read() as tx:
            row = tx.execute(
                f"SELECT {_NODE_COLS} FROM nodes WHERE node_id = ?", (node_id,)
            ).fetchone()
        return _node(row) if row is not None else None

    def list_nodes(
        self, *, site: str | None = None, agency: str | None = None, include_revoked: bool = True
    ) -> list[NodeRow]:
        where, params = ["1 = 1"], []
        if site is not None:
            where.append("site = ?")
            params.append(site)
        if agency is not None:
            where.append("agency = ?")
            params.append(agency)
        if not include_revoked:
            where.append("revoked_at_ms IS NULL")
        sql = f"SELECT {_NODE_COLS} FROM nodes WHERE {' AND '.join(where)} ORDER BY node_id"
        with self._read() as tx:
            return [_node(r) for r in tx.execute(sql, params).fetchall()]

    def node_keys(self, node_ids: Sequence[str] | None = None) -> list[NodeKeyRow]:
        sql, params = f"SELECT {_KEY_COLS} FROM node_keys", list(node_ids or ())
        if node_ids is not None:
            if not params:
                return []
            sql += f" WHERE node_id IN ({_marks(len(params))})"
        with self._read() as tx:
            rows = tx.execute(sql + " ORDER BY node_id, enrolled_at_ms, kid", params).fetchall()
        return [_node_key(r) for r in rows]

    def node_key(self, node_id: str, kid: bytes) -> NodeKeyRow | None:
        with self._read() as tx:
            row = tx.execute(
                f"SELECT {_KEY_COLS} FROM node_keys WHERE node_id = ? AND kid = ?", (node_id, kid)
            ).fetchone()
        return _node_key(row) if row is not None else None

    def observe_node(
        self,
        node_id: str,
        *,
        seen_ms: int,
        clock_skew_ms: int | None = None,
        reported_seq: int | None = None,
    ) -> None:
        sets, params = ["last_seen_ms = ?"], [seen_ms]
        if clock_skew_ms is not None:
            sets.append("clock_skew_ms = ?")
            params.append(clock_skew_ms)
        if reported_seq is not None:
            sets.append("reported_seq = CASE WHEN reported_seq < ? THEN ? ELSE reported_seq END")
            params += [reported_seq, reported_seq]
        with self._write() as tx:
            found = tx.execute("SELECT 1 FROM nodes WHERE node_id = ?", (node_id,)).fetchone()
            if found is None:
                raise UnknownNodeError(f"node {node_id!r} is not enrolled")
            tx.execute(f"UPDATE nodes SET {', '.join(sets)} WHERE node_id = ?", (*params, node_id))

    def chain_head(self, node_id: str) -> ChainHead:
        with self._read() as tx:
            row = tx.execute(
                "SELECT last_seq, last_hash FROM nodes WHERE node_id = ?", (node_id,)
            ).fetchone()
        return ChainHead(row[0], bytes(row[1])) if row is not None else ChainHead(0, ZERO_HASH)

    # -- records and the log --------------------------------------------------------------

    def append_records(self, records: Sequence[NewRecord], *, received_ms: int) -> AppendResult:
        if not records:
            return AppendResult((), {})
        for rec in records:
            _check_new_record(rec)
        node_ids = sorted({rec.node_id for rec in records})
        indexes: tuple[int, ...] | None = None
        try:
            with self._write() as tx:
                heads: dict[str, ChainHead] = {}
                for row in tx.execute(
                    "SELECT node_id, last_seq, last_hash FROM nodes "
                    f"WHERE node_id IN ({_marks(len(node_ids))}) ORDER BY node_id{self._lock_rows}",
                    node_ids,
                ).fetchall():
                    heads[row[0]] = ChainHead(row[1], bytes(row[2]))
                for rec in records:
                    heads[rec.node_id] = _follow(heads.get(rec.node_id), rec)
                if self._indexes_at_append:
                    indexes = self._insert_sequenced(tx, records, received_ms)
                else:
                    self._insert_pending(tx, records, received_ms)
                touched = {r.node_id: heads[r.node_id] for r in records}
                tx.executemany(
                    "UPDATE nodes SET last_seq = ?, last_hash = ?, last_seen_ms = ?, "
                    "reported_seq = CASE WHEN reported_seq < ? THEN ? ELSE reported_seq END "
                    "WHERE node_id = ?",
                    [
                        (h.seq, h.hash, received_ms, h.seq, h.seq, n)
                        for n, h in sorted(touched.items())
                    ],
                )
        except self._integrity_errors as exc:
            raise DuplicateRecordError(f"append conflicts with stored records: {exc}") from exc
        return AppendResult(indexes, touched)

    def _insert_sequenced(
        self, tx: Tx, records: Sequence[NewRecord], received_ms: int
    ) -> tuple[int, ...]:
        new_size = tx.execute(
            "UPDATE log_state SET size = size + ? WHERE id = 1 RETURNING size", (len(records),)
        ).fetchone()[0]
        indexes = tuple(range(new_size - len(records), new_size))
        tx.insert_rows(
            "records",
            RECORD_COLS,
            [(i, *data_row(r, received_ms)) for i, r in zip(indexes, records, strict=True)],
        )
        tx.insert_rows(
            "leaves",
            "log_index, leaf_hash",
            [(i, r.leaf_hash) for i, r in zip(indexes, records, strict=True)],
        )
        disclosures = [
            (i, pos, d.digest, d.field_name, d.disclosure)
            for i, r in zip(indexes, records, strict=True)
            for pos, d in enumerate(r.disclosures)
        ]
        if disclosures:
            tx.insert_rows(
                "disclosures", "log_index, position, digest, field_name, disclosure", disclosures
            )
        return indexes

    def _insert_pending(self, tx: Tx, records: Sequence[NewRecord], received_ms: int) -> None:
        raise NotImplementedError

    def assign_log_indexes(self, limit: int) -> int:
        if limit < 1:
            raise StorageError(f"assignment limit {limit} < 1")
        return 0  # numbered at append

    def get_record(
        self, node_id: str, seq: int, *, with_disclosures: bool = False
    ) -> StoredRecord | None:
        with self._read() as tx:
            row = tx.execute(
                f"SELECT {RECORD_COLS} FROM records WHERE node_id = ? AND seq = ?", (node_id, seq)
            ).fetchone()
        return self._with(row, with_disclosures)

    def get_record_at(
        self, log_index: int, *, with_disclosures: bool = False
    ) -> StoredRecord | None:
        with self._read() as tx:
            row = tx.execute(
                f"SELECT {RECORD_COLS} FROM records WHERE log_index = ?", (log_index,)
            ).fetchone()
        return self._with(row, with_disclosures)

    def _with(self, row: Any, with_disclosures: bool) -> StoredRecord | None:
        if row is None:
            return None
        discl = self.get_disclosures([row[0]]).get(row[0], ()) if with_disclosures else ()
        return record_from_row(row, discl)

    def get_disclosures(
        self, log_indexes: Iterable[int]
    ) -> dict[int, tuple[StoredDisclosure, ...]]:
        wanted = sorted(set(log_indexes))
        out: dict[int, list[StoredDisclosure]] = defaultdict(list)
        with self._read() as tx:
            for chunk in _chunks(wanted, self._max_params):
                rows = tx.execute(
                    "SELECT log_index, position, digest, field_name, disclosure FROM disclosures "
                    f"WHERE log_index IN ({_marks(len(chunk))}) ORDER BY log_index, position",
                    chunk,
                ).fetchall()
                for r in rows:
                    out[r[0]].append(StoredDisclosure(r[1], bytes(r[2]), r[3], bytes(r[4])))
        return {k: tuple(v) for k, v in out.items()}

    def disclosure_rows(self, log_indexes: Sequence[int]) -> list[tuple[int, str, bytes]]:
        """``(log_index, field_name, disclosure)`` rows in (log index, position) order: the
        lean read of the federation (no per-disclosure objects). *log_indexes* ascending. A
        dense set is read as one primary-key range, so rows of other indexes between them
        may be included (the caller merges by index); a sparse set by an ``IN`` list."""
        if not log_indexes:
            return []
        first, last = log_indexes[0], log_indexes[-1]
        with self._read() as tx:
            if 2 * len(log_indexes) >= last - first + 1:
                return tx.execute(
                    "SELECT log_index, field_name, disclosure FROM disclosures "
                    "WHERE log_index >= ? AND log_index <= ? ORDER BY log_index, position",
                    (first, last),
                ).fetchall()
            rows: list[tuple[int, str, bytes]] = []
            for chunk in _chunks(list(log_indexes), self._max_params):
                rows += tx.execute(
                    "SELECT log_index, field_name, disclosure FROM disclosures "
                    f"WHERE log_index IN ({_marks(len(chunk))}) ORDER BY log_index, position",
                    chunk,
                ).fetchall()
            return rows

    def scan_rows(
        self,
        start_index: int,
        *,
        limit: int,
        record_filter: RecordFilter = ANY_RECORD,
        end_index: int | None = None,
    ) -> tuple[list[tuple[int, str, bytes, str, str, str, int]], int]:
        """As :meth:`scan_records`, as plain ``(log_index, node_id, record, record_type,
        agency, site)`` tuples (the lean read of the federation) and the next index."""
        if limit < 1:
            raise StorageError(f"scan limit {limit} < 1")
        with self._read() as tx:
            rows, next_index = self._scan(
                tx, _LEAN_COLS, max(0, start_index), limit, record_filter, end_index
            )
        return [(r[0], r[1], bytes(r[2]), r[3], r[4], r[5], r[6]) for r in rows], next_index

    def _scan(
        self,
        tx: Tx,
        cols: str,
        start_index: int,
        limit: int,
        f: RecordFilter,
        end_index: int | None,
    ) -> tuple[list[Any], int]:
        size = tx.execute("SELECT size FROM log_state WHERE id = 1").fetchone()[0]
        end = size if end_index is None else min(end_index, size)
        if start_index >= end:
            return [], start_index
        type_column = "record_type"
        if f.types:
            # Bound the scan where one of the types reaches *limit* matches (a walk of at
            # most *limit* entries of the (record_type, log_index) index per type), so one
            # page never reads or sorts the rest of the log.
            for record_type in f.types:
                row = tx.execute(
                    "SELECT log_index FROM records WHERE record_type = ? AND log_index >= ? "
                    "AND log_index < ? ORDER BY record_type, log_index LIMIT 1 OFFSET ?",
                    (record_type, start_index, end, limit - 1),
                ).fetchone()
                if row is not None:
                    end = min(end, row[0] + 1)
            if end - start_index <= 4 * limit:  # dense: read the range in log order
                type_column = self._no_index + "record_type"
        where, params = ["log_index >= ?", "log_index < ?"], [start_index, end]
        for column, values in (
            (type_column, f.types),
            ("site", f.sites),
            ("agency", f.agencies),
            ("node_id", f.node_ids),
        ):
            if values:
                where.append(f"{column} IN ({_marks(len(values))})")
                params += list(values)
        if f.since_ms is not None:
            where.append("time_ms >= ?")
            params.append(f.since_ms)
        if f.until_ms is not None:
            where.append("time_ms < ?")
            params.append(f.until_ms)
        rows = tx.execute(
            f"SELECT {cols} FROM records WHERE {' AND '.join(where)} ORDER BY log_index LIMIT ?",
            (*params, limit),
        ).fetchall()
        return rows, (rows[-1][0] + 1 if len(rows) == limit else end)

    def scan_records(
        self,
        start_index: int,
        *,
        limit: int,
        record_filter: RecordFilter = ANY_RECORD,
        end_index: int | None = None,
        with_disclosures: bool = True,
    ) -> ScanPage:
        if limit < 1:
            raise StorageError(f"scan limit {limit} < 1")
        start_index = max(0, start_index)
        with self._read() as tx:
            rows, next_index = self._scan(
                tx, RECORD_COLS, start_index, limit, record_filter, end_index
            )
        if not rows and next_index == start_index:
            return ScanPage((), start_index)
        discl = self.get_disclosures(r[0] for r in rows) if with_disclosures and rows else {}
        return ScanPage(tuple(record_from_row(r, discl.get(r[0], ())) for r in rows), next_index)

    def log_state(self) -> LogState:
        with self._read() as tx:
            row = tx.execute("SELECT size, integrated_size FROM log_state WHERE id = 1").fetchone()
        return LogState(row[0], row[1])

    def find_leaf(self, leaf_hash: bytes) -> int | None:
        with self._read() as tx:
            row = tx.execute(
                "SELECT MIN(log_index) FROM leaves WHERE leaf_hash = ?", (leaf_hash,)
            ).fetchone()
        return row[0] if row is not None else None

    def leaf_hashes(self, start_index: int, end_index: int) -> list[bytes]:
        with self._read() as tx:
            rows = tx.execute(
                "SELECT leaf_hash FROM leaves WHERE log_index >= ? AND log_index < ? ORDER BY log_index",
                (start_index, end_index),
            ).fetchall()
        return [bytes(r[0]) for r in rows]

    def put_merkle_nodes(
        self, nodes: Iterable[tuple[NodeKey, bytes]], *, integrated_size: int
    ) -> None:
        # Level 0 is the leaves table, written by append_records.
        rows = [(level, index, bytes(h)) for (level, index), h in nodes if level != 0]
        for level, index, h in rows:
            if level < 1 or index < 0 or len(h) != 32:
                raise StorageError(f"bad Merkle node ({level}, {index}) with {len(h)}-byte hash")
        with self._write() as tx:
            size = tx.execute("SELECT size FROM log_state WHERE id = 1").fetchone()[0]
            if integrated_size > size:
                raise StorageError(f"integrated size {integrated_size} beyond log size {size}")
            # In bulk: about one node per leaf, so a statement per node would cost the
            # sequencer (and the database) more than the leaves' own inserts.
            if rows:
                tx.insert_rows("merkle_nodes", "level, idx, hash", rows, skip_existing=True)
            tx.execute(
                "UPDATE log_state SET integrated_size = ? WHERE id = 1 AND integrated_size < ?",
                (integrated_size, integrated_size),
            )

    def get_merkle_nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        by_level: dict[int, list[int]] = defaultdict(list)
        for level, index in set(keys):
            by_level[level].append(index)
        out: dict[NodeKey, bytes] = {}
        with self._read() as tx:
            leaves = sorted(by_level.pop(0, []))
            for chunk in _chunks(leaves, self._max_params):
                for r in tx.execute(
                    f"SELECT log_index, leaf_hash FROM leaves WHERE log_index IN ({_marks(len(chunk))})",
                    chunk,
                ).fetchall():
                    out[(0, r[0])] = bytes(r[1])
            if by_level:
                clauses, params = [], []
                for level, indexes in sorted(by_level.items()):
                    clauses.append(f"(level = ? AND idx IN ({_marks(len(indexes))}))")
                    params += [level, *sorted(indexes)]
                for r in tx.execute(
                    f"SELECT level, idx, hash FROM merkle_nodes WHERE {' OR '.join(clauses)}",
                    params,
                ).fetchall():
                    out[(r[0], r[1])] = bytes(r[2])
        return out

    # -- checkpoints ----------------------------------------------------------------------

    def add_checkpoint(self, checkpoint: CheckpointRow) -> None:
        with self._write() as tx:
            size = tx.execute("SELECT size FROM log_state WHERE id = 1").fetchone()[0]
            if checkpoint.tree_size > size:
                raise StorageError(
                    f"checkpoint of size {checkpoint.tree_size} beyond log size {size}"
                )
            tx.execute(
                "INSERT INTO checkpoints (tree_size, root_hash, time_ms, signed_note) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (tree_size) DO NOTHING",
                (
                    checkpoint.tree_size,
                    checkpoint.root_hash,
                    checkpoint.time_ms,
                    checkpoint.signed_note,
                ),
            )

    def latest_checkpoint(self) -> CheckpointRow | None:
        with self._read() as tx:
            row = tx.execute(
                "SELECT tree_size, root_hash, time_ms, signed_note FROM checkpoints "
                "ORDER BY tree_size DESC LIMIT 1"
            ).fetchone()
        return CheckpointRow(row[0], bytes(row[1]), row[2], bytes(row[3])) if row else None

    def get_checkpoint(self, tree_size: int) -> CheckpointRow | None:
        with self._read() as tx:
            row = tx.execute(
                "SELECT tree_size, root_hash, time_ms, signed_note FROM checkpoints WHERE tree_size = ?",
                (tree_size,),
            ).fetchone()
        return CheckpointRow(row[0], bytes(row[1]), row[2], bytes(row[3])) if row else None

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
        digest = hashlib.sha256(conflicting_record).digest()
        with self._write() as tx:
            kept = [
                _equivocation(r)
                for r in tx.execute(
                    f"SELECT {_EQUIV_COLS} FROM equivocations WHERE node_id = ? AND seq = ? "
                    "ORDER BY id",
                    (node_id, seq),
                ).fetchall()
            ]
            for e in kept:
                if e.conflicting_hash == digest:
                    return e  # this version is already kept
            if len(kept) >= keep_at_most:
                # Enough versions prove the key signed two records for this seq; more would
                # only let a stolen key fill the disk. Count them so the flood itself shows.
                tx.execute(
                    "INSERT INTO equivocations_dropped (node_id, seq, dropped) VALUES (?, ?, 1) "
                    "ON CONFLICT (node_id, seq) DO UPDATE "
                    "SET dropped = equivocations_dropped.dropped + 1",
                    (node_id, seq),
                )
                return None
            stored = tx.execute(
                "SELECT log_index FROM records WHERE node_id = ? AND seq = ?", (node_id, seq)
            ).fetchone()
            row = tx.execute(
                "INSERT INTO equivocations (node_id, seq, stored_log_index, conflicting_record, "
                f"conflicting_hash, detected_at_ms, note) VALUES ({_marks(7)}) RETURNING {_EQUIV_COLS}",
                (
                    node_id,
                    seq,
                    stored[0] if stored else None,
                    conflicting_record,
                    digest,
                    detected_at_ms,
                    note,
                ),
            ).fetchone()
        return _equivocation(row)

    def equivocations_dropped(self, node_id: str, seq: int) -> int:
        with self._read() as tx:
            row = tx.execute(
                "SELECT dropped FROM equivocations_dropped WHERE node_id = ? AND seq = ?",
                (node_id, seq),
            ).fetchone()
        return int(row[0]) if row else 0

    def list_equivocations(self, node_id: str | None = None) -> list[Equivocation]:
        sql = f"SELECT {_EQUIV_COLS} FROM equivocations"
        params: tuple[Any, ...] = ()
        if node_id is not None:
            sql += " WHERE node_id = ?"
            params = (node_id,)
        with self._read() as tx:
            return [_equivocation(r) for r in tx.execute(sql + " ORDER BY id", params).fetchall()]

    # -- downlink -------------------------------------------------------------------------

    def put_downlink(self, item: DownlinkItem) -> None:
        with self._write() as tx:
            row = tx.execute(
                "SELECT MAX(version) FROM downlinks WHERE kind = ? AND target = ?",
                (item.kind.value, item.target),
            ).fetchone()
            if row is not None and row[0] is not None and item.version <= row[0]:
                raise DownlinkVersionError(
                    f"{item.kind.value} for {item.target!r}: version {item.version} is not newer "
                    f"than stored {row[0]}"
                )
            tx.execute(
                "INSERT INTO downlinks (kind, target, version, signed_payload, created_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (item.kind.value, item.target, item.version, item.signed_payload, item.created_ms),
            )

    def latest_downlinks(self, targets: Sequence[str]) -> list[DownlinkItem]:
        if not targets:
            return []
        marks = _marks(len(targets))
        with self._read() as tx:
            rows = tx.execute(
                "SELECT d.kind, d.target, d.version, d.signed_payload, d.created_ms FROM downlinks d "
                "JOIN (SELECT kind, target, MAX(version) AS v FROM downlinks "
                f"WHERE target IN ({marks}) GROUP BY kind, target) m "
                "ON d.kind = m.kind AND d.target = m.target AND d.version = m.v "
                "ORDER BY d.kind, d.target",
                list(targets),
            ).fetchall()
        return [DownlinkItem(DownlinkKind(r[0]), r[1], r[2], bytes(r[3]), r[4]) for r in rows]

    def add_downlink_ack(self, ack: DownlinkAckRow) -> None:
        with self._write() as tx:
            known = tx.execute("SELECT 1 FROM nodes WHERE node_id = ?", (ack.node_id,)).fetchone()
            if known is None:
                raise UnknownNodeError(f"node {ack.node_id!r} is not enrolled")
            tx.execute(
                f"INSERT INTO downlink_acks ({_ACK_COLS}) VALUES ({_marks(6)})",
                (
                    ack.node_id,
                    ack.kind.value,
                    ack.version,
                    int(ack.applied),
                    ack.message,
                    ack.received_ms,
                ),
            )

    def latest_downlink_acks(self, node_ids: Sequence[str] | None = None) -> list[DownlinkAckRow]:
        where, params = "", list(node_ids or ())
        if node_ids is not None:
            if not params:
                return []
            where = f"WHERE node_id IN ({_marks(len(params))}) "
        # The last received is the highest id (ids follow insertion).
        cols = ", ".join(f"a.{c.strip()}" for c in _ACK_COLS.split(","))
        with self._read() as tx:
            rows = tx.execute(
                f"SELECT {cols} FROM downlink_acks a JOIN (SELECT MAX(id) AS id FROM downlink_acks "
                f"{where}GROUP BY node_id, kind) m ON a.id = m.id ORDER BY a.node_id, a.kind",
                params,
            ).fetchall()
        return [_downlink_ack(r) for r in rows]

    # -- policy ---------------------------------------------------------------------------

    def put_policy(self, policy_toml: bytes, *, digest: str, loaded_at_ms: int) -> PolicyRow:
        with self._write() as tx:
            row = tx.execute(
                "INSERT INTO policies (digest, policy_toml, loaded_at_ms) VALUES (?, ?, ?) "
                "RETURNING id, digest, policy_toml, loaded_at_ms",
                (digest, policy_toml, loaded_at_ms),
            ).fetchone()
        return PolicyRow(row[0], row[1], bytes(row[2]), row[3])

    def current_policy(self) -> PolicyRow | None:
        with self._read() as tx:
            row = tx.execute(
                "SELECT id, digest, policy_toml, loaded_at_ms FROM policies ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return PolicyRow(row[0], row[1], bytes(row[2]), row[3]) if row else None


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


__all__ = [
    "DATA_COLS",
    "RECORD_COLS",
    "SCHEMA_VERSION",
    "SqlStorage",
    "Tx",
    "data_row",
    "record_from_row",
    "schema_statements",
]
