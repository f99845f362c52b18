"""Bad lab export files through the real `borderlink edge run` process and a real watched folder.

A JCAMP-DX file with ``##NPOINTS=nan`` once stopped the folder driver for good (no later lab
result recorded, faults twice a second). Now: the poisoned file is quarantined with exactly one
fault naming it, later files are recorded, an oversized file is quarantined unread, and a
restarted agent leaves the quarantine alone and emits no fault again.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from borderlink.edge.errors import JournalError
from borderlink.edge.journal import read_stats
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.simulator import Scenario, generate
from borderlink.hardware_profiles.simulator.model import DeviceSpec, TrafficSpec
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import Record, verify_record
from borderlink.proto.record_types import default_registry

PROFILE = "gc-fid-gc2010"


def wait_for(cond: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def lab_files(n: int) -> list[bytes]:
    """*n* GC-FID JCAMP-DX exports as the simulator writes them."""
    scenario = Scenario(
        name="quarantine", description="", site="BIL", start=1.8e9, duration_s=(n + 2) * 60.0,
        devices=(DeviceSpec("LAB", PROFILE, {}),), events=(),
        traffic=(TrafficSpec("LAB", "sample", 60.0, {}),), faults=())
    files = [e.data for e in generate(scenario, seed=7)]
    assert len(files) >= n
    return files[:n]


def poison(data: bytes) -> bytes:
    lines = data.decode().splitlines(keepends=True)
    return "".join("##NPOINTS=nan\n" if ln.startswith("##NPOINTS=") else ln
                   for ln in lines).encode()


class Node:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.export = root / "export"
        self.export.mkdir()
        self.key = SigningKey.generate()
        self.key.write_pem(root / "sign.pem")
        self.journal = root / "state/journal.db"
        self.log = root / "agent.log"
        (root / "node.toml").write_text(f"""
[node]
id = "lab-gc-01"
site = "AZ-BIL"
signing_key = "sign.pem"
[device]
profile = "{PROFILE}"
url = "file://{self.export}?poll_s=0.05"
reconnect_s = 0.1
[hub]
enabled = false
[broker]
enabled = false
[journal]
path = "state/journal.db"
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "borderlink", "--log-level", "INFO", "edge", "run",
             "--config", str(self.root / "node.toml")],
            stdout=subprocess.DEVNULL, stderr=self.log.open("ab"),
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def drop(self, name: str, data: bytes) -> None:
        """As GCsolution writes (the profile says atomic_write): a temporary name, renamed."""
        tmp = self.export / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.export / name)

    def tip(self) -> int:
        try:
            return int(read_stats(self.journal)["tip_seq"])
        except JournalError:
            return 0

    def records(self) -> list[Record]:
        if self.tip() == 0:  # not there yet, or its schema not yet made
            return []
        conn = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=5.0)
        try:
            raws = [row[0] for row in conn.execute("SELECT raw FROM records ORDER BY seq")]
        finally:
            conn.close()
        return [verify_record(raw, self.key.public, registry=default_registry()).record
                for raw in raws]

    def of_type(self, record_type: str) -> list[Record]:
        return [r for r in self.records() if r.record_type == record_type]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path)
    yield n
    n.stop()
    print(n.log.read_text()[-6000:] if n.log.exists() else "")  # shown when the test failed


def test_poisoned_export_is_quarantined_once_and_later_files_are_recorded(node: Node) -> None:
    good = lab_files(4)
    limit = load_profile(PROFILE).framing.max_frame_bytes
    node.start()
    wait_for(lambda: len(node.of_type("node.boot")) == 1, what="the agent's boot record")

    # sorted first, as the file was: it used to block every file after it
    node.drop("a-000-poisoned.jdx", poison(good[0]))
    node.drop("a-001.jdx", good[1])
    node.drop("a-002.jdx", good[2])
    wait_for(lambda: len(node.of_type("lab.analysis")) == 2, what="the two good lab results")

    quarantine = node.export / "quarantine"

    def kept() -> list[str]:  # a dot file is a fault still owed (see below: none remain)
        return sorted(p.name for p in quarantine.iterdir() if not p.name.startswith("."))

    assert kept() == ["a-000-poisoned.jdx"]
    assert (quarantine / "a-000-poisoned.jdx").read_bytes() == poison(good[0])  # kept whole
    assert stat.S_IMODE(quarantine.stat().st_mode) == 0o700
    assert sorted(p.name for p in (node.export / "processed").iterdir()) == ["a-001.jdx",
                                                                            "a-002.jdx"]

    # an oversized file (sparse: no disk used) is quarantined unread, and so is a second
    # poisoned file of the same name: the first one is not overwritten
    big = node.export / "b-huge.jdx"
    with big.open("wb") as f:
        f.truncate(limit + 1)
    node.drop("a-000-poisoned.jdx", poison(good[3]))
    node.drop("c-003.jdx", good[3])
    wait_for(lambda: len(node.of_type("lab.analysis")) == 3, what="the lab result after them")
    wait_for(lambda: len(node.of_type("node.device_fault")) == 3, what="three faults")

    time.sleep(3.0)  # a storm would be several records a second
    faults = [r.body for r in node.of_type("node.device_fault")]
    assert [f["kind"] for f in faults] == ["quarantined"] * 3, faults
    assert all(f["count"] == 1 for f in faults)
    details = sorted(f["detail"] for f in faults)
    assert details[0].startswith("a-000-poisoned.jdx kept as ") and "NPOINTS" in details[0]
    assert details[1].startswith("a-000-poisoned.jdx kept as ") and "NPOINTS" in details[1]
    assert "ImplausibleValueError" in details[0]
    assert details[2].startswith("b-huge.jdx kept as ")
    assert f"{limit + 1} bytes exceeds the profile's limit of {limit} bytes (unread)" in details[2]
    assert sorted(p.name for p in quarantine.iterdir()) == [  # every fault recorded: no notes
        "a-000-poisoned.1.jdx", "a-000-poisoned.jdx", "b-huge.jdx"]
    assert (quarantine / "a-000-poisoned.jdx").read_bytes() == poison(good[0])
    assert (quarantine / "a-000-poisoned.1.jdx").read_bytes() == poison(good[3])
    assert not any(p.is_file() for p in node.export.iterdir())  # the watched folder is clear

    # restarted: the quarantine stays as it is and no fault is emitted again
    node.stop()
    node.start()
    wait_for(lambda: len(node.of_type("node.boot")) == 2, what="the second boot record")
    node.drop("d-004.jdx", good[2])
    wait_for(lambda: len(node.of_type("lab.analysis")) == 4, what="a lab result after restart")
    time.sleep(1.5)
    assert len(node.of_type("node.device_fault")) == 3
    assert sorted(p.name for p in quarantine.iterdir()) == [
        "a-000-poisoned.1.jdx", "a-000-poisoned.jdx", "b-huge.jdx"]
