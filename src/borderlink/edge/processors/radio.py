"""The patrol-radio processor: positions, emergencies and geofences (pure code, no I/O).

Input: :class:`~borderlink.hardware_profiles.readings.NmeaFix` and
:class:`~borderlink.hardware_profiles.readings.RadioStatus` (NMEA parsing and checksums are
the driver's, in ``hardware_profiles.protocols.nmea``). Output:

* ``radio.emergency`` at once for an emergency message (alert ``alarm``), with the
  message's position or else the unit's last accepted fix. Radios repeat the message every
  few seconds: repeats within ``emergency_repeat_s`` of the previous one add no alert (they
  are counted); that much silence re-arms it (a routine ``ok`` status in between does not);
* ``radio.geofence`` ``border_crossed`` (alarm) when an accepted fix lies on the far side of
  the border line, ``border_proximity`` (warning) when it comes within ``proximity_m`` of the
  line on the interior side, ``sector_exit`` (warning) / ``sector_return`` (info) when the
  unit leaves / re-enters its patrol sector. Sector polygons lie on the interior side, so a
  fix beyond the line is judged by its mirror image across the line: crossing the border is
  ``border_crossed``, not also ``sector_exit``, but moving along the far side past the end of
  the sector's stretch is a ``sector_exit`` (within ``hysteresis_m`` of the line an exit
  needs the unit that far out of the polygon, whose edge there only samples the line; a
  return always does). Each is re-armed only after the unit moved
  ``hysteresis_m`` back, so GNSS noise along a line does not flap;
* ``radio.fix_lost`` (no alert) once when a unit's receiver reports a void fix (RMC/GLL
  status ``V``, GGA quality 0: :class:`~borderlink.hardware_profiles.readings.FixLoss`)
  after a position, or as its first word: a loss of fix is an event, never a position. It
  names the last accepted position and when it was taken; the next accepted fix re-arms it;
* ``radio.position`` thinned: the smoothed position when ``position_min_interval_s`` passed
  or the unit moved ``position_min_distance_m`` since the last one recorded.

Track filter: a fix is rejected when invalid (RMC ``V``/GGA quality 0), at 0/0, with HDOP
above ``max_hdop``, or when reaching it from the last accepted fix would need more than
``max_speed_kn`` (plus ``jitter_m`` of GNSS noise). After ``gap_reset_s`` without an
accepted fix (or ``reanchor_after`` consistent rejected fixes) the track re-anchors.
Smoothing: the mean of the last ``smoothing_window`` accepted fixes (for the records);
geofences test every accepted fix itself, so a short excursion is never averaged away.

Geometry: a local equirectangular projection around the border's mean latitude (error
< 0.1 % over the ~70 km of a sector, far below GNSS noise); the line's interior is on its
left (``borderlink.border.v1``). Distances are metres.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from borderlink.hardware_profiles.readings import FixLoss, NmeaFix, RadioStatus

from ..errors import GeometryError, ProcessorError
from .base import AlertLevel, Decision

__all__ = ["KNOT_MPS", "BorderGeometry", "RadioConfig", "RadioProcessor", "Sector"]

KNOT_MPS = 1852.0 / 3600.0
_R = 6_371_008.8  # mean Earth radius, m


class _Projection:
    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0, self.lon0 = lat0, lon0
        self.kx = math.radians(1.0) * _R * math.cos(math.radians(lat0))
        self.ky = math.radians(1.0) * _R

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky


def _seg_dist(px: float, py: float, ax: float, ay: float, bx: float, by: float
              ) -> tuple[float, float]:
    """(distance, t) from p to segment a-b, t the position of the nearest point (0..1)."""
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    qx, qy = ax + t * dx - px, ay + t * dy - py
    return math.hypot(qx, qy), t


@dataclass(frozen=True)
class Sector:
    """A patrol sector: its id and polygon (projected metres)."""

    id: str
    name: str
    polygon: tuple[tuple[float, float], ...]
    bbox: tuple[float, float, float, float] = field(repr=False)

    def contains(self, x: float, y: float) -> bool:
        x0, y0, x1, y1 = self.bbox
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            return False
        inside = False
        pts = self.polygon
        j = len(pts) - 1
        for i in range(len(pts)):
            xi, yi = pts[i]
            xj, yj = pts[j]
            if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
                inside = not inside
            j = i
        return inside

    def boundary_distance(self, x: float, y: float) -> float:
        pts = self.polygon
        return min(_seg_dist(x, y, *pts[i - 1], *pts[i])[0] for i in range(len(pts)))


class BorderGeometry:
    """The border line and patrol sectors in a local projection (from ``borderlink.border.v1``)."""

    def __init__(self, line: Sequence[tuple[float, float]],
                 sectors: Mapping[str, tuple[str, Sequence[tuple[float, float]]]] = {},
                 ) -> None:
        """*line* and sector polygons are ``(lon, lat)`` pairs; interior left of the line."""
        if len(line) < 2:
            raise GeometryError("the border line needs at least two points")
        lat0 = sum(p[1] for p in line) / len(line)
        lon0 = sum(p[0] for p in line) / len(line)
        self.projection = _Projection(lat0, lon0)
        xy = [self.projection.xy(lon, lat) for lon, lat in line]
        self._line = xy
        self._segments = []
        for (ax, ay), (bx, by) in itertools.pairwise(xy):
            length = math.hypot(bx - ax, by - ay)
            if length == 0:
                raise GeometryError("the border line repeats a point")
            self._segments.append((ax, ay, bx, by, -(by - ay) / length, (bx - ax) / length))
        # Pseudo-normals at inner vertices: the mean of the adjacent segments' left normals.
        self._vertex_normals = []
        for i in range(1, len(xy) - 1):
            n1 = self._segments[i - 1][4:6]
            n2 = self._segments[i][4:6]
            self._vertex_normals.append((n1[0] + n2[0], n1[1] + n2[1]))
        self.sectors: dict[str, Sector] = {}
        for sector_id, (name, polygon) in sectors.items():
            if len(polygon) < 3:
                raise GeometryError(f"sector {sector_id!r} polygon needs at least 3 points")
            pts = tuple(self.projection.xy(lon, lat) for lon, lat in polygon)
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            self.sectors[sector_id] = Sector(sector_id, name, pts,
                                             (min(xs), min(ys), max(xs), max(ys)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BorderGeometry:
        if data.get("format") != "borderlink.border.v1":
            raise GeometryError(f"border format is {data.get('format')!r}; "
                                "expected 'borderlink.border.v1'")
        try:
            line = [(float(p[0]), float(p[1])) for p in data["border_line"]]
            sectors = {str(s["id"]): (str(s.get("name", s["id"])),
                                      [(float(p[0]), float(p[1])) for p in s["polygon"]])
                       for s in data.get("sectors", ())}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise GeometryError(f"border data does not match borderlink.border.v1: {exc}") from exc
        return cls(line, sectors)

    def signed_distance(self, lon: float, lat: float) -> float:
        """Metres from the border line: positive on the interior (left) side, negative beyond."""
        x, y = self.projection.xy(lon, lat)
        return self.signed_distance_xy(x, y)

    def signed_distance_xy(self, x: float, y: float) -> float:
        return self.side_xy(x, y)[0]

    def side_xy(self, x: float, y: float) -> tuple[float, float, float]:
        """(signed distance, unit normal towards the interior at the nearest point)."""
        best, best_i, best_t = math.inf, 0, 0.0
        for i, (ax, ay, bx, by, _, _) in enumerate(self._segments):
            d, t = _seg_dist(x, y, ax, ay, bx, by)
            if d < best:
                best, best_i, best_t = d, i, t
        ax, ay, bx, by, nx, ny = self._segments[best_i]
        if best_t <= 0.0 and best_i > 0:
            vx, vy = ax, ay
            nx, ny = self._vertex_normals[best_i - 1]
        elif best_t >= 1.0 and best_i < len(self._segments) - 1:
            vx, vy = bx, by
            nx, ny = self._vertex_normals[best_i]
        else:
            vx, vy = ax, ay
        side = (x - vx) * nx + (y - vy) * ny
        norm = math.hypot(nx, ny) or 1.0
        return (best if side >= 0 else -best), nx / norm, ny / norm

    def mirror_xy(self, x: float, y: float) -> tuple[float, float, float]:
        """(signed distance, x, y): beyond the line, the point mirrored onto the interior side
        (so "which sector's stretch of border" is answered for it too)."""
        signed, nx, ny = self.side_xy(x, y)
        if signed >= 0:
            return signed, x, y
        return signed, x - 2 * signed * nx, y - 2 * signed * ny

    @property
    def length_m(self) -> float:
        return sum(math.hypot(s[2] - s[0], s[3] - s[1]) for s in self._segments)

    def point_at(self, chainage_m: float, offset_m: float = 0.0) -> tuple[float, float]:
        """``(lon, lat)`` at *chainage_m* along the line, *offset_m* to its left (interior)."""
        remaining = chainage_m
        for i, (ax, ay, bx, by, nx, ny) in enumerate(self._segments):
            length = math.hypot(bx - ax, by - ay)
            if remaining <= length or i == len(self._segments) - 1:
                f = remaining / length
                x = ax + f * (bx - ax) + offset_m * nx
                y = ay + f * (by - ay) + offset_m * ny
                proj = self.projection
                return proj.lon0 + x / proj.kx, proj.lat0 + y / proj.ky
            remaining -= length
        raise GeometryError("empty border line")  # pragma: no cover - constructor forbids it

    def sector_at(self, x: float, y: float) -> str | None:
        for sector in self.sectors.values():
            if sector.contains(x, y):
                return sector.id
        return None


@dataclass(frozen=True)
class RadioConfig:
    """Parameters of the patrol-radio processor (``[processing]`` of ``patrol-radio``)."""

    proximity_m: float = 50.0  # border_proximity within this distance (profile: geofence_margin_m)
    smoothing_window: int = 3  # fixes averaged for position records
    max_speed_kn: float = 80.0  # faster implied movement = a jump, rejected
    max_hdop: float = 10.0
    jitter_m: float = 25.0  # GNSS noise allowed on top of max speed
    hysteresis_m: float = 10.0  # distance back before a geofence event re-arms
    gap_reset_s: float = 120.0  # no accepted fix this long: re-anchor on the next one
    reanchor_after: int = 3  # consecutive consistent rejected fixes: re-anchor
    position_min_interval_s: float = 30.0
    position_min_distance_m: float = 100.0
    emergency_repeat_s: float = 5.0  # repeats of an emergency within this: no new alert
    unit_sectors: Mapping[str, str] = field(default_factory=dict)  # unit -> assigned sector

    def __post_init__(self) -> None:
        if self.smoothing_window < 1:
            raise ProcessorError("smoothing_window must be >= 1")
        if self.max_speed_kn <= 0:
            raise ProcessorError("max_speed_kn must be > 0")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any],
                      unit_sectors: Mapping[str, str] | None = None) -> RadioConfig:
        return cls(
            proximity_m=float(settings.get("geofence_margin_m", 50.0)),
            smoothing_window=int(settings.get("smoothing_window", 3)),
            max_speed_kn=float(settings.get("max_speed_kn", 80.0)),
            max_hdop=float(settings.get("max_hdop", 10.0)),
            jitter_m=float(settings.get("jitter_m", 25.0)),
            hysteresis_m=float(settings.get("hysteresis_m", 10.0)),
            gap_reset_s=float(settings.get("gap_reset_s", 120.0)),
            reanchor_after=int(settings.get("reanchor_after", 3)),
            position_min_interval_s=float(settings.get("position_min_interval_s", 30.0)),
            position_min_distance_m=float(settings.get("position_min_distance_m", 100.0)),
            emergency_repeat_s=float(settings.get("emergency_repeat_s", 5.0)),
            unit_sectors=dict(unit_sectors or dict(settings.get("unit_sectors", ()))),
        )


@dataclass
class _Track:
    last: tuple[float, float, float] | None = None  # t, x, y of the last accepted fix
    last_lonlat: tuple[float, float] | None = None
    window: deque[tuple[float, float, float, float]] = field(default_factory=deque)
    rejected: list[tuple[float, float, float]] = field(default_factory=list)
    reported: tuple[float, float, float] | None = None  # t, x, y of the last position record
    crossed: bool = False
    near: bool = False
    sector: str | None = None  # assigned sector
    outside_sector: bool = False
    current: str | None = None  # the sector the last accepted fix lies in
    fix_lost: bool = False  # a radio.fix_lost was given and no fix was accepted since
    accepted: int = 0
    rejected_count: int = 0


class RadioProcessor:
    """NmeaFix / RadioStatus in; radio.position, radio.geofence, radio.emergency out."""

    def __init__(self, config: RadioConfig, border: BorderGeometry) -> None:
        for unit, sector in config.unit_sectors.items():
            if sector not in border.sectors:
                raise ProcessorError(f"unit {unit!r} is assigned to unknown sector {sector!r}; "
                                     f"known: {sorted(border.sectors)}")
        self.config = config
        self.border = border
        self._tracks: dict[str, _Track] = {}
        self._max_speed_mps = config.max_speed_kn * KNOT_MPS
        self._emergency_until: dict[str, float] = {}
        self._emergency_repeats: dict[str, int] = {}

    @classmethod
    def from_profile(cls, profile: Any, *,
                     unit_sectors: Mapping[str, str] | None = None) -> RadioProcessor:
        import json
        from pathlib import Path

        settings = profile.settings
        data = json.loads(Path(settings["border_file"]).read_text("utf-8"))
        return cls(RadioConfig.from_settings(settings, unit_sectors), BorderGeometry.from_dict(data))

    def track_stats(self, unit: str) -> tuple[int, int]:
        """(accepted, rejected) fixes of *unit* so far."""
        track = self._tracks.get(unit)
        return (track.accepted, track.rejected_count) if track else (0, 0)

    def tick(self, now: float) -> list[Decision]:
        return []

    def feed(self, reading: Any) -> list[Decision]:
        if isinstance(reading, NmeaFix):
            return self._fix(reading)
        if isinstance(reading, RadioStatus):
            return self._status(reading)
        if isinstance(reading, FixLoss):
            return self._fix_lost(reading)
        return []

    def _fix_lost(self, loss: FixLoss) -> list[Decision]:
        track = self._tracks.get(loss.unit_id)
        if track is None:
            track = self._tracks[loss.unit_id] = _Track(
                sector=self.config.unit_sectors.get(loss.unit_id))
        if track.fix_lost:
            return []  # one event per outage: the receiver repeats its void fix every epoch
        track.fix_lost = True
        body: dict[str, Any] = {"unit": loss.unit_id, "since_ms": _ms(loss.t),
                                "sentence": loss.sentence, "reason": loss.reason}
        if track.last is not None and track.last_lonlat is not None:
            body.update(lon=track.last_lonlat[0], lat=track.last_lonlat[1],
                        fix_ms=_ms(track.last[0]))
        return [Decision("radio.fix_lost", body, loss.t, None,
                         f"{loss.unit_id}: GNSS fix lost ({loss.sentence} {loss.reason})",
                         decided_at=loss.t)]

    # ------------------------------------------------------------------ emergencies
    def _status(self, status: RadioStatus) -> list[Decision]:
        unit = status.unit_id
        if not (status.emergency or status.state == "emergency"):
            # A routine status between the repeats does not end the emergency: radios send
            # their periodic status on their own schedule.
            return []
        until = self._emergency_until.get(unit)
        self._emergency_until[unit] = status.t + self.config.emergency_repeat_s
        if until is not None and status.t <= until:
            self._emergency_repeats[unit] = self._emergency_repeats.get(unit, 0) + 1
            return []  # the radio repeats its emergency message: one alert is enough
        return [self._emergency(status)]

    def emergency_repeats(self, unit: str) -> int:
        """Repeated emergency messages of *unit* folded into an alert already given."""
        return self._emergency_repeats.get(unit, 0)

    def _emergency(self, status: RadioStatus) -> Decision:
        body: dict[str, Any] = {"unit": status.unit_id, "message": status.state}
        lat, lon, fix_t = status.lat, status.lon, status.t
        track = self._tracks.get(status.unit_id)
        if (lat is None or lon is None) and track is not None and track.last_lonlat:
            lon, lat = track.last_lonlat
            fix_t = track.last[0] if track.last else status.t
        if lat is not None and lon is not None:
            body.update(lat=float(lat), lon=float(lon), fix_ms=_ms(fix_t))
        where = f" at {lat:.5f},{lon:.5f}" if lat is not None and lon is not None else ""
        return Decision("radio.emergency", body, status.t, AlertLevel.ALARM,
                        f"EMERGENCY {status.unit_id}{where}", decided_at=status.t,
                        extra={"battery_pct": status.battery_pct})

    # ------------------------------------------------------------------ fixes
    def _accept(self, fix: NmeaFix, track: _Track, x: float, y: float) -> bool:
        cfg = self.config
        if not fix.valid or (fix.lat == 0.0 and fix.lon == 0.0):
            return False
        if fix.hdop is not None and fix.hdop > cfg.max_hdop:
            return False
        if track.last is None:
            return True
        t0, x0, y0 = track.last
        dt = fix.t - t0
        if dt > cfg.gap_reset_s:
            return True
        if dt < 0:
            return False  # out of order
        reach = self._max_speed_mps * dt + cfg.jitter_m
        if math.hypot(x - x0, y - y0) <= reach:
            return True
        # A run of rejected fixes consistent among themselves: the track truly moved.
        rejected = track.rejected
        if rejected:
            rt, rx, ry = rejected[-1]
            if math.hypot(x - rx, y - ry) > self._max_speed_mps * max(fix.t - rt, 0) + cfg.jitter_m:
                rejected.clear()
        rejected.append((fix.t, x, y))
        if len(rejected) >= cfg.reanchor_after:
            rejected.clear()
            return True
        return False

    def _fix(self, fix: NmeaFix) -> list[Decision]:
        cfg = self.config
        unit = fix.unit_id
        track = self._tracks.get(unit)
        if track is None:
            track = self._tracks[unit] = _Track(sector=cfg.unit_sectors.get(unit))
        x, y = self.border.projection.xy(fix.lon, fix.lat)
        if not self._accept(fix, track, x, y):
            track.rejected_count += 1
            return []
        track.accepted += 1
        track.fix_lost = False
        if track.rejected and track.last is not None:
            track.rejected.clear()
        track.last = (fix.t, x, y)
        track.last_lonlat = (fix.lon, fix.lat)
        window = track.window
        window.append((fix.t, x, y, fix.hdop or 0.0))
        while len(window) > cfg.smoothing_window or (window and fix.t - window[0][0] > cfg.gap_reset_s):
            window.popleft()
        events = self._geofence(fix, track, x, y)
        # Position first, events last: a consumer merging one call's bodies keeps the event's.
        return self._position(fix, track) + events

    def _geofence(self, fix: NmeaFix, track: _Track, x: float, y: float) -> list[Decision]:
        cfg = self.config
        out = []
        signed, mx, my = self.border.mirror_xy(x, y)
        here = self.border.sector_at(mx, my)
        track.current = here
        if track.sector is None and here is not None:
            track.sector = here  # no assignment: the sector of the first accepted fix
        sector = track.sector
        if signed < 0:
            if not track.crossed:
                track.crossed = True
                out.append(self._event(fix, "border_crossed", -signed, sector, AlertLevel.ALARM))
        elif track.crossed and signed >= cfg.hysteresis_m:
            track.crossed = False
        if 0 <= signed <= cfg.proximity_m:
            if not track.near and not track.crossed:
                track.near = True
                out.append(self._event(fix, "border_proximity", signed, sector,
                                       AlertLevel.WARNING))
        elif signed > cfg.proximity_m + cfg.hysteresis_m:
            track.near = False
        if sector is not None:
            poly = self.border.sectors[sector]
            inside = here == sector or poly.contains(mx, my)
            if (not inside and not track.outside_sector
                    and (abs(signed) >= cfg.hysteresis_m  # on the line the polygon edge and
                         or poly.boundary_distance(mx, my) >= cfg.hysteresis_m)):  # line differ
                track.outside_sector = True
                out.append(self._event(fix, "sector_exit", poly.boundary_distance(mx, my),
                                       sector, AlertLevel.WARNING))
            elif (inside and track.outside_sector
                  and poly.boundary_distance(mx, my) >= cfg.hysteresis_m):
                track.outside_sector = False
                out.append(self._event(fix, "sector_return", poly.boundary_distance(mx, my),
                                       sector, AlertLevel.INFO))
        return out

    def _event(self, fix: NmeaFix, kind: str, distance: float, sector: str | None,
               level: AlertLevel) -> Decision:
        body: dict[str, Any] = {"unit": fix.unit_id, "lat": fix.lat, "lon": fix.lon, "kind": kind,
                                "distance_m": round(distance, 1), "fix_ms": _ms(fix.t)}
        if sector is not None:
            body["sector"] = sector
        return Decision("radio.geofence", body, fix.t, level,
                        f"{kind} {fix.unit_id} ({distance:.0f} m)", decided_at=fix.t)

    def _position(self, fix: NmeaFix, track: _Track) -> list[Decision]:
        cfg = self.config
        window = track.window
        n = len(window)
        sx = sum(w[1] for w in window) / n
        sy = sum(w[2] for w in window) / n
        if track.reported is not None:
            t0, x0, y0 = track.reported
            if (fix.t - t0 < cfg.position_min_interval_s
                    and math.hypot(sx - x0, sy - y0) < cfg.position_min_distance_m):
                return []
        track.reported = (fix.t, sx, sy)
        proj = self.border.projection
        lat = proj.lat0 + sy / proj.ky
        lon = proj.lon0 + sx / proj.kx
        body: dict[str, Any] = {"unit": fix.unit_id, "lat": round(lat, 7), "lon": round(lon, 7),
                                "fix_ms": _ms(fix.t)}
        if fix.speed_kn is not None:
            body["speed_mps"] = round(fix.speed_kn * KNOT_MPS, 2)
        if fix.course_deg is not None:
            body["course_deg"] = fix.course_deg
        if fix.hdop is not None:
            body["hdop"] = fix.hdop
        if track.current is not None:
            body["sector"] = track.current
        return [Decision("radio.position", body, fix.t, None, f"{fix.unit_id} position",
                         decided_at=fix.t)]


def _ms(t: float) -> int:
    return max(0, round(t * 1000))
