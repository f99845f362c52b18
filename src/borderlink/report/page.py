"""The HTML page: CSS, header, verdict, key-figure cards, sections, tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from borderlink.report._format import (
    _class_label,
    _clock,
    _duration,
    _e,
    _ms,
    _n,
    _pct,
    _period,
    _plural,
)
from borderlink.report.backlog import _backlog_svg
from borderlink.report.geomap import _map_svg
from borderlink.report.spectra import _spectrum_svg
from borderlink.report.timeline import _timeline_svg
from borderlink.report_model import (
    ALERT_LEVELS,
    AgencyView,
    DemoResults,
    KeyFigures,
)

AGENCY_NAMES = {
    "SBS": "State Border Service",
    "SCC": "State Customs Committee",
    "SMS": "State Migration Service",
}
RECORD_TYPE_NAMES = {
    "document.check": "document checks", "radiation.occupancy": "vehicles through a portal",
    "radiation.alarm": "radiation alarms", "intrusion.alert": "intrusion alerts",
    "radio.position": "patrol positions", "radio.emergency": "patrol emergencies",
    "radio.geofence": "patrol geofence events", "link.status": "link status changes",
    "call.record": "call records", "lab.analysis": "lab analyses",
    "alert.ack": "alert acknowledgements",
}


def _record_type_label(record_type: str) -> str:
    name = RECORD_TYPE_NAMES.get(record_type)
    return f"{name} ({record_type})" if name else record_type


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
    rows = [(_record_type_label(t), _n(int(view.by_type.get(t, 0)))) for t in sorted(view.by_type)]
    name = AGENCY_NAMES.get(code, "")
    out = [f'<div class="agency"><h3>{_e(code)}{" — " + _e(name) if name else ""}</h3>'
           f'<p>{_plural(view.records_seen, "record")} delivered, '
           f'{_n(view.signatures_verified)} signatures verified by the agency.</p>']
    out.append(_table(("record type", "records"), rows, (1,)) if rows else "<p>No records.</p>")
    fields = [(_record_type_label(t), f.replace("_", " "), _n(c.received), _n(c.withheld),
               _n(c.absent))
              for t, by_field in view.fields.items() for f, c in by_field.items()]
    if fields:
        out.append("<p>Personal-data fields, counted over the records delivered:</p>"
                   + _table(("record type", "field", "received", "withheld by policy",
                             "not in the record"), fields, (2, 3, 4), cls="fields"))
    elif view.withheld:
        withheld = "; ".join(f"{_record_type_label(t)}: " + ", ".join(
            f.replace("_", " ") for f in names) for t, names in sorted(view.withheld.items()))
        out.append(f"<p>Withheld by policy: {_e(withheld)}.</p>")
    return "".join(out) + "</div>"


def _alerts_table(results: DemoResults, limit: int = 200) -> str:
    """Every alarm and warning (then info alerts) as a table: what the timeline's marks say
    on hover, on paper too."""
    rank = {level: i for i, level in enumerate(reversed(ALERT_LEVELS))}
    chosen = sorted(results.alerts, key=lambda a: (rank.get(a.level, len(rank)), a.t))[:limit]
    chosen.sort(key=lambda a: a.t)
    rows = [(_clock(a.t), a.node_id, a.level, a.record_type, a.summary) for a in chosen]
    left = len(results.alerts) - len(chosen)
    return (_table(("time (UTC)", "node", "level", "record type", "what"), rows, cls="alerts")
            + (f'<p class="note">{_plural(left, "more alert")} of lower level not listed '
               "(all are in the hub's log).</p>" if left else ""))


def _lab_table(results: DemoResults) -> str:
    rows = [(s.sample_id, s.case_id, s.substance, "CONTROLLED" if s.controlled else "no",
             s.match_factor, s.reverse_match, s.instrument or "—",
             f"{s.retention_min:.2f}" if s.retention_min is not None else "—")
            for s in results.lab]
    return _table(("sample", "case", "identified as", "controlled", "match", "reverse match",
                   "instrument", "RT (min)"), rows, (4, 5, 7), cls="lab")


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
.spectra{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:8px}
.spectra figure{border:1px solid #ccc;border-radius:6px;padding:4px;margin:0;min-width:0}
.spectra figcaption{font-size:12px}
table{max-width:100%}td{overflow-wrap:anywhere}
.tag{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;font-weight:700;
 border:1.5px solid}
.tag.ctl{color:#9b1c14;border-color:#9b1c14}.tag.nc{color:#333;border-color:#777}
table{border-collapse:collapse;margin:6px 0 10px;font-size:14px}
th,td{border:1px solid #bbb;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eee}.r{text-align:right;font-variant-numeric:tabular-nums}
.agencies{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.agency{min-width:0}
.note{color:#555;font-size:12px}
@page{size:A4;margin:12mm}
@media print{body{padding:0;max-width:none;font-size:11pt}h2{break-after:avoid}
 .spectra{grid-template-columns:1fr 1fr 1fr}.spectra svg{width:100%}
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

    # What an officer needs first: the verdict, what each agency received, the audit and the
    # detection scores; then the pictures; the laboratory's spectra last, as small multiples.
    out.append("<h2>1. What each agency saw</h2>")
    if r.agencies:
        out.append('<p>"Withheld by policy": the record holds the field, and this agency\'s '
                   'policy kept its value from it. "Not in the record": nothing to disclose '
                   "(the reader did not send it).</p>")
        out.append('<div class="agencies">' + "".join(
            _agency_html(code, view) for code, view in sorted(r.agencies.items())) + "</div>")
    else:
        out.append("<p>No agency pulled records.</p>")

    out.append("<h2>2. Audit and detection scores</h2><h3>Audit</h3>" + _audit_html(r))
    out.append("<h3>Detections scored against the scenario's ground truth</h3>")
    if r.scores:
        out.append(_table(("device class", "cases", "recall", "precision", "latency p50",
                           "latency p99"),
                          ((_class_label(s.device_class), _n(s.cases), _pct(s.recall),
                            _pct(s.precision), _ms(s.latency_p50_ms), _ms(s.latency_p99_ms))
                           for s in r.scores), (1, 2, 3, 4, 5), cls="scores"))
        out.append('<p class="note">Latency: from the event\'s deciding moment to the signed '
                   "record, measured on this run's records as <code>borderlink simulate "
                   "score</code> measures it.</p>")
    else:
        out.append("<p>No scores.</p>")

    counts = {lvl: sum(1 for a in r.alerts if a.level == lvl) for lvl in ALERT_LEVELS}
    out.append("<h2>3. Alerts over the run</h2><figure>" + _timeline_svg(r) +
               f"<figcaption>{_plural(len(r.alerts), 'alert')}: "
               + ", ".join(f"{_n(c)} {lvl}" for lvl, c in counts.items())
               + ". Each mark is one alert (listed below). Hatched: a node's uplink to the "
               "hub was cut on purpose; the devices kept working.</figcaption></figure>")
    cut = [n for n in r.nodes if n.link_cut is not None]
    if cut:
        out.append("<p>Uplink cut: " + _e("; ".join(
            f"{n.node_id} {_clock(n.link_cut[0])}–{_clock(n.link_cut[1])}"
            for n in cut if n.link_cut)) + ".</p>")
    if r.alerts:
        out.append(_alerts_table(r))

    out.append("<h2>4. Map of the green border</h2>")
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
        events = sorted([(b.t, "geofence", b.unit, b.kind.replace("_", " "),
                          f"{b.lat:.4f}, {b.lon:.4f}") for b in geo.breaches]
                        + [(i.t, "intrusion", i.cls, i.direction, f"{i.lat:.4f}, {i.lon:.4f}")
                           for i in geo.intrusions])
        if events:
            out.append(_table(("time (UTC)", "event", "who", "what", "where (lat, lon)"),
                              ((_clock(t), *rest) for t, *rest in events), cls="geo"))
    else:
        out.append("<p>No map data in this scenario.</p>")

    out.append("<h2>5. Sync backlog per node</h2>")
    if r.nodes:
        out.append(f"<figure>{_backlog_svg(r)}<figcaption>Records each node has journalled but "
                   "the hub has not yet acknowledged. A node whose uplink is cut keeps "
                   "recording; its backlog grows and drains when the link returns."
                   "</figcaption></figure>")
    else:
        out.append("<p>No nodes.</p>")
    out.append("<h3>Devices</h3>")
    out.append(_table(("node", "device class", "profile", "records", "alerts", "last acked",
                       "uplink cut"),
                      ((n.node_id, _class_label(n.device_class), n.profile, _n(n.records),
                        _n(n.alerts), _n(n.last_acked_seq),
                        f"{_clock(n.link_cut[0])}–{_clock(n.link_cut[1])}" if n.link_cut
                        else "—") for n in r.nodes), (3, 4, 5), cls="devices"))

    out.append("<h2>6. Laboratory: identifications and their spectra</h2>")
    if r.lab:
        out.append(_lab_table(r))
        out.append('<div class="spectra">')
        for s in r.lab:
            tag = ('<span class="tag ctl">CONTROLLED</span>' if s.controlled
                   else '<span class="tag nc">not controlled</span>')
            out.append(f"<figure>{_spectrum_svg(s)}<figcaption><b>{_e(s.sample_id)}</b>: "
                       f"{_e(s.substance)} {tag} · match factor {s.match_factor}, reverse "
                       f"match {s.reverse_match}"
                       "</figcaption></figure>")
        out.append("</div>")
    else:
        out.append("<p>No laboratory samples in this run.</p>")
    out.append('<p class="note">Generated by borderlink from the demo\'s results; this page '
               "needs no network and no scripts.</p></body></html>")
    return "\n".join(out)
