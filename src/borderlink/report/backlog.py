"""The ``backlog`` picture: records not yet synced to the hub, one panel per node."""

from __future__ import annotations

import math

from borderlink.report._format import _class_label, _clock, _e, _n
from borderlink.report._svg import (
    BLUE,
    SKY,
    VERMILLION,
    _f,
    _hatch,
    _svg_open,
    _ticks,
    _time_domain,
    _time_ticks,
)
from borderlink.report_model import DemoResults

_TICK_LABEL_HALF_PX = 24.0  # half the width of "13:40:00" at 10 px, with a margin


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
            # A tick near the panel's right edge is labelled leftwards of it: centred, the
            # label of a tick at the very end of the run sticks out of the picture.
            anchor = "end" if x(t) > ox + panel_w - 8 - _TICK_LABEL_HALF_PX else "middle"
            out.append(f'<text x="{_f(x(t))}" y="{_f(oy + inner_t + ph + 13)}" '
                       f'text-anchor="{anchor}" font-size="10" fill="#555">'
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
