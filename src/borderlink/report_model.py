"""What one ``borderlink demo`` run found: the data the report and the summary are drawn from.

Plain values only, so the demo can fill it from whatever it collected and a test can build it
by hand:

- times are Unix seconds (``float``, UTC);
- coordinates are WGS 84 latitude/longitude in degrees (``float``), always in the order
  ``(lat, lon)`` — note that the border data file stores ``[lon, lat]``;
- sequences may be given as lists or tuples; they are stored as tuples (mappings as dicts),
  so two results with the same values compare equal;
- a count that was not measured is ``None`` (the report leaves it out), never a made-up 0.

The renderers are in :mod:`borderlink.report`; they do no I/O. :func:`results_to_json` and
:func:`results_from_json` keep a run's results beside its work folder and read them back.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Device classes the report knows by name (others are shown as given).
DEVICE_CLASSES: Mapping[str, str] = {
    "document_reader": "Document readers",
    "radiation_portal_monitor": "Radiation portals",
    "radionuclide_identifier": "Radionuclide identifiers",
    "ground_sensor": "Ground sensors",
    "patrol_radio": "Patrol radios",
    "telephony": "Telephony / IP",
    "gc_fid": "Lab GC-FID",
    "gc_ms": "Lab GC-MS",
}

#: Alert levels, least to most urgent (the values of ``AlertEvent.level``).
ALERT_LEVELS: tuple[str, ...] = ("info", "warning", "alarm")

#: ``(t, lat, lon)``: one point of a patrol track.
TrackPoint = tuple[float, float, float]
#: ``(lat, lon)``: one vertex of a line or polygon.
LatLon = tuple[float, float]


def _set(obj: object, name: str, value: object) -> None:
    """Normalise a field of a frozen instance (lists become tuples, so equality is by value)."""
    object.__setattr__(obj, name, value)


def _rows(items: Iterable[Iterable[Any]]) -> tuple[tuple[Any, ...], ...]:
    return tuple(tuple(item) for item in items)


@dataclass(frozen=True)
class NodeResult:
    """One edge node (one device and its agent) over the run.

    node_id: the node's enrolled id, e.g. ``"DOC-L1-01"``.
    device_class: one of :data:`DEVICE_CLASSES`' keys (``"document_reader"``,
        ``"radiation_portal_monitor"``, ``"ground_sensor"``, ``"patrol_radio"``, ``"telephony"``,
        ``"gc_fid"``, ``"gc_ms"``) or another short name.
    profile: the hardware profile it ran, e.g. ``"docreader-first-line"``.
    records: records the node signed and journalled during the run.
    alerts: alerts it raised (of any level).
    last_acked_seq: the highest sequence number the hub acknowledged at the end
        (equal to ``records`` when the node caught up fully, if it started at seq 1).
    backlog: ``(t, unsynced_records)`` samples: records journalled but not yet acknowledged
        by the hub. Drawn as the node's sync-lag curve. The latest sample is the final
        state: take one after the final sync; not 0 there is a failure (never caught up).
    link_cut: ``(from_t, to_t)`` when the demo cut this node's uplink, else ``None``.
    """

    node_id: str
    device_class: str
    profile: str = ""
    records: int = 0
    alerts: int = 0
    last_acked_seq: int = 0
    backlog: Sequence[tuple[float, int]] = ()
    link_cut: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        _set(self, "backlog", _rows(self.backlog))
        if self.link_cut is not None:
            _set(self, "link_cut", tuple(self.link_cut))


@dataclass(frozen=True)
class AlertEvent:
    """One alert raised during the run (one dot on the timeline).

    t: when it was raised.
    node_id: the node that raised it (its device class places it on the timeline).
    record_type: the record type carrying it, e.g. ``"radiation.alarm"``.
    level: ``"info"``, ``"warning"`` or ``"alarm"`` (see :data:`ALERT_LEVELS`).
    summary: one line for a human, e.g. ``"lane 2: gamma alarm, 6.1 sigma"``.
    """

    t: float
    node_id: str
    record_type: str
    level: str
    summary: str = ""


@dataclass(frozen=True)
class Sensor:
    """An unattended ground sensor on the map: id, position, and kind (seismic, PIR, …)."""

    sensor_id: str
    lat: float
    lon: float
    kind: str = ""


@dataclass(frozen=True)
class Breach:
    """A patrol geofence event: ``kind`` as in ``radio.geofence`` (``border_proximity``,
    ``border_crossed``, ``sector_exit``, ``sector_return``)."""

    t: float
    unit: str
    lat: float
    lon: float
    kind: str


@dataclass(frozen=True)
class Intrusion:
    """A correlated green-border intrusion alert.

    direction: as the processor reported it: ``"inbound"`` / ``"outbound"`` (across the
        border line), a compass point (``"N"``, ``"NE"``, …, ``"NNE"``) or free text.
    cls: ``"person"``, ``"vehicle"``, ``"animal"`` or ``"unknown"`` (``class`` in the record).
    heading_deg: the direction of travel in degrees from north, when known; otherwise the
        arrow is derived from ``direction`` (compass point, or across the nearest border
        segment for inbound/outbound), or omitted.
    """

    t: float
    lat: float
    lon: float
    direction: str
    cls: str
    heading_deg: float | None = None


@dataclass(frozen=True)
class GeoData:
    """What the map shows.

    border: the border line as ``(lat, lon)`` vertices in order.
    sectors: sector name -> polygon as ``(lat, lon)`` vertices (not closed; the map closes it).
    sensors: ground sensors.
    tracks: patrol unit -> ``(t, lat, lon)`` fixes in time order.
    breaches: patrol geofence events.
    intrusions: intrusion alerts (drawn with a direction arrow).
    places: named points, e.g. ``("Bilasuvar BCP", lat, lon)``.
    interior: which side of the border line (along its vertex order) is our side,
        ``"left"`` or ``"right"``; used for inbound/outbound arrows.
    note: a caveat printed under the map (e.g. that the line is not surveyed).
    """

    border: Sequence[LatLon] = ()
    sectors: Mapping[str, Sequence[LatLon]] = field(default_factory=dict)
    sensors: Sequence[Sensor] = ()
    tracks: Mapping[str, Sequence[TrackPoint]] = field(default_factory=dict)
    breaches: Sequence[Breach] = ()
    intrusions: Sequence[Intrusion] = ()
    places: Sequence[tuple[str, float, float]] = ()
    interior: str = "left"
    note: str = ""

    @classmethod
    def from_border_data(
        cls,
        data: Mapping[str, Any],
        *,
        tracks: Mapping[str, Sequence[TrackPoint]] | None = None,
        breaches: Sequence[Breach] = (),
        intrusions: Sequence[Intrusion] = (),
    ) -> GeoData:
        """The map of a parsed ``borderlink.border.v1`` file (``hardware_profiles/data/
        bilasuvar_border.json``: ``[lon, lat]`` pairs, sectors, sensor nodes, the BCP), plus
        what the run produced. Takes the parsed data; reading the file is the caller's job."""
        def latlon(points: Iterable[Sequence[float]]) -> tuple[LatLon, ...]:
            return tuple((float(p[1]), float(p[0])) for p in points)

        bcp = data.get("bcp")
        return cls(
            border=latlon(data.get("border_line", ())),
            sectors={str(s.get("id") or s.get("name")): latlon(s.get("polygon", ()))
                     for s in data.get("sectors", ())},
            sensors=tuple(Sensor(str(x["sensor_id"]), float(x["lat"]), float(x["lon"]),
                                 str(x.get("kind", "")))
                          for node in data.get("sensor_nodes", ())
                          for x in node.get("sensors", ())),
            tracks=dict(tracks or {}),
            breaches=breaches,
            intrusions=intrusions,
            places=((str(bcp["name"]), float(bcp["lat"]), float(bcp["lon"])),) if bcp else (),
            interior="right" if str(data.get("interior", "left")).startswith("right") else "left",
            note=str(data.get("note", "")),
        )

    def __post_init__(self) -> None:
        _set(self, "border", _rows(self.border))
        _set(self, "sectors", {k: _rows(v) for k, v in self.sectors.items()})
        _set(self, "sensors", tuple(self.sensors))
        _set(self, "tracks", {k: _rows(v) for k, v in self.tracks.items()})
        _set(self, "breaches", tuple(self.breaches))
        _set(self, "intrusions", tuple(self.intrusions))
        _set(self, "places", _rows(self.places))


@dataclass(frozen=True)
class LabResult:
    """One laboratory sample and its best library match.

    sample_id, case_id: the sample and the customs seizure case it belongs to.
    substance: the library entry matched (best hit), e.g. ``"Cocaine"``.
    match_factor: forward match factor 0..999 (NIST scale).
    reverse_match: reverse match factor 0..999.
    controlled: whether the substance is a controlled one.
    sample_spectrum: the measured spectrum as ``(m/z, relative intensity)`` pairs (any scale;
        the plot normalises the base peak to 100).
    library_spectrum: the library spectrum of the match, same form.
    instrument: e.g. ``"GCMS-QP2010"`` (optional).
    retention_min: retention time of the peak in minutes (optional).
    """

    sample_id: str
    case_id: str
    substance: str
    match_factor: int
    reverse_match: int
    controlled: bool
    sample_spectrum: Sequence[tuple[float, float]] = ()
    library_spectrum: Sequence[tuple[float, float]] = ()
    instrument: str = ""
    retention_min: float | None = None

    def __post_init__(self) -> None:
        _set(self, "sample_spectrum", _rows(self.sample_spectrum))
        _set(self, "library_spectrum", _rows(self.library_spectrum))


@dataclass(frozen=True)
class FieldCounts:
    """One personal-data field of one record type, over the records an agency received.

    received: records whose value of the field the agency was given (and verified);
    withheld: records that hold the field, whose value the agency's policy kept from it;
    absent: records that do not hold the field at all (nothing to disclose or withhold).
    """

    received: int = 0
    withheld: int = 0
    absent: int = 0


@dataclass(frozen=True)
class AgencyView:
    """What one agency (``"SBS"``, ``"SCC"``, ``"SMS"``) received when it pulled from the hub.

    records_seen: records delivered to it.
    by_type: record type -> records of that type it received.
    withheld: record type -> personal-data fields its policy withheld in at least one record
        that holds them (never a field merely absent from the records).
    fields: record type -> personal-data field -> :class:`FieldCounts`: received, withheld by
        policy, not present in the record. Empty when not measured.
    signatures_verified: delivered records whose node signature the agency verified.
    """

    records_seen: int = 0
    by_type: Mapping[str, int] = field(default_factory=dict)
    withheld: Mapping[str, Sequence[str]] = field(default_factory=dict)
    signatures_verified: int = 0
    fields: Mapping[str, Mapping[str, FieldCounts]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _set(self, "by_type", dict(self.by_type))
        _set(self, "withheld", {k: tuple(v) for k, v in self.withheld.items()})
        _set(self, "fields", {t: {f: c if isinstance(c, FieldCounts) else FieldCounts(**c)
                                  for f, c in sorted(by_field.items())}
                              for t, by_field in sorted(self.fields.items())})


@dataclass(frozen=True)
class AuditResult:
    """The offline auditor's check of everything the hub holds.

    records_checked: records examined.
    signatures_ok: records whose signature verified.
    chains_ok: nodes whose hash chain (seq without gaps, prev digests) is intact.
    nodes_checked: nodes examined.
    log_size: entries in the transparency log at the final signed tree head.
    consistency_ok: the final tree head is consistent with the earlier ones seen.
    inclusion_checked: inclusion proofs checked (and passed; failures go in ``problems``).
    problems: every problem found, one line each, empty when all is well.
    """

    records_checked: int = 0
    signatures_ok: int = 0
    chains_ok: int = 0
    nodes_checked: int = 0
    log_size: int = 0
    consistency_ok: bool = False
    inclusion_checked: int = 0
    problems: Sequence[str] = ()

    def __post_init__(self) -> None:
        _set(self, "problems", tuple(self.problems))

    @property
    def passed(self) -> bool:
        return (
            not self.problems
            and self.consistency_ok
            and self.signatures_ok == self.records_checked
            and self.chains_ok == self.nodes_checked
        )


@dataclass(frozen=True)
class ScoreRow:
    """Detections of one device class scored against the scenario's ground truth.

    recall, precision: 0..1, ``None`` when undefined (nothing to find / nothing reported).
    latency_p50_ms, latency_p99_ms: frame-to-record (or event-to-alert) latency, ``None`` if
        not measured.
    cases: ground-truth cases scored.
    """

    device_class: str
    recall: float | None
    precision: float | None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    cases: int = 0


@dataclass(frozen=True)
class KeyFigures:
    """The counts an official asks for first. ``None`` = not measured (left out of the report).

    travellers_checked: documents read at the control lines.
    control_lines: document-control lines that took part (e.g. 2).
    travellers_cleared / travellers_referred / watchlist_hits: verdicts ``clear`` /
        ``refer`` (to second line) / ``hit``.
    vehicles_screened: radiation portal occupancies.
    radiation_alarms: radiation alarms raised, nuisances included.
    radiation_nuisances: of those, flagged as naturally occurring (NORM) nuisances.
    intrusions: intrusion alerts; when ``None``, the number of ``geo.intrusions``.
    patrol_breaches: patrol geofence breaches; when ``None``, the number of ``geo.breaches``.
    emergencies: patrol radio emergency calls.
    link_outages: telephony / IP link outages detected.
    calls: call detail records.
    lab_samples: samples analysed; when ``None``, the number of ``lab`` results.
    lab_identifications: controlled substances identified; when ``None``, counted in ``lab``.
    records_signed: when ``None``, the sum of the nodes' ``records``.
    records_verified: when ``None``, the auditor's ``signatures_ok``.
    """

    travellers_checked: int | None = None
    control_lines: int | None = None
    travellers_cleared: int | None = None
    travellers_referred: int | None = None
    watchlist_hits: int | None = None
    vehicles_screened: int | None = None
    radiation_alarms: int | None = None
    radiation_nuisances: int | None = None
    intrusions: int | None = None
    patrol_breaches: int | None = None
    emergencies: int | None = None
    link_outages: int | None = None
    calls: int | None = None
    lab_samples: int | None = None
    lab_identifications: int | None = None
    records_signed: int | None = None
    records_verified: int | None = None


@dataclass(frozen=True)
class DemoResults:
    """Everything one demo run found.

    site: e.g. ``"Bilasuvar BCP"``.
    scenario: e.g. ``"smoke"`` or ``"bilasuvar-day"``.
    started, ended: wall-clock start and end of the run (Unix seconds).
    duration_s: scenario time covered (may differ from ``ended - started`` when the
        scenario runs faster than real time).
    nodes: every edge node.
    alerts: every alert, any order.
    geo: map data, ``None`` when the scenario has no green border.
    lab: laboratory samples.
    agencies: agency code (``"SBS"``, ``"SCC"``, ``"SMS"``) -> what it saw.
    audit: the auditor's result.
    scores: detection scores per device class.
    failures: everything that failed, one line each; the demo exits non-zero when
        :meth:`all_failures` is non-empty.
    figures: the key counts (see :class:`KeyFigures`).
    """

    site: str
    scenario: str
    started: float
    ended: float
    duration_s: float
    nodes: Sequence[NodeResult] = ()
    alerts: Sequence[AlertEvent] = ()
    geo: GeoData | None = None
    lab: Sequence[LabResult] = ()
    agencies: Mapping[str, AgencyView] = field(default_factory=dict)
    audit: AuditResult = field(default_factory=AuditResult)
    scores: Sequence[ScoreRow] = ()
    failures: Sequence[str] = ()
    figures: KeyFigures = field(default_factory=KeyFigures)

    def __post_init__(self) -> None:
        for name in ("nodes", "alerts", "lab", "scores", "failures"):
            _set(self, name, tuple(getattr(self, name)))
        _set(self, "agencies", dict(self.agencies))

    def all_failures(self) -> list[str]:
        """Everything that failed: ``failures``, then what the other fields show and
        ``failures`` does not already say, one line each:

        - each audit problem, as ``"audit: <problem>"``;
        - when the auditor listed no problem: no record checked, signatures or chains short
          of the counts checked, log consistency not shown;
        - each node whose last backlog sample is not 0 (it never caught up with the hub).

        The demo exits non-zero when this is non-empty; the report's verdict is this list.
        """
        found = list(self.failures)

        def add(line: str, *also: str) -> None:
            if line not in found and not any(a in found for a in also):
                found.append(line)

        audit = self.audit
        for problem in audit.problems:
            add(f"audit: {problem}", problem)
        if not audit.problems:
            if audit.records_checked == 0:
                add("audit: no record was checked")
            if audit.signatures_ok < audit.records_checked:
                add(f"audit: {audit.records_checked - audit.signatures_ok:,} of "
                    f"{audit.records_checked:,} signatures did not verify")
            if audit.chains_ok < audit.nodes_checked:
                add(f"audit: {audit.nodes_checked - audit.chains_ok:,} of "
                    f"{audit.nodes_checked:,} hash chains are broken")
            if audit.records_checked and not audit.consistency_ok:
                add("audit: the transparency log's consistency was not shown")
        for node in self.nodes:
            if node.backlog:
                left = max(node.backlog)[1]
                if left:
                    add(f"sync: {node.node_id} ended with {left:,} records the hub has not "
                        "acknowledged")
        return found

    @property
    def passed(self) -> bool:
        """True when nothing failed (the report's verdict is green)."""
        return not self.all_failures()

    def device_class_of(self, node_id: str) -> str:
        """The device class of *node_id*, or ``""`` for an unknown node."""
        for node in self.nodes:
            if node.node_id == node_id:
                return node.device_class
        return ""

    def resolved_figures(self) -> KeyFigures:
        """``figures`` with the derivable ``None`` counts filled from the other fields."""
        f = self.figures
        geo = self.geo

        def pick(value: int | None, fallback: int | None) -> int | None:
            return value if value is not None else fallback

        return KeyFigures(
            **{
                **f.__dict__,
                "intrusions": pick(f.intrusions, len(geo.intrusions) if geo else None),
                "patrol_breaches": pick(f.patrol_breaches, len(geo.breaches) if geo else None),
                "lab_samples": pick(f.lab_samples, len(self.lab) if self.lab else None),
                "lab_identifications": pick(
                    f.lab_identifications,
                    sum(1 for s in self.lab if s.controlled) if self.lab else None,
                ),
                "records_signed": pick(
                    f.records_signed, sum(n.records for n in self.nodes) if self.nodes else None
                ),
                "records_verified": pick(
                    f.records_verified,
                    self.audit.signatures_ok if self.audit.records_checked else None,
                ),
            }
        )


# --------------------------------------------------------------------------- JSON

#: The ``format`` field of :func:`results_to_json`'s output.
RESULTS_FORMAT = "borderlink.demo-results.v1"


def results_to_json(results: DemoResults) -> str:
    """*results* as JSON (for ``--keep DIR``), readable back by :func:`results_from_json`."""
    return json.dumps({"format": RESULTS_FORMAT, **dataclasses.asdict(results)},
                      ensure_ascii=False, indent=1)


def results_from_json(text: str) -> DemoResults:
    """The inverse of :func:`results_to_json`; a ``ValueError`` names what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"demo results are not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"not {RESULTS_FORMAT} demo results (format {found!r})")
    try:
        return _results_from_dict(data)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed demo results: {exc!r}") from exc


def _pairs(items: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    return [tuple(item) for item in items]


def _results_from_dict(d: dict[str, Any]) -> DemoResults:
    geo = d.get("geo")
    return DemoResults(
        site=d["site"], scenario=d["scenario"], started=float(d["started"]),
        ended=float(d["ended"]), duration_s=float(d["duration_s"]),
        nodes=[NodeResult(**{**n, "backlog": _pairs(n.get("backlog", ())),
                             "link_cut": tuple(n["link_cut"]) if n.get("link_cut") else None})
               for n in d.get("nodes", ())],
        alerts=[AlertEvent(**a) for a in d.get("alerts", ())],
        geo=None if geo is None else GeoData(
            border=_pairs(geo.get("border", ())),
            sectors={k: _pairs(v) for k, v in geo.get("sectors", {}).items()},
            sensors=[Sensor(**s) for s in geo.get("sensors", ())],
            tracks={k: _pairs(v) for k, v in geo.get("tracks", {}).items()},
            breaches=[Breach(**b) for b in geo.get("breaches", ())],
            intrusions=[Intrusion(**i) for i in geo.get("intrusions", ())],
            places=_pairs(geo.get("places", ())),
            interior=geo.get("interior", "left"), note=geo.get("note", "")),
        lab=[LabResult(**{**s, "sample_spectrum": _pairs(s.get("sample_spectrum", ())),
                          "library_spectrum": _pairs(s.get("library_spectrum", ()))})
             for s in d.get("lab", ())],
        agencies={k: AgencyView(**{**v, "withheld": {t: list(f) for t, f in
                                                     v.get("withheld", {}).items()}})
                  for k, v in d.get("agencies", {}).items()},
        audit=AuditResult(**{**d.get("audit", {}),
                             "problems": list(d.get("audit", {}).get("problems", ()))}),
        scores=[ScoreRow(**s) for s in d.get("scores", ())],
        failures=list(d.get("failures", ())),
        figures=KeyFigures(**d.get("figures", {})),
    )
