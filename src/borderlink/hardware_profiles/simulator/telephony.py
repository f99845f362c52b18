"""A telephony / IP unit: link status every few seconds per link, CDRs as calls end, outages
and degradations of a link (calls over it fail while it is down)."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from typing import Any

from ..protocols import cdr
from ..readings import CallDetailRecord, LinkStatus
from .base import DeviceSim
from .model import Emission, GroundTruth

__all__ = ["TelephonySim"]

_LINKS = ("WAN-HUB", "SIP-TRUNK", "RADIO-GW")


class TelephonySim(DeviceSim):
    """Truths: ``outage`` / ``degraded`` on the first line that shows the link so, and
    ``link_up`` (``link.status`` ``up``, alert info) on the line that shows it back."""

    event_kinds = ("outage", "degraded", "call")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exchange = str(self.opt.get("exchange", self.spec.id))
        self.links = tuple(self.opt.get("links", _LINKS))
        self.interval = float(self.profile.framing.param("link_interval_s", 5.0))
        # a degraded link counts as up again after this many good lines (a down link at once)
        self.recover_after = int(self.profile.setting("recover_after"))
        self.seq = 0

    def emissions(self) -> Iterator[Emission]:
        rng = self.rng
        windows: list[tuple[float, float, str, str, Any]] = []  # start, end, link, state, event
        calls: list[tuple[float, Any]] = []
        for ev in self.events():
            if ev.kind == "call":
                calls.append((ev.t, ev))
                continue
            link = str(ev.params.get("link") or rng.choice(self.links))
            duration = float(ev.params.get("duration_s", rng.uniform(60, 300)))
            windows.append((ev.t, ev.t + duration, link, "down" if ev.kind == "outage" else "degraded", ev))
        streams = [self._link_lines(i, link, windows, random.Random(f"{rng.random()}/{link}"))
                   for i, link in enumerate(self.links)]
        streams.append(iter(self._cdrs(calls, windows, random.Random(f"{rng.random()}/calls"))))
        yield from heapq.merge(*streams, key=lambda e: e.t)

    def _link_lines(self, link_i: int, link: str, windows: list[tuple[float, float, str, str, Any]],
                    rng: random.Random) -> Iterator[Emission]:
        """The unit's LNK lines for one link, every ``link_interval_s`` (lazily: a day is long)."""
        mine = [w for w in windows if w[2] == link]
        t = round(self.t0 + 0.5 + link_i * 0.37, 3)
        known = "up"  # the link's state as its lines have shown it so far
        good_run = 0
        last: tuple[float, Any] | None = None  # the window the link was last out in
        while t < self.t_end:
            active = next((w for w in mine if w[0] <= t < w[1]), None)
            state = active[3] if active else "up"
            if state == "down":
                s = LinkStatus(t, self.exchange, link, "down", None, 100.0, None, 0.0, 0.0)
            elif state == "degraded":
                s = LinkStatus(t, self.exchange, link, "degraded", round(rng.uniform(350, 700), 1),
                               round(rng.uniform(6, 15), 2), round(rng.uniform(30, 90), 1),
                               round(rng.uniform(100, 400), 1), round(rng.uniform(50, 200), 1))
            else:
                s = LinkStatus(t, self.exchange, link, "up", round(rng.uniform(18, 60), 1),
                               round(max(0.0, rng.gauss(0.1, 0.1)), 2), round(rng.uniform(1, 6), 1),
                               round(rng.uniform(800, 2000), 1), round(rng.uniform(300, 900), 1))
            truth = None
            good_run = good_run + 1 if state == "up" else 0
            if active and state != known:
                known = state
                last = (active[0], active[4])
                ev = active[4]
                truth = GroundTruth(t=t, device_id=self.device_id, event_id=ev.event_id, kind=ev.kind,
                                    record_type="link.status", alert="alarm" if state == "down" else "warning",
                                    expect={"link": link, "state": state}, start=active[0],
                                    detail={"until": round(active[1], 3),
                                            "duration_s": round(active[1] - active[0], 1)})
            elif state == "up" and known != "up" and (known == "down" or good_run >= self.recover_after):
                # the link is back: at its first good line after an outage, after
                # recover_after good lines after a degradation (one good sample proves little)
                assert last is not None
                ev = last[1]
                truth = GroundTruth(t=t, device_id=self.device_id, event_id=f"{ev.event_id}/up",
                                    kind="link_up", record_type="link.status", alert="info",
                                    expect={"link": link, "state": "up"}, start=t,
                                    detail={"after": known, "out_since": round(last[0], 3)})
                known = "up"
            yield Emission(t, self.device_id, (s,), cdr.encode_link(s), truth)
            t = round(t + self.interval, 3)

    def _cdrs(self, calls: list[tuple[float, Any]], windows: list[tuple[float, float, str, str, Any]],
              rng: random.Random) -> list[Emission]:
        """One CDR per call, written when it ends, numbered in the order written."""
        ended = []
        for t_start, ev in calls:
            duration = float(ev.params.get("duration_s", min(rng.expovariate(1 / 110.0), 1800.0)))
            trunk = str(ev.params.get("trunk") or rng.choice(("SIP1", "SIP2", "PSTN1", "INT")))
            direction = "internal" if trunk == "INT" else rng.choice(("in", "out"))
            link = "SIP-TRUNK" if trunk.startswith("SIP") else "WAN-HUB"
            down = any(w[2] == link and w[3] == "down" and w[0] <= t_start < w[1] for w in windows)
            if down and trunk != "INT":
                disposition, duration = "failed", 0.0
            else:
                disposition = rng.choices(("answered", "no_answer", "busy"), (85, 10, 5))[0]
                if disposition != "answered":
                    duration = 0.0
            end = round(t_start + duration + rng.uniform(2, 20), 3)
            if end >= self.t_end:
                continue
            caller = f"{rng.randint(1100, 1299)}"
            callee = f"+99412{rng.randint(1000000, 9999999)}" if direction != "internal" else f"{rng.randint(1100, 1299)}"
            mos = round(rng.uniform(3.6, 4.4), 2) if disposition == "answered" else None
            ended.append((end, t_start, ev, duration, caller, callee, trunk, direction, disposition, mos))
        ended.sort(key=lambda c: c[0])
        out = []
        for end, t_start, ev, duration, caller, callee, trunk, direction, disposition, mos in ended:
            self.seq += 1
            c = CallDetailRecord(t=end, exchange_id=self.exchange, seq=self.seq, start=round(t_start, 3),
                                 duration_s=round(duration, 3), caller=caller, callee=callee, trunk=trunk,
                                 direction=direction, disposition=disposition, mos=mos)
            truth = GroundTruth(t=c.t, device_id=self.device_id, event_id=ev.event_id, kind="call",
                                record_type="call.record", alert=None,
                                expect={"result": disposition}, start=t_start, detail={"trunk": trunk})
            out.append(Emission(c.t, self.device_id, (c,), cdr.encode_cdr(c), truth))
        return out
