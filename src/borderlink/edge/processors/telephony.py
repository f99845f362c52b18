"""The telephony / IP unit processor: link outages and degradation, call records (pure code).

Input: :class:`~borderlink.hardware_profiles.readings.LinkStatus` lines (every few seconds
per link) and :class:`~borderlink.hardware_profiles.readings.CallDetailRecord` lines.

Link state, per ``exchange_id/link_id`` (the record's ``link`` is the unit's link id; the
record's node says which unit):

* ``down`` at once when the unit reports the link down, or when no line of the link arrived
  for ``outage_window_s`` (:meth:`TelephonyProcessor.tick`; ``since_ms`` is then the last
  line's time). Alert ``alarm``.
* ``degraded`` at once when the unit reports the link degraded, or after ``degrade_after``
  consecutive lines whose loss >= ``degraded_loss_pct`` or latency >= ``degraded_latency_ms``
  (one bad sample is no degradation). Alert ``warning``.
* ``up`` from ``down`` on the first line that is up, from ``degraded`` after
  ``recover_after`` consecutive good lines. Alert ``info``. The record that ends a ``down``
  period (to ``up`` or ``degraded``) carries ``outage_ms``, how long the link was down.

The first line of a link records its state only when that is not ``up`` (a link found down
or degraded at start); after that every change is one ``link.status`` record. Each CDR becomes one ``call.record`` (numbers are sensitive fields; the recorder
conceals them); a VoIP call under ``min_mos`` is flagged in the summary.
:meth:`TelephonyProcessor.call_summary` keeps running per-exchange call statistics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from borderlink.hardware_profiles.readings import CallDetailRecord, LinkStatus

from ..errors import ProcessorError
from .base import AlertLevel, Decision

__all__ = ["CallSummary", "TelephonyConfig", "TelephonyProcessor"]

_LEVELS = {"down": AlertLevel.ALARM, "degraded": AlertLevel.WARNING, "up": AlertLevel.INFO}


@dataclass(frozen=True)
class TelephonyConfig:
    """Parameters (``[processing]`` of the ``telephony-unit`` profile)."""

    outage_window_s: float = 15.0
    degraded_loss_pct: float = 5.0
    degraded_latency_ms: float = 300.0
    min_mos: float = 3.5
    degrade_after: int = 2  # consecutive bad lines before "degraded"
    recover_after: int = 2  # consecutive good lines before "degraded" -> "up"

    def __post_init__(self) -> None:
        if self.outage_window_s <= 0:
            raise ProcessorError("outage_window_s must be > 0")
        if self.degrade_after < 1 or self.recover_after < 1:
            raise ProcessorError("degrade_after and recover_after must be >= 1")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TelephonyConfig:
        return cls(
            outage_window_s=float(settings.get("outage_window_s", 15.0)),
            degraded_loss_pct=float(settings.get("degraded_loss_pct", 5.0)),
            degraded_latency_ms=float(settings.get("degraded_latency_ms", 300.0)),
            min_mos=float(settings.get("min_mos", 3.5)),
            degrade_after=int(settings.get("degrade_after", 2)),
            recover_after=int(settings.get("recover_after", 2)),
        )


@dataclass
class _Link:
    state: str
    since: float  # when the current state began
    last_seen: float
    down_since: float | None = None
    bad_run: int = 0
    good_run: int = 0
    link_id: str = ""  # the unit's name of the link (the record's ``link``)


@dataclass
class CallSummary:
    """Running statistics of one exchange's calls."""

    calls: int = 0
    answered: int = 0
    failed: int = 0
    busy: int = 0
    no_answer: int = 0
    talk_time_s: float = 0.0
    mos_sum: float = 0.0
    mos_count: int = 0
    poor_quality: int = 0
    by_trunk: dict[str, int] = field(default_factory=dict)

    @property
    def answer_ratio(self) -> float:
        return self.answered / self.calls if self.calls else 0.0

    @property
    def mean_mos(self) -> float | None:
        return self.mos_sum / self.mos_count if self.mos_count else None


class TelephonyProcessor:
    """LinkStatus / CallDetailRecord in; link.status and call.record out."""

    def __init__(self, config: TelephonyConfig) -> None:
        self.config = config
        self._links: dict[str, _Link] = {}
        self._calls: dict[str, CallSummary] = {}

    @classmethod
    def from_profile(cls, profile: Any) -> TelephonyProcessor:
        return cls(TelephonyConfig.from_settings(profile.settings))

    def link_state(self, link: str) -> str | None:
        """The current state of ``exchange/link`` (None: never seen)."""
        state = self._links.get(link)
        return state.state if state else None

    def call_summary(self) -> dict[str, CallSummary]:
        return dict(self._calls)

    def feed(self, reading: Any) -> list[Decision]:
        if isinstance(reading, LinkStatus):
            return self._line(reading)
        if isinstance(reading, CallDetailRecord):
            return [self._cdr(reading)]
        return []

    def tick(self, now: float) -> list[Decision]:
        out = []
        window = self.config.outage_window_s
        for name, link in self._links.items():
            if link.state != "down" and now - link.last_seen > window:
                out.append(self._change(name, link, "down", link.last_seen, now, None, None,
                                        "no link line for %.0f s" % (now - link.last_seen)))
        return out

    # ------------------------------------------------------------------ links
    def _bad(self, line: LinkStatus) -> bool:
        cfg = self.config
        return (line.state == "degraded"
                or (line.loss_pct is not None and line.loss_pct >= cfg.degraded_loss_pct)
                or (line.latency_ms is not None and line.latency_ms >= cfg.degraded_latency_ms))

    def _line(self, line: LinkStatus) -> list[Decision]:
        name = f"{line.exchange_id}/{line.link_id}"
        link = self._links.get(name)
        reported_down = line.state == "down"
        bad = not reported_down and self._bad(line)
        if link is None:
            state = "down" if reported_down else ("degraded" if bad else "up")
            link = self._links[name] = _Link(state, line.t, line.t,
                                             line.t if state == "down" else None,
                                             link_id=line.link_id)
            if state == "up":
                return []  # the normal state: nothing changed, nothing to record
            return [self._record(name, link, line.t, line.loss_pct, line.latency_ms, None,
                                 "first line")]
        if line.t < link.last_seen:
            return []  # out of order: ignore
        link.last_seen = line.t
        if reported_down:
            link.bad_run = link.good_run = 0
            if link.state != "down":
                return [self._change(name, link, "down", line.t, line.t, line.loss_pct,
                                     line.latency_ms, "reported down")]
            return []
        if bad:
            link.bad_run += 1
            link.good_run = 0
        else:
            link.good_run += 1
            link.bad_run = 0
        cfg = self.config
        if link.state == "down":
            new = "degraded" if bad else "up"
            return [self._change(name, link, new, line.t, line.t, line.loss_pct, line.latency_ms,
                                 "back")]
        if link.state == "up" and (line.state == "degraded" or link.bad_run >= cfg.degrade_after):
            why = "reported degraded" if line.state == "degraded" else "loss/latency over limits"
            return [self._change(name, link, "degraded", line.t, line.t, line.loss_pct,
                                 line.latency_ms, why)]
        if link.state == "degraded" and link.good_run >= cfg.recover_after:
            return [self._change(name, link, "up", line.t, line.t, line.loss_pct,
                                 line.latency_ms, "recovered")]
        return []

    def _change(self, name: str, link: _Link, state: str, since: float, now: float,
                loss: float | None, latency: float | None, why: str) -> Decision:
        outage = None
        if state != "down" and link.down_since is not None:
            outage = since - link.down_since
            link.down_since = None
        elif state == "down":
            link.down_since = since
        link.state = state
        link.since = since
        link.bad_run = link.good_run = 0
        return self._record(name, link, now, loss, latency, outage, why)

    def _record(self, name: str, link: _Link, now: float, loss: float | None,
                latency: float | None, outage_s: float | None, why: str,
                alert: bool = True) -> Decision:
        body: dict[str, Any] = {"link": link.link_id, "state": link.state, "since_ms": _ms(link.since)}
        if loss is not None:
            body["loss_pct"] = float(loss)
        if latency is not None:
            body["latency_ms"] = float(latency)
        if outage_s is not None:
            body["outage_ms"] = _ms(outage_s)
        level = _LEVELS[link.state] if alert else None
        return Decision("link.status", body, now, level, f"link {name} {link.state} ({why})",
                        decided_at=now)

    # ------------------------------------------------------------------ calls
    def _cdr(self, cdr: CallDetailRecord) -> Decision:
        summary = self._calls.setdefault(cdr.exchange_id, CallSummary())
        summary.calls += 1
        if cdr.disposition == "answered":
            summary.answered += 1
            summary.talk_time_s += cdr.duration_s
        elif cdr.disposition == "failed":
            summary.failed += 1
        elif cdr.disposition == "busy":
            summary.busy += 1
        elif cdr.disposition == "no_answer":
            summary.no_answer += 1
        summary.by_trunk[cdr.trunk] = summary.by_trunk.get(cdr.trunk, 0) + 1
        poor = False
        if cdr.mos is not None:
            summary.mos_sum += cdr.mos
            summary.mos_count += 1
            poor = cdr.mos < self.config.min_mos
            summary.poor_quality += poor
        body: dict[str, Any] = {
            "exchange": cdr.exchange_id,
            "start_ms": _ms(cdr.start),
            "duration_s": float(cdr.duration_s),
            "result": cdr.disposition,
            "trunk": cdr.trunk,
            "calling_number": cdr.caller,
            "called_number": cdr.callee,
        }
        text = f"call {cdr.direction} {cdr.disposition} {cdr.duration_s:.0f} s"
        if poor:
            text += f" poor quality (MOS {cdr.mos:.1f})"
        return Decision("call.record", body, cdr.t, None, text, decided_at=cdr.t,
                        extra={"mos": cdr.mos, "poor_quality": poor, "direction": cdr.direction})


def _ms(t: float) -> int:
    return max(0, round(t * 1000))
