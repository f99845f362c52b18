"""The suite reads refusals from the hub's real metrics exposition, and only refusals."""

from __future__ import annotations

from prometheus_client import generate_latest

from borderlink.faults.refusal_metrics import refusals_counted
from borderlink.hub.metrics import HubMetrics


def test_refusal_counters_move_and_healthy_traffic_does_not() -> None:
    m = HubMetrics()
    base = refusals_counted(generate_latest(m.registry).decode())
    m.stored.inc(5)
    m.rpcs.labels("/borderlink.v1.Sync/Stream", "OK").inc()
    m.rpcs.labels("/borderlink.v1.Sync/Stream", "CANCELLED").inc()  # a link broken by a fault
    m.streams_refused.labels("UNAVAILABLE").inc()
    assert refusals_counted(generate_latest(m.registry).decode()) == base
    m.refused.labels("REJECT_REASON_BAD_SIGNATURE").inc()
    m.duplicates.inc()
    m.rpcs.labels("/borderlink.v1.Admin/ListNodes", "PERMISSION_DENIED").inc()
    m.streams_refused.labels("DEADLINE_EXCEEDED").inc()
    assert refusals_counted(generate_latest(m.registry).decode()) == base + 4
