"""The plain-text summary the demo prints at the end."""

from __future__ import annotations

from borderlink.report._format import _class_label, _duration, _n, _pct, _period, _plural
from borderlink.report_model import ALERT_LEVELS, DemoResults


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
            if view.fields:  # counted: a field absent from a record is not "withheld"
                denied = sorted(f"{fld.replace('_', ' ')} in {c.withheld} of "
                                f"{c.received + c.withheld + c.absent}"
                                for by_field in view.fields.values()
                                for fld, c in by_field.items() if c.withheld)
            else:
                denied = sorted({fld.replace("_", " ") for fields in view.withheld.values()
                                 for fld in fields})
            views.append(f"{code} {_n(view.records_seen)}"
                         + (f" (withheld by policy: {', '.join(denied[:4])}"
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
