"""How many refusals the hub's own /metrics has counted, scraped from outside like Prometheus.

An attack is *counted* when one of the refusal counters moved while it ran: records refused (by
reason), records received again (a replay is answered idempotently and counted as a duplicate),
Sync streams closed with an error status, and RPCs ended with a status that means "refused".
Statuses a healthy node also meets during faults (CANCELLED, UNAVAILABLE) are left out, so that a
fault injected beside the attacks is not taken for the attack's refusal.
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

#: gRPC status codes that mean the hub refused the caller (not a broken link).
REFUSAL_CODES = frozenset({"PERMISSION_DENIED", "UNAUTHENTICATED", "INVALID_ARGUMENT",
                           "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED",
                           "NOT_FOUND", "OUT_OF_RANGE", "INTERNAL", "UNKNOWN"})


def refusals_counted(text: str) -> float:
    """The sum of the hub's refusal counters in one /metrics exposition."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("borderlink_hub_records_refused_total",
                               "borderlink_hub_records_duplicate_total"):
                total += sample.value
            elif sample.name in ("borderlink_hub_sync_streams_refused_total",
                                 "borderlink_hub_rpcs_handled_total") \
                    and sample.labels.get("code") in REFUSAL_CODES:
                total += sample.value
    return total


def refused_by_reason(url: str, timeout: float = 5.0) -> dict[str, float] | None:
    """The hub's records refused so far, by reject reason; None when /metrics cannot be read."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - our own hub
            text = answer.read().decode()
    except OSError:
        return None
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "borderlink_hub_records_refused_total":
                reason = sample.labels.get("reason", "")
                out[reason] = out.get(reason, 0.0) + sample.value
    return out


def scrape_refusals(url: str, timeout: float = 5.0) -> float | None:
    """The hub's refusal count now, or None when /metrics cannot be read (the hub is down)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - our own hub
            return refusals_counted(answer.read().decode())
    except OSError:
        return None
