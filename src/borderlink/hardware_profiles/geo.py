"""Border geometry: the border line as a polyline, chainage/offset coordinates, sectors.

Positions along the border are handled as *chainage* (metres along the line from its first
vertex) and *offset* (metres from the line, positive on the interior side — to the left of the
line's direction). A local equirectangular projection around the line's mean latitude is
accurate to well under a metre over a sector of tens of kilometres.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BorderGeometry", "Sector", "point_in_polygon"]

_R = 6371008.8


@dataclass(frozen=True)
class Sector:
    id: str
    name: str
    chainage_m: tuple[float, float]
    depth_m: float
    polygon: tuple[tuple[float, float], ...]  # (lon, lat)


def point_in_polygon(lon: float, lat: float, polygon: tuple[tuple[float, float], ...]) -> bool:
    """Even-odd rule on (lon, lat) vertices."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > lat) != (y2 > lat):
            x = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if x > lon:
                inside = not inside
    return inside


@dataclass(frozen=True)
class BorderGeometry:
    line: tuple[tuple[float, float], ...]  # (lon, lat)
    sectors: tuple[Sector, ...]
    lat0: float
    name: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> BorderGeometry:  # type: ignore[type-arg]
        line = tuple((float(lon), float(lat)) for lon, lat in data["border_line"])
        sectors = tuple(
            Sector(s["id"], s.get("name", s["id"]), (float(s["chainage_m"][0]), float(s["chainage_m"][1])),
                   float(s.get("depth_m", 4000.0)), tuple((float(a), float(b)) for a, b in s["polygon"]))
            for s in data.get("sectors", ()))
        return cls(line=line, sectors=sectors, lat0=39.4 if not line else
                   round(sum(p[1] for p in line) / len(line), 1), name=data.get("name", ""))

    @classmethod
    def load(cls, path: str | Path) -> BorderGeometry:
        """Read a ``borderlink.border.v1`` JSON file (e.g. ``data/bilasuvar_border.json``)."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    # projection ----------------------------------------------------------------------------
    def _xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (math.radians(lon) * _R * math.cos(math.radians(self.lat0)), math.radians(lat) * _R)

    def _ll(self, x: float, y: float) -> tuple[float, float]:
        return (math.degrees(x / (_R * math.cos(math.radians(self.lat0)))), math.degrees(y / _R))

    @property
    def length_m(self) -> float:
        pts = [self._xy(*p) for p in self.line]
        return sum(math.dist(a, b) for a, b in itertools.pairwise(pts))

    def to_lonlat(self, chainage_m: float, offset_m: float) -> tuple[float, float]:
        """The point at *chainage_m* along the line, *offset_m* to its interior side."""
        pts = [self._xy(*p) for p in self.line]
        acc = 0.0
        for i in range(len(pts) - 1):
            (x1, y1), (x2, y2) = pts[i], pts[i + 1]
            seg = math.dist(pts[i], pts[i + 1])
            if chainage_m <= acc + seg or i == len(pts) - 2:
                f = (chainage_m - acc) / seg
                ux, uy = (x2 - x1) / seg, (y2 - y1) / seg
                return self._ll(x1 + f * (x2 - x1) - offset_m * uy, y1 + f * (y2 - y1) + offset_m * ux)
            acc += seg
        raise ValueError("empty border line")

    def to_chainage(self, lon: float, lat: float) -> tuple[float, float]:
        """(chainage, signed offset) of a point: offset > 0 on the interior side."""
        px, py = self._xy(lon, lat)
        pts = [self._xy(*p) for p in self.line]
        best: tuple[float, float, float] | None = None  # (distance, chainage, signed offset)
        acc = 0.0
        for i in range(len(pts) - 1):
            (x1, y1), (x2, y2) = pts[i], pts[i + 1]
            seg = math.dist(pts[i], pts[i + 1])
            ux, uy = (x2 - x1) / seg, (y2 - y1) / seg
            along = max(0.0, min(seg, (px - x1) * ux + (py - y1) * uy))
            cx, cy = x1 + along * ux, y1 + along * uy
            dist = math.hypot(px - cx, py - cy)
            side = -(px - x1) * uy + (py - y1) * ux
            if best is None or dist < best[0]:
                best = (dist, acc + along, math.copysign(dist, side) if dist else 0.0)
            acc += seg
        assert best is not None
        return best[1], best[2]

    def sector(self, sector_id: str) -> Sector:
        for s in self.sectors:
            if s.id == sector_id:
                return s
        raise KeyError(sector_id)

    def sector_at(self, lon: float, lat: float) -> Sector | None:
        for s in self.sectors:
            if point_in_polygon(lon, lat, s.polygon):
                return s
        return None
