"""A link half-open past the keepalive (``blackhole``): the relay keeps the node's connections
open and drops every byte both ways for over 30 s; the node notices, dials again, and syncs
when the line returns, with nothing lost or duplicated (real hub, agents and emulators)."""

from __future__ import annotations

from pathlib import Path

from borderlink.faults.campaign import BLACKHOLE_S, CampaignConfig, run_round


def test_a_node_notices_a_dead_link_and_resumes_when_it_returns(tmp_path: Path) -> None:
    config = CampaignConfig(duration_s=8.0, faults={"blackhole": 1}, broker=None,
                            attacks=False, drain_timeout_s=60.0)
    lines: list[str] = []
    result = run_round(config, 11, tmp_path, lines.append)
    inv = result.invariants
    assert inv.held, inv.problems
    assert result.injected == {"blackhole": 1}, lines
    assert inv.records_lost == inv.duplicates == inv.mismatched == 0
    assert inv.records_made == inv.records_at_hub + inv.pending_at_stop > 10
    [noticed] = result.blackhole_detect_s
    [synced] = result.blackhole_recovery_s
    assert noticed < BLACKHOLE_S[0]  # by its keepalive, before the line came back
    assert synced < 30.0
    assert any("dialled again" in line for line in lines)
