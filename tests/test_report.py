"""The demo report: a self-contained, escaped HTML page with its pictures, and the summary."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from borderlink.hardware_profiles.loader import DATA_DIR
from borderlink.report import _heading, _Projection, render_html, render_summary
from borderlink.report_model import (
    AgencyView,
    AlertEvent,
    AuditResult,
    Breach,
    DemoResults,
    GeoData,
    Intrusion,
    KeyFigures,
    LabResult,
    NodeResult,
    ScoreRow,
    Sensor,
    results_from_json,
    results_to_json,
)

T0 = 1_795_770_000.0  # 2026-11-27 09:00 UTC
RUN_S = 300.0
CUT = (T0 + 110.0, T0 + 170.0)

# The pilot's (plausible, not surveyed) border: line, sectors, sensor nodes, the BCP.
BORDER_FILE = DATA_DIR / "bilasuvar_border.json"
BORDER_DATA = json.loads(BORDER_FILE.read_text(encoding="utf-8"))
BORDER_GEO = GeoData.from_border_data(BORDER_DATA)
BORDER = list(BORDER_GEO.border)

# Major EI ions of hardware_profiles/data/ms_library.json.
LIBRARY = {
    "Cocaine": [(82, 100), (182, 88), (83, 42), (94, 32), (303, 26), (77, 24), (105, 23),
                (42, 20), (96, 16), (81, 14), (198, 10), (272, 7), (122, 8), (150, 7)],
    "Heroin": [(327, 100), (369, 72), (268, 64), (310, 40), (43, 38), (215, 30), (204, 27),
               (328, 24), (146, 16), (162, 14), (42, 12), (370, 18)],
    "Caffeine": [(194, 100), (109, 60), (67, 40), (55, 35), (82, 34), (42, 22), (195, 11),
                 (193, 8), (165, 5)],
}

NODES = [
    ("DOC-L1-01", "document_reader", "docreader-first-line"),
    ("DOC-L1-02", "document_reader", "docreader-first-line"),
    ("DOC-L2-01", "document_reader", "docreader-second-line"),
    ("RPM-LANE-1", "radiation_portal_monitor", "rpm-lane"),
    ("RPM-LANE-2", "radiation_portal_monitor", "rpm-lane"),
    ("UGS-S2-GW", "ground_sensor", "ground-sensor-gateway"),
    ("UGS-S3-GW", "ground_sensor", "ground-sensor-gateway"),
    ("RADIO-GW", "patrol_radio", "patrol-radio"),
    ("TEL-BCP", "telephony", "telephony-unit"),
    ("LAB-GCFID", "gc_fid", "gc-fid-gc2010"),
    ("LAB-GCMS", "gc_ms", "gcms-qp2010"),
]
CUT_NODES = {"DOC-L1-02", "RPM-LANE-2", "UGS-S3-GW"}
ALERT_KINDS = {
    "document_reader": [("document.check", "warning", "referred to second line: expiry"),
                        ("document.check", "alarm", "watchlist hit (lost/stolen document)")],
    "radiation_portal_monitor": [("radiation.alarm", "warning", "gamma alarm 5.2 sigma, NORM nuisance"),
                         ("radiation.alarm", "alarm", "gamma+neutron alarm 9.8 sigma")],
    "ground_sensor": [("intrusion.alert", "alarm", "person crossing inbound, 1.3 m/s"),
                      ("intrusion.alert", "info", "animal suppressed")],
    "patrol_radio": [("radio.geofence", "warning", "patrol within 200 m of the border"),
              ("radio.emergency", "alarm", "emergency button")],
    "telephony": [("link.status", "warning", "IP link degraded, 12 % loss")],
    "gc_fid": [("lab.analysis", "info", "chromatogram: 4 peaks")],
    "gc_ms": [("lab.analysis", "alarm", "controlled substance identified")],
}


def _offset(lat: float, lon: float, km_inside: float) -> tuple[float, float]:
    """Move a point ``km_inside`` north-east, into Azerbaijan (left of the line's direction)."""
    return lat + km_inside * 0.0064, lon + km_inside * 0.0083


def _along(frac: float) -> tuple[float, float]:
    pos = frac * (len(BORDER) - 1)
    i = min(int(pos), len(BORDER) - 2)
    u = pos - i
    (a, b), (c, d) = BORDER[i], BORDER[i + 1]
    return a + (c - a) * u, b + (d - b) * u


def _spectrum(rng: random.Random, peaks: list[tuple[int, int]]) -> list[tuple[float, float]]:
    measured = [(float(mz), max(1.0, i * rng.uniform(0.85, 1.1))) for mz, i in peaks]
    measured += [(float(rng.randint(40, 300)), rng.uniform(1, 6)) for _ in range(5)]
    return measured


def sample_results(seed: int = 7, **changes: Any) -> DemoResults:
    """A realistic smoke run at Bilasuvar: 11 nodes, a 60 s uplink cut, three lab samples."""
    rng = random.Random(seed)
    nodes, alerts = [], []
    for node_id, cls, profile in NODES:
        events = [(T0 + rng.uniform(2, RUN_S - 2), *rng.choice(ALERT_KINDS[cls]))
                  for _ in range(rng.randint(2, 9))]
        alerts += [AlertEvent(t, node_id, rt, lvl, text) for t, rt, lvl, text in events]
        cut = CUT if node_id in CUT_NODES else None
        rate = rng.uniform(0.2, 4.0)
        backlog, pending = [], 0.0
        for k in range(0, int(RUN_S) + 1, 5):
            t = T0 + k
            if cut and cut[0] <= t < cut[1]:
                pending += rate * 5  # journalled, not acknowledged
            elif pending > 2:
                pending = max(0.0, pending - 40)  # catching up after the cut
            else:
                pending = rng.choice((0, 0, 0, 0, 1, 2))  # in flight
            backlog.append((t, int(pending)))
        backlog.append((T0 + RUN_S + 2, 0))  # the final sync
        records = int(rate * RUN_S)
        nodes.append(NodeResult(node_id, cls, profile, records, len(events), records,
                                backlog, cut))
    nodes_at = {x.sensor_id.rsplit("-", 1)[0]: x for x in BORDER_GEO.sensors}  # one per node
    geo = GeoData.from_border_data(
        BORDER_DATA,
        tracks={  # out along the line and back, 0.2-1 km inside
            unit: [(T0 + i * 5, *_offset(*_along(start + 0.1 * (1 - abs(1 - i / 30))),
                                         0.6 + 0.4 * math.sin(i / 5))) for i in range(61)]
            for unit, start in (("P-21", 0.28), ("P-34", 0.57), ("P-40", 0.04))
        },
        breaches=[Breach(T0 + 95, "P-21", *_offset(*_along(0.31), 0.1), "border_proximity"),
                  Breach(T0 + 210, "P-34", *_offset(*_along(0.64), -0.15), "border_crossed")],
        intrusions=[
            Intrusion(T0 + 60, *_offset(n.lat, n.lon, 0.3), direction, cls, heading)
            for n, direction, cls, heading in zip(
                nodes_at.values(), ("inbound", "SW", "outbound"), ("person", "vehicle", "animal"),
                (None, None, 200.0))
        ],
    )
    lab = [
        LabResult("SMP-0042", "CASE-2026-118", "Cocaine", 912, 934, True,
                  _spectrum(rng, LIBRARY["Cocaine"]), LIBRARY["Cocaine"], "GCMS-QP2010", 11.42),
        LabResult("SMP-0043", "CASE-2026-118", "Caffeine", 887, 901, False,
                  _spectrum(rng, LIBRARY["Caffeine"]), LIBRARY["Caffeine"], "GCMS-QP2010", 8.05),
        LabResult("SMP-0051", "CASE-2026-121", "Heroin", 845, 870, True,
                  _spectrum(rng, LIBRARY["Heroin"]), LIBRARY["Heroin"], "GCMS-QP2010"),
    ]
    withheld_doc = ["surname", "given_names", "document_number", "birth_date",
                    "personal_number", "mrz"]
    agencies = {
        "SBS": AgencyView(9_412, {"document.check": 1_203, "intrusion.alert": 14,
                                  "radio.position": 8_120, "radio.geofence": 2,
                                  "link.status": 6, "call.record": 67},
                          {"call.record": ["calling_number", "called_number"]}, 9_412),
        "SCC": AgencyView(1_412, {"radiation.occupancy": 312, "radiation.alarm": 3,
                                  "lab.analysis": 3, "document.check": 1_094},
                          {"document.check": withheld_doc}, 1_412),
        "SMS": AgencyView(1_203, {"document.check": 1_203}, {}, 1_203),
    }
    total = sum(n.records for n in nodes)
    results = DemoResults(
        site="Bilasuvar BCP", scenario="smoke", started=T0, ended=T0 + RUN_S,
        duration_s=3_600.0, nodes=nodes, alerts=alerts, geo=geo, lab=lab, agencies=agencies,
        audit=AuditResult(total, total, len(nodes), len(nodes), total, True, 64, []),
        scores=[ScoreRow("document_reader", 1.0, 1.0, 3.1, 9.8, 1_203),
                ScoreRow("radiation_portal_monitor", 1.0, 0.667, 12.0, 41.0, 312),
                ScoreRow("ground_sensor", 0.929, 0.929, 180.0, 420.0, 14),
                ScoreRow("gc_ms", 1.0, None, 850.0, 1_900.0, 3)],
        figures=KeyFigures(travellers_checked=1_203, control_lines=2, travellers_cleared=1_180,
                           travellers_referred=19, watchlist_hits=4, vehicles_screened=312,
                           radiation_alarms=3, radiation_nuisances=2, emergencies=1,
                           link_outages=1, calls=67),
    )
    return dataclasses.replace(results, **changes)


class StrictishParser(HTMLParser):
    """Collects tags, attributes and text; checks that every element is closed in order."""

    VOID = frozenset(("meta", "link", "br", "hr", "img", "input", "source", "col", "area",
                      "base", "wbr"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]!r}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> StrictishParser:
    parser = StrictishParser()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == [], f"unclosed elements: {parser.stack}"
    return parser


def figures_of(parser: StrictishParser) -> list[str]:
    return [str(attrs.get("data-figure")) for tag, attrs in parser.tags if tag == "svg"]


def test_page_is_well_formed_and_self_contained() -> None:
    page = render_html(sample_results())
    parser = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    names = {tag for tag, _ in parser.tags}
    assert "script" not in names and "link" not in names and "img" not in names
    for tag, attrs in parser.tags:
        for name, value in attrs.items():
            if name in ("src", "href", "xlink:href", "action"):
                assert not re.match(r"\s*(https?:)?//", value or ""), (tag, name, value)
            assert not (name.startswith("on")), f"event handler {name} on <{tag}>"
    assert not re.search(r"https?://", page), "no URL of any kind in the page"
    assert "@import" not in page
    for match in re.finditer(r"url\(([^)]*)\)", page):
        assert match.group(1).startswith("#"), match.group(0)  # only in-page SVG patterns


def test_one_svg_per_picture() -> None:
    results = sample_results()
    parser = parse(render_html(results))
    figures = figures_of(parser)
    assert sorted(figures) == sorted(["timeline", "map", "backlog"] + ["spectrum"] * len(results.lab))
    # each spectrum plot names its substance and both match factors in its caption
    text = "".join(parser.text)
    for sample in results.lab:
        assert f"match factor {sample.match_factor}, reverse match {sample.reverse_match}" in text
        assert sample.substance in text


def test_header_verdict_and_key_figures() -> None:
    results = sample_results()
    text = " ".join(parse(render_html(results)).text)
    assert "ALL GREEN" in text and "FAILED" not in text
    for figure in ("1,203", "travellers checked", "312", "vehicles screened", "radiation alarms",
                   "2 natural (NORM) nuisance", "green-border intrusions",
                   "patrol geofence breaches", "controlled substances identified",
                   "records signed", "records seen by SCC"):
        assert figure in text, figure
    total = sum(n.records for n in results.nodes)
    assert f"{total:,}" in text
    # the agency tables name the withheld fields per record type
    assert "document number" in text and "calling number" in text
    assert "document checks (document.check)" in text
    # a node that was cut and drained is shown caught up; one left behind is not
    assert "caught up" in text


def test_failures_turn_the_verdict_red() -> None:
    results = sample_results(failures=["hub: ingest refused 2 records from RPM-LANE-2"],
                             audit=AuditResult(10, 9, 2, 2, 10, True, 4,
                                               ["RPM-LANE-2 seq 7: bad signature"]))
    page = render_html(results)
    text = " ".join(parse(page).text)
    assert "FAILED — 2 problems" in text and "ALL GREEN" not in text
    assert "audit: RPM-LANE-2 seq 7: bad signature" in text
    assert "✘ FAIL" in text  # the audit table marks the signature check
    summary = render_summary(results)
    assert "RESULT: FAILED" in summary
    assert "hub: ingest refused 2 records from RPM-LANE-2" in summary
    assert "RPM-LANE-2 seq 7: bad signature" in summary


@pytest.mark.parametrize(
    ("audit", "expected"),
    [
        (AuditResult(10, 10, 2, 2, 10, True, 4), []),
        (AuditResult(10, 8, 2, 2, 10, True, 4), ["audit: 2 of 10 signatures did not verify"]),
        (AuditResult(10, 10, 1, 2, 10, True, 4), ["audit: 1 of 2 hash chains are broken"]),
        (AuditResult(10, 10, 2, 2, 10, False, 4),
         ["audit: the transparency log's consistency was not shown"]),
        # the auditor's own words replace the derived ones
        (AuditResult(10, 8, 2, 2, 10, True, 4, ["N1 seq 3: bad signature"]),
         ["audit: N1 seq 3: bad signature"]),
    ],
)
def test_audit_shortfalls_are_failures(audit: AuditResult, expected: list[str]) -> None:
    results = sample_results(audit=audit)
    assert results.all_failures() == expected
    assert results.passed is (not expected)
    already = sample_results(audit=audit, failures=expected[:1])
    assert already.all_failures() == expected  # not listed twice


def test_every_text_value_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    base = sample_results()
    node = dataclasses.replace(base.nodes[0], node_id=evil, profile=evil, device_class=evil)
    geo = base.geo
    assert geo is not None
    geo = dataclasses.replace(
        geo, sectors={evil: next(iter(geo.sectors.values()))}, note=evil,
        tracks={evil: next(iter(geo.tracks.values()))},
        sensors=[Sensor(evil, 39.45, 48.25, evil)],
        breaches=[Breach(T0, evil, 39.45, 48.25, evil)],
        intrusions=[Intrusion(T0, 39.45, 48.25, evil, evil)],
        places=[(evil, 39.4, 48.3)])
    results = dataclasses.replace(
        base, site=evil, scenario=evil, nodes=[node, *base.nodes[1:]],
        alerts=[AlertEvent(T0 + 5, evil, evil, evil, evil)], geo=geo,
        lab=[dataclasses.replace(base.lab[0], substance=evil, sample_id=evil, case_id=evil,
                                 instrument=evil)],
        agencies={evil: AgencyView(1, {evil: 1}, {evil: [evil]}, 1)},
        scores=[ScoreRow(evil, 0.5, 0.5)], failures=[evil],
        audit=AuditResult(1, 1, 1, 1, 1, True, 1, [evil]))
    page = render_html(results)
    parser = parse(page)
    assert "script" not in {tag for tag, _ in parser.tags}
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert evil in " ".join(parser.text)  # shown to the reader as text, not run
    # attribute quoting cannot be broken either
    quoted = dataclasses.replace(results, site='x" onload="alert(1)')
    for _, attrs in parse(render_html(quoted)).tags:
        assert not any(name.startswith("on") for name in attrs)


def test_summary_reads_like_a_report() -> None:
    summary = render_summary(sample_results())
    lines = summary.strip().splitlines()
    assert 10 <= len(lines) <= 25, summary
    assert "RESULT: ALL GREEN" in summary
    assert ("1,203 travellers checked at 2 control lines: 1,180 cleared, "
            "19 referred to second line, 4 watchlist hits.") in summary
    assert "312 vehicles screened for radiation; 3 alarms, of which 2 natural (NORM)" in summary
    assert "3 devices lost the hub for up to 1 min 0 s, kept working and all caught up" in summary
    assert "Cocaine in case CASE-2026-118, match 912" in summary
    assert "SCC 1,412 (withheld by policy:" in summary
    assert all(len(line) < 400 for line in lines)


def test_summary_says_when_a_node_did_not_catch_up() -> None:
    base = sample_results()
    stuck = [dataclasses.replace(n, backlog=[*n.backlog, (T0 + RUN_S + 5, 57)])
             if n.node_id == "RPM-LANE-2" else n for n in base.nodes]
    results = dataclasses.replace(base, nodes=stuck)
    summary = render_summary(results)
    assert "1 device did NOT catch up" in summary
    assert "sync: RPM-LANE-2 ended with 57 records the hub has not acknowledged" in summary
    assert not results.passed
    assert "57 behind" in " ".join(parse(render_html(results)).text)


def test_long_failure_lists_stay_short() -> None:
    results = sample_results(failures=[f"node N{i}: unreachable" for i in range(40)])
    lines = render_summary(results).strip().splitlines()
    assert len(lines) <= 25
    assert "34 more" in lines[-1]


def test_empty_results_render() -> None:
    empty = DemoResults(site="Astara BCP", scenario="smoke", started=T0, ended=T0,
                        duration_s=0.0)
    parser = parse(render_html(empty))
    assert figures_of(parser) == ["timeline"]
    text = " ".join(parser.text)
    assert "No map data" in text and "No laboratory samples" in text
    # nothing was checked: not green, and the audit table says why rather than crashing
    assert "FAILED — 1 problem" in text and "audit: no record was checked" in text
    assert "Nothing was measured." in text
    summary = render_summary(empty)
    assert "Astara BCP" in summary and "0 alerts" in summary
    assert "RESULT: FAILED" in summary


def test_no_geo_no_lab_but_nodes() -> None:
    results = sample_results(geo=None, lab=[], seed=3)
    parser = parse(render_html(results))
    assert sorted(figures_of(parser)) == ["backlog", "timeline"]
    summary = render_summary(results)
    assert "Laboratory" not in summary and "Green border" not in summary


def test_map_fits_every_point_and_keeps_the_aspect() -> None:
    results = sample_results()
    page = render_html(results)
    svg = re.search(r'<svg data-figure="map"[^>]*viewBox="0 0 ([\d.]+) ([\d.]+)".*?</svg>',
                    page, re.DOTALL)
    assert svg is not None
    width, height = float(svg.group(1)), float(svg.group(2))
    body = svg.group(0).split('<g class="legend">')[0]
    pts = re.findall(r'points="([^"]+)"', body)
    coords = [tuple(map(float, p.split(","))) for group in pts for p in group.split()]
    assert len(coords) > 100
    assert all(-1 <= x <= width + 1 and -1 <= y <= height + 1 for x, y in coords)
    # equirectangular with cos(lat) scaling: 1 km east and 1 km north are the same length
    proj = _Projection(BORDER, 1000, 600, 20)
    x0, y0 = proj(39.4, 48.3)
    x1, _ = proj(39.4, 48.3 + 1 / (111.32 * math.cos(math.radians(39.4))))
    _, y1 = proj(39.4 + 1 / 111.32, 48.3)
    assert x1 - x0 == pytest.approx(y0 - y1, rel=0.01)


@pytest.mark.parametrize(
    ("direction", "interior", "heading_deg", "expected"),
    [
        ("inbound", "left", None, 0.0),     # line runs east, our side is north of it
        ("outbound", "left", None, 180.0),
        ("inbound", "right", None, 180.0),
        ("SW", "left", None, 225.0),
        ("nne", "left", None, 22.5),
        ("whatever", "left", 123.0, 123.0),
    ],
)
def test_intrusion_arrow_direction(direction: str, interior: str, heading_deg: float | None,
                                   expected: float) -> None:
    border = [(39.0, 48.0), (39.0, 48.5)]
    geo = GeoData(border=border, interior=interior)
    proj = _Projection(border + [(39.2, 48.2)], 800, 400, 10)
    heading = _heading(Intrusion(T0, 39.1, 48.2, direction, "person", heading_deg), geo, proj)
    assert heading is not None
    assert heading == pytest.approx(expected, abs=1e-6)


def test_geo_from_the_border_file() -> None:
    geo = BORDER_GEO
    assert geo.border[0] == (39.6, 48.02)  # the file holds [lon, lat]
    assert list(geo.sectors) == [s["id"] for s in BORDER_DATA["sectors"]]
    assert len(geo.sensors) == sum(len(n["sensors"]) for n in BORDER_DATA["sensor_nodes"])
    assert geo.places == (("Bilasuvar BCP", 39.383, 48.358),)
    assert geo.interior == "left" and "NOT SURVEYED" in geo.note
    text = " ".join(parse(render_html(sample_results())).text)
    assert "NOT SURVEYED" in text and "S2" in text and "Bilasuvar BCP" in text


def test_unknown_direction_draws_no_arrow() -> None:
    geo = GeoData(border=BORDER)
    proj = _Projection(BORDER, 800, 400, 10)
    assert _heading(Intrusion(T0, 39.4, 48.3, "unclear", "unknown"), geo, proj) is None


def test_rendering_is_deterministic() -> None:
    assert render_html(sample_results()) == render_html(sample_results())
    assert render_summary(sample_results()) == render_summary(sample_results())


def test_a_long_busy_run_stays_small_and_keeps_its_peaks() -> None:
    """A day of samples, thousands of alerts and long tracks: thinned to the pixel, not lost."""
    rng = random.Random(11)
    day = 86_400.0
    backlog = [(T0 + k * 2.0, rng.choice((0, 0, 1))) for k in range(int(day / 2))]
    backlog[20_000] = (backlog[20_000][0], 4_321)  # one spike among 43,200 samples
    backlog.append((T0 + day, 0))
    nodes = [NodeResult("RPM-LANE-1", "radiation_portal_monitor", "rpm-lane", 90_000, 6_000, 90_000,
                        backlog, (T0 + 39_000, T0 + 41_000))]
    alerts = [AlertEvent(T0 + rng.uniform(0, day), "RPM-LANE-1", "radiation.alarm",
                         rng.choice(("info", "warning", "alarm")), "gamma") for _ in range(6_000)]
    base = sample_results()
    assert base.geo is not None
    track = [(T0 + i * 4.0, 39.45 + 0.02 * math.sin(i / 500), 48.25 + i * 1e-6)
             for i in range(20_000)]
    geo = dataclasses.replace(base.geo, tracks={"P-21": track})
    results = dataclasses.replace(base, nodes=nodes, alerts=alerts, geo=geo, ended=T0 + day,
                                  duration_s=day)
    page = render_html(results)
    assert len(page) < 1_000_000
    text = " ".join(parse(page).text)
    assert "peak 4,321 · end: caught up" in text
    assert "6,000 alerts" in text
    assert "27 Nov 2026 09:00:00 – 28 Nov 2026 09:00:00 UTC" in text


def test_results_survive_json() -> None:
    results = sample_results(failures=["hub: one thing"])
    text = results_to_json(results)
    back = results_from_json(text)
    assert back == results
    assert render_html(back) == render_html(results)
    empty = DemoResults(site="Baku GYD", scenario="smoke", started=T0, ended=T0 + 1,
                        duration_s=1.0)
    assert results_from_json(results_to_json(empty)) == empty


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[]", "format 'list'"),
        ('{"format": "other.v9"}', "format 'other.v9'"),
        ('{"format": "borderlink.demo-results.v1", "site": "x"}', "malformed"),
        (('{"format": "borderlink.demo-results.v1", "site": "x", "scenario": "s", '
          '"started": 1, "ended": 2, "duration_s": 1, "nodes": [{"bogus": 1}]}'), "malformed"),
    ],
)
def test_bad_results_json_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        results_from_json(text)


def test_a_tick_at_the_end_of_the_run_is_labelled_inside_the_backlog_picture() -> None:
    """A run ending on a round minute puts a tick at the panel's right edge: its label is
    anchored at its end, so the text stays inside the picture (Chromium found it 12 px out)."""
    base = sample_results()
    end = T0 + 600.0  # 09:10:00, a tick of the 4-tick axis
    nodes = [dataclasses.replace(n, backlog=[*n.backlog, (end, 0)]) for n in base.nodes]
    page = render_html(dataclasses.replace(base, nodes=nodes, ended=end))
    backlog = page[page.index('data-figure="backlog"'):]
    backlog = backlog[:backlog.index("</svg>")]
    width = float(re.search(r'width="([\d.]+)"', backlog).group(1))  # type: ignore[union-attr]
    labels = re.findall(r'<text x="([\d.]+)"[^>]*text-anchor="(\w+)"[^>]*>09:10</text>', backlog)
    assert labels, "the run's last tick has a label"
    for x, anchor in labels:
        half = 24.0 if anchor == "middle" else 0.0
        assert float(x) + half <= width, (x, anchor, width)
    assert any(anchor == "end" for _, anchor in labels)
