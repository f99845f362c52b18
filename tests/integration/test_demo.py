"""``borderlink demo`` end to end: the smoke scenario on real processes, as CI's short demo.

Runs the README's main job with a kept work folder and checks what it claims: exit status 0,
every node's records at the hub with verified chains, alerts on the site bus, the agencies'
views narrowed by policy, and a self-contained HTML report.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from borderlink.hub.storage import open_storage
from borderlink.proto.chain import verify_chain
from borderlink.proto.record import decode_record
from borderlink.report._format import _ms
from borderlink.report_model import results_from_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _browser import render  # noqa: E402

pytestmark = pytest.mark.mqtt


def _broker_is_up() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=2):
            return
    except OSError as exc:
        pytest.fail(f"the demo test needs Mosquitto at 127.0.0.1:1883: {exc}")


@dataclass(frozen=True)
class DemoRun:
    folder: Path
    work: Path
    report: Path
    returncode: int
    output: str


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One smoke demo, shared by the tests below (it takes about two minutes)."""
    _broker_is_up()
    folder = tmp_path_factory.mktemp("demo")
    work, report = folder / "work", folder / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "borderlink", "demo", "--keep", str(work), "--report", str(report)],
        capture_output=True, text=True, timeout=420, check=False, cwd=folder,
    )
    return DemoRun(folder, work, report, done.returncode, done.stdout + done.stderr)


def test_demo_smoke_runs_green(demo_run: DemoRun) -> None:
    work, report, output = demo_run.work, demo_run.report, demo_run.output
    done = demo_run
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


def test_the_report_in_chromium_shows_what_the_run_found(demo_run: DemoRun) -> None:
    """The page as a reader sees it (headless Chromium; tooltips are not part of the text):
    the facts shown match the run's results, and nothing sticks out or overlaps."""
    assert demo_run.returncode == 0, demo_run.output[-3000:]
    results = results_from_json((demo_run.work / "results.json").read_text())
    seen = render(demo_run.report, demo_run.folder)
    text = seen["text"]
    assert not seen["overflow"], seen["overflow"]
    assert not seen["outside"], seen["outside"]
    assert not seen["overlapping"], seen["overlapping"]

    # the verdicts come before the pictures, the lab's spectra last
    order = [text.index(h) for h in ("ALL GREEN", "What each agency saw", "Audit",
                                     "Alerts over the run", "Laboratory")]
    assert order == sorted(order), order

    # uplink cut: one band labelled with the number of nodes cut
    cut = [n for n in results.nodes if n.link_cut is not None]
    assert len(cut) == 3
    page = demo_run.report.read_text()
    assert page.count(">uplink cut: 3 nodes</text>") == 1
    assert ">uplink cut: 1 node</text>" not in page
    for node in cut:
        assert node.node_id in text  # listed in words, not only in the band's tooltip

    # per agency and field: received / withheld by policy / not in the record, as counted
    smsv = results.agencies["SMS"]
    checks = smsv.by_type.get("document.check", 0)
    assert checks > 0 and smsv.fields["document.check"]
    for code, view in results.agencies.items():
        assert f"records seen by {code}" in text
        for record_type, by_field in view.fields.items():
            for name, counts in by_field.items():
                assert counts.received + counts.withheld + counts.absent == \
                    view.by_type[record_type]
                row = (f"{name.replace('_', ' ')}\t{counts.received:,}\t{counts.withheld:,}"
                       f"\t{counts.absent:,}")
                assert row in text, f"{code} {record_type} {name}: {row!r} not shown"
            assert set(view.withheld.get(record_type, ())) == {
                f for f, c in by_field.items() if c.withheld}

    # detection latency p50/p99 filled where the run measured them
    for row in results.scores:
        if row.latency_p50_ms is not None:
            assert f"\t{_ms(row.latency_p50_ms)}\t{_ms(row.latency_p99_ms)}" in text
    assert any(row.latency_p99_ms is not None for row in results.scores)

    # every alarm is listed in the page's text (printable), not only as a hover tooltip
    for alert in results.alerts:
        if alert.level == "alarm":
            assert alert.summary in text, alert.summary
    for lab in results.lab:
        assert lab.sample_id in text and lab.substance in text

    # the auditor's count is the hub's
    storage = open_storage(f"sqlite:///{demo_run.work / 'hub' / 'hub.db'}")
    try:
        stored = len(storage.scan_records(0, limit=100_000).records)
    finally:
        storage.close()
    assert results.audit.records_checked == stored
    assert f"{stored:,} of {stored:,} records" in text
