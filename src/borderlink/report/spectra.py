"""The ``spectrum`` picture: one head-to-tail mass spectrum per lab sample."""

from __future__ import annotations

import math
from collections.abc import Sequence

from borderlink.report._format import _e
from borderlink.report._svg import BLUE, VERMILLION, _f, _svg_open, _ticks
from borderlink.report_model import LabResult


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
