"""Fault modes of every emulator, as pure functions over readings and bytes.

The same code serves the simulator (faults scheduled by the scenario) and the emulators
(faults switched at run time). Transport faults (``disconnect``, ``half_written``, ``burst``)
are carried out by the emulator's endpoint; here they are only state.

=============  ==================================================================  ===========
mode           effect (``level`` meaning)                                          layer
=============  ==================================================================  ===========
noise          random bytes inserted before a frame (probability per frame)       bytes
drop           bytes dropped from the stream (probability per byte)               bytes
disconnect     the port/socket goes away and comes back (seconds down)            transport
stuck          the sensor repeats the values it had when the fault began          readings
drift          values creep away (relative change per minute, e.g. 0.1 = 10 %)    readings
clock          the device clock runs off (seconds gained per minute)              readings
half_written   export files appear half-written, completed later (seconds)        transport
burst          emissions are held back and sent at once (how many)                transport
=============  ==================================================================  ===========
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .readings import (
    CallDetailRecord,
    CountSample,
    LabRun,
    LinkStatus,
    MrzRead,
    NmeaFix,
    OccupancyReport,
    SensorFrame,
)

__all__ = ["DEFAULT_LEVELS", "MODES", "FaultState", "apply_byte_faults", "apply_reading_faults"]

MODES = ("noise", "drop", "disconnect", "stuck", "drift", "clock", "half_written", "burst")
DEFAULT_LEVELS = {"noise": 0.3, "drop": 0.01, "disconnect": 2.0, "stuck": 1.0, "drift": 0.2,
                  "clock": 30.0, "half_written": 2.0, "burst": 20.0}


@dataclass
class FaultState:
    """Which faults are on, their level and since when (mutable: switched at run time)."""

    levels: dict[str, float] = field(default_factory=dict)
    since: dict[str, float | None] = field(default_factory=dict)  # None: from the next reading
    stuck_values: dict[Any, Any] = field(default_factory=dict)

    def set(self, mode: str, level: float | None, now: float | None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; known: {', '.join(MODES)}")
        if level is None:
            level = DEFAULT_LEVELS[mode]
        if level <= 0:
            self.clear(mode)
            return
        self.levels[mode] = float(level)
        self.since.setdefault(mode, now)

    def clear(self, mode: str | None = None) -> None:
        for m in ([mode] if mode else list(self.levels)):
            self.levels.pop(m, None)
            self.since.pop(m, None)
            if m == "stuck":
                self.stuck_values.clear()

    def level(self, mode: str) -> float:
        return self.levels.get(mode, 0.0)

    def minutes(self, mode: str, now: float) -> float:
        """Minutes the fault has been on at scenario time *now*."""
        since = self.since.get(mode)
        if since is None:
            self.since[mode] = since = now
        return max(0.0, now - since) / 60.0

    def active(self) -> dict[str, float]:
        return dict(self.levels)


def _key(r: Any) -> Any:
    for name in ("panel", "sensor_id", "link_id", "sentence"):
        if hasattr(r, name):
            return (type(r).__name__, getattr(r, name))
    return type(r).__name__


def _scale_values(r: Any, factor: float) -> Any:
    if isinstance(r, CountSample):
        return replace(r, gamma_low=int(r.gamma_low * factor), gamma_high=int(r.gamma_high * factor))
    if isinstance(r, SensorFrame) and r.event == "detect":
        return replace(r, value=r.value * factor)
    if isinstance(r, NmeaFix):
        return replace(r, lat=r.lat + (factor - 1) * 0.01, lon=r.lon + (factor - 1) * 0.01)
    if isinstance(r, LinkStatus) and r.latency_ms is not None:
        return replace(r, latency_ms=round(r.latency_ms * factor, 1))
    if isinstance(r, OccupancyReport) and r.foreground_spectra:  # detector sensitivity drift
        return replace(r, foreground_spectra=tuple(
            replace(s, counts=tuple(int(c * factor) for c in s.counts))
            for s in r.foreground_spectra))
    if isinstance(r, LabRun) and r.chromatogram is not None:  # detector sensitivity drift
        c = r.chromatogram
        return replace(r, chromatogram=replace(c, intensities=tuple(v * factor for v in c.intensities)))
    return r


def _frozen(r: Any, old: Any) -> Any:
    """*r* with the measured values of *old* (its time and counters stay *r*'s)."""
    if isinstance(r, CountSample):
        return replace(r, gamma_low=old.gamma_low, gamma_high=old.gamma_high, neutron=old.neutron)
    if isinstance(r, SensorFrame):
        return replace(r, value=old.value)
    if isinstance(r, NmeaFix):
        return replace(r, lat=old.lat, lon=old.lon, speed_kn=old.speed_kn, course_deg=old.course_deg)
    if isinstance(r, LinkStatus):
        return replace(r, latency_ms=old.latency_ms, loss_pct=old.loss_pct, jitter_ms=old.jitter_ms)
    if isinstance(r, MrzRead):  # a stale OCR buffer: the previous document again
        return replace(r, lines=old.lines, uv_ok=old.uv_ok, ir_ok=old.ir_ok)
    if isinstance(r, OccupancyReport) and r.foreground_spectra:  # the last spectrum again
        return replace(r, foreground_spectra=old.foreground_spectra, foreground=old.foreground)
    if isinstance(r, LabRun) and r.chromatogram is not None:  # detector output stuck: a flat line
        c = r.chromatogram
        level = old.chromatogram.intensities[0] if old.chromatogram else 0.0
        return replace(r, chromatogram=replace(c, intensities=(level,) * len(c.intensities)))
    return r


def _shift_time(r: Any, offset: float) -> Any:
    if not any(f.name == "t" for f in fields(r)):
        return r
    changes: dict[str, Any] = {"t": round(r.t + offset, 3)}
    if isinstance(r, (OccupancyReport,)):
        changes.update(start=r.start + offset, end=r.end + offset)
    if isinstance(r, CallDetailRecord):
        changes["start"] = round(r.start + offset, 3)
    if isinstance(r, LabRun):
        if r.chromatogram is not None:
            changes["chromatogram"] = replace(r.chromatogram, t=round(r.chromatogram.t + offset, 3))
        changes["spectra"] = tuple(replace(m, t=round(m.t + offset, 3)) for m in r.spectra)
    return replace(r, **changes)


def apply_reading_faults(readings: tuple[Any, ...], state: FaultState, now: float) -> tuple[Any, ...]:
    """Readings as a faulty device would report them at scenario time *now*."""
    if not state.levels:
        return readings
    out = []
    for r in readings:
        if state.level("stuck") and isinstance(r, (CountSample, SensorFrame, NmeaFix, LinkStatus, MrzRead, LabRun)) or (
                isinstance(r, OccupancyReport) and r.foreground_spectra):
            key = _key(r)
            if key not in state.stuck_values:
                state.stuck_values[key] = r
            r = _frozen(r, state.stuck_values[key])
        if state.level("drift"):
            r = _scale_values(r, 1.0 + state.level("drift") * state.minutes("drift", now))
        if state.level("clock"):
            r = _shift_time(r, state.level("clock") * state.minutes("clock", now))
        out.append(r)
    return tuple(out)


def apply_byte_faults(data: bytes, state: FaultState, rng: random.Random) -> bytes:
    """Bytes as a noisy line delivers them (noise before the frame, dropped bytes)."""
    if not data:
        return data
    noise, drop = state.level("noise"), state.level("drop")
    if noise and rng.random() < min(1.0, noise):
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 24)))
        data = junk + data
    if drop:
        data = bytes(b for b in data if rng.random() >= drop)
    return data
