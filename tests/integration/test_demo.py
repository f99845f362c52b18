"""``borderlink demo`` end to end: the smoke scenario on real processes, as CI's short demo.

Runs the README's main job with a kept work folder and checks what it claims: exit status 0,
every node's records at the hub with verified chains, alerts on the site bus, the agencies'
views narrowed by policy, and a self-contained HTML report.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from borderlink.hub.storage import open_storage
from borderlink.proto.chain import verify_chain
from borderlink.proto.record import decode_record

pytestmark = pytest.mark.mqtt


def _broker_is_up() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=2):
            return
    except OSError as exc:
        pytest.fail(f"the demo test needs Mosquitto at 127.0.0.1:1883: {exc}")


def test_demo_smoke_runs_green(tmp_path: Path) -> None:
    _broker_is_up()
    work = tmp_path / "work"
    report = tmp_path / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "borderlink", "demo", "--keep", str(work), "--report", str(report)],
        capture_output=True, text=True, timeout=420, check=False, cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "ALL GREEN" in output
    assert "uplink cut" in output and "all caught up" in output

    storage = open_storage(f"sqlite:///{work / 'hub' / 'hub.db'}")
    try:
        nodes = storage.list_nodes()
        records = [decode_record(r.record) for r in storage.scan_records(0, limit=10_000).records]
    finally:
        storage.close()
    assert len(nodes) == 10
    by_node: dict[str, list] = {}
    for record in records:
        by_node.setdefault(record.node_id, []).append(record)
    assert set(by_node) == {n.node_id for n in nodes}, "a node's records never reached the hub"
    for node_id, chain in by_node.items():
        assert verify_chain(chain).ok, f"chain of {node_id} is broken"
    types = {r.record_type for r in records}
    assert {"document.check", "radiation.alarm", "intrusion.alert", "radio.emergency",
            "link.status", "lab.analysis"} <= types

    html = report.read_text()
    assert html.count("<svg") >= 4
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "Every check passed" in html or "ALL GREEN" in html
