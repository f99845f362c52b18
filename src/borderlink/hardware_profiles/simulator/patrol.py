"""Patrol radios: GNSS tracks along the border inside a sector, status, emergencies, a patrol
leaving its sector and one crossing the border line."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ..geo import BorderGeometry
from ..protocols import nmea
from ..readings import NmeaFix, RadioStatus
from .base import DeviceSim
from .model import Emission, GroundTruth

__all__ = ["PatrolRadioSim"]

_STATUS_S = 60.0
_EMERGENCY_REPEATS = 6  # an emergency message is sent this often, 2 s apart


class PatrolRadioSim(DeviceSim):
    event_kinds = ("emergency", "sector_exit", "border_crossed")
    # truth kinds beyond the scenario's events: border_proximity and sector_return, decided
    # by where the unit's reported positions lie (an excursion passes the line's margin, a
    # unit that left its sector comes back)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.geo = BorderGeometry.load(self.profile.setting("border_file"))
        self.unit = str(self.opt.get("unit", self.spec.id))
        sector_id = str(self.opt.get("sector", self.geo.sectors[min(1, len(self.geo.sectors) - 1)].id))
        self.sector = self.geo.sector(sector_id)
        self.speed = float(self.opt.get("speed_mps", 7.0 if self.opt.get("mode") == "vehicle" else 1.3))
        self.interval = float(self.profile.framing.param("position_interval_s", 5.0))
        self.talker = str(self.profile.framing.param("talker", "GP"))
        self.margin_m = float(self.profile.setting("geofence_margin_m"))
        self.hysteresis_m = float(self.profile.setting("hysteresis_m"))
        self.rearm_s = float(self.profile.setting("emergency_repeat_s"))

    def emissions(self) -> Iterator[Emission]:
        rng = self.rng
        c0, c1 = self.sector.chainage_m
        depth = self.sector.depth_m
        c = float(self.opt.get("start_chainage_m", rng.uniform(c0 + 800, c1 - 800)))
        o = float(self.opt.get("start_offset_m", rng.uniform(300, 1200)))
        direction = rng.choice((-1, 1))
        events = self.events()
        k = 0
        excursion: dict[str, Any] | None = None
        battery = rng.randint(70, 100)
        next_status = self.t0 + rng.uniform(1, _STATUS_S)
        t = round(self.t0 + rng.uniform(0.5, self.interval), 2)
        pending: list[Emission] = []
        # what the unit truly did, judged on the positions it reports (noise included): the
        # geofence states a correct processor must follow (see _geofence_truths)
        state = {"crossed": False, "near": False, "outside": False, "n": 0}
        emergency_free_at = self.t0
        while t < self.t_end:
            while k < len(events) and events[k].t <= t:
                ev = events[k]
                k += 1
                if ev.kind == "emergency":
                    # a radio still repeating its emergency (or within the re-arm silence)
                    # cannot start a second one: the button press waits until it could
                    burst = self._emergency(ev, c, o, max(ev.t, emergency_free_at))
                    emergency_free_at = burst[-1].t + self.rearm_s + 1.0
                    pending.extend(burst)
                elif excursion is None or excursion["kind"] == "return":
                    if ev.kind == "sector_exit":
                        edge = c1 + 300 if direction > 0 or c1 - c < c - c0 else c0 - 300
                        excursion = {"ev": ev, "target": (edge, o), "kind": "sector_exit", "dwell": 60.0}
                    else:
                        excursion = {"ev": ev, "target": (c, -150.0), "kind": "border_crossed", "dwell": 30.0}
            for e in sorted(pending, key=lambda e: e.t):
                if e.t <= t:
                    yield e
            pending = [e for e in pending if e.t > t]
            # move
            step = self.speed * self.interval
            if excursion is not None:
                tc, to = excursion["target"]
                dist = math.hypot(tc - c, to - o)
                if dist > 1.0:
                    f = min(1.0, step / dist)
                    c, o = c + (tc - c) * f, o + (to - o) * f
                elif excursion["kind"] == "return":
                    excursion = None  # back on patrol inside the sector
                else:
                    excursion["dwell"] -= self.interval
                    if excursion["dwell"] <= 0:
                        excursion = {"ev": None, "target": (min(max(c, c0 + 800), c1 - 800), 400.0),
                                     "kind": "return", "dwell": 0.0}
            else:
                c += direction * step
                if c > c1 - 500 or c < c0 + 500:
                    direction = -direction
                o = min(1500.0, max(min(o, 200.0), o + rng.gauss(0, 15)))
            noise_c, noise_o = rng.gauss(0, 3), rng.gauss(0, 3)
            ch, off = c + noise_c, o + noise_o
            lon, lat = self.geo.to_lonlat(ch, off)
            lon, lat = round(lon * 6e5) / 6e5, round(lat * 6e5) / 6e5  # NMEA carries 0.0001 minute
            ch, off = self.geo.to_chainage(lon, lat)  # judged where the radio said it was
            truths = self._geofence_truths(t, ch, off, lat, lon, state, excursion, depth)
            course = (math.degrees(math.atan2(0.5, direction)) + 360) % 360
            rmc = NmeaFix(t=t, unit_id=self.unit, lat=lat, lon=lon, valid=True, sentence="RMC",
                          speed_kn=round(self.speed * 1.943844 * rng.uniform(0.8, 1.2), 1),
                          course_deg=round(course, 1))
            gga = NmeaFix(t=t, unit_id=self.unit, lat=lat, lon=lon, valid=True, sentence="GGA", fix_quality=1,
                          sats=rng.randint(7, 12), hdop=round(rng.uniform(0.7, 1.6), 1),
                          altitude_m=round(rng.uniform(-5, 40), 1))
            yield Emission(t, self.device_id, (rmc, gga),
                           nmea.encode_rmc(rmc, self.talker) + nmea.encode_gga(gga, self.talker),
                           truths[0] if truths else None)
            for extra in truths[1:]:  # one fix deciding two events: the second rides empty
                yield Emission(t, self.device_id, (), b"", extra)
            if t >= next_status:
                battery = max(5, battery - (1 if rng.random() < 0.2 else 0))
                st = RadioStatus(t=round(t + 0.2, 2), unit_id=self.unit, emergency=False,
                                 state="low_battery" if battery < 15 else "ok", battery_pct=battery)
                yield Emission(st.t, self.device_id, (st,), nmea.encode_status(st))
                next_status += _STATUS_S
            t = round(t + self.interval, 2)
        for e in sorted(pending, key=lambda e: e.t):
            if e.t < self.t_end:
                yield e

    def _geofence_truths(self, t: float, ch: float, off: float, lat: float, lon: float,
                         state: dict[str, Any], excursion: dict[str, Any] | None,
                         depth: float) -> list[GroundTruth]:
        """The geofence events this reported position decides (``radio.geofence``).

        ``border_crossed`` (alarm) the first fix beyond the line (offset < 0), re-armed once
        the unit is ``hysteresis_m`` back inside; ``border_proximity`` (warning) the first fix
        within ``geofence_margin_m`` of the line on the interior side, unless the unit is
        still counted beyond it, re-armed once it is ``hysteresis_m`` farther out than that;
        ``sector_exit`` (warning) the first fix outside the sector (its chainage span and
        depth; a fix beyond the line by its mirror image, so crossing the line inside the
        sector's stretch is no exit) and ``hysteresis_m`` clear of its edge or of the line;
        ``sector_return`` (info) the first fix back inside, ``hysteresis_m`` clear of its edges.
        """
        c0, c1 = self.sector.chainage_m
        hyst, margin = self.hysteresis_m, self.margin_m
        out: list[GroundTruth] = []
        exc: dict[str, Any] = excursion if excursion is not None else {}
        ev = exc.get("ev")

        def truth(kind: str, alert: str) -> GroundTruth:
            state["n"] += 1
            if ev is not None and kind == exc["kind"] and not exc.get("reported"):
                exc["reported"] = True  # the scenario's event: reported once, by its id
                event_id, start = ev.event_id, ev.t
            else:
                event_id, start = f"{self.device_id}#geo{state['n']:05d}", t
            return GroundTruth(
                t=t, device_id=self.device_id, event_id=event_id, kind=kind,
                record_type="radio.geofence", alert=alert,
                expect={"kind": kind, "unit": self.unit, "sector": self.sector.id},
                start=start, detail={"chainage_m": round(ch, 1), "offset_m": round(off, 1),
                                     "lat": round(lat, 6), "lon": round(lon, 6)})

        if off < 0:
            if not state["crossed"]:
                state["crossed"] = True
                out.append(truth("border_crossed", "alarm"))
        elif state["crossed"] and off >= hyst:
            state["crossed"] = False
        if 0 <= off <= margin:
            if not state["near"] and not state["crossed"]:
                state["near"] = True
                out.append(truth("border_proximity", "warning"))
        elif off > margin + hyst:
            state["near"] = False
        a = abs(off)  # beyond the line the unit is judged by its mirror image
        inside = c0 <= ch <= c1 and a <= depth
        if inside:
            edge = min(ch - c0, c1 - ch, a, depth - a)
        else:
            edge = math.hypot(max(c0 - ch, 0.0, ch - c1), max(a - depth, 0.0))
        if not inside and not state["outside"] and (a >= hyst or edge >= hyst):
            state["outside"] = True
            out.append(truth("sector_exit", "warning"))
        elif inside and state["outside"] and edge >= hyst:
            state["outside"] = False
            out.append(truth("sector_return", "info"))
        return out

    def _emergency(self, ev: Any, c: float, o: float, at: float) -> list[Emission]:
        lon, lat = self.geo.to_lonlat(c, o)
        out = []
        t0 = round(at + 0.01, 2)
        for i in range(_EMERGENCY_REPEATS):
            st = RadioStatus(t=round(t0 + 2.0 * i, 2), unit_id=self.unit, emergency=True, state="emergency",
                             lat=round(lat, 6), lon=round(lon, 6))
            truth = None
            if i == 0:
                truth = GroundTruth(t=st.t, device_id=self.device_id, event_id=ev.event_id, kind="emergency",
                                    record_type="radio.emergency", alert="alarm", expect={"unit": self.unit},
                                    start=ev.t, detail={"lat": round(lat, 6), "lon": round(lon, 6)})
            out.append(Emission(st.t, self.device_id, (st,), nmea.encode_status(st), truth))
        return out

