"""PostgreSQL backend of the hub storage: several hub processes share one database.

URL: ``postgresql://user@host:port/dbname?schema=NAME`` (``schema`` is ours and optional,
default ``public``; the rest is libpq's). Connections come from a ``psycopg_pool`` pool and
run with ``search_path`` set to the schema, so test runs and deployments can share a
database without sharing tables.

Appends serialise on the single ``log_state`` row (``UPDATE … RETURNING``), which hands out
contiguous log indexes in commit order across every hub process. The sequencer lock is a
session-level advisory lock (``pg_try_advisory_lock``) held on a dedicated connection: if
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
from borderlink.hub.errors import StorageError, StorageUnavailableError
from borderlink.hub.storage._sql import SqlStorage, schema_statements
from psycopg import sql

_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


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

    def insert_rows(self, table: str, columns: str, rows: Sequence[Sequence[Any]]) -> None:
        # COPY: one round trip and no per-row statement, so an append holds the log_state
        # row lock (which serialises appenders of every hub process) for less time.
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


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
            for stmt in statements:
                conn.execute(stmt)  # type: ignore[arg-type]

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


def _redact(conninfo: str) -> str:
    """The connection string without a password, for messages."""
    return re.sub(
        r"(://[^:/@]+):[^@]*@", r"\1:***@", re.sub(r"password=\S+", "password=***", conninfo)
    )
