"""Scenario files, emissions and ground truth.

A scenario (TOML) describes a span of time at a site::

    [scenario]   name, description, site, start (ISO 8601 UTC), duration_s
    [[devices]]  id, profile (shipped name or path), and per-class options
                 (lane; unit, sector, mode; nodes; links; exchange; instrument prefix)
    [[events]]   at_s, device, kind, and the kind's parameters
    [[traffic]]  device, kind, per_hour, optional mix = {variant = weight}
    [[faults]]   at_s, device, mode, duration_s, level

Event kinds per device class (``kind`` and its parameters):

* document_reader — ``traveller``: ``doc`` = valid | expired | bad_check_digit | altered |
  specimen | fantasy | watchlist | lost_stolen | uv_fail | ir_fail; optional ``format``.
* radiation_portal_monitor — ``vehicle``: ``cargo`` = clean | norm | cs137 | co60 | neutron,
  ``shielded`` (bool), ``vehicle`` = car | truck | bus.
* ground_sensor — ``crossing``: ``what`` = person | group | vehicle | animal | wind,
  ``direction`` = inbound | outbound, optional ``node``.
* patrol_radio — ``emergency``, ``sector_exit``, ``border_crossed``.
* telephony — ``outage`` / ``degraded``: ``link``, ``duration_s``; ``call``.
* gc_fid / gc_ms — ``sample``: ``mixture`` = {library id = fraction} or ``preset`` name.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..errors import ProfileNotFoundError, ScenarioError

__all__ = [
    "FAULT_MODES",
    "SCENARIOS_DIR",
    "DeviceSpec",
    "Emission",
    "EventSpec",
    "FaultSpec",
    "GroundTruth",
    "Scenario",
    "TrafficSpec",
    "load_scenario",
    "shipped_scenarios",
]

#: Folder of the shipped scenarios (a package of data files, found through importlib.resources).
SCENARIOS_DIR = Path(str(files("borderlink.hardware_profiles.scenarios")))

#: Fault modes every emulator supports (see emulators/faults.py).
FAULT_MODES = ("noise", "drop", "disconnect", "stuck", "drift", "clock", "half_written", "burst")


@dataclass(frozen=True)
class GroundTruth:
    """What the edge should make of one scenario event.

    ``t`` is the scenario time of the frame that decides the event (latency is measured from
    it); ``start`` when the event began. ``record_type`` is the record the event should
    produce (``None``: nothing — an animal or wind must be suppressed); ``alert`` the alert
    level expected (``"alarm"``, ``"warning"``, ``"info"`` or ``None``). ``expect`` holds the
    body fields a correct decision has (e.g. ``verdict``, ``kind``, ``nuisance``, ``class``,
    ``direction``, ``state``, ``controlled_found``); ``detail`` how the event was generated.
    """

    t: float
    device_id: str
    event_id: str
    kind: str
    record_type: str | None
    alert: str | None
    expect: Mapping[str, Any] = field(default_factory=dict)
    start: float = 0.0
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"t": round(self.t, 3), "start": round(self.start, 3), "device_id": self.device_id,
                "event_id": self.event_id, "kind": self.kind, "record_type": self.record_type,
                "alert": self.alert, "expect": dict(self.expect), "detail": dict(self.detail)}

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> GroundTruth:
        """One line of ``truth.jsonl`` (as :meth:`to_json` wrote it) back into a truth."""
        return cls(t=float(item["t"]), device_id=str(item["device_id"]),
                   event_id=str(item["event_id"]), kind=str(item["kind"]),
                   record_type=item["record_type"], alert=item["alert"],
                   expect=dict(item.get("expect", {})), start=float(item.get("start", 0.0)),
                   detail=dict(item.get("detail", {})))


@dataclass(frozen=True)
class Emission:
    """One thing a device puts out: its time (scenario clock, Unix s), the readings the bytes
    decode to, the bytes on the wire (a whole file for lab instruments), and the ground truth
    when this emission decides an event. Unpacks as ``t, device_id, readings, data, truth``.
    """

    t: float
    device_id: str
    readings: tuple[Any, ...]
    data: bytes
    truth: GroundTruth | None = None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter((self.t, self.device_id, self.readings, self.data, self.truth))


@dataclass(frozen=True)
class DeviceSpec:
    id: str
    profile: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventSpec:
    at_s: float
    device: str
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrafficSpec:
    device: str
    kind: str
    per_hour: float
    mix: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FaultSpec:
    at_s: float
    device: str
    mode: str
    duration_s: float
    level: float = 0.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    site: str
    start: float
    duration_s: float
    devices: tuple[DeviceSpec, ...]
    events: tuple[EventSpec, ...]
    traffic: tuple[TrafficSpec, ...]
    faults: tuple[FaultSpec, ...]
    source: str = ""

    def device(self, device_id: str) -> DeviceSpec:
        for d in self.devices:
            if d.id == device_id:
                return d
        raise KeyError(device_id)

    def only(self, device_id: str) -> Scenario:
        """This scenario reduced to one device: its emissions are the same as in the whole
        (every device draws from its own generator), and nothing else is computed."""
        spec = self.device(device_id)
        return replace(self, devices=(spec,), events=tuple(e for e in self.events if e.device == device_id),
                       traffic=tuple(t for t in self.traffic if t.device == device_id),
                       faults=tuple(f for f in self.faults if f.device == device_id))


def shipped_scenarios() -> list[Path]:
    return sorted(SCENARIOS_DIR.glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name (``smoke``) or a scenario file by path."""
    path = Path(name_or_path)
    if not (path.suffix == ".toml" or path.exists()):
        path = SCENARIOS_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            names = ", ".join(p.stem for p in shipped_scenarios())
            raise ProfileNotFoundError(f"no scenario {str(name_or_path)!r}; shipped: {names}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileNotFoundError(f"{path}: cannot read scenario: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: expected valid TOML: {exc}") from exc
    return scenario_from_dict(data, str(path))


def _fail(source: str, key: str, expected: str, got: Any = ...) -> ScenarioError:
    tail = "" if got is ... else f", got {got!r}"
    return ScenarioError(f"{source}: [{key}] expected {expected}{tail}")


def _num(source: str, table: Mapping[str, Any], key: str, where: str, default: Any = ...) -> float:
    value = table.get(key, default)
    if value is ...:
        raise _fail(source, f"{where}.{key}", "a number (missing)")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _fail(source, f"{where}.{key}", "a non-negative number", value)
    return float(value)


def scenario_from_dict(data: Mapping[str, Any], source: str) -> Scenario:
    head = data.get("scenario")
    if not isinstance(head, dict):
        raise _fail(source, "scenario", "a table")
    name = head.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(source, "scenario.name", "a non-empty string", name if name is not None else ...)
    start_text = head.get("start", "2026-11-27T08:00:00Z")
    try:
        start = dt.datetime.fromisoformat(str(start_text))
        if start.tzinfo is None:
            raise ValueError("no time zone")
    except ValueError:
        raise _fail(source, "scenario.start", "an ISO 8601 UTC time like 2026-11-27T08:00:00Z",
                    start_text) from None
    duration = _num(source, head, "duration_s", "scenario")
    if duration <= 0:
        raise _fail(source, "scenario.duration_s", "a number > 0", duration)
    from ..loader import load_profile

    devices = []
    seen: set[str] = set()
    for i, d in enumerate(data.get("devices", [])):
        where = f"devices[{i}]"
        if not isinstance(d, dict) or not isinstance(d.get("id"), str) or not d["id"]:
            raise _fail(source, f"{where}.id", "a device id string")
        if d["id"] in seen:
            raise _fail(source, f"{where}.id", "a device id not used before", d["id"])
        seen.add(d["id"])
        if not isinstance(d.get("profile"), str):
            raise _fail(source, f"{where}.profile", "a profile name", d.get("profile", ...))
        try:
            load_profile(d["profile"])
        except ProfileNotFoundError as exc:
            raise _fail(source, f"{where}.profile", "a shipped profile name or file", d["profile"]) from exc
        devices.append(DeviceSpec(d["id"], d["profile"], {k: v for k, v in d.items()
                                                          if k not in ("id", "profile")}))
    if not devices:
        raise _fail(source, "devices", "at least one [[devices]] table")

    def device_ref(table: Mapping[str, Any], where: str) -> str:
        ref = table.get("device")
        if ref not in seen:
            raise _fail(source, f"{where}.device", f"one of the scenario's devices {sorted(seen)}",
                        ref if ref is not None else ...)
        return str(ref)

    events = []
    for i, e in enumerate(data.get("events", [])):
        where = f"events[{i}]"
        at = _num(source, e, "at_s", where)
        if at > duration:
            raise _fail(source, f"{where}.at_s", f"a time within the scenario (<= {duration})", at)
        kind = e.get("kind")
        if not isinstance(kind, str):
            raise _fail(source, f"{where}.kind", "an event kind string", kind if kind is not None else ...)
        events.append(EventSpec(at, device_ref(e, where), kind,
                                {k: v for k, v in e.items() if k not in ("at_s", "device", "kind")}))
    traffic = []
    for i, tr in enumerate(data.get("traffic", [])):
        where = f"traffic[{i}]"
        mix = tr.get("mix", {})
        if not isinstance(mix, dict) or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
                                            for v in mix.values()):
            raise _fail(source, f"{where}.mix", "a table of non-negative weights", mix)
        traffic.append(TrafficSpec(device_ref(tr, where), str(tr.get("kind", "")),
                                   _num(source, tr, "per_hour", where), mix,
                                   {k: v for k, v in tr.items() if k not in ("device", "kind", "per_hour", "mix")}))
    faults = []
    for i, f in enumerate(data.get("faults", [])):
        where = f"faults[{i}]"
        mode = f.get("mode")
        if mode not in FAULT_MODES:
            raise _fail(source, f"{where}.mode", f"one of {list(FAULT_MODES)}", mode if mode is not None else ...)
        faults.append(FaultSpec(_num(source, f, "at_s", where), device_ref(f, where), str(mode),
                                _num(source, f, "duration_s", where, 5.0), _num(source, f, "level", where, 0.0)))
    return Scenario(name=name, description=str(head.get("description", "")), site=str(head.get("site", "BIL")),
                    start=start.timestamp(), duration_s=duration, devices=tuple(devices),
                    events=tuple(sorted(events, key=lambda e: e.at_s)), traffic=tuple(traffic),
                    faults=tuple(faults), source=source)
