"""The demo's report: one self-contained HTML page and a plain-text summary, for an official.

Pure renderers over :class:`~borderlink.report_model.DemoResults`: no I/O, no clock, no
network. The HTML page has inline CSS and inline SVG only (no scripts, no external URL), so it
opens from a USB stick on an offline machine and prints on A4. Every text value from the
results passes through :func:`html.escape`.

Pictures (each one ``<svg data-figure=...>``): ``timeline`` (alerts by device class, uplink
cuts shaded), ``map`` (border, sectors, sensors, patrol tracks, breaches, intrusions),
``spectrum`` (one head-to-tail plot per lab sample), ``backlog`` (unsynced records per node).
Colours are the Okabe–Ito palette, and every colour also has a shape, dash or text label.

Modules: :mod:`.page` assembles the page (CSS, header, tables), :mod:`.summary` writes the
text; :mod:`.timeline`, :mod:`.geomap`, :mod:`.spectra` and :mod:`.backlog` draw one picture
each from the shared pieces in :mod:`._svg`; :mod:`._format` formats numbers, times, labels.
"""

from __future__ import annotations

from borderlink.report.geomap import _heading as _heading
from borderlink.report.geomap import _Projection as _Projection
from borderlink.report.page import render_html
from borderlink.report.summary import render_summary

__all__ = ["render_html", "render_summary"]
