"""The ``timeline`` picture: alerts over the run by device class, uplink cuts shaded."""

from __future__ import annotations

import math
from collections.abc import Iterable

from borderlink.report._format import _class_label, _clock, _e, _plural
from borderlink.report._svg import (
    BLUE,
    GREY,
    ORANGE,
    VERMILLION,
    _f,
    _hatch,
    _marker,
    _svg_open,
    _time_domain,
    _time_ticks,
)
from borderlink.report_model import (
    ALERT_LEVELS,
    DEVICE_CLASSES,
    AlertEvent,
    DemoResults,
    NodeResult,
)

LEVEL_STYLES = {"info": (BLUE, "circle"), "warning": (ORANGE, "triangle"),
                "alarm": (VERMILLION, "diamond")}


def _cut_windows(nodes: Iterable[NodeResult]) -> list[tuple[float, float, list[str]]]:
    """Uplink-cut bands with the nodes cut in each: overlapping cuts (the demo cuts several
    nodes a moment apart) are one band with every node, so one label says how many."""
    cuts = sorted((float(n.link_cut[0]), float(n.link_cut[1]), n.node_id)
                  for n in nodes if n.link_cut is not None)
    bands: list[tuple[float, float, list[str]]] = []
    for a, b, node_id in cuts:
        if bands and a <= bands[-1][1]:
            start, end, ids = bands[-1]
            bands[-1] = (start, max(end, b), [*ids, node_id])
        else:
            bands.append((a, b, [node_id]))
    return bands


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
                   f'font-size="11" fill="#444">uplink cut: {_plural(len(ids), "node")}</text>')
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
               f'<text x="{_f(lx + 24)}" y="{_f(ly)}">uplink cut</text>')
    if dense_rows:
        out.append(f'<text x="{_f(lx + 230)}" y="{_f(ly)}">strips: busy rows, darker = more '
                   f'alerts</text>')
    out.append("</svg>")
    return "".join(out)
