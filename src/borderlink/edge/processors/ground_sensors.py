"""Green-border unattended ground sensors: debounce, chain correlation, class, suppression.

Readings: :class:`~borderlink.hardware_profiles.readings.SensorFrame`. The per-sensor
HMAC-SHA256 tag is checked by the framer (``hardware_profiles.protocols.sensor`` raises
``FrameAuthenticationError``), before a frame becomes a reading; a processor never sees an
unauthenticated frame, so it does not hold the keys.

Layout
    Each node has a chain of sensors at increasing offsets from the border line (e.g. seismic
    at 15 m, magnetic at 18 m, seismic 40 m, PIR 45 m, seismic 70 m). Sensors whose offsets lie
    within ``group_gap_m`` form one *group* (a line across the path): a crossing passes the
    groups in order of offset — inland (``inbound``) or towards the line (``outbound``).
    Offsets come from the border file's node layout, else from the frames (``offset_m``).
Debounce
    Detections of one sensor within ``debounce_s`` of its previous one are the same trigger
    (a footstep train or a vehicle bounces into several frames); the trigger keeps its first
    time and its largest value.
Correlation
    A trigger joins the track of its node whose last group is its own group (a companion
    sensor, within ``companion_window_s``) or a neighbouring group, moving in the track's
    direction at a speed between ``min_speed_mps`` and ``max_speed_mps`` and within a factor
    ``speed_consistency`` of the track's speed so far — of several, the one whose speed it
    matches best (the track's own, else a typical walking or driving speed by the strength of
    footfalls and metal: two walkers crossing one node in opposite directions stay apart);
    otherwise it starts a track.
Decision
    A track that has crossed every group of the chain decides on that frame (the alert is due
    within 1 s of it: it is the compute time). A track that stops short — a missed detection —
    decides when it reaches the end of the chain, or once it is overdue at the next group
    (``stall_factor`` times the time its speed needs to get there, plus the debounce), or when
    ``correlation_window_s`` passes; it alerts only with ``min_chain`` groups,
    ``min_chain + 1`` sensors and evidence no animal or gust gives (metal above
    ``animal_max_magnetic_nt``, two PIR zones, footfalls above ``animal_max_seismic_mm_s``).
Class
    ``vehicle``: speed >= ``vehicle_min_speed_mps``, or a magnetic deviation >=
    ``vehicle_min_magnetic_nt`` together with ground velocity >= ``vehicle_min_seismic_mm_s``;
    ``animal``: a footstep cadence outside the human band, when the node reports it in
    ``detail`` as ``cadence_hz=…``; *animal-like*: no metal (magnetic <= ``metal_min_nt``),
    one PIR zone at most, weak footfalls (seismic <= ``animal_max_seismic_mm_s``); otherwise
    ``person``. Animals and animal-like chains are suppressed (no record, counted in
    :attr:`stats`) unless ``alert_animal_like`` — a walker without metal who treads lightly
    is the price.
Wind
    Weak seismic (<= ``wind_max_seismic_mm_s``) and PIR triggers are wind-like; when at least
    ``wind_min_sensors`` sensors trip wind-like within ``wind_window_s`` the site is gusty and
    wind-like triggers are dropped until the gust ends. Triggers that never form an ordered
    chain at a walking or driving speed never alert either.
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from borderlink.hardware_profiles.readings import SensorFrame

from .base import AlertLevel, Decision

__all__ = ["GroundSensorConfig", "GroundSensorProcessor", "NodeLayout"]

_CADENCE = re.compile(r"cadence_hz=([0-9.]+)")


@dataclass(frozen=True)
class NodeLayout:
    """Where a node's sensors are: sector, and sensor id -> offset from the line (m)."""

    node_id: str
    sector: str
    offsets: Mapping[str, float]


@dataclass(frozen=True)
class GroundSensorConfig:
    """Parameters (the ``[processing]`` table of a ground-sensor profile, plus derived ones)."""

    debounce_s: float = 2.0
    correlation_window_s: float = 120.0
    min_chain: int = 2
    max_speed_mps: float = 15.0
    min_speed_mps: float = 0.5
    companion_window_s: float = 20.0  # a group's second sensor follows its first within this
    stall_factor: float = 2.5  # a chain is stalled after this times its expected next gap
    typical_walk_mps: float = 1.3  # prior speeds that untangle two crossings at one node
    typical_vehicle_mps: float = 7.0
    speed_consistency: float = 2.5
    seismic_threshold_mm_s: float = 0.5
    group_gap_m: float = 20.0
    animal_max_magnetic_nt: float = 5.0  # metal signatures above this are never an animal
    metal_min_nt: float = 0.3  # a magnetometer trigger at all above this: metal carried
    animal_max_seismic_mm_s: float = 1.6
    human_cadence_hz: tuple[float, float] = (1.4, 2.6)
    vehicle_min_speed_mps: float = 3.5
    vehicle_min_magnetic_nt: float = 30.0
    vehicle_min_seismic_mm_s: float = 5.0
    alert_animal_like: bool = False  # alert (as person) a full chain with an animal's signature
    wind_max_seismic_mm_s: float = 0.8
    wind_min_sensors: int = 4
    wind_window_s: float = 10.0
    layouts: Mapping[str, NodeLayout] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **overrides: Any) -> GroundSensorConfig:
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in settings.items() if k in names}
        values.update(overrides)
        return cls(**values)


def layouts_from_border(data: Mapping[str, Any]) -> dict[str, NodeLayout]:
    """Node layouts from a ``borderlink.border.v1`` document (``sensor_nodes``)."""
    out = {}
    for node in data.get("sensor_nodes", []):
        offsets = {s["sensor_id"]: float(s["offset_m"]) for s in node.get("sensors", [])}
        out[node["node_id"]] = NodeLayout(node["node_id"], str(node.get("sector", "")), offsets)
    return out


@dataclass
class _Trigger:
    sensor_id: str
    kind: str
    t: float
    last_t: float
    value: float
    offset: float
    group: int
    cadence: float | None = None


@dataclass
class _Track:
    node_id: str
    triggers: list[_Trigger] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)  # distinct groups in the order passed
    group_t: dict[int, float] = field(default_factory=dict)  # first time at each group
    group_off: dict[int, float] = field(default_factory=dict)
    decided: bool = False

    @property
    def last_t(self) -> float:
        return max(tr.last_t for tr in self.triggers)

    @property
    def direction(self) -> int:  # +1 inland, -1 towards the line, 0 unknown
        if len(self.groups) < 2:
            return 0
        return 1 if self.group_off[self.groups[-1]] > self.group_off[self.groups[0]] else -1

    def speed(self) -> float | None:
        if len(self.groups) < 2:
            return None
        g0, g1 = self.groups[0], self.groups[-1]
        dt = self.group_t[g1] - self.group_t[g0]
        return abs(self.group_off[g1] - self.group_off[g0]) / dt if dt > 0 else math.inf


class GroundSensorProcessor:
    """One site's (or one gateway's) green-border sensors."""

    def __init__(self, config: GroundSensorConfig | None = None) -> None:
        self.config = config or GroundSensorConfig()
        self._last: dict[str, _Trigger] = {}  # sensor -> its current (debounced) trigger
        self._tracks: dict[str, list[_Track]] = {}
        self._windy: deque[tuple[float, str]] = deque()
        self._gust_until = -math.inf
        self._offsets: dict[str, dict[str, float]] = {}  # node -> sensor -> offset (seen)
        self.stats = {"frames": 0, "triggers": 0, "wind_dropped": 0, "animals": 0,
                      "tracks_expired": 0, "alerts": 0}

    @classmethod
    def from_profile(cls, profile: Any, **overrides: Any) -> GroundSensorProcessor:
        """Read the profile's ``border_file`` (I/O) for node sectors and sensor offsets."""
        settings = dict(profile.settings)
        layouts = {}
        border = settings.get("border_file")
        if border:
            layouts = layouts_from_border(json.loads(Path(border).read_text(encoding="utf-8")))
        return cls(GroundSensorConfig.from_settings(settings, layouts=layouts, **overrides))

    # ------------------------------------------------------------------ layout
    def _group(self, frame: SensorFrame) -> tuple[int, float]:
        layout = self.config.layouts.get(frame.node_id)
        offsets = dict(layout.offsets) if layout else {}
        seen = self._offsets.setdefault(frame.node_id, {})
        seen[frame.sensor_id] = frame.offset_m
        for sid, off in seen.items():
            offsets.setdefault(sid, off)
        offset = offsets.get(frame.sensor_id, frame.offset_m)
        # groups: offsets sorted, split where the gap exceeds group_gap_m
        group = 0
        prev = None
        for off in sorted(set(offsets.values())):
            if prev is not None and off - prev > self.config.group_gap_m:
                group += 1
            if off == offset:
                return group, offset
            prev = off
        return group, offset

    def _n_groups(self, node_id: str) -> int:
        layout = self.config.layouts.get(node_id)
        offsets = set(layout.offsets.values()) if layout else set()
        offsets |= set(self._offsets.get(node_id, {}).values())
        count, prev = 0, None
        for off in sorted(offsets):
            if prev is None or off - prev > self.config.group_gap_m:
                count += 1
            prev = off
        return count

    def _sector(self, node_id: str) -> str:
        layout = self.config.layouts.get(node_id)
        if layout and layout.sector:
            return layout.sector
        m = re.match(r"UGS-([A-Z0-9]+)-", node_id)
        return m.group(1) if m else "unknown"

    # ------------------------------------------------------------------ Processor API
    def feed(self, reading: Any) -> list[Decision]:
        if not isinstance(reading, SensorFrame):
            return []
        self.stats["frames"] += 1
        out = self.tick(reading.t)
        if reading.event != "detect":
            return out
        f = reading
        c = self.config
        if f.kind == "seismic" and f.value < c.seismic_threshold_mm_s:
            return out
        # debounce
        prev = self._last.get(f.sensor_id)
        if prev is not None and f.t - prev.last_t <= c.debounce_s:
            prev.last_t = max(prev.last_t, f.t)
            prev.value = max(prev.value, f.value)
            return out
        # wind
        wind_like = (f.kind == "pir") or (f.kind == "seismic" and f.value <= c.wind_max_seismic_mm_s)
        if wind_like:
            self._windy.append((f.t, f.sensor_id))
            while self._windy and self._windy[0][0] < f.t - c.wind_window_s:
                self._windy.popleft()
            if len({s for _, s in self._windy}) >= c.wind_min_sensors:
                self._gust_until = f.t + c.wind_window_s
            if f.t <= self._gust_until:
                self.stats["wind_dropped"] += 1
                return out
        group, offset = self._group(f)
        m = _CADENCE.search(f.detail or "")
        trig = _Trigger(f.sensor_id, f.kind, f.t, f.t, f.value, offset, group,
                        float(m.group(1)) if m else None)
        self._last[f.sensor_id] = trig
        self.stats["triggers"] += 1
        track = self._associate(f.node_id, trig)
        if not track.decided:
            full = len(track.groups) >= max(c.min_chain, self._n_groups(f.node_id))
            at_end = track.direction != 0 and self._at_end(track)
            if full or (at_end and self._decidable_short(track)):
                decision = self._decide(track, now=f.t)
                if decision is not None:
                    out.append(decision)
        return out

    def _at_end(self, tr: _Track) -> bool:
        """The track's last group is the chain's last in its direction."""
        firsts = self._group_offsets(tr.node_id)
        off = tr.group_off[tr.groups[-1]]
        ahead = [o for o in firsts if (o - off) * tr.direction > self.config.group_gap_m]
        return not ahead

    def tick(self, now: float) -> list[Decision]:
        out: list[Decision] = []
        c = self.config
        for node, tracks in self._tracks.items():
            keep = []
            for tr in tracks:
                expired = now - tr.last_t > c.correlation_window_s
                if not tr.decided and self._stalled(tr, now) and self._decidable_short(tr):
                    decision = self._decide(tr, now=now)
                    if decision is not None:
                        out.append(decision)
                if expired:
                    self.stats["tracks_expired"] += 1
                else:
                    keep.append(tr)
            self._tracks[node] = keep
        return out

    def _stalled(self, tr: _Track, now: float) -> bool:
        """No trigger where the track's speed should have brought it (or the window passed)."""
        c = self.config
        if now - tr.last_t > c.correlation_window_s:
            return True
        speed = tr.speed()
        if not speed or not math.isfinite(speed) or tr.direction == 0:
            return False
        last_g = tr.groups[-1]
        offsets = sorted(self._group_offsets(tr.node_id))
        ahead = [o for o in offsets if (o - tr.group_off[last_g]) * tr.direction > c.group_gap_m]
        if not ahead:
            return False
        distance = min(abs(o - tr.group_off[last_g]) for o in ahead)
        due = tr.group_t[last_g] + c.stall_factor * distance / speed + c.debounce_s
        return now > due

    def _decidable_short(self, tr: _Track) -> bool:
        """A chain that stopped short alerts only on evidence no animal or gust gives."""
        c = self.config
        return (len(tr.groups) >= c.min_chain
                and len({t.sensor_id for t in tr.triggers}) >= c.min_chain + 1
                and self._strong(tr))

    def _group_offsets(self, node_id: str) -> list[float]:
        """The first (smallest) offset of each group of a node's chain."""
        layout = self.config.layouts.get(node_id)
        offsets = set(layout.offsets.values()) if layout else set()
        offsets |= set(self._offsets.get(node_id, {}).values())
        firsts, prev = [], None
        for off in sorted(offsets):
            if prev is None or off - prev > self.config.group_gap_m:
                firsts.append(off)
            prev = off
        return firsts

    # ------------------------------------------------------------------ correlation
    def _associate(self, node_id: str, trig: _Trigger) -> _Track:
        """The track this trigger continues (the most recently active compatible one), or a new one."""
        c = self.config
        tracks = self._tracks.setdefault(node_id, [])
        best: _Track | None = None
        best_score = (math.inf, math.inf)

        def heavy(t: _Trigger) -> bool:
            return ((t.kind == "seismic" and t.value >= c.vehicle_min_seismic_mm_s)
                    or (t.kind == "magnetic" and t.value >= c.vehicle_min_magnetic_nt))

        for tr in tracks:
            gap = trig.t - tr.last_t
            if gap > c.correlation_window_s:
                continue
            last_g = tr.groups[-1]
            if trig.group == last_g:
                # a companion sensor of the same group, shortly after
                dt = trig.t - tr.group_t[last_g]
                if dt > c.companion_window_s:
                    continue
                so_far = tr.speed()
                d_off = abs(trig.offset - tr.group_off[last_g])
                if so_far and math.isfinite(so_far) and dt > 0.5 and d_off > 0:
                    # on time for the track's speed, within a factor 1.5 (jitter, bounces)
                    score = (max(0.0, abs(math.log(d_off / dt / so_far)) - math.log(1.5)), gap)
                else:
                    score = (0.0, gap)
            else:
                if tr.decided or trig.group in tr.groups or abs(trig.group - last_g) != 1:
                    continue  # done, going back, or skipping a group
                dt = trig.t - tr.group_t[last_g]
                if dt <= 0:
                    continue
                v = abs(trig.offset - tr.group_off[last_g]) / dt
                if not c.min_speed_mps <= v <= c.max_speed_mps:
                    continue
                step = 1 if trig.offset > tr.group_off[last_g] else -1
                if tr.direction and step != tr.direction:
                    continue
                so_far = tr.speed()
                if so_far and not (so_far / c.speed_consistency <= v
                                   <= so_far * c.speed_consistency):
                    continue
                # two walkers at one node: the continuation at the most plausible speed
                if not so_far:
                    vehicle = heavy(trig) or any(heavy(t) for t in tr.triggers)
                    so_far = c.typical_vehicle_mps if vehicle else c.typical_walk_mps
                score = (abs(math.log(v / so_far)), gap)
            if score < best_score:
                best, best_score = tr, score
        if best is None:
            best = _Track(node_id)
            tracks.append(best)
        best.triggers.append(trig)
        if trig.group not in best.groups:
            best.groups.append(trig.group)
            best.group_t[trig.group] = trig.t
            best.group_off[trig.group] = trig.offset
        return best

    # ------------------------------------------------------------------ classification
    def _features(self, tr: _Track) -> tuple[float, float, float, float]:
        """(max magnetic nT, max seismic mm/s, max PIR zones, speed m/s) of a track."""
        mag = max((t.value for t in tr.triggers if t.kind == "magnetic"), default=0.0)
        seis = max((t.value for t in tr.triggers if t.kind == "seismic"), default=0.0)
        pir = max((t.value for t in tr.triggers if t.kind == "pir"), default=0.0)
        speed = tr.speed() or 0.0
        return mag, seis, pir, speed if math.isfinite(speed) else 0.0

    def _strong(self, tr: _Track) -> bool:
        """Evidence no animal or gust gives: metal, several PIR zones, or heavy footfalls."""
        c = self.config
        mag, seis, pir, _ = self._features(tr)
        return mag > c.animal_max_magnetic_nt or pir >= 2 or seis > c.animal_max_seismic_mm_s

    def _signature(self, tr: _Track) -> str:
        c = self.config
        mag, seis, pir, speed = self._features(tr)
        if speed >= c.vehicle_min_speed_mps or (mag >= c.vehicle_min_magnetic_nt
                                                 and seis >= c.vehicle_min_seismic_mm_s):
            return "vehicle"
        cadences = [t.cadence for t in tr.triggers if t.cadence is not None]
        if cadences:
            lo, hi = c.human_cadence_hz
            cad = sorted(cadences)[len(cadences) // 2]
            if not lo <= cad <= hi and mag <= c.animal_max_magnetic_nt:
                return "animal"
            if lo <= cad <= hi:
                return "person"
        if mag <= c.metal_min_nt and pir <= 1 and seis <= c.animal_max_seismic_mm_s:
            return "animal-like"
        return "person"

    def _decide(self, tr: _Track, now: float) -> Decision | None:
        tr.decided = True
        sig = self._signature(tr)
        if sig == "animal" or (sig == "animal-like" and not self.config.alert_animal_like):
            self.stats["animals"] += 1
            return None
        klass = "person" if sig == "animal-like" else sig
        speed = tr.speed() or 0.0
        direction = "inbound" if tr.direction > 0 else "outbound"
        first = min(t.t for t in tr.triggers)
        last = max(t.t for t in tr.triggers)
        n_groups = self._n_groups(tr.node_id)
        confidence = min(1.0, len(tr.groups) / max(1, n_groups)) * (0.7 if sig == "animal-like" else 1.0)
        sensors = sorted({t.sensor_id for t in tr.triggers})
        body = {
            "sector": self._sector(tr.node_id),
            "sensors": sensors,
            "class": klass,
            "direction": direction,
            "speed_mps": round(speed, 2) if math.isfinite(speed) else 0.0,
            "first_ms": max(0, round(first * 1000)),
            "last_ms": max(0, round(last * 1000)),
            "confidence": round(confidence, 2),
            "level": AlertLevel.ALARM.value,
        }
        self.stats["alerts"] += 1
        return Decision("intrusion.alert", body, t=last, alert=AlertLevel.ALARM, decided_at=now,
                        summary=f"{klass} crossing {direction} at node {tr.node_id} "
                                f"({body['speed_mps']} m/s)",
                        extra={"node_id": tr.node_id, "groups": list(tr.groups)})
