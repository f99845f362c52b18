"""The fault suite's short run (what CI runs), and its parts that can fail on their own."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from borderlink.demo.linkcut import LinkRelay
from borderlink.faults.campaign import (
    FAULT_KINDS,
    LONG,
    POSTGRES_KINDS,
    SHORT,
    CampaignConfig,
    poisoned_export,
    schedule,
)
from borderlink.faults.cli import build_parser, config_from_args
from borderlink.faults.errors import FaultSuiteError
from borderlink.faults.invariants import journal_rows, journal_tip
from borderlink.hardware_profiles.errors import ImplausibleValueError
from borderlink.hardware_profiles.protocols import jcamp

pytestmark = pytest.mark.mqtt  # the suite starts a Mosquitto of its own


def test_short_run_holds_every_invariant_through_every_fault_kind(tmp_path: Path) -> None:
    """``borderlink-faults --short`` as CI runs it: real hub, agents, emulators and broker."""
    out = tmp_path / "totals.json"
    done = subprocess.run(
        [sys.executable, "-m", "borderlink.faults", "--short", "--quiet", "--json", str(out),
         "--keep", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    totals = json.loads(out.read_text())
    assert totals["held"] is True and totals["problems"] == []
    # every kind was really injected, and each as often as the short run plans it
    assert totals["faults_injected"] == SHORT.faults
    assert totals["records_lost"] == totals["duplicates"] == totals["alarms_lost"] == 0
    assert totals["records_at_hub"] > 20
    assert totals["records_made"] == totals["records_at_hub"] + totals["records_pending_at_stop"]
    assert totals["alarms_made"] > 0 and totals["alerts_seen"] > 0
    assert totals["checkpoints_checked"] >= 2 and totals["log_consistent"] is True
    for agency in ("SBS", "SCC", "SMS"):
        stream = totals["agency_streams"][agency]
        assert stream["delivered"] > 0 and stream["lost"] == stream["duplicates"] == 0
        assert stream["resumed"] >= 1
    assert "every invariant held" in done.stdout
    # every attack of the corpus was tried once and refused, and the real nodes kept syncing
    from borderlink.faults.attacks import ATTACKS

    assert set(totals["attacks"]) == {name for name, _, _ in ATTACKS}
    assert totals["attacks_tried"] == totals["attacks_refused"] == len(ATTACKS)
    assert totals["healthy_records_accepted_during_attacks"] > 0
    # the hub's and agents' logs hold no key material and no watchlisted personal data
    assert totals["log_lines_scanned"] > 100 and totals["secrets_in_logs"] == 0


def test_the_journal_reader_sees_what_the_agent_wrote(tmp_path: Path) -> None:
    from borderlink.edge.journal import Journal, ThinningPolicy
    from borderlink.edge.recorder import Recorder
    from borderlink.proto.keys import SigningKey
    from borderlink.proto.record_types import default_registry

    path = tmp_path / "journal.db"
    journal = Journal.open(path, max_bytes=1 << 20, policy=ThinningPolicy())
    recorder = Recorder.for_journal(SigningKey.generate(), journal, node_id="n1", site="AZ-BIL",
                                    registry=default_registry())
    for i in range(5):
        recorder.record_event("node.tamper", {"kind": "test", "detail": str(i)})
    rows = journal_rows(path)
    journal.close()
    assert [seq for seq, *_ in rows] == [1, 2, 3, 4, 5]
    assert journal_tip(path) == 5 and journal_tip(tmp_path / "absent.db") == 0


def test_schedule_is_seeded_and_stays_in_the_active_window() -> None:
    config = CampaignConfig(faults={"kill-agent": 5, "kill-hub": 1, "break-stream": 2})
    a = schedule(config, ["n1", "n2"], ["SBS"], 40.0, random.Random(3))
    b = schedule(config, ["n1", "n2"], ["SBS"], 40.0, random.Random(3))
    assert [(f.at_s, f.kind, f.target) for f in a] == [(f.at_s, f.kind, f.target) for f in b]
    assert len(a) == 8 and all(6.0 < f.at_s < 6.0 + 40.0 for f in a)
    assert {f.target for f in a if f.kind == "kill-hub"} == {"hub"}
    assert {f.target for f in a if f.kind == "break-stream"} == {"SBS"}
    with pytest.raises(FaultSuiteError, match="unknown fault kind"):
        schedule(CampaignConfig(faults={"meteor": 1}), ["n1"], ["SBS"], 10.0, random.Random(0))


def test_fault_flags_are_checked() -> None:
    parser = build_parser()
    config = config_from_args(parser.parse_args(["--short", "--fault", "kill-hub=0"]))
    assert config.faults["kill-hub"] == 0 and config.faults["kill-agent"] == SHORT.faults["kill-agent"]
    for bad in (["--fault", "kill-hub"], ["--fault", "meteor=2"], ["--broker", "localhost"],
                ["--rounds", "0"]):
        with pytest.raises(FaultSuiteError):
            config_from_args(parser.parse_args(bad))
    assert set(SHORT.faults) == set(FAULT_KINDS) - POSTGRES_KINDS  # the short run is on SQLite
    assert set(LONG.faults) == set(FAULT_KINDS) and LONG.postgres is not None
    assert [LONG.on_postgres(i) for i in range(4)] == [False, True, False, True]
    on_pg = config_from_args(parser.parse_args(["--short", "--postgres", "postgresql://h/db"]))
    assert on_pg.postgres == "postgresql://h/db" and on_pg.on_postgres(0)
    assert config_from_args(parser.parse_args(["--postgres", "none"])).postgres is None
    with pytest.raises(FaultSuiteError, match="--postgres"):
        config_from_args(parser.parse_args(["--postgres", "sqlite:x.db"]))
    with pytest.raises(FaultSuiteError, match="needs the round's hub on PostgreSQL"):
        schedule(CampaignConfig(faults={"pg-terminate": 1}), ["n1"], ["SBS"], 10.0,
                 random.Random(0))


def _echo_server() -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return

            def echo(conn: socket.socket = conn) -> None:
                with conn:
                    while data := conn.recv(4096):
                        conn.sendall(data)

            threading.Thread(target=echo, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_a_stalled_link_holds_bytes_without_a_reset_and_a_slow_one_delays_them() -> None:
    server, port = _echo_server()
    relay = LinkRelay("t", ("127.0.0.1", port)).start()
    try:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as client:
            client.sendall(b"ping")
            assert client.recv(4) == b"ping"
            relay.stall()
            client.sendall(b"held")
            client.settimeout(0.8)
            with pytest.raises(TimeoutError):  # nothing passes, and no reset either
                client.recv(4)
            relay.restore()
            client.settimeout(5)
            assert client.recv(4) == b"held"  # the line came back: TCP delivers what it held
            relay.slow(0.3)
            began = time.monotonic()
            client.sendall(b"slow")
            assert client.recv(4) == b"slow"
            assert time.monotonic() - began >= 0.3
    finally:
        relay.close()
        server.close()


def test_the_log_scan_finds_a_planted_key_and_a_watchlisted_name(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from borderlink.faults.invariants import Invariants, _secrets
    from borderlink.proto.keys import SigningKey

    key = SigningKey.generate()
    site = SimpleNamespace(work=tmp_path, nodes=[SimpleNamespace(node_id="n1", key=key)])
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "hub.log").write_text('{"msg": "ok"}\n{"msg": "hit MAMMADOV"}\n')
    (tmp_path / "logs" / "edge-n1.log").write_text(f"seed {key.seed.hex()}\n")
    (tmp_path / "logs" / "simulator.log").write_text("MAMMADOV is the device's business\n")
    found = Invariants()
    _secrets(site, found)
    assert found.log_lines_scanned == 3 and found.secrets_in_logs == 2
    assert any("hub.log:2" in p and "name" in p for p in found.problems)
    assert any("edge-n1.log:1" in p and "signing key" in p for p in found.problems)


def test_poison_export_targets_lab_folder_nodes_and_its_file_is_the_issue_file() -> None:
    config = CampaignConfig(faults={"poison-export": 6, "kill-agent": 3})
    plan = schedule(config, ["n1", "lab-gc", "lab-ms"], ["SBS"], 40.0, random.Random(5),
                    ["lab-gc", "lab-ms"])
    assert {f.target for f in plan if f.kind == "poison-export"} <= {"lab-gc", "lab-ms"}
    assert sum(f.kind == "poison-export" for f in plan) == 6
    with pytest.raises(FaultSuiteError, match="poison-export needs a node reading JCAMP-DX"):
        schedule(config, ["n1"], ["SBS"], 40.0, random.Random(5), [])
    data = poisoned_export()
    assert b"##NPOINTS=nan\r\n" in data and data.rstrip().endswith(b"##END=")
    with pytest.raises(ImplausibleValueError, match="NPOINTS"):  # complete, so not partial
        jcamp.parse_file(data)


def test_a_blackholed_link_drops_bytes_both_ways_and_its_connections_die_with_it() -> None:
    server, port = _echo_server()
    relay = LinkRelay("t", ("127.0.0.1", port)).start()
    try:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as client:
            client.sendall(b"ping")
            assert client.recv(4) == b"ping"
            relay.blackhole()
            client.sendall(b"lost")  # accepted by the line, never delivered, no reset
            client.settimeout(0.8)
            with pytest.raises(TimeoutError):
                client.recv(4)
            with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as again:
                again.sendall(b"also")  # a new connection is accepted, and blackholed too
                again.settimeout(0.5)
                with pytest.raises(TimeoutError):
                    again.recv(4)
            assert relay.accepted == 2
            relay.restore()
            client.settimeout(5)
            assert client.recv(4) == b""  # the old stream is gone with the path's state
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as fresh:
            fresh.sendall(b"back")
            assert fresh.recv(4) == b"back"
    finally:
        relay.close()
        server.close()
