"""Text formatting shared by the page, the pictures and the summary: counts, plurals, times."""

from __future__ import annotations

import time
from html import escape

from borderlink.report_model import DEVICE_CLASSES


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


def _class_label(device_class: str) -> str:
    return DEVICE_CLASSES.get(device_class, device_class.replace("_", " ").capitalize() or "Other")
