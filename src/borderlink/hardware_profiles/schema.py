"""The hardware-profile schema: frozen dataclasses and the validation that builds them.

A profile is a TOML file (one per device model) with these tables::

    [profile]     name, class, vendor, model, agency, description
    [transport]   url (a template: ``serial://{port}?baud={baud}``), and its parameters
    [framing]     protocol (a name of :data:`PROTOCOLS`), max_frame_bytes, protocol parameters;
                  for a file protocol one frame is one file: a larger export is quarantined
                  unread by the edge's folder driver
    [[channels]]  name, unit, scale, offset (value = raw * scale + offset), optional panel/kind
    [processing]  class-specific parameters (thresholds, windows, library, geofence …);
                  keys ending in ``_file`` are paths, resolved against the profile's folder
    [records]     produces = [record types]
    [journal]     policy under storage pressure: keep / thin (keep_one_in) / never_drop

Every error names the file, the dotted key and what was expected
(:class:`~borderlink.hardware_profiles.errors.ProfileValidationError`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ProfileValidationError

__all__ = [
    "ALERT_RECORD_TYPES",
    "DEVICE_CLASSES",
    "PROTOCOLS",
    "RECORD_TYPES",
    "Channel",
    "Framing",
    "JournalPolicy",
    "Profile",
    "Transport",
    "profile_from_dict",
]

#: Record types of the contract (issue 2) a device can produce.
RECORD_TYPES = frozenset(
    {
        "document.check",
        "radiation.occupancy",
        "radiation.alarm",
        "intrusion.alert",
        "radio.position",
        "radio.emergency",
        "radio.geofence",
        "radio.fix_lost",
        "link.status",
        "call.record",
        "lab.analysis",
        "alert.ack",  # the agent records a console's acknowledgement of any alert it raised
        "node.boot",
        "node.device_fault",
        "node.storage_pressure",
        "node.clock_skew",
        "node.config_change",
        "node.key_rotation",
        "node.tamper",
        "node.firmware_installed",
        "node.firmware_offered",
        "node.firmware_refused",
        "node.firmware_installing",
        "node.firmware_committed",
        "node.firmware_rolled_back",
        "node.downlink_applied",
    }
)

#: Record types that are alerts or evidence: never thinned or dropped under storage pressure.
ALERT_RECORD_TYPES = frozenset(
    {
        "document.check",
        "radiation.alarm",
        "intrusion.alert",
        "radio.emergency",
        "radio.geofence",
        "lab.analysis",
    }
)

#: Wire protocols (modules of ``hardware_profiles.protocols``) and the transports each runs on.
PROTOCOLS: dict[str, frozenset[str]] = {
    "mrz-reader-frame": frozenset({"serial", "tcp"}),
    "rpm-count-frame": frozenset({"tcp"}),
    "sensor-cbor-hmac": frozenset({"serial", "tcp"}),
    "nmea0183": frozenset({"serial", "tcp"}),
    "cdr-lines": frozenset({"tcp"}),
    "jcamp-dx": frozenset({"file"}),
    "andi-ms": frozenset({"file"}),
    "n42-file": frozenset({"file"}),
}

#: Device classes, the protocol(s) each may speak, and the processing keys each must define.
DEVICE_CLASSES: dict[str, tuple[str | tuple[str, ...], tuple[str, ...]]] = {
    "document_reader": (
        "mrz-reader-frame",
        ("countries_file", "watchlist_file", "refer_on_uv_fail", "refer_on_ir_fail",
         "min_age_years", "name_match_threshold", "decision_budget_ms", "control_line",
         "possible_match_margin", "min_component_score", "expiry_grace_days"),
    ),
    "radiation_portal_monitor": (
        "rpm-count-frame",
        ("gamma_false_alarm_rate", "neutron_false_alarm_rate", "background_window_s",
         "energy_window_boundary_kev", "detector_type", "decision_deadline_ms"),
    ),
    # hand-held radionuclide identifiers and spectroscopic portals exporting N42.42 files
    "radionuclide_identifier": (
        "n42-file",
        ("gamma_false_alarm_rate", "neutron_false_alarm_rate", "detector_type",
         "decision_deadline_ms"),
    ),
    "ground_sensor": (
        "sensor-cbor-hmac",
        ("debounce_s", "correlation_window_s", "min_chain", "max_speed_mps",
         "border_file", "hmac_key_source"),
    ),
    "patrol_radio": (
        "nmea0183",
        ("border_file", "geofence_margin_m", "emergency_deadline_ms", "smoothing_window",
         "max_speed_kn", "max_hdop", "jitter_m", "hysteresis_m", "gap_reset_s", "reanchor_after",
         "position_min_interval_s", "position_min_distance_m", "emergency_repeat_s"),
    ),
    "telephony": (
        "cdr-lines",
        ("outage_window_s", "degraded_loss_pct", "degraded_latency_ms", "min_mos",
         "degrade_after", "recover_after"),
    ),
    "gc_fid": (
        "jcamp-dx",
        ("library_file", "ri_tolerance", "min_peak_snr", "baseline_window_min"),
    ),
    "gc_ms": (
        ("jcamp-dx", "andi-ms"),
        ("library_file", "min_match_factor", "min_reverse_match", "ri_tolerance",
         "min_peak_snr", "scan_range_mz"),
    ),
}

AGENCIES = frozenset({"SBS", "SCC", "SMS"})
SERIAL_PARITIES = frozenset({"N", "E", "O", "M", "S"})


@dataclass(frozen=True)
class Transport:
    """How the edge reaches the device: a URL template and its parameter values.

    ``scheme`` is ``serial``, ``tcp`` or ``file``. ``params`` fill the template's
    ``{placeholders}``; :meth:`url` renders it with overrides (e.g. the pty path an emulator
    printed).
    """

    url_template: str
    scheme: str
    params: tuple[tuple[str, Any], ...]
    reconnect_s: float = 2.0
    atomic_write: bool = True  # file transport: does the instrument write via rename?
    poll_s: float = 1.0  # file transport: how often the edge looks into the folder

    def param(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)

    def url(self, **overrides: Any) -> str:
        values = dict(self.params)
        values.update(overrides)
        return self.url_template.format(**values)


@dataclass(frozen=True)
class Framing:
    protocol: str
    max_frame_bytes: int
    params: tuple[tuple[str, Any], ...] = ()

    def param(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)


@dataclass(frozen=True)
class Channel:
    """One measured quantity: ``value = raw * scale + offset`` in ``unit``."""

    name: str
    unit: str
    scale: float = 1.0
    offset: float = 0.0
    description: str = ""

    def convert(self, raw: float) -> float:
        return raw * self.scale + self.offset


@dataclass(frozen=True)
class JournalPolicy:
    """What the edge journal does with this device's records when storage runs short.

    ``thin`` types keep one record in ``keep_one_in``; ``never_drop`` types are kept
    whatever happens (alarms, evidence); other produced types are kept until the journal's
    acknowledged-eviction rules make room.
    """

    thin: tuple[str, ...]
    keep_one_in: int
    never_drop: tuple[str, ...]


@dataclass(frozen=True)
class Profile:
    name: str
    device_class: str
    vendor: str
    model: str
    agency: str
    description: str
    transport: Transport
    framing: Framing
    channels: tuple[Channel, ...]
    processing: tuple[tuple[str, Any], ...]
    produces: tuple[str, ...]
    journal: JournalPolicy
    source: str = ""  # the file it was loaded from

    def setting(self, name: str, default: Any = None) -> Any:
        """A processing parameter (``[processing]`` table) by name."""
        return dict(self.processing).get(name, default)

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.processing)

    def channel(self, name: str) -> Channel:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(name)


# --------------------------------------------------------------------------- validation
class _Check:
    """Reads values out of nested dicts, raising errors that name file, key and expectation."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, expected: str, got: Any = ...) -> ProfileValidationError:
        tail = "" if got is ... else f", got {got!r}"
        return ProfileValidationError(f"{self.source}: [{key}] expected {expected}{tail}")

    def table(self, data: dict[str, Any], key: str, *, required: bool = True) -> dict[str, Any]:
        value = _dig(data, key)
        if value is None and not required:
            return {}
        if value is None:
            raise self.fail(key, "a table (missing)")
        if not isinstance(value, dict):
            raise self.fail(key, "a table", value)
        return value

    def get(self, data: dict[str, Any], key: str, kind: type | tuple[type, ...], expected: str,
            default: Any = ...) -> Any:
        value = _dig(data, key)
        if value is None:
            if default is ...:
                raise self.fail(key, f"{expected} (missing)")
            return default
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.fail(key, expected, value)
        if not isinstance(value, kind):
            raise self.fail(key, expected, value)
        return value

    def number(self, data: dict[str, Any], key: str, default: Any = ..., *, minimum: float | None = None,
               maximum: float | None = None, positive: bool = False) -> float:
        value = self.get(data, key, (int, float), "a number", default)
        if positive and not value > 0:
            raise self.fail(key, "a number > 0", value)
        if minimum is not None and value < minimum:
            raise self.fail(key, f"a number >= {minimum}", value)
        if maximum is not None and value > maximum:
            raise self.fail(key, f"a number <= {maximum}", value)
        return float(value)

    def string(self, data: dict[str, Any], key: str, default: Any = ..., *,
               choices: frozenset[str] | None = None) -> str:
        value = self.get(data, key, str, "a string", default)
        if choices is not None and value not in choices:
            raise self.fail(key, f"one of {sorted(choices)}", value)
        if default is ... and isinstance(value, str) and not value.strip():
            raise self.fail(key, "a non-empty string", value)
        return value


def _dig(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _check_unknown(check: _Check, data: dict[str, Any], prefix: str, allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            where = f"{prefix}.{key}" if prefix else key
            raise check.fail(where, f"one of the known keys {sorted(allowed)}", "unknown key")


def profile_from_dict(data: dict[str, Any], source: str, base_dir: Path | None = None) -> Profile:
    """Validate a parsed TOML document and build the :class:`Profile` it describes."""
    check = _Check(source)
    _check_unknown(check, data, "", {"profile", "transport", "framing", "channels", "processing",
                                     "records", "journal"})
    head = check.table(data, "profile")
    _check_unknown(check, head, "profile", {"name", "class", "vendor", "model", "agency",
                                            "description"})
    name = check.string(data, "profile.name")
    if not all(c.isalnum() or c in "-_" for c in name):
        raise check.fail("profile.name", "letters, digits, '-' and '_'", name)
    device_class = check.string(data, "profile.class", choices=frozenset(DEVICE_CLASSES))
    vendor = check.string(data, "profile.vendor")
    model = check.string(data, "profile.model")
    agency = check.string(data, "profile.agency", choices=AGENCIES)
    description = check.string(data, "profile.description", "")

    transport = _transport(check, data)
    framing = _framing(check, data, device_class, transport)
    channels = _channels(check, data)
    processing = _processing(check, data, device_class, base_dir)
    produces, journal = _records(check, data)
    return Profile(
        name=name, device_class=device_class, vendor=vendor, model=model, agency=agency,
        description=description, transport=transport, framing=framing, channels=channels,
        processing=processing, produces=produces, journal=journal, source=source,
    )


def _transport(check: _Check, data: dict[str, Any]) -> Transport:
    table = check.table(data, "transport")
    template = check.string(data, "transport.url")
    try:
        scheme = urlsplit(template).scheme
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket (found by fuzzing)
        raise check.fail("transport.url", "a well-formed URL", template) from exc
    if scheme not in {"serial", "tcp", "file"}:
        raise check.fail("transport.url", "a URL with scheme serial://, tcp:// or file://", template)
    params = {k: v for k, v in table.items() if k not in {"url", "reconnect_s", "atomic_write",
                                                           "poll_s"}}
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    except ValueError as exc:  # an unmatched brace (found by fuzzing)
        raise check.fail("transport.url", "a URL whose {placeholders} are well formed",
                         template) from exc
    missing = sorted(fields - set(params))
    if missing:
        raise check.fail(f"transport.{missing[0]}", f"a value for the URL placeholder {{{missing[0]}}}")
    if scheme == "serial":
        baud = check.get(data, "transport.baud", int, "an integer baud rate")
        if baud not in {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400}:
            raise check.fail("transport.baud", "a standard baud rate (1200 … 230400)", baud)
        check.string(data, "transport.parity", choices=SERIAL_PARITIES)
        bytesize = check.get(data, "transport.bytesize", int, "an integer 5..8")
        if bytesize not in {5, 6, 7, 8}:
            raise check.fail("transport.bytesize", "5, 6, 7 or 8", bytesize)
        stop = check.number(data, "transport.stopbits")
        if stop not in {1, 1.5, 2}:
            raise check.fail("transport.stopbits", "1, 1.5 or 2", stop)
    elif scheme == "tcp":
        port = check.get(data, "transport.port", int, "an integer TCP port")
        if not 0 <= port <= 65535:
            raise check.fail("transport.port", "an integer TCP port 0..65535", port)
    else:
        check.string(data, "transport.folder")
    return Transport(
        url_template=template,
        scheme=scheme,
        params=tuple(sorted(params.items())),
        reconnect_s=check.number(data, "transport.reconnect_s", 2.0, positive=True),
        atomic_write=check.get(data, "transport.atomic_write", bool, "true or false", True),
        poll_s=check.number(data, "transport.poll_s", 1.0, positive=True),
    )


def _framing(check: _Check, data: dict[str, Any], device_class: str, transport: Transport) -> Framing:
    table = check.table(data, "framing")
    protocol = check.string(data, "framing.protocol", choices=frozenset(PROTOCOLS))
    allowed = DEVICE_CLASSES[device_class][0]
    allowed = (allowed,) if isinstance(allowed, str) else allowed
    if protocol not in allowed:
        raise check.fail("framing.protocol", f"{' or '.join(map(repr, allowed))} for class {device_class!r}",
                         protocol)
    if transport.scheme not in PROTOCOLS[protocol]:
        raise check.fail("transport.url", f"a {' or '.join(sorted(PROTOCOLS[protocol]))} URL "
                         f"for protocol {protocol!r}", transport.url_template)
    max_bytes = check.get(data, "framing.max_frame_bytes", int, "an integer 16 .. 67108864")
    if not 16 <= max_bytes <= 64 * 1024 * 1024:
        raise check.fail("framing.max_frame_bytes", "an integer 16 .. 67108864", max_bytes)
    params = tuple(sorted((k, v) for k, v in table.items() if k not in {"protocol", "max_frame_bytes"}))
    return Framing(protocol=protocol, max_frame_bytes=max_bytes, params=params)


def _channels(check: _Check, data: dict[str, Any]) -> tuple[Channel, ...]:
    raw = data.get("channels")
    if not isinstance(raw, list) or not raw:
        raise check.fail("channels", "a non-empty array of tables [[channels]]",
                         ... if raw is None else raw)
    seen: set[str] = set()
    out = []
    for i, item in enumerate(raw):
        key = f"channels[{i}]"
        if not isinstance(item, dict):
            raise check.fail(key, "a table", item)
        _check_unknown(check, item, key, {"name", "unit", "scale", "offset", "description"})
        wrapped = {"c": item}
        name = check.string(wrapped, "c.name") if "name" in item else None
        if name is None:
            raise check.fail(f"{key}.name", "a string (missing)")
        if name in seen:
            raise check.fail(f"{key}.name", "a channel name not used before", name)
        seen.add(name)
        unit = item.get("unit")
        if not isinstance(unit, str) or not unit:
            raise check.fail(f"{key}.unit", "a unit string (e.g. 'counts', 'mm/s', 'deg')",
                             ... if unit is None else unit)
        scale = item.get("scale", 1.0)
        offset = item.get("offset", 0.0)
        for label, value in (("scale", scale), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise check.fail(f"{key}.{label}", "a number", value)
        if scale == 0:
            raise check.fail(f"{key}.scale", "a non-zero number", scale)
        out.append(Channel(name=name, unit=unit, scale=float(scale), offset=float(offset),
                           description=str(item.get("description", ""))))
    return tuple(out)


def _processing(check: _Check, data: dict[str, Any], device_class: str,
                base_dir: Path | None) -> tuple[tuple[str, Any], ...]:
    table = check.table(data, "processing")
    required = DEVICE_CLASSES[device_class][1]
    for key in required:
        if key not in table:
            raise check.fail(f"processing.{key}", f"a value (required for class {device_class!r})")
    if device_class in ("radiation_portal_monitor", "radionuclide_identifier"):
        _detector(check, table)
    if device_class == "radionuclide_identifier" and table.get("detector_type") == "pvt":
        raise check.fail("processing.detector_type", "a spectroscopic type (an identifier "
                         "names nuclides; PVT has no photopeaks)", "pvt")
    out: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"processing.{key}"
        if key.endswith("_file"):
            if not isinstance(value, str) or not value:
                raise check.fail(dotted, "a path string", value)
            path = Path(value)
            if not path.is_absolute() and base_dir is not None:
                path = (base_dir / path).resolve()
            if base_dir is not None and not path.is_file():
                raise check.fail(dotted, "an existing file", str(path))
            value = str(path)
        elif key.endswith(("_rate", "_pct")) and not (isinstance(value, (int, float))
                                                        and not isinstance(value, bool)
                                                        and 0 <= value <= (100 if key.endswith("_pct") else 1)):
            raise check.fail(dotted, "a number in 0..1 (rate) or 0..100 (percent)", value)
        elif key.endswith(("_s", "_ms", "_m", "_kev", "_years")) and not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                for v in (value if isinstance(value, list) and value else [value])):
            raise check.fail(dotted, "a non-negative number (or a list of them)", value)
        elif key.endswith("_mz"):  # a mass spectrometer's scan range [start, end], unit m/z
            if not (isinstance(value, list) and len(value) == 2
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                    and 1 <= value[0] < value[1] <= 2000):
                raise check.fail(dotted, "[start, end] m/z with 1 <= start < end <= 2000", value)
            value = tuple(float(v) for v in value)
        elif key.endswith("_band"):
            if not (isinstance(value, list) and len(value) == 2
                    and all(isinstance(v, (int, float)) for v in value) and value[0] < value[1]):
                raise check.fail(dotted, "[low, high] with low < high", value)
            value = tuple(float(v) for v in value)
        elif isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        elif isinstance(value, dict):
            value = tuple(sorted(value.items()))
        out[key] = value
    return tuple(sorted(out.items()))


#: Radiation detector types and what each needs: the two-window NORM band of plastic panels,
#: the energy resolution of spectroscopic ones (whose spectra are judged on photopeaks).
DETECTOR_TYPES: dict[str, str] = {"pvt": "pvt_norm_ratio_band", "nai": "resolution_662_pct",
                                  "csi": "resolution_662_pct", "labr3": "resolution_662_pct",
                                  "hpge": "resolution_662_pct"}


def _detector(check: _Check, table: dict[str, Any]) -> None:
    dtype = table.get("detector_type")
    if dtype not in DETECTOR_TYPES:
        raise check.fail("processing.detector_type", f"one of {sorted(DETECTOR_TYPES)}", dtype)
    needed = DETECTOR_TYPES[dtype]
    if needed not in table:
        raise check.fail(f"processing.{needed}",
                         f"a value (required for detector_type {dtype!r})")


def _records(check: _Check, data: dict[str, Any]) -> tuple[tuple[str, ...], JournalPolicy]:
    check.table(data, "records")
    produces = check.get(data, "records.produces", list, "an array of record type names")
    if not produces:
        raise check.fail("records.produces", "at least one record type", produces)
    for i, name in enumerate(produces):
        if name not in RECORD_TYPES:
            raise check.fail(f"records.produces[{i}]", f"a record type of the contract "
                             f"{sorted(RECORD_TYPES)}", name)
    journal = check.table(data, "journal")
    _check_unknown(check, journal, "journal", {"thin", "keep_one_in", "never_drop"})
    thin = check.get(data, "journal.thin", list, "an array of record types", [])
    never = check.get(data, "journal.never_drop", list, "an array of record types", [])
    keep_one_in = check.get(data, "journal.keep_one_in", int, "an integer >= 2", 10)
    if keep_one_in < 2:
        raise check.fail("journal.keep_one_in", "an integer >= 2", keep_one_in)
    for label, items in (("thin", thin), ("never_drop", never)):
        for i, name in enumerate(items):
            if name not in produces:
                raise check.fail(f"journal.{label}[{i}]", "a record type listed in records.produces",
                                 name)
    for i, name in enumerate(thin):
        if name in ALERT_RECORD_TYPES:
            raise check.fail(f"journal.thin[{i}]", "routine telemetry only (alarms and evidence "
                             "are never thinned)", name)
        if name in never:
            raise check.fail(f"journal.thin[{i}]", "a type not also in journal.never_drop", name)
    for name in produces:
        if name in ALERT_RECORD_TYPES and name not in never:
            raise check.fail("journal.never_drop", f"to include the alert type {name!r} this "
                             "profile produces", never)
    return tuple(produces), JournalPolicy(thin=tuple(thin), keep_one_in=keep_one_in,
                                          never_drop=tuple(never))
