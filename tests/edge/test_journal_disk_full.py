"""A journal on a disk that fills up: nothing half-written, thinning while full, recovery.

The disk is a real size-limited filesystem (a tmpfs mounted by the test; the tests run as root
on the development machines and in CI) filled with a ballast file, as a node's flash fills.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from borderlink.edge.errors import JournalFullError
from borderlink.edge.journal import Journal, ThinningPolicy
from borderlink.edge.processors.base import AlertLevel, Decision
from borderlink.edge.recorder import Recorder
from borderlink.proto.keys import SigningKey
from borderlink.proto.record_types import default_registry


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a size-limited tmpfs (these tests need root): {done.stderr}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    ballast = disk / "ballast"
    with open(ballast, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return ballast


POLICY = ThinningPolicy(thin=frozenset({"radiation.occupancy"}), keep_one_in=5,
                        never_drop=frozenset({"radiation.alarm"}))


def test_a_full_disk_refuses_the_append_whole_then_thins_and_recovers(small_disk: Path) -> None:
    journal = Journal.open(small_disk / "journal.db", max_bytes=1 << 30, policy=POLICY)
    recorder = Recorder.for_journal(SigningKey.generate(), journal, node_id="n1", site="AZ-BIL",
                                    registry=default_registry())
    for i in range(3):
        recorder.record_event("node.tamper", {"kind": "test", "detail": str(i)})
    ballast = _fill(small_disk)
    blob = "x" * 30_000  # records big enough to need new pages at once
    with pytest.raises(JournalFullError, match="disk full"):
        for _ in range(200):
            recorder.record_event("node.tamper", {"kind": "test", "detail": blob})
    tip = journal.tip[0]
    assert journal.disk_full and journal.under_pressure
    # while full, routine telemetry is thinned as the profile says and alarms are admitted
    assert sum(journal.admit("radiation.occupancy") for _ in range(10)) == 2
    assert all(journal.admit("radiation.alarm") for _ in range(10))
    ballast.unlink()
    os.sync()
    done = recorder.record_many([Decision("node.tamper", {"kind": "test", "detail": "after"},
                                          1_800_000_000.0, AlertLevel.WARNING, "back")])
    assert done[0].seq == tip + 1  # the chain continues where it was: no gap, no fork
    assert not journal.disk_full
    rows = list(journal.iter_all())
    assert [r.seq for r in rows] == list(range(1, tip + 2))
    journal.close()
