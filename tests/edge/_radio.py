"""A minimal patrol-radio processor and NMEA frame helpers for the edge tests.

The real processors are issue 6's (``borderlink.edge.processors``); until the radio one lands,
this implements the real :class:`~borderlink.edge.processors.base.Processor` interface with
the least logic the agent's tests need: every valid fix -> ``radio.position``, every
emergency -> ``radio.emergency`` at alarm level.
"""

from __future__ import annotations

from typing import Any

from borderlink.edge.processors.base import AlertLevel, Decision
from borderlink.hardware_profiles.protocols import nmea
from borderlink.hardware_profiles.readings import NmeaFix, RadioStatus

T0 = 1_790_000_000.0


class MinimalRadioProcessor:
    def __init__(self) -> None:
        self.fed = 0

    def feed(self, reading: Any) -> list[Decision]:
        self.fed += 1
        if isinstance(reading, NmeaFix) and reading.valid:
            return [Decision("radio.position", {
                "unit": reading.unit_id or "P1", "lat": reading.lat, "lon": reading.lon,
                "fix_ms": round(reading.t * 1000)}, reading.t)]
        if isinstance(reading, RadioStatus) and reading.emergency:
            body: dict[str, Any] = {"unit": reading.unit_id, "message": "emergency button"}
            if reading.lat is not None and reading.lon is not None:
                body.update(lat=reading.lat, lon=reading.lon)
            return [Decision("radio.emergency", body, reading.t, AlertLevel.ALARM,
                             f"emergency from {reading.unit_id}")]
        return []

    def tick(self, now: float) -> list[Decision]:
        return []


def gen_fix(i: int, unit: str = "P1") -> bytes:
    """One RMC sentence, byte-exact, for fix number *i* (one second apart)."""
    return nmea.encode_rmc(NmeaFix(t=T0 + i, unit_id=unit, lat=39.45 + i * 1e-4,
                                   lon=48.55, valid=True, sentence="RMC", speed_kn=5.0,
                                   course_deg=90.0))


def gen_emergency(i: int, unit: str = "P1") -> bytes:
    return nmea.encode_status(RadioStatus(t=T0 + i, unit_id=unit, emergency=True,
                                          state="emergency", lat=39.45, lon=48.55))
