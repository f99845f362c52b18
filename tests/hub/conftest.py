"""Storage fixtures: every contract test runs on SQLite and on PostgreSQL.

PostgreSQL is expected at 127.0.0.1:5432 (user postgres, database ``test``, trust auth), or
at ``BORDERLINK_TEST_PG``. Each test gets its own schema, dropped afterwards. When the server
is unreachable the PostgreSQL tests FAIL with the reason — they never skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from borderlink.hub.storage import Storage
from borderlink.hub.storage.postgres import PostgresStorage
from borderlink.hub.storage.sqlite import SqliteStorage

PG_URL = os.environ.get("BORDERLINK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
RUN_ID = uuid.uuid4().hex[:8]


def _pg_admin() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required for the storage contract tests and is unreachable at "
            f"{PG_URL} ({exc}). Start it (trust auth, database 'test') or set BORDERLINK_TEST_PG.",
            pytrace=False,
        )


@pytest.fixture
def pg_url() -> str:
    """The PostgreSQL server of the tests (libpq URL)."""
    return PG_URL


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def open_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Storage]]:
    """Opens (another) handle on this test's store: same file / same schema each call."""
    opened: list[Storage] = []
    schema = f"bl_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    admin = _pg_admin() if backend == "postgres" else None

    def make() -> Storage:
        if backend == "sqlite":
            store: Storage = SqliteStorage.open(tmp_path / "hub.db")
        else:
            store = PostgresStorage.open(PG_URL, schema=schema, max_connections=4)
        opened.append(store)
        return store

    try:
        yield make
    finally:
        for store in opened:
            store.close()
        if admin is not None:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )
            admin.close()


@pytest.fixture
def store(open_store: Callable[[], Storage]) -> Storage:
    return open_store()
