"""Opening a store by URL, and the errors of each backend at its boundary."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from borderlink.hub.errors import StorageError, StorageUnavailableError
from borderlink.hub.storage import open_storage
from borderlink.hub.storage.postgres import PostgresStorage, split_schema
from borderlink.hub.storage.sqlite import SqliteStorage


def test_sqlite_url_opens_a_wal_database(tmp_path: Path) -> None:
    store = open_storage(f"sqlite://{tmp_path}/hub.db")
    try:
        assert isinstance(store, SqliteStorage)
        with store._read() as tx:
            assert tx.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.log_state().size == 0
    finally:
        store.close()
    assert (tmp_path / "hub.db").is_file()
    with pytest.raises(StorageError, match="closed"):
        store.log_state()


def test_sqlite_sequencer_lock_file_is_private(tmp_path: Path) -> None:
    with SqliteStorage.open(tmp_path / "hub.db") as store:
        assert store.acquire_sequencer()
        mode = (tmp_path / "hub.db.sequencer.lock").stat().st_mode
        assert stat.S_IMODE(mode) == 0o600


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("mysql://127.0.0.1/hub", "unknown storage URL scheme 'mysql'"),
        ("sqlite://relative.db", "absolute"),
        ("sqlite:", "names no file"),
        ("hub.db", "unknown storage URL scheme ''"),
    ],
)
def test_bad_urls(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        open_storage(url)


def test_unwritable_sqlite_path_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailableError, match="cannot open SQLite"):
        SqliteStorage.open(tmp_path / "missing-dir" / "hub.db")


def test_postgres_url_schema_parameter(pg_url: str) -> None:
    assert split_schema("postgresql://u@h:5432/db?schema=hub_a&sslmode=disable") == (
        "postgresql://u@h:5432/db?sslmode=disable",
        "hub_a",
    )
    assert split_schema("postgresql://u@h/db") == ("postgresql://u@h/db", "public")
    with pytest.raises(StorageError, match="bad schema name"):
        PostgresStorage.open(pg_url, schema="Robert'); DROP TABLE students;--")


def test_unreachable_postgres_is_a_clear_error() -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    with pytest.raises(
        StorageUnavailableError,
        match=r"PostgreSQL unreachable at postgresql://postgres:\*\*\*@127\.0\.0\.1:1/",
    ):
        open_storage("postgresql://postgres:secret@127.0.0.1:1/test", connect_timeout_s=1.0)
