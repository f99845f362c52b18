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


class PatrolRadioSim(DeviceSim):
    event_kinds = ("emergency", "sector_exit", "border_crossed")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.geo = BorderGeometry.load(self.profile.setting("border_file"))
        self.unit = str(self.opt.get("unit", self.spec.id))
        sector_id = str(self.opt.get("sector", self.geo.sectors[min(1, len(self.geo.sectors) - 1)].id))
        self.sector = self.geo.sector(sector_id)
        self.speed = float(self.opt.get("speed_mps", 7.0 if self.opt.get("mode") == "vehicle" else 1.3))
        self.interval = float(self.profile.framing.param("position_interval_s", 5.0))
        self.talker = str(self.profile.framing.param("talker", "GP"))

    def emissions(self) -> Iterator[Emission]:
        rng = self.rng
        c0, c1 = self.sector.chainage_m
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
        while t < self.t_end:
            while k < len(events) and events[k].t <= t:
                ev = events[k]
                k += 1
                if ev.kind == "emergency":
                    pending.extend(self._emergency(ev, c, o))
                elif excursion is None:
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
                else:
                    excursion["dwell"] -= self.interval
                    if excursion["dwell"] <= 0:
                        excursion = {"ev": None, "target": (min(max(c, c0 + 800), c1 - 800), 400.0),
                                     "kind": "return", "dwell": 0.0}
                        if abs(c - excursion["target"][0]) < 1 and abs(o - 400.0) < 1:
                            excursion = None
                if excursion is not None and excursion["kind"] == "return" and dist <= 1.0:
                    excursion = None
            else:
                c += direction * step
                if c > c1 - 500 or c < c0 + 500:
                    direction = -direction
                o = min(1500.0, max(min(o, 200.0), o + rng.gauss(0, 15)))
            noise_c, noise_o = rng.gauss(0, 3), rng.gauss(0, 3)
            lon, lat = self.geo.to_lonlat(c + noise_c, o + noise_o)
            lon, lat = round(lon * 6e5) / 6e5, round(lat * 6e5) / 6e5  # NMEA carries 0.0001 minute
            truth = None
            if excursion is not None and excursion.get("ev") is not None and not excursion.get("reported"):
                ch, off = c + noise_c, o + noise_o
                crossed = (excursion["kind"] == "sector_exit" and not (c0 <= ch <= c1)) or \
                          (excursion["kind"] == "border_crossed" and off < 0)
                if crossed:
                    excursion["reported"] = True
                    ev = excursion["ev"]
                    truth = GroundTruth(
                        t=t, device_id=self.device_id, event_id=ev.event_id, kind=excursion["kind"],
                        record_type="radio.geofence",
                        alert="alarm" if excursion["kind"] == "border_crossed" else "warning",
                        expect={"kind": excursion["kind"], "unit": self.unit, "sector": self.sector.id},
                        start=ev.t, detail={"chainage_m": round(ch, 1), "offset_m": round(off, 1),
                                            "lat": round(lat, 6), "lon": round(lon, 6)})
            course = (math.degrees(math.atan2(0.5, direction)) + 360) % 360
            rmc = NmeaFix(t=t, unit_id=self.unit, lat=lat, lon=lon, valid=True, sentence="RMC",
                          speed_kn=round(self.speed * 1.943844 * rng.uniform(0.8, 1.2), 1),
                          course_deg=round(course, 1))
            gga = NmeaFix(t=t, unit_id=self.unit, lat=lat, lon=lon, valid=True, sentence="GGA", fix_quality=1,
                          sats=rng.randint(7, 12), hdop=round(rng.uniform(0.7, 1.6), 1),
                          altitude_m=round(rng.uniform(-5, 40), 1))
            yield Emission(t, self.device_id, (rmc, gga),
                           nmea.encode_rmc(rmc, self.talker) + nmea.encode_gga(gga, self.talker), truth)
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

    def _emergency(self, ev: Any, c: float, o: float) -> list[Emission]:
        lon, lat = self.geo.to_lonlat(c, o)
        out = []
        t0 = round(ev.t + 0.01, 2)
        for i in range(6):
            st = RadioStatus(t=round(t0 + 2.0 * i, 2), unit_id=self.unit, emergency=True, state="emergency",
                             lat=round(lat, 6), lon=round(lon, 6))
            truth = None
            if i == 0:
                truth = GroundTruth(t=st.t, device_id=self.device_id, event_id=ev.event_id, kind="emergency",
                                    record_type="radio.emergency", alert="alarm", expect={"unit": self.unit},
                                    start=ev.t, detail={"lat": round(lat, 6), "lon": round(lon, 6)})
            out.append(Emission(st.t, self.device_id, (st,), nmea.encode_status(st), truth))
        return out
