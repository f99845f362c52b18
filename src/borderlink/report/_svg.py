"""Shared SVG pieces: the palette, coordinates, axis ticks, markers, hatching, the ``<svg>`` tag."""

from __future__ import annotations

import math

from borderlink.report._format import _e
from borderlink.report_model import DemoResults

# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
BLUE, ORANGE, SKY, GREEN, VERMILLION, PURPLE, GREY = (
    "#0072B2", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#777777")


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


def _time_domain(results: DemoResults) -> tuple[float, float]:
    times = [results.started, results.ended, *(a.t for a in results.alerts)]
    times += [t for n in results.nodes for t, _ in n.backlog]
    t0, t1 = min(times), max(times)
    return (t0, t1) if t1 > t0 else (t0, t0 + 1.0)
