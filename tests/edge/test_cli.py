"""``borderlink edge replay`` and ``borderlink edge status`` through the real command line."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from borderlink.cli import main
from borderlink.edge.journal import Journal
from borderlink.edge.recorder import Recorder
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import verify_record
from borderlink.proto.record_types import default_registry

from ._radio import gen_emergency, gen_fix


def test_replay_prints_verifiable_records_as_json_lines(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    key = SigningKey.generate()
    key.write_pem(tmp_path / "k.pem")
    capture = tmp_path / "radio.nmea"
    capture.write_bytes(b"".join(gen_fix(i * 10) for i in range(6)) + b"\x00garbage\r\n"
                        + gen_emergency(70))
    rc = main(["edge", "replay", "--profile", "patrol-radio", "--input", str(capture),
               "--key", str(tmp_path / "k.pem"), "--unit-id", "P1", "--node-id", "bil-r-1",
               "--site", "AZ-BIL"])
    out, err = capsys.readouterr()
    assert rc == 0
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["seq"] for x in lines] == list(range(1, len(lines) + 1))
    assert {x["type"] for x in lines} >= {"radio.position", "radio.emergency"}
    for x in lines:
        raw = base64.b64decode(x["record_b64"])
        v = verify_record(raw, key.public, registry=default_registry())
        assert x["kid"] == key.kid.hex()
        assert v.record.node_id == "bil-r-1" and v.record.site == "AZ-BIL"
        assert x["type"] == v.record.record_type and x["body"]["unit"] == "P1"
    emergency = [x for x in lines if x["type"] == "radio.emergency"]
    assert emergency[0]["alert"] == "alarm"
    assert "7 frames, 7 readings, 0 undecodable" in err and key.kid.hex() in err


def test_replay_discloses_sensitive_fields_with_their_digests(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from borderlink.hardware_profiles.protocols import reader
    from borderlink.hardware_profiles.readings import MrzRead

    lines = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
             "L898902C36UTO7408122F1204159ZE184226B<<<<<10")  # the ICAO 9303 TD3 specimen
    capture = tmp_path / "reads.bin"
    capture.write_bytes(reader.encode(MrzRead(lines=lines, uv_ok=True, ir_ok=True,
                                              t=1_790_000_000.0, reader_id="R1")))
    rc = main(["edge", "replay", "--profile", "docreader-first-line", "--input", str(capture)])
    out, _ = capsys.readouterr()
    assert rc == 0
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert line["type"] == "document.check"
    assert line["body"]["surname"] == "ERIKSSON"  # disclosed value, checked against its digest
    assert line["disclosures_b64"]


def test_status_reads_the_journal_and_the_agents_status_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = SigningKey.generate()
    (tmp_path / "node.toml").write_text(f"""
[node]
id = "n1"
site = "AZ-BIL"
signing_key = "k.pem"
[device]
profile = "patrol-radio"
[hub]
enabled = false
[journal]
path = "{tmp_path}/journal.db"
[status]
path = "status.json"
""")
    with Journal.open(tmp_path / "journal.db") as j:
        rec = Recorder.for_journal(key, j, node_id="n1", site="AZ-BIL",
                                   registry=default_registry())
        for i in range(7):
            rec.record_event("node.tamper", {"kind": "t", "detail": str(i)})
        j.mark_acked(3)
    status = {"time_ms": int(time.time() * 1000), "state": "running", "pid": 1,
              "link": {"state": "up", "hub": "127.0.0.1:7443", "clock_skew_ms": -12},
              "device": {"state": "connected", "url": "serial:///dev/x", "frames": 5,
                         "faults": {"garbage": 1}}, "broker": {"connected": True}}
    (tmp_path / "status.json").write_text(json.dumps(status))
    assert main(["edge", "status", "--config", str(tmp_path / "node.toml"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["journal"]["tip_seq"] == 7 and got["journal"]["last_acked_seq"] == 3
    assert got["journal"]["unsynced_records"] == 4
    assert got["link"]["clock_skew_ms"] == -12 and got["device"]["state"] == "connected"
    assert main(["edge", "status", "--config", str(tmp_path / "node.toml")]) == 0
    text = capsys.readouterr().out
    assert "backlog       4 unsynced" in text and "clock skew    -12 ms" in text
    status["time_ms"] -= 3_600_000  # the agent stopped writing an hour ago
    (tmp_path / "status.json").write_text(json.dumps(status))
    assert main(["edge", "status", "--config", str(tmp_path / "node.toml")]) == 3
    assert "not running" in capsys.readouterr().out


def test_edge_without_an_action_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["edge"]) == 2
