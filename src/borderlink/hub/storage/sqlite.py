"""SQLite backend of the hub storage: the embedded default, one hub process per database.

URL: ``sqlite:///absolute/path/hub.db`` or ``sqlite:relative/path.db`` (see
:func:`borderlink.hub.storage.open_storage`). The database runs in WAL mode so readers
(federation, proofs) never wait for the writer; ``synchronous=FULL`` by default, so an
acknowledged batch survives a power cut (``NORMAL`` survives a process crash only).

Writes go through one connection under a lock (SQLite has one writer anyway); each reading
thread has its own connection. The sequencer lock is an exclusive ``flock`` on
``<database>.sequencer.lock``, which also keeps a second process from sequencing the same file.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from borderlink.hub.errors import StorageError, StorageUnavailableError
from borderlink.hub.storage._sql import ADDED_COLUMNS, SqlStorage, schema_statements

_SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
_FILE_MODE, _DIR_MODE = 0o600, 0o700  # the store holds names, document numbers and MRZ lines

log = logging.getLogger("borderlink.hub.storage.sqlite")


def _private(path: Path) -> None:
    """Make the database's folder 0700 and the database 0600 before SQLite touches them.

    SQLite gives the ``-wal`` and ``-shm`` files the mode of the database file, so a 0600
    database (one made by an older version is tightened) covers all three, and the sequencer
    lock is created 0600 too. The umask is narrowed meanwhile so nothing is ever created
    readable by others, even for an instant, whatever the process umask.
    """
    old = os.umask(0o077)
    try:
        # A missing folder stays an error (a mistyped path is not created).
        if path.parent.stat().st_uid == os.geteuid():
            os.chmod(path.parent, _DIR_MODE)
        else:  # a folder someone else owns (/tmp): the files themselves are still 0600
            log.warning("hub database folder %s is not ours; not narrowing its mode", path.parent)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, _FILE_MODE))
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if p.exists():
                os.chmod(p, _FILE_MODE)
    finally:
        os.umask(old)


@dataclass(frozen=True)
class SqliteConfig:
    path: Path
    #: PRAGMA synchronous: FULL (durable on power loss) or NORMAL (durable on process crash).
    synchronous: str = "FULL"
    #: How long a connection waits for a lock held by another process, in ms.
    busy_timeout_ms: int = 5000

    def __post_init__(self) -> None:
        if self.synchronous.upper() not in _SYNC_MODES:
            raise ValueError(f"synchronous={self.synchronous!r}; expected one of {_SYNC_MODES}")


class _SqliteTx:
    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def insert_rows(
        self,
        table: str,
        columns: str,
        rows: Sequence[Sequence[Any]],
        *,
        skip_existing: bool = False,
    ) -> None:
        marks = ", ".join("?" * (columns.count(",") + 1))
        skip = " ON CONFLICT DO NOTHING" if skip_existing else ""
        self.conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks}){skip}", rows)


class SqliteStorage(SqlStorage):
    """The hub storage in one SQLite file. Build it with :meth:`open`."""

    _integrity_errors = (sqlite3.IntegrityError,)
    _no_index = "+"

    def __init__(self, config: SqliteConfig, writer: sqlite3.Connection) -> None:
        self.config = config
        self._writer = writer
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        # Reads in progress, so close() never closes a connection another thread is using
        # (the sqlite3 module can crash the process when it does).
        self._reads = 0
        self._reads_done = threading.Condition(self._readers_lock)
        self._sequencer_fd: int | None = None
        self._closed = False

    @classmethod
    def open(cls, path: str | os.PathLike[str], **options: Any) -> SqliteStorage:
        """Open (creating if needed) the database at *path* and its schema."""
        config = SqliteConfig(Path(path), **options)
        try:
            _private(config.path)
            writer = cls._connect(config)
            for stmt in schema_statements(
                "INTEGER", "BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT", " WITHOUT ROWID"
            ):
                writer.execute(stmt)
            for table, column, kind in ADDED_COLUMNS:  # a store made before the column
                have = {row[1] for row in writer.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    writer.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        except (sqlite3.Error, OSError) as exc:
            raise StorageUnavailableError(
                f"cannot open SQLite database {config.path}: {exc}"
            ) from exc
        return cls(config, writer)

    @staticmethod
    def _connect(config: SqliteConfig) -> sqlite3.Connection:
        # isolation_level=None: autocommit; transactions are explicit BEGIN IMMEDIATE.
        conn = sqlite3.connect(
            config.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=config.busy_timeout_ms / 1000,
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={config.synchronous.upper()}")
        conn.execute(f"PRAGMA busy_timeout={int(config.busy_timeout_ms)}")
        return conn

    @contextmanager
    def _write(self) -> Iterator[_SqliteTx]:
        self._check_open()
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[_SqliteTx]:
        with self._readers_lock:
            self._check_open()
            self._reads += 1
        try:
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._connect(self.config)
                conn.execute("PRAGMA query_only=ON")
                with self._readers_lock:
                    self._readers.append(conn)
                self._local.conn = conn
            yield _SqliteTx(conn)
        finally:
            with self._readers_lock:
                self._reads -= 1
                if not self._reads:
                    self._reads_done.notify_all()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"storage {self.config.path} is closed")

    # -- sequencer ------------------------------------------------------------------------

    def acquire_sequencer(self) -> bool:
        self._check_open()
        if self._sequencer_fd is not None:
            return True
        fd = os.open(f"{self.config.path}.sequencer.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._sequencer_fd = fd
        return True

    def release_sequencer(self) -> None:
        fd, self._sequencer_fd = self._sequencer_fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def close(self) -> None:
        if self._closed:
            return
        self.release_sequencer()
        with self._write_lock:
            self._closed = True  # no read or write starts from here on
            self._writer.close()
        with self._readers_lock:
            # Reads already running finish first: closing a connection under another
            # thread's query can crash the process. A read never takes long; the timeout
            # only bounds a shutdown against a bug.
            self._reads_done.wait_for(lambda: not self._reads, timeout=10.0)
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
