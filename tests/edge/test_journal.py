"""The journal: durable appends, recovery after kill -9, acked-only eviction, thinning."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from borderlink.edge.errors import JournalCorruptError
from borderlink.edge.journal import Journal, JournalEntry, ThinningPolicy, read_stats
from borderlink.edge.processors.base import AlertLevel, Decision
from borderlink.edge.recorder import Recorder
from borderlink.proto.chain import ChainDefect, verify_chain
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import GENESIS_PREV, decode_record, verify_record
from borderlink.proto.record_types import default_registry

from .conftest import NODE_ID, SITE

WRITER = Path(__file__).with_name("_journal_writer.py")


def _tamper(i: int) -> dict[str, str]:
    return {"kind": "test", "detail": str(i)}


def test_pragmas_are_wal_and_full_sync(journal: Journal) -> None:
    conn = sqlite3.connect(journal.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # synchronous is per connection; check the journal's own writer connection
    assert journal._w.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn.close()


def test_append_recover_and_continue(tmp_path: Path, node_key: SigningKey) -> None:
    path = tmp_path / "j.db"
    registry = default_registry()
    with Journal.open(path) as j:
        assert j.tip == (0, GENESIS_PREV)
        rec = Recorder.for_journal(node_key, j, node_id=NODE_ID, site=SITE, registry=registry)
        for i in range(5):
            rec.record_event("node.tamper", _tamper(i))
        tip = j.tip
    assert tip[0] == 5
    with Journal.open(path) as j:
        assert j.tip == tip
        rec = Recorder.for_journal(node_key, j, node_id=NODE_ID, site=SITE, registry=registry)
        assert rec.record_event("node.tamper", _tamper(6)).seq == 6
        records = [decode_record(r.raw) for r in j.iter_all()]
    report = verify_chain(records)
    assert report.ok, report.findings
    assert [r.seq for r in records] == list(range(1, 7))


def test_records_are_append_only(journal: Journal, recorder: Recorder) -> None:
    recorder.record_event("node.tamper", _tamper(1))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        journal._w.execute("UPDATE records SET raw=x'00' WHERE seq=1")


def test_append_refuses_a_record_that_does_not_extend_the_chain(journal: Journal,
                                                                  recorder: Recorder) -> None:
    first = recorder.record_event("node.tamper", _tamper(1)).signed
    fork = JournalEntry(1, first.raw + b"", (), "node.tamper", False, 0, GENESIS_PREV)
    with pytest.raises(JournalCorruptError, match="does not extend"):
        journal.append(fork)
    assert journal.tip[0] == 1


def test_group_commit_keeps_order_and_disclosures(journal: Journal, recorder: Recorder,
                                                  node_key: SigningKey) -> None:
    body = {"alert_node": "n", "alert_seq": 3, "console": "c1", "action": "seen",
            "operator": "Rashad Aliyev"}
    done = recorder.record_many([Decision("alert.ack", body, 1.7e9, AlertLevel.INFO)] * 3)
    assert [d.seq for d in done] == [1, 2, 3]
    stored = journal.read_from(1)
    assert [s.seq for s in stored] == [1, 2, 3]
    assert all(s.alert for s in stored)
    verified = verify_record(stored[0].raw, node_key.public, registry=default_registry(),
                             disclosures=stored[0].disclosures)
    assert verified.body["operator"] == "Rashad Aliyev"
    assert "operator" not in verified.record.body  # signed as a digest only


def test_read_from_pages_by_records_and_bytes(journal: Journal, recorder: Recorder) -> None:
    for i in range(20):
        recorder.record_event("node.tamper", _tamper(i))
    assert [r.seq for r in journal.read_from(5, max_records=4)] == [5, 6, 7, 8]
    size = len(journal.read_from(1, max_records=1)[0].raw)
    page = journal.read_from(1, max_bytes=size * 3 + 1)
    assert 1 <= len(page) <= 4
    assert len(journal.read_from(1, max_bytes=1)) == 1  # at least one record per page


def test_only_acked_records_are_evicted_oldest_first(tmp_path: Path,
                                                     node_key: SigningKey) -> None:
    with Journal.open(tmp_path / "j.db", max_bytes=4000) as j:
        rec = Recorder.for_journal(node_key, j, node_id=NODE_ID, site=SITE,
                                   registry=default_registry())
        for i in range(40):  # ~150 bytes each: far over the limit, nothing acked
            rec.record_event("node.tamper", _tamper(i))
        seqs = [r.seq for r in j.iter_all()]
        assert seqs[0] == 1 and len(seqs) >= 40  # nothing evicted while unacked
        assert j.under_pressure
        j.mark_acked(30)
        seqs = [r.seq for r in j.iter_all()]
        tip = j.tip[0]
        assert seqs == list(range(seqs[0], tip + 1))  # evicted a prefix, oldest first
        assert 1 < seqs[0] <= 31  # some acked records went, no unacked one did
        assert j.stats().used_bytes <= 4000 * 0.9
        assert not j.under_pressure
        assert read_stats(j.path)["last_acked_seq"] == 30
        j.mark_acked(10**9)  # everything acked: the tip is still never evicted
        rec.record_event("node.tamper", _tamper(99))
        assert j.tip[0] == [r.seq for r in j.iter_all()][-1]


def test_pressure_thins_routine_telemetry_never_alarms(tmp_path: Path,
                                                       node_key: SigningKey) -> None:
    policy = ThinningPolicy(frozenset({"radio.position"}), 5,
                            frozenset({"radio.emergency"}))
    with Journal.open(tmp_path / "j.db", max_bytes=3000, policy=policy) as j:
        rec = Recorder.for_journal(node_key, j, node_id=NODE_ID, site=SITE,
                                   registry=default_registry())
        pos = {"unit": "P1", "lat": 39.4, "lon": 48.5, "fix_ms": 1}
        emerg = {"unit": "P1", "message": "help"}
        while not j.under_pressure:
            rec.record(Decision("radio.position", pos, 1.7e9))
        before = j.tip[0]
        pressure_events = [r for r in j.iter_all() if r.record_type == "node.storage_pressure"]
        assert len(pressure_events) == 1
        kept = [rec.record(Decision("radio.position", pos, 1.7e9)) for _ in range(50)]
        alarms = [rec.record(Decision("radio.emergency", emerg, 1.7e9, AlertLevel.ALARM))
                  for _ in range(10)]
        assert sum(k is not None for k in kept) == 10  # one in five
        assert all(a is not None for a in alarms)
        assert rec.thinned == 40
        assert j.tip[0] == before + 20
        records = [decode_record(r.raw) for r in j.iter_all()]
        assert verify_chain(records).ok  # thinning happens before signing: no holes


def test_recovery_refuses_a_journal_with_a_hole(tmp_path: Path, node_key: SigningKey) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path) as j:
        rec = Recorder.for_journal(node_key, j, node_id=NODE_ID, site=SITE,
                                   registry=default_registry())
        for i in range(4):
            rec.record_event("node.tamper", _tamper(i))
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM records WHERE seq=3")
    conn.commit()
    conn.close()
    with pytest.raises(JournalCorruptError, match="missing"):
        Journal.open(path)


def test_kill_9_at_any_instant_never_gaps_forks_or_loses_an_acknowledged_record(
        tmp_path: Path) -> None:
    """A real child process appends as fast as it can and is SIGKILLed at random instants."""
    path = tmp_path / "journal.db"
    key = SigningKey.generate()
    rng = random.Random(4)
    acknowledged: dict[int, str] = {}
    restarts = []
    for _ in range(8):
        child = subprocess.Popen(
            [sys.executable, str(WRITER), str(path), key.seed.hex(), NODE_ID],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert child.stdout is not None
        first = child.stdout.readline().split()
        assert first[0] == "start"
        restarts.append(int(first[1]))
        deadline = time.monotonic() + rng.uniform(0.05, 0.4)
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            seq, digest = line.split()
            # A sequence number acknowledged twice must name the same record (no fork).
            assert acknowledged.setdefault(int(seq), digest) == digest
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        for line in child.stdout.read().splitlines():  # acknowledged before the kill landed
            if line.strip():
                seq, digest = line.split()
                assert acknowledged.setdefault(int(seq), digest) == digest
        child.stdout.close()
    # Each restart resumed at or after everything acknowledged before it.
    assert restarts == sorted(restarts) and restarts[-1] > 0
    with Journal.open(path) as j:
        stored = list(j.iter_all())
    records = [verify_record(s.raw, key.public).record for s in stored]
    report = verify_chain(records, NODE_ID)
    assert report.ok, report.findings
    assert ChainDefect.FORK not in report.defects()
    seqs = [r.seq for r in records]
    assert seqs == list(range(1, len(seqs) + 1))
    held = {r.seq: r.hash.hex() for r in records}
    for seq, digest in acknowledged.items():
        assert held.get(seq) == digest, f"acknowledged record {seq} lost or replaced"
    assert len(acknowledged) > 50


def test_journal_files_and_folder_are_readable_by_the_owner_only(tmp_path: Path,
                                                                   node_key: SigningKey) -> None:
    old = os.umask(0o022)  # the usual umask, which made them 0644 before
    try:
        path = tmp_path / "site" / "journal.db"
        journal = Journal.open(path)
        recorder = Recorder.for_journal(node_key, journal, node_id="n1", site="AZ-BIL",
                                        registry=default_registry())
        recorder.record_event("node.boot", {"software": "t", "profile": "p", "resumed_seq": 0,
                                            "reason": "start"})
        modes = {p.name: stat.S_IMODE(p.stat().st_mode)
                 for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))}
        assert modes == {"journal.db": 0o600, "journal.db-wal": 0o600, "journal.db-shm": 0o600}
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        journal.close()
        # a journal an older version left world-readable is narrowed when opened
        os.chmod(path, 0o644)
        os.chmod(path.parent, 0o755)
        Journal.open(path).close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        os.umask(old)
