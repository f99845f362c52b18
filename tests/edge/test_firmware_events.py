"""The supervisor's install steps become the node's own signed node.firmware_* records, each
once, in order, on a real journal; a half-written last line waits for the next pass."""

from __future__ import annotations

import json
from pathlib import Path

from borderlink.edge.downlink import record_firmware_events
from borderlink.edge.journal import Journal
from borderlink.edge.recorder import Recorder
from borderlink.proto.record import decode_record


def test_supervisor_steps_recorded_once_as_node_records(tmp_path: Path, journal: Journal,
                                                        recorder: Recorder) -> None:
    log = tmp_path / "events.jsonl"
    steps = [
        {"type": "node.firmware_offered",
         "body": {"version": "2.0.0", "sequence": 7, "digest": "ab" * 32}},
        {"type": "node.firmware_installing",
         "body": {"version": "2.0.0", "sequence": 7, "slot": "b"}},
    ]
    log.write_text("".join(json.dumps(s) + "\n" for s in steps) + '{"type": "node.fir')
    assert record_firmware_events(log, journal, recorder.record_event) == 2
    assert record_firmware_events(log, journal, recorder.record_event) == 0  # not twice
    with open(log, "a") as f:  # the supervisor finishes its line, then rolls back
        f.write('mware_rolled_back", "body": {"version": "2.0.0", "reason": "exited"}}\n')
    assert record_firmware_events(log, journal, recorder.record_event) == 1
    stored = list(journal.iter_all())
    assert [r.record_type for r in stored] == ["node.firmware_offered", "node.firmware_installing",
                                        "node.firmware_rolled_back"]
    first = decode_record(stored[0].raw)
    assert first.body["digest"] == bytes.fromhex("ab" * 32)
