"""Vehicles through a radiation portal lane: 10 Hz count frames and one N42.42 report each.

Physics, simplified but with the features a detection algorithm has to handle: Poisson counts,
a background that wanders slowly, the vehicle shadowing the background while it occupies the
lane, naturally occurring radioactive material (NORM) spread over the whole cargo with a
background-like spectrum, point sources passing the panels (Gaussian in time, split between
the two panels by their lateral position) with a spectrum that differs from NORM in the
energy-window ratio (Cs-137 soft, Co-60 hard), shielding, and neutron sources.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

from ..protocols import rpm
from ..readings import CountSample, OccupancyReport, PanelCounts
from .base import DeviceSim, poisson
from .model import Emission, GroundTruth

__all__ = ["CARGOS", "RpmSim"]

CARGOS = ("clean", "norm", "cs137", "co60", "neutron")
BG_HIGH_FRACTION = 0.32
_SPECTRUM_HIGH = {"norm": 0.42, "cs137": 0.10, "co60": 0.68, "neutron": 0.50}
_VEHICLES = {"car": (4.5, 8.0, 0.05), "bus": (12.0, 6.0, 0.10), "truck": (16.0, 5.0, 0.14)}
_NORM_KINDS = ("ceramics", "fertiliser", "bananas", "granite", "cat_litter")


class _Occupancy:
    def __init__(self, sim: RpmSim, ev: Any, start: float) -> None:
        rng = sim.rng
        p = ev.params
        self.ev = ev
        self.vehicle = str(p.get("vehicle") or rng.choices(list(_VEHICLES), [70, 5, 25])[0])
        length, speed_kmh, shadow = _VEHICLES.get(self.vehicle, _VEHICLES["car"])
        self.speed_kmh = max(2.0, rng.gauss(speed_kmh, speed_kmh * 0.15))
        speed = self.speed_kmh / 3.6
        self.start = start
        self.end = start + (length + 2.0) / speed
        self.shadow = shadow * rng.uniform(0.8, 1.2)
        self.cargo = str(p.get("cargo", "clean"))
        self.shielded = bool(p.get("shielded", False))
        self.norm_kind = str(p.get("norm_kind") or rng.choice(_NORM_KINDS))
        self.centre = start + rng.uniform(0.25, 0.75) * (self.end - start)
        self.width = 1.0 / speed  # ~1 m panel response
        self.split = rng.uniform(0.3, 0.7)
        bg = sim.bg_gamma
        if self.cargo == "norm":
            self.gamma_peak = bg * rng.uniform(0.25, 0.6)
        elif self.cargo in ("cs137", "co60"):
            self.gamma_peak = rng.uniform(250, 500) if self.shielded else rng.uniform(800, 3000)
        elif self.cargo == "neutron":
            self.gamma_peak = rng.uniform(80, 200)
        else:
            self.gamma_peak = 0.0
        self.neutron_peak = (rng.uniform(8, 15) if self.shielded else rng.uniform(15, 50)) \
            if self.cargo == "neutron" else 0.0

    def source_cps(self, t: float, panel: int) -> tuple[float, float, float]:
        """Extra (gamma_low, gamma_high, neutron) cps from the cargo at time *t* on *panel*."""
        if self.cargo == "clean" or not self.start <= t < self.end:
            return 0.0, 0.0, 0.0
        high = _SPECTRUM_HIGH[self.cargo]
        if self.cargo == "norm":
            frac = (t - self.start) / (self.end - self.start)
            shape = min(1.0, frac / 0.15, (1 - frac) / 0.15)
            g = self.gamma_peak * shape
            return g * (1 - high), g * high, 0.0
        w = self.split if panel == 1 else 1 - self.split
        shape = 2 * w * math.exp(-0.5 * ((t - self.centre) / self.width) ** 2)
        g = self.gamma_peak * shape
        if self.shielded and self.cargo != "neutron":
            high = high * 1.3 if self.cargo == "cs137" else high * 0.95  # down-scatter in the shield
        return g * (1 - high), g * high, self.neutron_peak * shape


class RpmSim(DeviceSim):
    event_kinds = ("vehicle",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lane = str(self.opt.get("lane", self.profile.framing.param("lane", "L1")))
        self.interval = float(self.profile.framing.param("sample_interval_s", 0.1))
        self.panels = int(self.profile.framing.param("panels", 2))
        self.bg_gamma = float(self.profile.setting("background_gamma_cps_per_panel", 1800.0))
        self.bg_neutron = float(self.profile.setting("background_neutron_cps_per_panel", 2.0))
        self.seq = 0

    def _bg(self, t: float) -> float:
        return self.bg_gamma * (1 + 0.03 * math.sin(2 * math.pi * (t - self.t0) / 21600.0))

    def _occupancies(self) -> list[_Occupancy]:
        out: list[_Occupancy] = []
        free_at = self.t0 + 1.0
        for ev in self.events():
            if ev.params.get("cargo", "clean") not in CARGOS:
                from ..errors import ScenarioError

                raise ScenarioError(f"{self.scenario.source}: vehicle cargo {ev.params.get('cargo')!r}; "
                                    f"expected one of {list(CARGOS)}")
            start = max(ev.t, free_at)
            occ = _Occupancy(self, ev, start)
            if occ.end + 1.0 >= self.t_end:
                break
            out.append(occ)
            free_at = occ.end + 2.5  # the next vehicle waits for the lane
        return out

    def emissions(self) -> Iterator[Emission]:
        rng = self.rng
        occs = self._occupancies()
        k = 0  # index of the current/next occupancy
        n = int(self.scenario.duration_s / self.interval)
        dt = self.interval
        fore: dict[int, list[int]] = {}
        for i in range(1, n + 1):
            t = round(self.t0 + i * dt, 3)
            occ = occs[k] if k < len(occs) else None
            occupied = occ is not None and occ.start <= t < occ.end
            bg = self._bg(t) * (1 - occ.shadow if occupied and occ else 1.0)
            samples = []
            for panel in range(1, self.panels + 1):
                lo_s, hi_s, neu_s = occ.source_cps(t, panel) if occupied and occ else (0.0, 0.0, 0.0)
                lo = poisson(rng, (bg * (1 - BG_HIGH_FRACTION) + lo_s) * dt)
                hi = poisson(rng, (bg * BG_HIGH_FRACTION + hi_s) * dt)
                neu = poisson(rng, (self.bg_neutron + neu_s) * dt)
                samples.append(CountSample(t=t, lane=self.lane, panel=panel, gamma_low=lo, gamma_high=hi,
                                           neutron=neu, occupied=occupied, seq=self.seq,
                                           interval_s=dt))
                if occupied:
                    acc = fore.setdefault(panel, [0, 0, 0])
                    acc[0] += lo
                    acc[1] += hi
                    acc[2] += neu
            self.seq += 1
            yield Emission(t, self.device_id, tuple(samples),
                           rpm.encode_counts(samples, self.seq, occ.speed_kmh if occupied and occ else None))
            if occ is not None and not occupied and t >= occ.end:
                yield self._report(occ, t, fore)
                fore = {}
                k += 1

    def _report(self, occ: _Occupancy, t_end_sample: float, fore: dict[int, list[int]]) -> Emission:
        rng = self.rng
        live = occ.end - occ.start
        bg_live = 60.0
        bg = self._bg(occ.start)
        background = tuple(PanelCounts(p, poisson(rng, bg * (1 - BG_HIGH_FRACTION) * bg_live),
                                       poisson(rng, bg * BG_HIGH_FRACTION * bg_live),
                                       poisson(rng, self.bg_neutron * bg_live))
                           for p in range(1, self.panels + 1))
        foreground = tuple(PanelCounts(p, *fore.get(p, [0, 0, 0])) for p in range(1, self.panels + 1))
        self.seq += 1
        report = OccupancyReport(t=t_end_sample + 0.05, lane=self.lane, occupancy_id=self.seq, start=occ.start,
                                 end=occ.end, live_time_s=round(live, 3), foreground=foreground,
                                 background=background, background_live_time_s=bg_live,
                                 vehicle_speed_kmh=round(occ.speed_kmh, 1),
                                 uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        cargo = occ.cargo
        expect: dict[str, Any]
        if cargo == "clean":
            record, alert, expect = "radiation.occupancy", None, {"alarm": False}
        elif cargo == "norm":
            record, alert, expect = "radiation.alarm", "info", {"alarm": True, "kind": "gamma", "nuisance": True}
        elif cargo == "neutron":
            record, alert, expect = "radiation.alarm", "alarm", {"alarm": True, "kind": "neutron", "nuisance": False}
        else:
            record, alert, expect = "radiation.alarm", "alarm", {"alarm": True, "kind": "gamma", "nuisance": False}
        detail = {"cargo": cargo, "shielded": occ.shielded, "vehicle": occ.vehicle, "lane": self.lane,
                  "occupancy_start": round(occ.start, 3), "occupancy_end": round(occ.end, 3),
                  "gamma_peak_cps": round(occ.gamma_peak, 1), "neutron_peak_cps": round(occ.neutron_peak, 2),
                  "shadowing": round(occ.shadow, 3), "above_mda": cargo != "clean"}
        if cargo == "norm":
            detail["norm_kind"] = occ.norm_kind
        truth = GroundTruth(t=t_end_sample, device_id=self.device_id, event_id=occ.ev.event_id, kind="vehicle",
                            record_type=record, alert=alert, expect=expect, start=occ.start, detail=detail)
        return Emission(report.t, self.device_id, (report,), rpm.encode_report(report, self.seq), truth)
