"""The interface every processor implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class AlertLevel(StrEnum):
    """How urgently the site must see a decision (``None`` on a Decision: not an alert)."""

    INFO = "info"
    WARNING = "warning"
    ALARM = "alarm"


@dataclass(frozen=True, slots=True)
class Decision:
    """One result of local processing: becomes one signed record, and an alert if ``alert``.

    ``body`` must validate against ``record_type`` in
    :func:`borderlink.proto.record_types.default_registry`. ``t`` is the device time (seconds
    since the epoch) of the reading that decided it; ``decided_at`` the same clock when the
    processor decided (for decision latency).
    """

    record_type: str
    body: Mapping[str, Any]
    t: float
    alert: AlertLevel | None = None
    summary: str = ""
    decided_at: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # not recorded; for scoring/UI


class Processor(Protocol):
    """Readings in, decisions out. Never blocks, never does I/O, never reads the wall clock.

    ``feed`` handles one reading; ``tick`` lets time-based logic (debounce windows, the end
    of an occupancy, an outage timer) decide without a new reading. ``now`` is device time.
    """

    def feed(self, reading: Any) -> list[Decision]: ...

    def tick(self, now: float) -> list[Decision]: ...
