"""PostgreSQL backend of the hub storage: several hub processes share one database.

URL: ``postgresql://user@host:port/dbname?schema=NAME`` (``schema`` is ours and optional,
default ``public``; the rest is libpq's). Connections come from a ``psycopg_pool`` pool and
run with ``search_path`` set to the schema, so test runs and deployments can share a
database without sharing tables.

An append checks the chain under its nodes' row locks (``SELECT … FOR UPDATE``) and stores
its records in ``pending_records`` and ``pending_disclosures``: appends of different nodes,
from any hub process, run and commit (group-commit) side by side, and an acknowledged record
is durable. The sequencer numbers committed pending records in batches
(:meth:`PostgresStorage.assign_log_indexes`: one statement moves them into ``records``,
``leaves`` and ``disclosures``), so only it ever writes the ``log_state`` row. Until then a
record is found by (node, seq) (:meth:`PostgresStorage.get_record`) but by nothing that
reads by log index. (Before, every append took the next indexes from the ``log_state`` row,
whose lock then serialised the appends of all processes, commits included.)

The sequencer lock is a session-level advisory lock (``pg_try_advisory_lock``) held on a dedicated connection: if
the process dies, PostgreSQL drops the connection and the lock with it, and another replica
takes over, so two processes can never sequence (and fork) the log at once.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg import sql

from borderlink.hub.errors import StorageError, StorageUnavailableError
from borderlink.hub.storage._sql import (
    ADDED_COLUMNS,
    DATA_COLS,
    RECORD_COLS,
    SqlStorage,
    Tx,
    data_row,
    record_from_row,
    schema_statements,
)
from borderlink.hub.storage.model import NewRecord, StoredDisclosure, StoredRecord

_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")

#: Stored, chain-checked records without a log index yet, and their disclosures. ``id``
#: orders them (a node's appends are serialised by its row lock, so its records get ids in
#: seq order). Only (node, seq) is indexed: every other index would be written and deleted
#: once more per record, and the sequencer reads these tables whole anyway.
PENDING_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS pending_records (
    id BIGINT GENERATED ALWAYS AS IDENTITY,
    node_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    record BYTEA NOT NULL,
    record_hash BYTEA NOT NULL,
    record_type TEXT NOT NULL,
    agency TEXT NOT NULL,
    site TEXT NOT NULL,
    time_ms BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    unknown_type INTEGER NOT NULL,
    leaf_hash BYTEA NOT NULL,
    UNIQUE (node_id, seq)
)""",
    """CREATE TABLE IF NOT EXISTS pending_disclosures (
    node_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    position INTEGER NOT NULL,
    digest BYTEA NOT NULL,
    field_name TEXT NOT NULL,
    disclosure BYTEA NOT NULL
)""",
]

#: Numbers the first pending records (by id) from a given log index and moves them, with
#: their disclosures, into the log's tables: one statement, so one snapshot (appends that
#: commit meanwhile wait for the next round). Parameters: limit, first log index.
_ASSIGN = f"""
WITH batch AS (
    DELETE FROM pending_records
    WHERE id IN (SELECT id FROM pending_records ORDER BY id LIMIT %s)
    RETURNING *
), numbered AS (
    SELECT %s + ROW_NUMBER() OVER (ORDER BY id) - 1 AS log_index, * FROM batch
), to_records AS (
    INSERT INTO records ({RECORD_COLS}) SELECT log_index, {DATA_COLS} FROM numbered
), to_leaves AS (
    INSERT INTO leaves (log_index, leaf_hash) SELECT log_index, leaf_hash FROM numbered
), moved_disclosures AS (
    DELETE FROM pending_disclosures d USING numbered n
    WHERE d.node_id = n.node_id AND d.seq = n.seq
    RETURNING n.log_index, d.position, d.digest, d.field_name, d.disclosure
), to_disclosures AS (
    INSERT INTO disclosures (log_index, position, digest, field_name, disclosure)
    SELECT * FROM moved_disclosures
)
SELECT COUNT(*) FROM numbered
"""


def _translate(statement: str) -> str:
    return statement.replace("?", "%s")


class _PgTx:
    __slots__ = ("conn",)

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, statement: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self.conn.execute(_translate(statement), params)  # type: ignore[arg-type]

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(_translate(statement), list(rows))  # type: ignore[arg-type]

    def insert_rows(
        self,
        table: str,
        columns: str,
        rows: Sequence[Sequence[Any]],
        *,
        skip_existing: bool = False,
    ) -> None:
        # COPY: one round trip and no per-row statement (nor a statement with thousands of
        # placeholders for psycopg to parse), so an append holds its nodes' row locks (and
        # the GIL of a busy hub process) for less time.
        target = f"stage_{table}" if skip_existing else table
        if skip_existing:  # COPY cannot skip conflicts: stage, then insert what is new
            self.conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {target} (LIKE {table}) ON COMMIT DELETE ROWS"
            )
        with self.conn.cursor() as cur, cur.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if skip_existing:
            self.conn.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {target} "
                "ON CONFLICT DO NOTHING"
            )


def split_schema(url: str) -> tuple[str, str]:
    """Split our ``schema=`` query parameter off a PostgreSQL URL: (libpq URL, schema)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = "public"
    rest = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            rest.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(rest))), schema


class PostgresStorage(SqlStorage):
    """The hub storage in a PostgreSQL schema. Build it with :meth:`open`."""

    _integrity_errors = (psycopg.errors.UniqueViolation,)
    _indexes_at_append = False
    _lock_rows = " FOR UPDATE"

    def __init__(self, conninfo: str, schema: str, pool: psycopg_pool.ConnectionPool) -> None:
        self.conninfo = conninfo
        self.schema = schema
        self._pool = pool
        self._sequencer_conn: psycopg.Connection[Any] | None = None
        self._sequencer_lock = threading.Lock()
        digest = hashlib.sha256(f"borderlink-sequencer:{schema}".encode()).digest()
        #: Advisory lock key of this schema's sequencer.
        self.sequencer_key = int.from_bytes(digest[:8], "big", signed=True)

    @classmethod
    def open(
        cls,
        conninfo: str,
        *,
        schema: str = "public",
        min_connections: int = 1,
        max_connections: int = 8,
        connect_timeout_s: float = 5.0,
    ) -> PostgresStorage:
        """Connect, create the schema and tables if missing; :class:`StorageUnavailableError`
        names the server when it cannot be reached."""
        if not _SCHEMA_RE.fullmatch(schema):
            raise StorageError(f"bad schema name {schema!r}: lower-case letters, digits, '_'")

        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))

        pool = psycopg_pool.ConnectionPool(
            conninfo,
            min_size=min_connections,
            max_size=max_connections,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(connect_timeout_s))},
            configure=configure,
            open=False,
            name=f"borderlink-{schema}",
        )
        try:
            pool.open(wait=True, timeout=connect_timeout_s)
        except psycopg_pool.PoolTimeout as exc:
            pool.close()
            raise StorageUnavailableError(
                f"PostgreSQL unreachable at {_redact(conninfo)}: no connection within {connect_timeout_s} s"
            ) from exc
        storage = cls(conninfo, schema, pool)
        try:
            storage._create_schema()
        except BaseException:
            pool.close()
            raise
        return storage

    def _create_schema(self) -> None:
        statements = schema_statements(
            "BIGINT", "BYTEA", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", ""
        )
        with self._pool.connection() as conn, conn.transaction():
            # Concurrent CREATE … IF NOT EXISTS can still collide; serialise hub processes here.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.sequencer_key ^ 1,))
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            for stmt in [*statements, *PENDING_SCHEMA]:
                conn.execute(stmt)  # type: ignore[arg-type]
            for table, column, kind in ADDED_COLUMNS:  # a store made before the column
                conn.execute(
                    f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}"  # type: ignore[arg-type]
                )

    @contextmanager
    def _write(self) -> Iterator[_PgTx]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                yield _PgTx(conn)
        except psycopg.OperationalError as exc:
            raise StorageUnavailableError(f"PostgreSQL at {_redact(self.conninfo)}: {exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[_PgTx]:
        try:
            with self._pool.connection() as conn:
                yield _PgTx(conn)
        except psycopg.OperationalError as exc:
            raise StorageUnavailableError(f"PostgreSQL at {_redact(self.conninfo)}: {exc}") from exc

    # -- pending records ------------------------------------------------------------------

    def _insert_pending(self, tx: Tx, records: Sequence[NewRecord], received_ms: int) -> None:
        tx.insert_rows(
            "pending_records",
            f"{DATA_COLS}, leaf_hash",
            [(*data_row(r, received_ms), r.leaf_hash) for r in records],
        )
        disclosures = [
            (r.node_id, r.seq, pos, d.digest, d.field_name, d.disclosure)
            for r in records
            for pos, d in enumerate(r.disclosures)
        ]
        if disclosures:
            tx.insert_rows(
                "pending_disclosures",
                "node_id, seq, position, digest, field_name, disclosure",
                disclosures,
            )

    def assign_log_indexes(self, limit: int) -> int:
        super().assign_log_indexes(limit)  # checks the limit
        with self._write() as tx:
            # The row lock makes a second caller wait, then read the size this one left.
            start = _scalar(tx.execute("SELECT size FROM log_state WHERE id = 1 FOR UPDATE"))
            count = _scalar(tx.execute(_ASSIGN, (limit, start)))
            if count:
                tx.execute("UPDATE log_state SET size = ? WHERE id = 1", (start + count,))
        return int(count)

    def get_record(
        self, node_id: str, seq: int, *, with_disclosures: bool = False
    ) -> StoredRecord | None:
        # One statement (one snapshot): a record being numbered meanwhile is found on one
        # side or the other, never neither.
        with self._read() as tx:
            row = tx.execute(
                f"SELECT {RECORD_COLS} FROM records WHERE node_id = ? AND seq = ? "
                f"UNION ALL SELECT NULL, {DATA_COLS} FROM pending_records "
                "WHERE node_id = ? AND seq = ?",
                (node_id, seq, node_id, seq),
            ).fetchone()
            if row is None or row[0] is not None or not with_disclosures:
                return self._with(row, with_disclosures)
            # Pending: its disclosures are in pending_disclosures, unless it was numbered
            # since; then read it again from the log.
            rows = tx.execute(
                "SELECT position, digest, field_name, disclosure FROM pending_disclosures "
                "WHERE node_id = ? AND seq = ? ORDER BY position",
                (node_id, seq),
            ).fetchall()
            still = tx.execute(
                "SELECT 1 FROM pending_records WHERE node_id = ? AND seq = ?", (node_id, seq)
            ).fetchone()
        if still is None:
            return self.get_record(node_id, seq, with_disclosures=True)
        return record_from_row(
            row, tuple(StoredDisclosure(r[0], bytes(r[1]), r[2], bytes(r[3])) for r in rows)
        )

    # -- sequencer ------------------------------------------------------------------------

    def acquire_sequencer(self) -> bool:
        with self._sequencer_lock:
            if self._sequencer_conn is not None and not self._sequencer_conn.closed:
                return True
            try:
                conn = psycopg.connect(self.conninfo, autocommit=True)
            except psycopg.OperationalError as exc:
                raise StorageUnavailableError(
                    f"PostgreSQL at {_redact(self.conninfo)}: {exc}"
                ) from exc
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.sequencer_key,)).fetchone()
            if not (got and got[0]):
                conn.close()
                return False
            self._sequencer_conn = conn
            return True

    def release_sequencer(self) -> None:
        with self._sequencer_lock:
            conn, self._sequencer_conn = self._sequencer_conn, None
            if conn is not None and not conn.closed:
                try:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (self.sequencer_key,))
                finally:
                    conn.close()

    def close(self) -> None:
        self.release_sequencer()
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _scalar(cursor: psycopg.Cursor[Any]) -> Any:
    row = cursor.fetchone()
    if row is None:
        raise StorageError("a one-row query returned no row")
    return row[0]


def _redact(conninfo: str) -> str:
    """The connection string without a password, for messages."""
    return re.sub(
        r"(://[^:/@]+):[^@]*@", r"\1:***@", re.sub(r"password=\S+", "password=***", conninfo)
    )
