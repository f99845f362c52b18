"""A default scenario for one device: what ``borderlink emulate PROFILE`` plays without
``--scenario`` — a day of ordinary traffic with the occasional event of every kind."""

from __future__ import annotations

from ..loader import load_profile
from .lab import PRESETS
from .model import DeviceSpec, Scenario, TrafficSpec

__all__ = ["DEFAULT_TRAFFIC", "default_scenario"]

#: Per device class: (event kind, events per hour, mix of variants).
DEFAULT_TRAFFIC: dict[str, list[tuple[str, float, dict[str, float]]]] = {
    "document_reader": [("traveller", 240.0, {
        "valid": 0.93, "expired": 0.015, "bad_check_digit": 0.01, "altered": 0.005, "specimen": 0.002,
        "fantasy": 0.002, "watchlist": 0.01, "lost_stolen": 0.01, "uv_fail": 0.008, "ir_fail": 0.008})],
    "radiation_portal_monitor": [("vehicle", 40.0, {"clean": 0.9, "norm": 0.07, "cs137": 0.01, "co60": 0.01,
                                                    "neutron": 0.01})],
    "radionuclide_identifier": [("measurement", 12.0, {"clean": 0.4, "k40": 0.1, "th232": 0.1,
                                                       "ra226": 0.1, "cs137": 0.1, "co60": 0.1,
                                                       "am241": 0.05, "ir192": 0.05})],
    "ground_sensor": [("crossing", 6.0, {"person": 0.3, "group": 0.1, "vehicle": 0.1, "animal": 0.3, "wind": 0.2})],
    "patrol_radio": [("emergency", 0.2, {}), ("sector_exit", 0.5, {}), ("border_crossed", 0.2, {})],
    "telephony": [("call", 60.0, {}), ("outage", 0.5, {}), ("degraded", 1.0, {})],
    "gc_fid": [("sample", 6.0, {name: 1.0 for name in PRESETS})],
    "gc_ms": [("sample", 6.0, {name: 1.0 for name in PRESETS})],
}


def default_scenario(profile_name: str, duration_s: float = 86400.0, rate: float = 1.0,
                     device_id: str | None = None, start: float = 1795766400.0) -> Scenario:
    """One device of *profile_name* with the class's default traffic times *rate*."""
    profile = load_profile(profile_name)
    device = device_id or f"EMU-{profile.name}"
    traffic = tuple(TrafficSpec(device, kind, per_hour * rate, mix)
                    for kind, per_hour, mix in DEFAULT_TRAFFIC[profile.device_class])
    return Scenario(name=f"default-{profile.name}", description="default traffic", site="BIL", start=start,
                    duration_s=duration_s, devices=(DeviceSpec(device, profile_name, {}),), events=(),
                    traffic=traffic, faults=(), source=f"<default scenario of {profile.name}>")
