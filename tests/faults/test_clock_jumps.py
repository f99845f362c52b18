"""Clock jumps (``clock-node``, ``clock-hub``) on a real round: a node's clock and the hub's
jump forward by hours, as far back, and come right; nothing is lost or duplicated, the log
orders the records, and what the hub refuses as dated beyond its allowance is counted."""

from __future__ import annotations

import time
from pathlib import Path

from borderlink.faults.campaign import CampaignConfig, run_round
from borderlink.faults.clock import offset_clock, read_offset, write_offset
from borderlink.faults.invariants import journal_rows


def test_clock_jumps_of_a_node_and_of_the_hub_lose_nothing(tmp_path: Path) -> None:
    config = CampaignConfig(duration_s=25.0, faults={"clock-node": 2, "clock-hub": 1},
                            broker=None, attacks=False, drain_timeout_s=60.0)
    lines: list[str] = []
    began = time.time()
    result = run_round(config, 3, tmp_path, lines.append)
    ended = time.time()
    inv = result.invariants
    assert inv.held, inv.problems
    assert result.injected == {"clock-node": 2, "clock-hub": 1}, lines
    assert inv.records_lost == inv.duplicates == inv.out_of_log_order == 0
    assert inv.records_made == inv.records_at_hub + inv.pending_at_stop > 20
    # the hub, three hours slow, refused the nodes' records as dated ahead, and counted them
    assert result.refused_time_in_future >= 1, lines
    assert len(result.clock_recovery_s) == 3 and max(result.clock_recovery_s) < 30.0
    # no record is stamped with a jumped clock: the node holds its clock's jump (and says so
    # in a node.clock_skew record made when it reconnected under it)
    skews = 0
    for journal in (tmp_path / "nodes").glob("*/journal.db"):
        from borderlink.proto.record import decode_record

        for _seq, raw, rtype, _alert, _acked in journal_rows(journal):
            record = decode_record(raw)
            assert began - 60 <= record.time_ms / 1000 <= ended + 60, (journal, rtype)
            if rtype == "node.clock_skew" and abs(record.body["skew_ms"]) > 3_000_000:
                skews += 1
    assert skews >= 2  # each jumped node reconnected under its wrong clock, and said so


def test_the_offset_clock_follows_its_file(tmp_path: Path) -> None:
    path = tmp_path / "clock.offset"
    assert read_offset(path) == 0.0
    real = [1000.0]
    mono = [0.0]
    clock = offset_clock(path, lambda: real[0], lambda: mono[0])
    assert clock() == 1000.0
    write_offset(path, 7200.0)
    assert clock() == 1000.0  # read again only after a moment
    mono[0] = 1.0
    assert clock() == 8200.0
    path.write_text("garbage")
    mono[0] = 2.0
    assert clock() == 1000.0
