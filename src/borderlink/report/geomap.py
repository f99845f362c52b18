"""The ``map`` picture: border, sectors, sensors, patrol tracks, breaches, intrusions."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from borderlink.report._format import _clock, _e
from borderlink.report._svg import (
    BLUE,
    GREEN,
    GREY,
    ORANGE,
    PURPLE,
    SKY,
    VERMILLION,
    _f,
    _marker,
    _nice_step,
    _svg_open,
    _ticks,
)
from borderlink.report_model import GeoData, Intrusion

TRACK_STYLES = [(BLUE, ""), (ORANGE, "8 4"), (PURPLE, "2 3"), (GREEN, "10 3 2 3"),
                (SKY, "6 2"), ("#000000", "1 2")]
INTRUSION_COLOURS = {"person": VERMILLION, "vehicle": PURPLE, "animal": GREY}
COMPASS = {name: i * 22.5 for i, name in enumerate(
    ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE",
     "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"))}
M_PER_DEG_LAT = 111_320.0


class _Projection:
    """Equirectangular, scaled by cos(mid-latitude), fitted to the data's bounds."""

    def __init__(self, points: Sequence[tuple[float, float]], max_w: float, max_h: float,
                 margin: float) -> None:
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        lat_lo, lat_hi, lon_lo, lon_hi = min(lats), max(lats), min(lons), max(lons)
        pad_lat = max((lat_hi - lat_lo) * 0.06, 0.005)
        pad_lon = max((lon_hi - lon_lo) * 0.06, 0.005)
        self.lat_lo, self.lat_hi = lat_lo - pad_lat, lat_hi + pad_lat
        self.lon_lo, self.lon_hi = lon_lo - pad_lon, lon_hi + pad_lon
        self.k = math.cos(math.radians((self.lat_lo + self.lat_hi) / 2))
        span_x = (self.lon_hi - self.lon_lo) * self.k
        span_y = self.lat_hi - self.lat_lo
        self.scale = min((max_w - 2 * margin) / span_x, (max_h - 2 * margin) / span_y)
        self.margin = margin
        self.width = span_x * self.scale + 2 * margin
        self.height = span_y * self.scale + 2 * margin

    def __call__(self, lat: float, lon: float) -> tuple[float, float]:
        return (self.margin + (lon - self.lon_lo) * self.k * self.scale,
                self.margin + (self.lat_hi - lat) * self.scale)

    def metres_per_px(self) -> float:
        return M_PER_DEG_LAT / self.scale


def _thin_track(points: list[tuple[float, float]], proj: _Projection,
                min_px: float = 1.5) -> list[tuple[float, float]]:
    """Drop fixes closer than *min_px* on the map to the last kept one (keeps the last)."""
    if len(points) <= 2:
        return points
    kept = [points[0]]
    lx, ly = proj(*points[0])
    for lat, lon in points[1:-1]:
        px, py = proj(lat, lon)
        if abs(px - lx) + abs(py - ly) >= min_px:
            kept.append((lat, lon))
            lx, ly = px, py
    kept.append(points[-1])
    return kept


def _geo_points(geo: GeoData) -> list[tuple[float, float]]:
    pts = [tuple(p) for p in geo.border]
    pts += [tuple(p) for poly in geo.sectors.values() for p in poly]
    pts += [(s.lat, s.lon) for s in geo.sensors]
    pts += [(la, lo) for track in geo.tracks.values() for _, la, lo in track]
    pts += [(b.lat, b.lon) for b in geo.breaches]
    pts += [(i.lat, i.lon) for i in geo.intrusions]
    pts += [(la, lo) for _, la, lo in geo.places]
    return [(float(a), float(b)) for a, b in pts]


def _heading(intrusion: Intrusion, geo: GeoData, proj: _Projection) -> float | None:
    """Degrees from north, from the heading, a compass point or inbound/outbound."""
    if intrusion.heading_deg is not None:
        return float(intrusion.heading_deg)
    word = intrusion.direction.strip().upper()
    if word in COMPASS:
        return COMPASS[word]
    if word not in ("INBOUND", "OUTBOUND") or len(geo.border) < 2:
        return None
    px, py = proj(intrusion.lat, intrusion.lon)
    best: tuple[float, float, float] | None = None
    for (a_lat, a_lon), (b_lat, b_lon) in zip(geo.border, geo.border[1:]):
        ax, ay = proj(a_lat, a_lon)
        bx, by = proj(b_lat, b_lon)
        dx, dy = bx - ax, by - ay
        seg = dx * dx + dy * dy or 1e-9
        u = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / seg))
        dist = math.hypot(ax + u * dx - px, ay + u * dy - py)
        if best is None or dist < best[0]:
            best = (dist, dx, -dy)  # east, north
    assert best is not None
    _, east, north = best
    # left of the direction (east, north) is (-north, east)
    n_e, n_n = (-north, east) if geo.interior != "right" else (north, -east)
    if word == "OUTBOUND":
        n_e, n_n = -n_e, -n_n
    return math.degrees(math.atan2(n_e, n_n)) % 360


def _arrow(x: float, y: float, heading: float, length: float, colour: str) -> str:
    rad = math.radians(heading)
    ux, uy = math.sin(rad), -math.cos(rad)
    x2, y2 = x + ux * length, y + uy * length
    hx, hy = x2 - ux * 8, y2 - uy * 8
    px, py = -uy * 4.5, ux * 4.5
    head = f"{_f(x2)},{_f(y2)} {_f(hx + px)},{_f(hy + py)} {_f(hx - px)},{_f(hy - py)}"
    return (f'<line x1="{_f(x)}" y1="{_f(y)}" x2="{_f(hx)}" y2="{_f(hy)}" stroke="{colour}" '
            f'stroke-width="2.4"/><polygon points="{head}" fill="{colour}" stroke="#000" '
            f'stroke-width="0.6"/>')


def _scale_bar(proj: _Projection, x: float, y: float) -> str:
    target_m = proj.metres_per_px() * 160
    metres = _nice_step(target_m, 1)
    if metres > target_m * 1.3:
        metres /= 2
    px = metres / proj.metres_per_px()
    label = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
    half = px / 2
    return (f'<rect x="{_f(x - 6)}" y="{_f(y - 18)}" width="{_f(px + 12)}" height="30" '
            f'fill="#fff" opacity="0.85"/>'
            f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(half)}" height="6" fill="#000"/>'
            f'<rect x="{_f(x + half)}" y="{_f(y)}" width="{_f(half)}" height="6" fill="#fff" '
            f'stroke="#000"/><text x="{_f(x)}" y="{_f(y - 5)}" font-size="11">0</text>'
            f'<text x="{_f(x + px)}" y="{_f(y - 5)}" text-anchor="end" font-size="11">'
            f'{label}</text>')


def _line_symbol(colour: str, dash: str, stroke_width: float) -> str:
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="0" y1="0" x2="20" y2="0" stroke="{colour}" '
            f'stroke-width="{stroke_width}"{dash_attr}/>')


def _map_svg(geo: GeoData) -> str:
    points = _geo_points(geo)
    if not points:
        return ""
    proj = _Projection(points, 1100.0, 760.0, 36.0)
    width = max(proj.width, 700.0)
    out = ["",  # the <svg> tag, once the legend's height is known
           (f'<rect x="0" y="0" width="{_f(proj.width)}" height="{_f(proj.height)}" '
            f'fill="#fbfbf7" stroke="#888"/>')]
    # graticule
    for lat in _ticks(proj.lat_lo, proj.lat_hi, 4):
        _, y = proj(lat, proj.lon_lo)
        out.append(f'<line x1="0" y1="{_f(y)}" x2="{_f(proj.width)}" y2="{_f(y)}" '
                   f'stroke="#ddd" stroke-width="0.8"/><text x="3" y="{_f(y - 3)}" '
                   f'font-size="10" fill="#666">{lat:.2f}°N</text>')
    for lon in _ticks(proj.lon_lo, proj.lon_hi, 5):
        x, _ = proj(proj.lat_lo, lon)
        out.append(f'<line x1="{_f(x)}" y1="0" x2="{_f(x)}" y2="{_f(proj.height)}" '
                   f'stroke="#ddd" stroke-width="0.8"/><text x="{_f(x + 3)}" '
                   f'y="{_f(proj.height - 4)}" font-size="10" fill="#666">{lon:.2f}°E</text>')

    def path(coords: Iterable[Sequence[float]]) -> str:
        return " ".join(f"{_f(px)},{_f(py)}" for px, py in (proj(c[0], c[1]) for c in coords))

    fills = ["#dbe9f6", "#fbe8cf", "#dcefe6", "#efdcea"]
    for i, (name, poly) in enumerate(geo.sectors.items()):
        if len(poly) < 3:
            continue
        out.append(f'<polygon points="{path(poly)}" fill="{fills[i % len(fills)]}" '
                   f'fill-opacity="0.7" stroke="#7a8a99" stroke-width="1" '
                   f'stroke-dasharray="5 3"><title>{_e(name)}</title></polygon>')
        cx = sum(proj(*p)[0] for p in poly) / len(poly)
        cy = sum(proj(*p)[1] for p in poly) / len(poly)
        out.append(f'<text x="{_f(cx)}" y="{_f(cy)}" text-anchor="middle" font-weight="600" '
                   f'fill="#3c4a57" stroke="#fff" stroke-width="3" paint-order="stroke">'
                   f'{_e(name)}</text>')
    if len(geo.border) >= 2:
        out.append(f'<polyline points="{path(geo.border)}" fill="none" stroke="#fff" '
                   f'stroke-width="7"/><polyline points="{path(geo.border)}" fill="none" '
                   f'stroke="#222" stroke-width="3.2"><title>state border</title></polyline>'
                   f'<polyline points="{path(geo.border)}" fill="none" stroke="#fff" '
                   f'stroke-width="1.2" stroke-dasharray="10 8"/>')
    for sensor in geo.sensors:
        x, y = proj(sensor.lat, sensor.lon)
        tip = f"sensor {sensor.sensor_id}" + (f" ({sensor.kind})" if sensor.kind else "")
        out.append(f'<g><title>{_e(tip)}</title>{_marker("square", x, y, 3, GREEN)}</g>')
    units = list(geo.tracks)
    for i, unit in enumerate(units):
        colour, dash = TRACK_STYLES[i % len(TRACK_STYLES)]
        track = geo.tracks[unit]
        if not track:
            continue
        pts = _thin_track([(p[1], p[2]) for p in track], proj)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<polyline points="{path(pts)}" fill="none" stroke="{colour}" '
                   f'stroke-width="2.4" stroke-linejoin="round"{dash_attr}>'
                   f'<title>patrol {_e(unit)}: {len(track)} fixes, {_clock(track[0][0])}–'
                   f'{_clock(track[-1][0])}</title></polyline>')
        sx, sy = proj(*pts[0])
        ex, ey = proj(*pts[-1])
        out.append(_marker("circle", sx, sy, 3.5, "#fff") + _marker("circle", ex, ey, 4, colour))
        out.append(f'<text x="{_f(ex + 7)}" y="{_f(ey - 6)}" font-size="11" fill="#000" '
                   f'stroke="#fff" stroke-width="3" paint-order="stroke">{_e(unit)}</text>')
    for name, lat, lon in geo.places:
        x, y = proj(lat, lon)
        out.append(f'{_marker("square", x, y, 6, "#fff")}{_marker("square", x, y, 3, "#000")}'
                   f'<text x="{_f(x + 10)}" y="{_f(y + 16)}" font-weight="600" stroke="#fff" '
                   f'stroke-width="3" paint-order="stroke">{_e(name)}</text>')
    for b in geo.breaches:
        x, y = proj(b.lat, b.lon)
        tip = f"{_clock(b.t)} patrol {b.unit}: {b.kind.replace('_', ' ')}"
        out.append(f'<g><title>{_e(tip)}</title>{_marker("cross", x, y, 6, VERMILLION)}</g>')
    for intrusion in geo.intrusions:
        x, y = proj(intrusion.lat, intrusion.lon)
        colour = INTRUSION_COLOURS.get(intrusion.cls, ORANGE)
        heading = _heading(intrusion, geo, proj)
        tip = (f"{_clock(intrusion.t)} intrusion: {intrusion.cls}, {intrusion.direction}"
               + (f" (heading {heading:.0f}°)" if heading is not None else ""))
        arrow = _arrow(x, y, heading, 30, colour) if heading is not None else ""
        out.append(f'<g><title>{_e(tip)}</title>{arrow}'
                   f'{_marker("triangle", x, y, 6, colour)}</g>')
    # north arrow and scale bar
    nx = proj.width - 28
    out.append(f'<rect x="{_f(nx - 14)}" y="8" width="28" height="56" fill="#fff" '
               f'opacity="0.85"/>{_arrow(nx, 60, 0, 32, "#000")}'
               f'<text x="{_f(nx)}" y="23" text-anchor="middle" font-weight="700">N</text>')
    out.append(_scale_bar(proj, 20, proj.height - 30))
    # legend, wrapped to the map's width
    items: list[tuple[str, str, float]] = [
        (_line_symbol("#222", "", 3.2), "state border", 120),
        (('<rect x="0" y="-6" width="20" height="12" fill="#dbe9f6" stroke="#7a8a99" '
          'stroke-dasharray="5 3"/>'), "sector", 85),
        (_marker("square", 10, 0, 3, GREEN), "ground sensor", 125),
        (_marker("cross", 10, 0, 6, VERMILLION), "patrol geofence breach", 190),
        (_marker("circle", 10, 0, 3.5, "#fff"), "track start", 105),
    ]
    for cls in ("person", "vehicle", "animal", "unknown"):
        colour = INTRUSION_COLOURS.get(cls, ORANGE)
        items.append((_arrow(6, 4, 45, 18, colour) + _marker("triangle", 6, 4, 5, colour),
                      f"intrusion: {cls}", 135))
    for i, unit in enumerate(units):
        colour, dash = TRACK_STYLES[i % len(TRACK_STYLES)]
        items.append((_line_symbol(colour, dash, 2.4), f"patrol {unit}",
                      40 + 7 * len(f"patrol {unit}")))
    x, ly = 10.0, proj.height + 22
    out.append('<g class="legend">')
    for symbol, label, advance in items:
        if x + advance > width and x > 10:
            x, ly = 10.0, ly + 26
        out.append(f'<g transform="translate({_f(x)},{_f(ly)})">{symbol}'
                   f'<text x="26" y="4">{_e(label)}</text></g>')
        x += advance
    out.append("</g>")
    height = ly + 20
    out[0] = _svg_open("map", width, height, "Map: border line, sectors, sensors, patrol "
                       "tracks, geofence breaches and intrusion alerts")
    out.append("</svg>")
    return "".join(out)
