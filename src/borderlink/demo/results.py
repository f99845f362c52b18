"""Turn what the demo collected into the report's model: agencies, scores, map, lab, figures."""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from borderlink import scoring
from borderlink.edge.processors.base import AlertLevel, Decision
from borderlink.edge.processors.spectra import MsLibrary
from borderlink.hardware_profiles.loader import DATA_DIR
from borderlink.hardware_profiles.protocols import jcamp
from borderlink.hardware_profiles.simulator.model import GroundTruth
from borderlink.proto.record import Record
from borderlink.report_model import (
    AgencyView,
    Breach,
    FieldCounts,
    GeoData,
    Intrusion,
    KeyFigures,
    LabResult,
    ScoreRow,
)

log = logging.getLogger(__name__)
DATA = DATA_DIR
ALERT_TYPES = {"radiation.alarm", "intrusion.alert", "radio.emergency", "radio.geofence"}


def pull_agency(site: Any, agency: str, vkey_path: Path, origin: str) -> tuple[AgencyView, list[dict[str, Any]], list[str]]:
    """Everything *agency* may see, through ``borderlink agency subscribe`` with proofs."""
    cert, key = site.agency_files(agency)
    done = subprocess.run(
        [site.python, "-m", "borderlink", "agency", "subscribe", "--hub", site.hub_address,
         "--cert", str(cert), "--key", str(key), "--ca", str(site.hub_dir / "ca.pem"),
         "--log-key", vkey_path.read_text().strip(), "--origin", origin, "--proofs"],
        capture_output=True, text=True, timeout=300, check=False)
    problems = []
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0:
        problems.append(f"agency {agency}: subscribe exited {done.returncode}: "
                        f"{done.stderr.strip()[-300:]}")
    by_type = Counter(line.get("type", "?") for line in lines)
    withheld: dict[str, set[str]] = defaultdict(set)
    verified = 0
    for line in lines:
        if line.get("verified"):
            verified += 1
        else:
            problems.append(f"agency {agency}: log entry {line.get('log_index')} does not "
                            f"verify: {line.get('error')}")
        for name in line.get("withheld") or ():
            withheld[line.get("type", "?")].add(name)
    view = AgencyView(records_seen=len(lines), by_type=dict(by_type),
                      withheld={t: sorted(v) for t, v in withheld.items()},
                      signatures_verified=verified)
    return view, lines, problems


def field_disclosure(lines: list[dict[str, Any]], present: dict[int, frozenset[str]],
                     registry: Any) -> tuple[dict[str, dict[str, FieldCounts]], dict[str, list[str]]]:
    """Per record type and personal-data field, over the records one agency received: given,
    withheld by policy (the record holds the field), not in the record; and the fields
    withheld in at least one record."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for line in lines:
        spec = registry.get(line.get("type", ""))
        if spec is None or not line.get("verified"):
            continue
        held = present.get(int(line["log_index"]), frozenset())
        disclosed = set(line.get("disclosed") or ())
        for name in sorted(spec.sensitive):
            row = counts[spec.name].setdefault(name, [0, 0, 0])
            row[0 if name in disclosed else 1 if name in held else 2] += 1
    fields = {t: {f: FieldCounts(*c) for f, c in by.items()} for t, by in counts.items()}
    withheld = {t: sorted(f for f, c in by.items() if c.withheld)
                for t, by in fields.items() if any(c.withheld for c in by.values())}
    return fields, withheld


def inclusion_checked(lines: list[dict[str, Any]]) -> int:
    return sum(1 for line in lines if line.get("verified") and line.get("proof"))


def score(site: Any, records: list[Record], alert_keys: set[tuple[str, int]]) -> tuple[list[ScoreRow], list[str]]:
    """Score the records the hub holds against the scenario's ground truth."""
    truth_file = site.sim_dir / "truth.jsonl"
    if not truth_file.exists():
        return [], ["the simulator wrote no ground truth"]
    truths = [GroundTruth.from_json(json.loads(line))
              for line in truth_file.read_text().splitlines() if line.strip()]
    device_of = {node.node_id: node.device_id for node in site.nodes}
    classes = {node.device_id: node.device_class for node in site.nodes}
    grouped: dict[tuple[str, int], list[Record]] = defaultdict(list)
    for record in records:
        if record.node_id in device_of and not record.record_type.startswith("node."):
            grouped[(record.node_id, record.time_ms)].append(record)
    outcomes: dict[str, list[Any]] = {d: [] for d in classes}
    for (node_id, time_ms), group in sorted(grouped.items(), key=lambda kv: kv[0][1]):
        decisions = [
            Decision(r.record_type, dict(r.body), time_ms / 1000.0,
                     alert=AlertLevel.ALARM if (r.node_id, r.seq) in alert_keys
                     or r.record_type in ALERT_TYPES else None)
            for r in group
        ]
        outcomes[device_of[node_id]].append(decisions)
    report = scoring.score_decisions(site.scenario_name, site.seed, truths, outcomes, classes)
    rows = []
    failures = []
    for name, cls in sorted(report.classes.items()):
        # The waits from the deciding event to the signed record, as `simulate score`
        # measures them (the compute time of each call is not known from records).
        measured = bool(cls.latencies_ms)
        rows.append(ScoreRow(device_class=name, recall=cls.recall, precision=cls.precision,
                             latency_p50_ms=cls.percentile(0.5) if measured else None,
                             latency_p99_ms=cls.percentile(0.99) if measured else None,
                             cases=cls.truths))
        bar = scoring.BARS.get(name, {}).get("recall")
        if bar is not None and cls.truths and cls.recall < bar:
            failures.append(f"{name}: recall {cls.recall:.3f} below {bar} on the run's records")
    return rows, failures


def geo_data(records: list[Record]) -> GeoData:
    border = json.loads((DATA / "bilasuvar_border.json").read_text())
    sensors = {str(s["sensor_id"]): (float(s["lat"]), float(s["lon"]))
               for node in border.get("sensor_nodes", ()) for s in node.get("sensors", ())}
    tracks: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    breaches = []
    intrusions = []
    for r in records:
        body = r.body
        t = r.time_ms / 1000.0
        if r.record_type == "radio.position":
            tracks[str(body["unit"])].append((t, float(body["lat"]), float(body["lon"])))
        elif r.record_type == "radio.geofence" and body.get("kind") != "sector_return":
            breaches.append(Breach(t, str(body["unit"]), float(body["lat"]), float(body["lon"]),
                                   str(body["kind"])))
        elif r.record_type == "intrusion.alert":
            where = [sensors[s] for s in body.get("sensors", ()) if s in sensors]
            if where:
                intrusions.append(Intrusion(
                    t, statistics.fmean(p[0] for p in where), statistics.fmean(p[1] for p in where),
                    str(body.get("direction", "")), str(body.get("class", "unknown")),
                    body.get("heading_deg")))
    return GeoData.from_border_data(border, tracks=tracks, breaches=breaches,
                                    intrusions=intrusions)


def lab_results(site: Any, records: list[Record]) -> list[LabResult]:
    library = MsLibrary.load(DATA / "ms_library.json")
    entries = {e.id: e for e in library.entries} | {e.name: e for e in library.entries}
    runs = {}
    for path in sorted((site.sim_dir / "folders").rglob("*")):
        if path.is_file() and path.suffix.lower() in (".jdx", ".dx", ".jcamp"):
            try:
                run = jcamp.parse_file(path.read_bytes(), path.name)
            except Exception as exc:  # noqa: BLE001 - a half-written or foreign file
                log.info("lab export %s left out of the report: %s", path.name, exc)
                continue
            runs[run.sample_id] = run
    results = []
    for r in records:
        if r.record_type != "lab.analysis":
            continue
        lab_run = runs.get(str(r.body.get("sample_id")))
        for finding in r.body.get("findings", ()):
            entry = entries.get(str(finding.get("substance"))) or entries.get(str(finding.get("name")))
            if entry is None or "match" not in finding:
                continue
            sample: list[tuple[float, float]] = []
            if lab_run is not None and lab_run.spectra:
                spectrum = min(lab_run.spectra, key=lambda s: abs(s.retention_time_min
                                                              - float(finding.get("rt_min", 0))))
                sample = list(zip(spectrum.mz, spectrum.intensities, strict=False))
            results.append(LabResult(
                sample_id=str(r.body.get("sample_id")), case_id=str(r.body.get("case_id")),
                substance=entry.name, match_factor=int(finding["match"]),
                reverse_match=int(finding.get("reverse_match") or 0),
                controlled=bool(finding.get("controlled")), sample_spectrum=sample,
                library_spectrum=sorted(entry.peaks.items()),
                instrument=str(r.body.get("instrument", "")),
                retention_min=float(finding.get("rt_min", 0)) or None))
    return results


def key_figures(records: list[Record], lines: int) -> KeyFigures:
    by_type = Counter(r.record_type for r in records)
    docs = [r for r in records if r.record_type == "document.check"]
    verdicts = Counter(str(r.body.get("verdict")) for r in docs)
    alarms = [r for r in records if r.record_type == "radiation.alarm"]
    links = [r for r in records if r.record_type == "link.status" and r.body.get("state") == "down"]
    lab = [r for r in records if r.record_type == "lab.analysis"]
    return KeyFigures(
        travellers_checked=len(docs), control_lines=lines,
        travellers_cleared=verdicts.get("clear", 0), travellers_referred=verdicts.get("refer", 0),
        watchlist_hits=verdicts.get("hit", 0), vehicles_screened=by_type["radiation.occupancy"],
        radiation_alarms=len(alarms),
        radiation_nuisances=sum(1 for r in alarms if r.body.get("nuisance")),
        emergencies=by_type["radio.emergency"], link_outages=len(links),
        calls=by_type["call.record"], lab_samples=len(lab),
        lab_identifications=sum(1 for r in lab if r.body.get("controlled_found")),
        records_signed=len(records))
