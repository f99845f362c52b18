"""The journal: an append-only SQLite store of the node's signed records.

A record is durable before anyone else sees it: the recorder appends it here, the append
commits, and only then is the record published on the site bus, sent to the hub or its
decision shown to the device.

Durability (fsync policy)
-------------------------
The database runs in WAL mode with ``PRAGMA synchronous=FULL``: every append is one
transaction whose commit writes the WAL frames and calls ``fsync`` on the WAL before
:meth:`Journal.append` returns. Checkpoints (WAL -> main file) are SQLite's automatic ones,
also fsynced under ``FULL``. Several records made together (a burst) go into one transaction:
one fsync for all of them (group commit), still before any of them is published.

What a power cut or ``kill -9`` can cost: only records whose append had not returned — none of
them was published, sent or acknowledged to anyone, so *nothing that was acknowledged is
lost*. A record the recorder signed but whose append did not commit never left the process;
on restart the chain continues from the last committed record (its sequence number + 1 and
its hash), so there is no gap and no fork among the records anyone can ever see. (The disk's
write cache must honour flushes, as it does on the supported hardware; a disk that lies about
fsync defeats every database.)

Bounded size
------------
``max_bytes`` bounds the bytes of records held (record + disclosure bytes; the SQLite file
itself is reused, not shrunk). Only records the hub has acknowledged are evicted, oldest
first, and never the newest record (the chain's tip). When the journal is over its limit and
holds only unacknowledged records it is *under pressure*: :meth:`Journal.admit` then applies
the profile's :class:`~borderlink.hardware_profiles.schema.JournalPolicy` to new decisions
(thinned types keep one in ``keep_one_in``; ``never_drop`` types and everything else are
kept) — thinning happens before signing, so the chain never has a hole. The recorder writes a
``node.storage_pressure`` record when pressure begins.

A full disk is pressure too: an append that fails because the filesystem (or SQLite's page
limit) is full raises :class:`~borderlink.edge.errors.JournalFullError` and leaves the chain
where it was; until an append succeeds again, :meth:`Journal.admit` thins as above, and the
caller keeps what it could not write (:class:`~borderlink.edge.device.DeviceRunner` holds the
decisions and retries them), so that when space returns routine telemetry has been thinned and
no alarm is lost.

Acknowledgements (the ``acked`` flag) are committed without their own fsync: losing one
costs only a re-acknowledgement by the hub's ``Resume`` on the next connect.

Append-only: a trigger refuses any change to a stored record's bytes; the only update is the
``acked`` flag.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import cbor2

from borderlink.proto.record import GENESIS_PREV, decode_record, record_hash

from .errors import JournalCorruptError, JournalError, JournalFullError

__all__ = ["Journal", "JournalEntry", "JournalStats", "StoredRecord", "ThinningPolicy"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq         INTEGER PRIMARY KEY,  -- the record's sequence number
    raw         BLOB    NOT NULL,     -- the COSE_Sign1 bytes exactly as signed
    disclosures BLOB    NOT NULL,     -- CBOR array of each disclosure's exact bytes
    type        TEXT    NOT NULL,
    alert       INTEGER NOT NULL,     -- 1 when the record raised a site alert
    time_ms     INTEGER NOT NULL,     -- the record's TIME
    stored_ms   INTEGER NOT NULL,     -- node clock when it became durable
    size        INTEGER NOT NULL,     -- len(raw) + len of every disclosure
    acked       INTEGER NOT NULL DEFAULT 0  -- 1 once the hub acknowledged it
);
CREATE INDEX IF NOT EXISTS records_unacked ON records (acked, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TRIGGER IF NOT EXISTS records_append_only
BEFORE UPDATE OF seq, raw, disclosures, type, alert, time_ms, stored_ms, size ON records
BEGIN SELECT RAISE(ABORT, 'journal records are append-only'); END;
"""

#: Eviction frees space down to this fraction of ``max_bytes``; pressure ends below it too.
LOW_WATER = 0.9


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """A record to append: its exact bytes, disclosures and what the journal indexes."""

    seq: int
    raw: bytes
    disclosures: tuple[bytes, ...]
    record_type: str
    alert: bool
    time_ms: int
    prev_hash: bytes


@dataclass(frozen=True, slots=True)
class StoredRecord:
    seq: int
    raw: bytes
    disclosures: tuple[bytes, ...]
    record_type: str
    alert: bool
    time_ms: int
    acked: bool


@dataclass(frozen=True, slots=True)
class JournalStats:
    path: str
    used_bytes: int
    limit_bytes: int
    file_bytes: int
    records: int
    tip_seq: int
    last_acked_seq: int
    unsynced_records: int
    oldest_unsynced_stored_ms: int | None
    under_pressure: bool


@dataclass(frozen=True, slots=True)
class ThinningPolicy:
    """The profile's journal policy as the journal applies it under pressure."""

    thin: frozenset[str] = frozenset()
    keep_one_in: int = 1
    never_drop: frozenset[str] = frozenset()

    @classmethod
    def from_profile(cls, policy: Any) -> ThinningPolicy:
        return cls(frozenset(policy.thin), max(1, int(policy.keep_one_in)),
                   frozenset(policy.never_drop))


_FILE_MODE, _DIR_MODE = 0o600, 0o700  # journals hold names, document numbers and MRZ lines


def _private(path: Path) -> None:
    """Make the journal folder 0700 and the database 0600 before SQLite touches them.

    SQLite gives the ``-wal`` and ``-shm`` files the mode of the database file, so creating the
    database 0600 (and tightening one made by an older version) covers all three; the umask is
    narrowed meanwhile so nothing is created readable by others even for an instant.
    """
    old = os.umask(0o077)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent.stat().st_uid == os.geteuid():
            os.chmod(path.parent, _DIR_MODE)
        else:  # a folder someone else owns (/tmp): the files themselves are still 0600
            log.warning("journal folder %s is not ours; not narrowing its mode", path.parent)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, _FILE_MODE))
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if p.exists():
                os.chmod(p, _FILE_MODE)
    finally:
        os.umask(old)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                           timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class Journal:
    """One node's journal. Thread-safe: appends, acks and reads may come from any thread.

    Use :meth:`open` (creates the file, recovers the chain tip); the constructor does no I/O
    beyond taking the connections it is given.
    """

    def __init__(self, path: Path, writer: sqlite3.Connection, reader: sqlite3.Connection,
                 *, max_bytes: int, policy: ThinningPolicy) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.policy = policy
        self._w = writer
        self._r = reader
        self._wlock = threading.Lock()
        self._rlock = threading.Lock()
        self._tip_seq = 0
        self._tip_hash = GENESIS_PREV
        self._used = 0
        self._last_acked = 0
        self._pressure = False
        self._disk_full = False  # the last append failed for want of space
        self._thin_counts: dict[str, int] = {}
        self._closed = False

    # -- opening and recovery ---------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, max_bytes: int = 256 * 1024 * 1024,
             policy: ThinningPolicy | None = None, verify_tail: int = 64) -> Journal:
        """Open (or create) the journal and recover the chain tip from the last durable record.

        *verify_tail* most recent records are checked to link (seq + 1, prev = hash): a
        journal whose tail does not is refused with :class:`JournalCorruptError`.
        """
        if max_bytes <= 0:
            raise JournalError(f"journal max_bytes must be positive, got {max_bytes}")
        path = Path(path)
        try:
            existed = path.exists()
            _private(path)
            writer = _connect(path)
            writer.executescript(_SCHEMA)
            reader = _connect(path)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"{path}: cannot open the journal: {exc}") from exc
        if not existed:
            _fsync_dir(path.parent)
        journal = cls(path, writer, reader, max_bytes=max_bytes,
                      policy=policy or ThinningPolicy())
        journal._recover(verify_tail)
        return journal

    def _recover(self, verify_tail: int) -> None:
        conn = self._w
        row = conn.execute("SELECT COALESCE(SUM(size), 0) FROM records").fetchone()
        self._used = int(row[0])
        acked = conn.execute("SELECT value FROM meta WHERE key='last_acked_seq'").fetchone()
        self._last_acked = int(acked[0]) if acked else 0
        tail = conn.execute(
            "SELECT seq, raw FROM records ORDER BY seq DESC LIMIT ?", (max(1, verify_tail),)
        ).fetchall()
        if not tail:
            return
        tail.reverse()
        for (s1, raw1), (s2, raw2) in pairwise(tail):
            if s2 != s1 + 1:
                raise JournalCorruptError(f"{self.path}: records {s1 + 1}..{s2 - 1} are missing")
            if decode_record(raw2).prev_hash != record_hash(raw1):
                raise JournalCorruptError(f"{self.path}: record {s2} does not follow record {s1}")
        self._tip_seq = int(tail[-1][0])
        self._tip_hash = record_hash(tail[-1][1])
        self._pressure = self._used > self.max_bytes and self._evictable() == 0

    def close(self) -> None:
        with self._wlock, self._rlock:
            if not self._closed:
                self._closed = True
                self._r.close()
                self._w.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- chain tip ----------------------------------------------------------------------

    @property
    def tip(self) -> tuple[int, bytes]:
        """(sequence number, hash) of the last durable record; (0, 32 zero bytes) if none."""
        return self._tip_seq, self._tip_hash

    @property
    def last_acked_seq(self) -> int:
        return self._last_acked

    @property
    def under_pressure(self) -> bool:
        return self._pressure or self._disk_full

    @property
    def disk_full(self) -> bool:
        """The last append failed because the disk (or SQLite's page limit) was full."""
        return self._disk_full

    # -- writing ------------------------------------------------------------------------

    def admit(self, record_type: str) -> bool:
        """Whether a new decision of *record_type* is to be recorded (False: thinned away)."""
        if not self.under_pressure or record_type not in self.policy.thin:
            return True
        if record_type in self.policy.never_drop:
            return True
        n = self._thin_counts.get(record_type, 0)
        self._thin_counts[record_type] = n + 1
        return n % self.policy.keep_one_in == 0

    def append(self, entry: JournalEntry) -> None:
        self.append_many((entry,))

    def append_many(self, entries: Sequence[JournalEntry]) -> None:
        """Append records in one transaction; durable (fsynced) when this returns.

        Each entry must extend the chain: sequence number = tip + 1, prev = tip's hash.
        """
        if not entries:
            return
        with self._wlock:
            seq, tip = self._tip_seq, self._tip_hash
            rows = []
            added = 0
            for e in entries:
                if e.seq != seq + 1 or e.prev_hash != tip:
                    raise JournalCorruptError(
                        f"record {e.seq} does not extend the journal's chain at {seq + 1}")
                size = len(e.raw) + sum(len(d) for d in e.disclosures)
                rows.append((e.seq, e.raw, cbor2.dumps(list(e.disclosures)), e.record_type,
                             int(e.alert), e.time_ms, int(time.time() * 1000), size))
                added += size
                seq, tip = e.seq, record_hash(e.raw)
            try:
                self._w.execute("BEGIN IMMEDIATE")
                self._w.executemany(
                    "INSERT INTO records (seq, raw, disclosures, type, alert, time_ms, "
                    "stored_ms, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                self._w.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._w.in_transaction:
                    self._w.execute("ROLLBACK")
                if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                    self._disk_full = True
                    raise JournalFullError(f"{self.path}: disk full, append refused: {exc}") \
                        from exc
                raise JournalError(f"{self.path}: append failed: {exc}") from exc
            self._disk_full = False
            self._tip_seq, self._tip_hash = seq, tip
            self._used += added
            if self._used > self.max_bytes:
                self._make_room()

    def mark_acked(self, upto_seq: int) -> int:
        """The hub holds every record up to *upto_seq*; returns how many became acked."""
        upto_seq = min(upto_seq, self._tip_seq)
        if upto_seq <= self._last_acked:
            return 0
        with self._wlock:
            # Not fsynced on its own (synchronous=NORMAL for this transaction): an ack lost
            # in a power cut only means the hub's Resume re-acknowledges those records; the
            # next append's fsync makes it durable anyway (WAL frames are synced in order).
            self._w.execute("PRAGMA synchronous=NORMAL")
            try:
                self._w.execute("BEGIN IMMEDIATE")
                cur = self._w.execute(
                    "UPDATE records SET acked=1 WHERE seq<=? AND acked=0", (upto_seq,))
                self._w.execute(
                    "INSERT INTO meta (key, value) VALUES ('last_acked_seq', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (upto_seq,))
                self._w.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._w.in_transaction:
                    self._w.execute("ROLLBACK")
                raise JournalError(f"{self.path}: ack failed: {exc}") from exc
            finally:
                self._w.execute("PRAGMA synchronous=FULL")
            self._last_acked = upto_seq
            if self._used > self.max_bytes * LOW_WATER:
                self._make_room()
            return cur.rowcount

    def _evictable(self) -> int:
        row = self._w.execute(
            "SELECT COUNT(*) FROM records WHERE acked=1 AND seq<?", (self._tip_seq,)).fetchone()
        return int(row[0])

    def _make_room(self) -> None:
        """Evict acknowledged records, oldest first, down to the low-water mark (lock held)."""
        target = int(self.max_bytes * LOW_WATER)
        if self._used > target:
            need = self._used - target
            rows = self._w.execute(
                "SELECT seq, size FROM records WHERE acked=1 AND seq<? ORDER BY seq",
                (self._tip_seq,)).fetchall()
            freed, last = 0, None
            for seq, size in rows:
                if freed >= need:
                    break
                freed += size
                last = seq
            if last is not None:
                self._w.execute("BEGIN IMMEDIATE")
                self._w.execute("DELETE FROM records WHERE acked=1 AND seq<=?", (last,))
                self._w.execute("COMMIT")
                self._used -= freed
        self._pressure = self._used > self.max_bytes
        if not self._pressure:
            self._thin_counts.clear()

    # -- reading ------------------------------------------------------------------------

    def read_from(self, seq: int, *, max_records: int = 256,
                  max_bytes: int = 1024 * 1024) -> list[StoredRecord]:
        """Records from *seq* up, in order: at most *max_records*, about *max_bytes* (>= 1)."""
        out: list[StoredRecord] = []
        total = 0
        with self._rlock:
            cur = self._r.execute(
                "SELECT seq, raw, disclosures, type, alert, time_ms, acked, size FROM records "
                "WHERE seq>=? ORDER BY seq LIMIT ?", (seq, max_records))
            for s, raw, disc, rtype, alert, time_ms, acked, size in cur:
                if out and total + size > max_bytes:
                    break
                total += size
                out.append(StoredRecord(s, bytes(raw), tuple(cbor2.loads(disc)), rtype,
                                        bool(alert), time_ms, bool(acked)))
            cur.close()
        return out

    def iter_all(self, page: int = 1000) -> Iterator[StoredRecord]:
        """Every held record in order, paged (bounded memory)."""
        seq = 0
        while True:
            rows = self.read_from(seq, max_records=page, max_bytes=1 << 62)
            if not rows:
                return
            yield from rows
            seq = rows[-1].seq + 1

    def stats(self) -> JournalStats:
        with self._rlock:
            count, unsynced, oldest = self._r.execute(
                "SELECT COUNT(*), SUM(acked=0), MIN(CASE WHEN acked=0 THEN stored_ms END) "
                "FROM records").fetchone()
        try:
            file_bytes = sum(
                os.path.getsize(p) for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        except OSError:
            file_bytes = 0
        return JournalStats(
            str(self.path), self._used, self.max_bytes, file_bytes, int(count or 0),
            self._tip_seq, self._last_acked, int(unsynced or 0),
            int(oldest) if oldest is not None else None, self._pressure)

    # -- small persistent state (downlink versions) -----------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self._rlock:
            row = self._r.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self._wlock:
            self._w.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_stats(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Journal figures read straight from the database file (for ``edge status``), read-only."""
    path = Path(path)
    if not path.exists():
        raise JournalError(f"{path}: no journal there")
    uri = f"file:{path}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5.0)
        try:
            count, unsynced, oldest, used, tip = conn.execute(
                "SELECT COUNT(*), SUM(acked=0), MIN(CASE WHEN acked=0 THEN stored_ms END), "
                "COALESCE(SUM(size), 0), MAX(seq) FROM records").fetchone()
            acked = conn.execute(
                "SELECT value FROM meta WHERE key='last_acked_seq'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise JournalError(f"{path}: cannot read the journal: {exc}") from exc
    file_bytes = sum(os.path.getsize(p) for p in (path, Path(f"{path}-wal")) if p.exists())
    return {
        "path": str(path), "records": int(count or 0), "used_bytes": int(used),
        "file_bytes": file_bytes, "tip_seq": int(tip or 0),
        "last_acked_seq": int(acked[0]) if acked else 0,
        "unsynced_records": int(unsynced or 0),
        "oldest_unsynced_stored_ms": int(oldest) if oldest is not None else None,
    }
