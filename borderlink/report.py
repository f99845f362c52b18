"""The demo's report: one self-contained HTML page and a plain-text summary, for an official.

Pure renderers over :class:`~borderlink.report_model.DemoResults`: no I/O, no clock, no
network. The HTML page has inline CSS and inline SVG only (no scripts, no external URL), so it
opens from a USB stick on an offline machine and prints on A4. Every text value from the
results passes through :func:`html.escape`.

Pictures (each one ``<svg data-figure=...>``): ``timeline`` (alerts by device class, uplink
cuts shaded), ``map`` (border, sectors, sensors, patrol tracks, breaches, intrusions),
``spectrum`` (one head-to-tail plot per lab sample), ``backlog`` (unsynced records per node).
Colours are the Okabe–Ito palette, and every colour also has a shape, dash or text label.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from html import escape

from borderlink.report_model import (
    ALERT_LEVELS,
    DEVICE_CLASSES,
    AgencyView,
    AlertEvent,
    DemoResults,
    GeoData,
    Intrusion,
    KeyFigures,
    LabResult,
    NodeResult,
)

__all__ = ["render_html", "render_summary"]

AGENCY_NAMES = {
    "SBS": "State Border Service",
    "SCC": "State Customs Committee",
    "SMS": "State Migration Service",
}
# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
BLUE, ORANGE, SKY, GREEN, VERMILLION, PURPLE, GREY = (
    "#0072B2", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#777777")
TRACK_STYLES = [(BLUE, ""), (ORANGE, "8 4"), (PURPLE, "2 3"), (GREEN, "10 3 2 3"),
                (SKY, "6 2"), ("#000000", "1 2")]
LEVEL_STYLES = {"info": (BLUE, "circle"), "warning": (ORANGE, "triangle"),
                "alarm": (VERMILLION, "diamond")}
INTRUSION_COLOURS = {"person": VERMILLION, "vehicle": PURPLE, "animal": GREY}
COMPASS = {name: i * 22.5 for i, name in enumerate(
    ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE",
     "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"))}
M_PER_DEG_LAT = 111_320.0
RECORD_TYPE_NAMES = {
    "document.check": "document checks", "radiation.occupancy": "vehicles through a portal",
    "radiation.alarm": "radiation alarms", "intrusion.alert": "intrusion alerts",
    "radio.position": "patrol positions", "radio.emergency": "patrol emergencies",
    "radio.geofence": "patrol geofence events", "link.status": "link status changes",
    "call.record": "call records", "lab.analysis": "lab analyses",
    "alert.ack": "alert acknowledgements",
}


# --------------------------------------------------------------------------- formatting

def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _n(count: float) -> str:
    return f"{count:,}" if isinstance(count, int) else f"{count:,.1f}"


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count:,} {singular if count == 1 else (plural or singular + 's')}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _ms(value: float | None) -> str:
    return "—" if value is None else (f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms")


def _clock(t: float, seconds: bool = True) -> str:
    return time.strftime("%H:%M:%S" if seconds else "%H:%M", time.gmtime(t))


def _date(t: float) -> str:
    return time.strftime("%d %b %Y", time.gmtime(t))


def _period(start: float, end: float) -> str:
    if _date(start) == _date(end):
        return f"{_date(start)}, {_clock(start)}–{_clock(end)} UTC"
    return f"{_date(start)} {_clock(start)} – {_date(end)} {_clock(end)} UTC"


def _duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _record_type_label(record_type: str) -> str:
    name = RECORD_TYPE_NAMES.get(record_type)
    return f"{name} ({record_type})" if name else record_type


def _class_label(device_class: str) -> str:
    return DEVICE_CLASSES.get(device_class, device_class.replace("_", " ").capitalize() or "Other")


def _f(x: float) -> str:
    """A coordinate for SVG: short, no exponent."""
    return f"{x:.1f}"


def _nice_step(span: float, target: int) -> float:
    raw = max(span, 1e-12) / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * mag:
            return mult * mag
    return 10 * mag


def _ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    step = _nice_step(hi - lo, target)
    first = math.ceil(lo / step - 1e-9) * step
    out, v = [], first
    while v <= hi + step * 1e-9:
        out.append(round(v, 10))
        v += step
    return out


_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)


def _time_ticks(t0: float, t1: float, target: int = 8) -> tuple[list[float], bool]:
    """Tick times aligned to the UTC clock, and whether labels need seconds."""
    span = max(t1 - t0, 1.0)
    step = next((s for s in _TIME_STEPS if span / s <= target), 43200)
    first = math.ceil(t0 / step) * step
    ticks = [float(first + i * step) for i in range(int((t1 - first) // step) + 1)]
    return ticks, step < 60


def _hatch(pid: str) -> str:
    return (f'<defs><pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse" '
            f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#e8e8e8"/>'
            f'<line x1="0" y1="0" x2="0" y2="6" stroke="#9a9a9a" stroke-width="2"/>'
            f'</pattern></defs>')


def _marker(shape: str, x: float, y: float, r: float, fill: str, extra: str = "") -> str:
    style = f'fill="{fill}" stroke="#000" stroke-width="0.8"{extra}'
    if shape == "triangle":
        pts = f"{_f(x)},{_f(y - r * 1.15)} {_f(x + r)},{_f(y + r * 0.75)} {_f(x - r)},{_f(y + r * 0.75)}"
        return f'<polygon points="{pts}" {style}/>'
    if shape == "diamond":
        r *= 1.25
        pts = f"{_f(x)},{_f(y - r)} {_f(x + r)},{_f(y)} {_f(x)},{_f(y + r)} {_f(x - r)},{_f(y)}"
        return f'<polygon points="{pts}" {style}/>'
    if shape == "square":
        return f'<rect x="{_f(x - r)}" y="{_f(y - r)}" width="{_f(2 * r)}" height="{_f(2 * r)}" {style}/>'
    if shape == "cross":
        d = (f"M{_f(x - r)},{_f(y - r)}L{_f(x + r)},{_f(y + r)}"
             f"M{_f(x - r)},{_f(y + r)}L{_f(x + r)},{_f(y - r)}")
        return (f'<path d="{d}" stroke="#fff" stroke-width="5" fill="none"/>'
                f'<path d="{d}" stroke="{fill}" stroke-width="2.6" fill="none"{extra}/>')
    return f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(r)}" {style}/>'


def _svg_open(figure: str, width: float, height: float, title: str) -> str:
    return (f'<svg data-figure="{figure}" viewBox="0 0 {_f(width)} {_f(height)}" '
            f'width="{_f(width)}" height="{_f(height)}" role="img" '
            f'font-family="Segoe UI, Helvetica, Arial, sans-serif" font-size="12">'
            f'<title>{_e(title)}</title>')


def _cut_windows(nodes: Iterable[NodeResult]) -> list[tuple[float, float, list[str]]]:
    """Distinct uplink-cut windows with the nodes cut in each."""
    windows: dict[tuple[float, float], list[str]] = {}
    for node in nodes:
        if node.link_cut is not None:
            key = (float(node.link_cut[0]), float(node.link_cut[1]))
            windows.setdefault(key, []).append(node.node_id)
    return [(a, b, ids) for (a, b), ids in sorted(windows.items())]


def _time_domain(results: DemoResults) -> tuple[float, float]:
    times = [results.started, results.ended, *(a.t for a in results.alerts)]
    times += [t for n in results.nodes for t, _ in n.backlog]
    t0, t1 = min(times), max(times)
    return (t0, t1) if t1 > t0 else (t0, t0 + 1.0)


def _thin_series(samples: list[tuple[float, int]], t0: float, t1: float,
                 width_px: float) -> list[tuple[float, int]]:
    """At most two samples (lowest, highest, in time order) per pixel column; keeps peaks."""
    if len(samples) <= 2 * width_px:
        return samples
    columns: dict[int, list[tuple[float, int]]] = {}
    for t, v in samples:
        columns.setdefault(int((t - t0) / (t1 - t0) * width_px), []).append((t, v))
    out: list[tuple[float, int]] = []
    for col in sorted(columns):
        group = columns[col]
        low, high = min(group, key=lambda s: s[1]), max(group, key=lambda s: s[1])
        out += sorted({low, high})
    if out[-1] != samples[-1]:
        out.append(samples[-1])  # the final state decides "caught up"
    return out


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


# --------------------------------------------------------------------------- timeline

def _timeline_svg(results: DemoResults) -> str:
    t0, t1 = _time_domain(results)
    order = list(DEVICE_CLASSES)
    classes = {n.device_class for n in results.nodes}
    by_class: dict[str, list] = {}
    for alert in results.alerts:
        cls = results.device_class_of(alert.node_id) or "other"
        classes.add(cls)
        by_class.setdefault(cls, []).append(alert)
    rows = sorted(classes, key=lambda c: (order.index(c) if c in order else len(order), c))
    if not rows:
        rows = ["other"]
    left, right, top, row_h = 150.0, 80.0, 28.0, 36.0
    width = 1100.0
    plot_w = width - left - right
    plot_h = row_h * len(rows)
    height = top + plot_h + 70

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * plot_w

    out = [_svg_open("timeline", width, height, "Alerts over the run by device class"),
           _hatch("tl-hatch")]
    for a, b, ids in _cut_windows(results.nodes):
        xa, xb = x(max(a, t0)), x(min(b, t1))
        out.append(f'<rect x="{_f(xa)}" y="{_f(top)}" width="{_f(max(xb - xa, 1))}" '
                   f'height="{_f(plot_h)}" fill="url(#tl-hatch)" opacity="0.7">'
                   f'<title>uplink cut {_clock(a)}–{_clock(b)}: {_e(", ".join(ids))}</title></rect>')
        out.append(f'<text x="{_f((xa + xb) / 2)}" y="{_f(top - 6)}" text-anchor="middle" '
                   f'font-size="11" fill="#444">uplink cut ({len(ids)})</text>')
    dense_rows = 0
    for i, cls in enumerate(rows):
        y = top + i * row_h
        if i % 2:
            out.append(f'<rect x="{_f(left)}" y="{_f(y)}" width="{_f(plot_w)}" '
                       f'height="{_f(row_h)}" fill="#000" opacity="0.035"/>')
        out.append(f'<text x="{_f(left - 8)}" y="{_f(y + row_h / 2 + 4)}" '
                   f'text-anchor="end">{_e(_class_label(cls))}</text>')
        alerts = sorted(by_class.get(cls, []), key=lambda a: (
            ALERT_LEVELS.index(a.level) if a.level in ALERT_LEVELS else -1, a.t))
        # alerts that would overlap (same level, same 3 px) share one mark
        marks: dict[tuple[str, int], list[AlertEvent]] = {}
        for alert in alerts:
            marks.setdefault((alert.level, int(x(alert.t) // 3)), []).append(alert)
        dense = len(marks) > plot_w / 6  # marks would merge into a band: draw density instead
        dense_rows += dense
        busiest = max((len(g) for g in marks.values()), default=1)
        for (level, col), group in marks.items():
            colour, shape = LEVEL_STYLES.get(level, (GREY, "circle"))
            lane_y = y + row_h / 2 + {"alarm": -9, "warning": 0}.get(level, 9)
            first = group[0]
            tip = f"{_clock(first.t)} {first.node_id} [{level}] {first.summary}"
            if len(group) > 1:
                tip = (f"{len(group)} {level} alerts {_clock(first.t)}–{_clock(group[-1].t)}, "
                       f"first: {tip}")
            if dense:
                shade = 0.2 + 0.8 * math.log1p(len(group)) / math.log1p(busiest)
                out.append(f'<rect x="{_f(col * 3)}" y="{_f(lane_y - 3.5)}" width="3" '
                           f'height="7" fill="{colour}" fill-opacity="{shade:.2f}">'
                           f'<title>{_e(tip)}</title></rect>')
                continue
            mean_t = sum(a.t for a in group) / len(group)
            out.append(f'<g><title>{_e(tip)}</title>'
                       f'{_marker(shape, x(mean_t), lane_y, 4.5, colour)}</g>')
        if dense:
            for level in ALERT_LEVELS:
                lane_y = y + row_h / 2 + {"alarm": -9, "warning": 0}.get(level, 9)
                out.append(f'<text x="{_f(left + 3)}" y="{_f(lane_y + 3)}" font-size="8" '
                           f'fill="#333" stroke="#fff" stroke-width="2" paint-order="stroke">'
                           f'{level}</text>')
        out.append(f'<text x="{_f(left + plot_w + 8)}" y="{_f(y + row_h / 2 + 4)}" '
                   f'fill="#444">{_plural(len(alerts), "alert")}</text>')
    axis_y = top + plot_h
    out.append(f'<rect x="{_f(left)}" y="{_f(top)}" width="{_f(plot_w)}" height="{_f(plot_h)}" '
               f'fill="none" stroke="#888"/>')
    ticks, seconds = _time_ticks(t0, t1)
    for t in ticks:
        out.append(f'<line x1="{_f(x(t))}" y1="{_f(axis_y)}" x2="{_f(x(t))}" '
                   f'y2="{_f(axis_y + 5)}" stroke="#444"/>'
                   f'<text x="{_f(x(t))}" y="{_f(axis_y + 18)}" text-anchor="middle" '
                   f'font-size="11">{_clock(t, seconds)}</text>')
    out.append(f'<text x="{_f(left + plot_w / 2)}" y="{_f(axis_y + 34)}" text-anchor="middle" '
               f'fill="#444">time (UTC)</text>')
    lx, ly = left, height - 14
    for level in ALERT_LEVELS:
        colour, shape = LEVEL_STYLES[level]
        out.append(_marker(shape, lx + 5, ly - 4, 4.5, colour))
        out.append(f'<text x="{_f(lx + 15)}" y="{_f(ly)}">{level}</text>')
        lx += 90
    out.append(f'<rect x="{_f(lx)}" y="{_f(ly - 10)}" width="18" height="12" '
               f'fill="url(#tl-hatch)" stroke="#888"/>'
               f'<text x="{_f(lx + 24)}" y="{_f(ly)}">uplink cut (number of nodes)</text>')
    if dense_rows:
        out.append(f'<text x="{_f(lx + 230)}" y="{_f(ly)}">strips: busy rows, darker = more '
                   f'alerts</text>')
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------- map

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


# --------------------------------------------------------------------------- spectra

def _normalised(spectrum: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    peaks = [(float(mz), float(i)) for mz, i in spectrum if i > 0]
    top = max((i for _, i in peaks), default=0.0)
    return [(mz, i * 100.0 / top) for mz, i in peaks] if top > 0 else []


def _spectrum_svg(sample: LabResult) -> str:
    measured = _normalised(sample.sample_spectrum)
    library = _normalised(sample.library_spectrum)
    width, height = 540.0, 300.0
    left, right, top, bottom = 46.0, 14.0, 34.0, 40.0
    plot_w, plot_h = width - left - right, height - top - bottom
    mid = top + plot_h / 2
    amp = plot_h / 2 - 14  # room for the peak labels beyond 100 %
    mzs = [mz for mz, _ in measured + library] or [0.0, 100.0]
    lo = max(0.0, math.floor((min(mzs) - 10) / 50) * 50.0)
    hi = max(math.ceil((max(mzs) + 10) / 50) * 50.0, lo + 50)

    def x(mz: float) -> float:
        return left + (mz - lo) / (hi - lo) * plot_w

    title = (f"{sample.sample_id}: {sample.substance}, match {sample.match_factor}, "
             f"reverse {sample.reverse_match}")
    out = [_svg_open("spectrum", width, height, f"Mass spectrum of sample {title}")]
    out.append(f'<text x="{_f(left)}" y="14"><tspan font-weight="600">{_e(sample.sample_id)}'
               f'</tspan>: <tspan fill="{BLUE}">▲ measured</tspan> against <tspan '
               f'fill="{VERMILLION}">▼ library: {_e(sample.substance)}</tspan></text>')
    for v in (100, 50, 0, -50, -100):
        y = mid - v / 100 * amp
        out.append(f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(left + plot_w)}" y2="{_f(y)}" '
                   f'stroke="{"#444" if v == 0 else "#e2e2e2"}"/><text x="{_f(left - 5)}" '
                   f'y="{_f(y + 4)}" text-anchor="end" font-size="10">{abs(v)}</text>')
    for mz in _ticks(lo, hi, 6):
        out.append(f'<text x="{_f(x(mz))}" y="{_f(top + plot_h + 14)}" text-anchor="middle" '
                   f'font-size="10">{mz:g}</text>')
    out.append(f'<text x="{_f(left + plot_w / 2)}" y="{_f(height - 8)}" text-anchor="middle" '
               f'fill="#444">m/z</text><text x="12" y="{_f(mid)}" text-anchor="middle" '
               f'fill="#444" font-size="10" transform="rotate(-90 12 {_f(mid)})">'
               f'relative intensity (%)</text>')
    for peaks, sign, colour, label in ((measured, 1, BLUE, "sample"),
                                       (library, -1, VERMILLION, "library")):
        for mz, inten in peaks:
            y = mid - sign * inten / 100 * amp
            out.append(f'<line x1="{_f(x(mz))}" y1="{_f(mid)}" x2="{_f(x(mz))}" y2="{_f(y)}" '
                       f'stroke="{colour}" stroke-width="2"><title>{label} m/z {mz:g}: '
                       f'{inten:.0f} %</title></line>')
        labelled = sorted(peaks, key=lambda p: -p[1])[:5]
        for mz, inten in labelled:
            y = mid - sign * inten / 100 * amp
            dy = -4 if sign > 0 else 12
            out.append(f'<text x="{_f(x(mz))}" y="{_f(y + dy)}" text-anchor="middle" '
                       f'font-size="10" fill="{colour}" stroke="#fff" stroke-width="2.5" '
                       f'paint-order="stroke">{mz:g}</text>')
    if not measured and not library:
        out.append(f'<text x="{_f(left + plot_w / 2)}" y="{_f(mid - 8)}" text-anchor="middle" '
                   f'fill="#444">no spectrum recorded</text>')
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------- backlog

def _backlog_svg(results: DemoResults) -> str:
    nodes = list(results.nodes)
    t0, t1 = _time_domain(results)
    cols = 3 if len(nodes) > 2 else max(len(nodes), 1)
    panel_w, panel_h, gap = 350.0, 118.0, 16.0
    inner_l, inner_t, inner_b = 40.0, 22.0, 20.0
    rows = max(1, math.ceil(len(nodes) / cols))
    width = cols * panel_w + (cols - 1) * gap
    height = rows * (panel_h + gap) + 24
    out = [_svg_open("backlog", width, height, "Records not yet synced to the hub, per node"),
           _hatch("bl-hatch")]
    ticks, seconds = _time_ticks(t0, t1, 4)
    for k, node in enumerate(nodes):
        ox = (k % cols) * (panel_w + gap)
        oy = (k // cols) * (panel_h + gap)
        pw = panel_w - inner_l - 8
        ph = panel_h - inner_t - inner_b
        samples = _thin_series(sorted((float(t), int(v)) for t, v in node.backlog),
                               t0, t1, pw)
        peak = max((v for _, v in samples), default=0)
        ymax = max(_ticks(0, max(peak, 1), 2)[-1], peak, 10)  # 1-2 in flight stays low

        def x(t: float) -> float:
            return ox + inner_l + (t - t0) / (t1 - t0) * pw  # noqa: B023

        def y(v: float) -> float:
            return oy + inner_t + ph - v / ymax * ph  # noqa: B023

        if samples:
            last = samples[-1][1]
            state, colour = (("caught up", "#1a6630") if last == 0
                             else (f"{_n(last)} behind", VERMILLION))
            state = f"peak {_n(peak)} · end: {state}"
        else:
            state, colour = "no samples", "#555"
        out.append(f'<text x="{_f(ox)}" y="{_f(oy + 13)}"><tspan font-weight="600">'
                   f'{_e(node.node_id)}</tspan><tspan fill="#555" font-size="11" dx="6">'
                   f'{_e(_class_label(node.device_class))}</tspan></text>'
                   f'<text x="{_f(ox + panel_w - 8)}" y="{_f(oy + 13)}" text-anchor="end" '
                   f'font-size="11" fill="{colour}">{state}</text>')
        if node.link_cut is not None:
            xa = x(max(node.link_cut[0], t0))
            xb = x(min(node.link_cut[1], t1))
            out.append(f'<rect x="{_f(xa)}" y="{_f(oy + inner_t)}" '
                       f'width="{_f(max(xb - xa, 1))}" height="{_f(ph)}" '
                       f'fill="url(#bl-hatch)" opacity="0.7"><title>uplink cut '
                       f'{_clock(node.link_cut[0])}–{_clock(node.link_cut[1])}</title></rect>')
        out.append(f'<rect x="{_f(ox + inner_l)}" y="{_f(oy + inner_t)}" width="{_f(pw)}" '
                   f'height="{_f(ph)}" fill="none" stroke="#999"/>'
                   f'<text x="{_f(ox + inner_l - 4)}" y="{_f(oy + inner_t + 9)}" '
                   f'text-anchor="end" font-size="10">{_n(ymax)}</text>'
                   f'<text x="{_f(ox + inner_l - 4)}" y="{_f(oy + inner_t + ph)}" '
                   f'text-anchor="end" font-size="10">0</text>')
        for t in ticks:
            out.append(f'<text x="{_f(x(t))}" y="{_f(oy + inner_t + ph + 13)}" '
                       f'text-anchor="middle" font-size="10" fill="#555">'
                       f'{_clock(t, seconds)}</text>')
        if samples:
            line = " ".join(f"{_f(x(t))},{_f(y(v))}" for t, v in samples)
            base = y(0)
            out.append(f'<polygon points="{_f(x(samples[0][0]))},{_f(base)} {line} '
                       f'{_f(x(samples[-1][0]))},{_f(base)}" fill="{SKY}" fill-opacity="0.45"/>'
                       f'<polyline points="{line}" fill="none" stroke="{BLUE}" '
                       f'stroke-width="1.8"/>')
    ly = height - 8
    out.append(f'<rect x="0" y="{_f(ly - 10)}" width="18" height="12" fill="url(#bl-hatch)" '
               f'stroke="#888"/><text x="24" y="{_f(ly)}">uplink cut</text>'
               f'<rect x="120" y="{_f(ly - 10)}" width="18" height="12" fill="{SKY}" '
               f'fill-opacity="0.45" stroke="{BLUE}"/><text x="144" y="{_f(ly)}">records '
               f'journalled, not yet acknowledged by the hub (time UTC)</text></svg>')
    return "".join(out)


# --------------------------------------------------------------------------- tables, text

def _table(head: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = (),
           cls: str = "") -> str:
    """A table of escaped cells; the columns in *numeric* are right-aligned."""

    def cell(tag: str, i: int, value: object) -> str:
        attr = ' class="r"' if i in numeric else ""
        return f"<{tag}{attr}>{_e(value)}</{tag}>"

    out = [f'<table class="{cls}"><thead><tr>']
    out += [cell("th", i, h) for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _figure_cards(f: KeyFigures, results: DemoResults) -> list[tuple[str, str, str]]:
    """(number, label, detail) per measured key figure."""
    cards: list[tuple[str, str, str]] = []

    def parts(*pairs: tuple[int | None, str]) -> str:
        return " · ".join(f"{_n(v)} {label}" for v, label in pairs if v is not None)

    if f.travellers_checked is not None:
        cards.append((_n(f.travellers_checked), "travellers checked", parts(
            (f.control_lines, "control lines"), (f.travellers_cleared, "cleared"),
            (f.travellers_referred, "referred to 2nd line"))))
    if f.watchlist_hits is not None:
        cards.append((_n(f.watchlist_hits), "watchlist hits", "persons or documents on a list"))
    if f.vehicles_screened is not None:
        cards.append((_n(f.vehicles_screened), "vehicles screened", "radiation portal lanes"))
    if f.radiation_alarms is not None:
        nuis = f.radiation_nuisances
        detail = "" if nuis is None else (
            f"{_plural(nuis, 'natural (NORM) nuisance')} · "
            f"{_n(f.radiation_alarms - nuis)} to examine")
        cards.append((_n(f.radiation_alarms), "radiation alarms", detail))
    if f.intrusions is not None:
        cards.append((_n(f.intrusions), "green-border intrusions", "correlated ground-sensor alerts"))
    if f.patrol_breaches is not None:
        cards.append((_n(f.patrol_breaches), "patrol geofence breaches",
                      "" if f.emergencies is None else _plural(f.emergencies, "emergency call")))
    if f.lab_samples is not None:
        cards.append((_n(f.lab_identifications or 0), "controlled substances identified",
                      f"{_plural(f.lab_samples, 'lab sample')} analysed"))
    if f.link_outages is not None or f.calls is not None:
        cards.append((_n(f.link_outages or 0), "link outages", parts((f.calls, "calls logged"))))
    if f.records_signed is not None:
        cards.append((_n(f.records_signed), "records signed", parts(
            (f.records_verified, "signatures verified by the auditor"),
            (len(results.nodes) or None, "devices"))))
    for code, view in sorted(results.agencies.items()):
        withheld = len({name for names in view.withheld.values() for name in names})
        detail = (f"{_n(view.signatures_verified)} verified · "
                  f"{_plural(withheld, 'personal-data field')} withheld")
        cards.append((_n(view.records_seen), f"records seen by {code}", detail))
    return cards


def _verdict_html(results: DemoResults) -> str:
    failures = results.all_failures()
    if not failures:
        return ('<section class="verdict ok"><p class="big">✔ ALL GREEN</p><p>Every check '
                "passed: the auditor verified every record's signature and every node's hash "
                "chain, the transparency log is consistent, and every node caught up with the "
                "hub.</p></section>")
    items = "".join(f"<li>{_e(f)}</li>" for f in failures)
    return (f'<section class="verdict fail"><p class="big">✘ FAILED — '
            f'{_plural(len(failures), "problem")}</p><ul>{items}</ul></section>')


def _agency_html(code: str, view: AgencyView) -> str:
    types = sorted(set(view.by_type) | set(view.withheld))
    rows = [(_record_type_label(t), _n(int(view.by_type.get(t, 0))),
             ", ".join(f.replace("_", " ") for f in view.withheld.get(t, ())) or "none")
            for t in types]
    name = AGENCY_NAMES.get(code, "")
    return (f'<div class="agency"><h3>{_e(code)}{" — " + _e(name) if name else ""}</h3>'
            f'<p>{_plural(view.records_seen, "record")} delivered, '
            f'{_n(view.signatures_verified)} signatures verified by the agency.</p>'
            + (_table(("record type", "records", "personal-data fields withheld"), rows, (1,))
               if rows else "<p>No records.</p>") + "</div>")


def _audit_html(results: DemoResults) -> str:
    a = results.audit

    def mark(ok: bool) -> str:
        return "✔ pass" if ok else "✘ FAIL"

    rows = [
        ("signatures", f"{_n(a.signatures_ok)} of {_n(a.records_checked)} records",
         mark(a.signatures_ok == a.records_checked and a.records_checked > 0)),
        ("hash chains", f"{_n(a.chains_ok)} of {_n(a.nodes_checked)} nodes",
         mark(a.chains_ok == a.nodes_checked and a.nodes_checked > 0)),
        ("transparency log", f"{_n(a.log_size)} entries, consistency proof",
         mark(a.consistency_ok)),
        ("inclusion proofs", f"{_n(a.inclusion_checked)} checked",
         mark(not a.problems) if a.inclusion_checked else "— not checked"),
    ]
    problems = "".join(f"<li>{_e(p)}</li>" for p in a.problems)
    return (_table(("check", "scope", "result"), rows, cls="audit")
            + (f"<p>Problems found:</p><ul>{problems}</ul>" if problems else
               "<p>The auditor found no problem.</p>"))


_CSS = """
*{box-sizing:border-box}
body{font-family:"Segoe UI",Helvetica,Arial,sans-serif;color:#111;background:#fff;margin:0 auto;
 max-width:1160px;padding:24px;line-height:1.4}
h1{margin:0 0 4px;font-size:26px}h2{margin:28px 0 8px;font-size:20px;border-bottom:2px solid #222;
 padding-bottom:3px}h3{margin:14px 0 4px;font-size:16px}
.sub{color:#444;margin:0 0 14px}
.verdict{border:3px solid;border-radius:6px;padding:10px 16px;margin:12px 0}
.verdict.ok{border-color:#1a7f37;background:#e8f5ec}.verdict.fail{border-color:#b3261e;background:#fdecea}
.verdict .big{font-size:22px;font-weight:700;margin:2px 0}
.verdict.ok .big{color:#1a6630}.verdict.fail .big{color:#9b1c14}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px}
.card{border:1px solid #bbb;border-radius:6px;padding:8px 12px}
.card .num{font-size:26px;font-weight:700}.card .lbl{font-weight:600}
.card .det{color:#444;font-size:13px}
figure{margin:8px 0 16px}figcaption{color:#333;font-size:13px;margin-top:4px}
svg{max-width:100%;height:auto;display:block}
.spectra{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px}
.spectra figure{border:1px solid #ccc;border-radius:6px;padding:8px;margin:0}
.tag{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;font-weight:700;
 border:1.5px solid}
.tag.ctl{color:#9b1c14;border-color:#9b1c14}.tag.nc{color:#333;border-color:#777}
table{border-collapse:collapse;margin:6px 0 10px;font-size:14px}
th,td{border:1px solid #bbb;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eee}.r{text-align:right;font-variant-numeric:tabular-nums}
.agencies{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.note{color:#555;font-size:12px}
@page{size:A4;margin:12mm}
@media print{body{padding:0;max-width:none;font-size:11pt}h2{break-after:avoid}
 .spectra{grid-template-columns:1fr 1fr}.spectra svg{width:100%}
 figure,.card,table,.verdict,.agency{break-inside:avoid}
 .verdict.ok,.verdict.fail,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def render_html(results: DemoResults) -> str:
    """The whole report as one self-contained HTML document."""
    r = results
    f = r.resolved_figures()
    title = f"borderlink demo — {r.site}"
    span = (f"{_period(r.started, r.ended)} "
            f"({_duration(r.ended - r.started)} wall clock, {_duration(r.duration_s)} "
            f"of scenario time)")
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
           (f"<header><h1>{_e(title)}</h1><p class=\"sub\">Scenario <b>{_e(r.scenario)}</b>"
            f" · {_e(span)} · {_plural(len(r.nodes), 'device')}</p></header>"),
           _verdict_html(r), "<h2>Key figures</h2><div class=\"cards\">"]
    cards = _figure_cards(f, r)
    if not cards:
        out.append("<p>Nothing was measured.</p>")
    for num, label, detail in cards:
        out.append(f'<div class="card"><div class="num">{_e(num)}</div>'
                   f'<div class="lbl">{_e(label)}</div><div class="det">{_e(detail)}</div></div>')
    out.append("</div>")

    counts = {lvl: sum(1 for a in r.alerts if a.level == lvl) for lvl in ALERT_LEVELS}
    out.append("<h2>1. Alerts over the run</h2><figure>" + _timeline_svg(r) +
               f"<figcaption>{_plural(len(r.alerts), 'alert')}: "
               + ", ".join(f"{_n(c)} {lvl}" for lvl, c in counts.items())
               + ". Each mark is one alert; hover for details. Hatched: a node's uplink to the "
               "hub was cut on purpose; the devices kept working.</figcaption></figure>")

    out.append("<h2>2. Map of the green border</h2>")
    map_svg = _map_svg(r.geo) if r.geo is not None else ""
    if map_svg:
        geo = r.geo
        assert geo is not None
        out.append(f"<figure>{map_svg}<figcaption>{_plural(len(geo.sensors), 'ground sensor')},"
                   f" {_plural(len(geo.tracks), 'patrol track')}, "
                   f"{_plural(len(geo.breaches), 'geofence breach', 'geofence breaches')}, "
                   f"{_plural(len(geo.intrusions), 'intrusion alert')} (arrow: direction of "
                   f"travel). Equirectangular projection."
                   + (f" <span class=\"note\">{_e(geo.note)}</span>" if geo.note else "")
                   + "</figcaption></figure>")
    else:
        out.append("<p>No map data in this scenario.</p>")

    out.append("<h2>3. Laboratory: spectra against their library matches</h2>")
    if r.lab:
        out.append('<div class="spectra">')
        for s in r.lab:
            tag = ('<span class="tag ctl">CONTROLLED</span>' if s.controlled
                   else '<span class="tag nc">not controlled</span>')
            extra = " · ".join(x for x in (
                s.instrument, f"RT {s.retention_min:.2f} min" if s.retention_min is not None
                else "") if x)
            out.append(f"<figure>{_spectrum_svg(s)}<figcaption><b>{_e(s.substance)}</b> {tag} "
                       f"— match factor <b>{s.match_factor}</b>, reverse match "
                       f"<b>{s.reverse_match}</b> (of 999) · sample {_e(s.sample_id)}, case "
                       f"{_e(s.case_id)}" + (f" · {_e(extra)}" if extra else "")
                       + "</figcaption></figure>")
        out.append("</div>")
    else:
        out.append("<p>No laboratory samples in this run.</p>")

    out.append("<h2>4. Sync backlog per node</h2>")
    if r.nodes:
        out.append(f"<figure>{_backlog_svg(r)}<figcaption>Records each node has journalled but "
                   "the hub has not yet acknowledged. A node whose uplink is cut keeps "
                   "recording; its backlog grows and drains when the link returns."
                   "</figcaption></figure>")
    else:
        out.append("<p>No nodes.</p>")

    out.append("<h2>5. What each agency saw</h2>")
    if r.agencies:
        out.append('<div class="agencies">' + "".join(
            _agency_html(code, view) for code, view in sorted(r.agencies.items())) + "</div>")
    else:
        out.append("<p>No agency pulled records.</p>")

    out.append("<h2>6. Audit and detection scores</h2><h3>Audit</h3>" + _audit_html(r))
    out.append("<h3>Detections scored against the scenario's ground truth</h3>")
    if r.scores:
        out.append(_table(("device class", "cases", "recall", "precision", "latency p50",
                           "latency p99"),
                          ((_class_label(s.device_class), _n(s.cases), _pct(s.recall),
                            _pct(s.precision), _ms(s.latency_p50_ms), _ms(s.latency_p99_ms))
                           for s in r.scores), (1, 2, 3, 4, 5)))
    else:
        out.append("<p>No scores.</p>")
    out.append("<h3>Devices</h3>")
    out.append(_table(("node", "device class", "profile", "records", "alerts", "last acked",
                       "uplink cut"),
                      ((n.node_id, _class_label(n.device_class), n.profile, _n(n.records),
                        _n(n.alerts), _n(n.last_acked_seq),
                        f"{_clock(n.link_cut[0])}–{_clock(n.link_cut[1])}" if n.link_cut
                        else "—") for n in r.nodes), (3, 4, 5)))
    out.append('<p class="note">Generated by borderlink from the demo\'s results; this page '
               "needs no network and no scripts.</p></body></html>")
    return "\n".join(out)


# --------------------------------------------------------------------------- summary

def render_summary(results: DemoResults) -> str:
    """The plain-text summary the demo prints at the end, 10–25 lines, for an official."""
    r = results
    f = r.resolved_figures()
    failures = r.all_failures()
    lines = [f"borderlink demo — {r.site}, scenario {r.scenario!s}",
             (f"{_period(r.started, r.ended)} "
              f"({_duration(r.ended - r.started)}; {_duration(r.duration_s)} of scenario time), "
              f"{_plural(len(r.nodes), 'device')}."),
             "RESULT: ALL GREEN — every check passed." if not failures else
             f"RESULT: FAILED — {_plural(len(failures), 'problem')} (listed below)."]
    if f.travellers_checked is not None:
        s = f"Documents: {_plural(f.travellers_checked, 'traveller')} checked"
        if f.control_lines:
            s += f" at {_plural(f.control_lines, 'control line')}"
        details = [f"{_n(v)} {label}" for v, label in (
            (f.travellers_cleared, "cleared"), (f.travellers_referred, "referred to second line"),
            (f.watchlist_hits, "watchlist hits" if f.watchlist_hits != 1 else "watchlist hit"))
            if v is not None]
        lines.append(s + (": " + ", ".join(details) if details else "") + ".")
    if f.vehicles_screened is not None or f.radiation_alarms is not None:
        s = "Vehicles: "
        s += (f"{_plural(f.vehicles_screened, 'vehicle')} screened for radiation"
              if f.vehicles_screened is not None else "radiation portals")
        if f.radiation_alarms is not None:
            s += f"; {_plural(f.radiation_alarms, 'alarm')}"
            if f.radiation_nuisances is not None:
                s += (f", of which {_n(f.radiation_nuisances)} natural (NORM) nuisance"
                      f"{'s' if f.radiation_nuisances != 1 else ''} and "
                      f"{_n(f.radiation_alarms - f.radiation_nuisances)} to examine")
        lines.append(s + ".")
    if f.intrusions is not None or f.patrol_breaches is not None:
        parts = []
        if f.intrusions is not None:
            s = f"{_plural(f.intrusions, 'intrusion')} detected by ground sensors"
            if r.geo and r.geo.intrusions:
                kinds: dict[str, int] = {}
                for i in r.geo.intrusions:
                    kinds[i.cls] = kinds.get(i.cls, 0) + 1
                s += " (" + ", ".join(f"{_n(c)} {k}" for k, c in sorted(kinds.items())) + ")"
            parts.append(s)
        if f.patrol_breaches is not None:
            parts.append(f"{_plural(f.patrol_breaches, 'patrol geofence breach', 'patrol geofence breaches')}")
        if f.emergencies:
            parts.append(f"{_plural(f.emergencies, 'emergency call')}")
        lines.append("Green border: " + "; ".join(parts) + ".")
    if f.link_outages is not None or f.calls is not None:
        parts = [x for x in (
            _plural(f.link_outages, "link outage") + " detected" if f.link_outages is not None
            else "", _plural(f.calls, "call") + " logged" if f.calls is not None else "") if x]
        lines.append("Communications: " + ", ".join(parts) + ".")
    if r.lab or f.lab_samples is not None:
        s = (f"Laboratory: {_plural(f.lab_samples or 0, 'sample')} analysed, "
             f"{_plural(f.lab_identifications or 0, 'controlled substance')} identified")
        found = [x for x in r.lab if x.controlled][:4]
        if found:
            s += " (" + "; ".join(f"{x.substance} in case {x.case_id}, match {x.match_factor}"
                                  for x in found) + ")"
        lines.append(s + ".")
    a = r.audit
    if f.records_signed is not None:
        lines.append(f"Records: {_plural(f.records_signed, 'record')} signed by the devices; "
                     f"the auditor verified {_n(a.signatures_ok)} of {_n(a.records_checked)} "
                     f"signatures and {_n(a.chains_ok)} of {_n(a.nodes_checked)} hash chains.")
    lines.append(f"Transparency log: {_plural(a.log_size, 'entry', 'entries')}, "
                 + ("consistent" if a.consistency_ok else "NOT shown consistent")
                 + f"; {_plural(a.inclusion_checked, 'inclusion proof')} checked.")
    cut = [n for n in r.nodes if n.link_cut is not None]
    if cut:
        behind = [n for n in cut if n.backlog and max(n.backlog)[1] > 0]
        longest = max(n.link_cut[1] - n.link_cut[0] for n in cut if n.link_cut)
        lines.append(f"Uplink cut: {_plural(len(cut), 'device')} lost the hub for up to "
                     f"{_duration(longest)}, kept working and "
                     + ("all caught up." if not behind else
                        f"{_plural(len(behind), 'device')} did NOT catch up."))
    if r.agencies:
        views = []
        for code, view in sorted(r.agencies.items()):
            denied = sorted({fld.replace("_", " ") for fields in view.withheld.values()
                             for fld in fields})
            views.append(f"{code} {_n(view.records_seen)}"
                         + (f" (withheld: {', '.join(denied[:4])}"
                            + (", …" if len(denied) > 4 else "") + ")" if denied else ""))
        lines.append("Agencies saw: " + "; ".join(views) + ".")
    if r.scores:
        parts = [f"{_class_label(s.device_class)} {_pct(s.recall)}/{_pct(s.precision)}"
                 for s in r.scores]
        lines.append("Detection (recall/precision): " + ", ".join(parts) + ".")
    alert_counts = {lvl: sum(1 for x in r.alerts if x.level == lvl) for lvl in ALERT_LEVELS}
    lines.append(f"Alerts: {_plural(len(r.alerts), 'alert')} ("
                 + ", ".join(f"{_n(c)} {lvl}" for lvl, c in alert_counts.items()) + ").")
    if failures:
        lines.append("What failed:")
        lines += [f"  - {x}" for x in failures[:6]]
        if len(failures) > 6:
            lines.append(f"  … and {len(failures) - 6} more (see the report).")
    return "\n".join(lines) + "\n"
