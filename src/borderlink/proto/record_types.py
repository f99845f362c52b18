"""The registry of record types: each type's body fields, their kinds, the sensitive ones.

A registry is a value passed to whoever needs it (:func:`default_registry` builds the one
borderlink ships); there is no module-level registry that import order fills. Creating a
record validates its body against its type. Verifying a record of a type the registry does
not know still checks signature and chain — the record is only flagged as of unknown type.

Body rules (also in ``docs/record-contract.md``): a body is a map with text keys; values are
text, integers, floats, booleans, null, byte strings, arrays and maps with text keys, nested
at most :data:`MAX_BODY_DEPTH` deep. Keeping every map's keys of one major type makes the
RFC 8949 §4.2.1 bytewise key order equal to length-first order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .errors import RecordEncodeError

try:
    from . import _native
except ImportError:  # built without a C compiler: the pure-Python rules alone, slower
    _native = None  # type: ignore[assignment]

MAX_BODY_DEPTH = 8

# ASCII digits, whole string (as the CDDL .regexp, which is implicitly anchored).
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Agency(StrEnum):
    """The agencies that own records (docs/design.md)."""

    SBS = "SBS"  # State Border Service
    SCC = "SCC"  # State Customs Committee
    SMS = "SMS"  # State Migration Service


class BodyError(RecordEncodeError):
    """A body that does not match its record type."""


# Field kinds: name -> predicate on the decoded value. Exact type checks keep validation
# cheap on the hot path (a record is made per device frame); bool is not an int here.
_KINDS: dict[str, Any] = {
    "text": lambda v: type(v) is str,
    "uint": lambda v: type(v) is int and v >= 0,
    "int": lambda v: type(v) is int,
    "number": lambda v: type(v) is float or type(v) is int,
    "bool": lambda v: type(v) is bool,
    "bytes": lambda v: type(v) is bytes,
    "date": lambda v: type(v) is str and bool(_DATE.fullmatch(v)),
    "list": lambda v: isinstance(v, (list, tuple)),
    "map": lambda v: isinstance(v, Mapping),
    "any": lambda v: True,
}
_CONTAINER_KINDS = frozenset({"list", "map", "any"})
# The kind codes of proto/_native.c (enum Kind), in its order.
_KIND_CODES = {kind: code for code, kind in enumerate(
    ("text", "uint", "int", "number", "bool", "bytes", "date", "list", "map", "any")
)}
_SCALARS = (str, int, float, bool, bytes, type(None))


@dataclass(frozen=True, slots=True)
class Field:
    """One body field: its kind, whether it must be present, allowed values, sensitivity."""

    kind: str
    required: bool = True
    choices: frozenset[str] | None = None
    sensitive: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown field kind {self.kind!r}; known: {sorted(_KINDS)}")


def req(kind: str, *choices: str) -> Field:
    return Field(kind, True, frozenset(choices) if choices else None)


def opt(kind: str, *choices: str) -> Field:
    return Field(kind, False, frozenset(choices) if choices else None)


def secret(kind: str) -> Field:
    """A sensitive field: signed as a salted digest, disclosed only by policy; optional."""
    return Field(kind, False, None, True)


@dataclass(frozen=True)
class RecordType:
    """A record type: its name, default owning agency and body schema."""

    name: str
    agency: Agency
    fields: Mapping[str, Field]
    description: str = ""
    sensitive: frozenset[str] = field(init=False)
    #: Length of the digest list: every sensitive field, present or a decoy.
    digest_slots: int = field(init=False)

    _required: tuple[str, ...] = field(init=False, repr=False)
    _required_count: int = field(init=False, repr=False)
    #: The fields compiled for the C validator: ({name: (kind code, required, choices)}, count).
    _native_schema: tuple[dict[str, tuple[int, bool, frozenset[str] | None]], int] = field(
        init=False, repr=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "sensitive", frozenset(n for n, f in self.fields.items() if f.sensitive)
        )
        # A sensitive field is never required in the clear: it may be withheld.
        required = tuple(n for n, f in self.fields.items() if f.required and not f.sensitive)
        object.__setattr__(self, "_required", required)
        object.__setattr__(self, "_required_count", len(required))
        compiled = {
            name: (_KIND_CODES[f.kind], bool(f.required), f.choices)
            for name, f in self.fields.items()
        }
        object.__setattr__(self, "_native_schema", (compiled, len(required)))
        object.__setattr__(self, "digest_slots", len(self.sensitive))


    def validate(self, body: Mapping[str, Any]) -> None:
        """Raise :class:`BodyError` naming the first field that does not match.

        A withheld sensitive field is never missing: sensitive fields are never required.
        """
        if _native is not None:
            try:
                _native.check_body(body, self._native_schema)
                return
            except _native.Unsupported:
                pass  # bad or unusual: the rules below decide, and name the field
        self.validate_reference(body)

    def validate_reference(self, body: Mapping[str, Any]) -> None:
        """:meth:`validate` in pure Python: the authority the C validator is tested against."""
        if not isinstance(body, Mapping):
            raise BodyError(f"{self.name}: body must be a map, got {type(body).__name__}")
        fields = self.fields
        present = 0
        for name, value in body.items():
            spec = fields.get(name)
            if spec is None:
                unknown = sorted(str(n) for n in body if n not in fields)
                raise BodyError(f"{self.name}: unknown fields {unknown}")
            if not _KINDS[spec.kind](value):
                raise BodyError(
                    f"{self.name}: field {name!r} must be {spec.kind}, got {value!r:.60}"
                )
            if spec.choices is not None and value not in spec.choices:
                raise BodyError(
                    f"{self.name}: field {name!r} is {value!r}; expected one of "
                    f"{sorted(spec.choices)}"
                )
            if spec.kind in _CONTAINER_KINDS:
                check_body_values(value, f"{self.name}.{name}", 1)
            if spec.required:
                present += 1
        if present != self._required_count:
            for name in self._required:
                if name not in body:
                    raise BodyError(f"{self.name}: required field {name!r} is missing")


def check_body_values(value: Any, where: str, depth: int = 0) -> None:
    """Check that *value* holds only what a body may hold (see the module docstring)."""
    if depth > MAX_BODY_DEPTH:
        raise BodyError(f"{where}: nested deeper than {MAX_BODY_DEPTH}")
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if type(key) is not str:
                raise BodyError(f"{where}: map keys must be text, got {key!r:.40}")
            check_body_values(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_body_values(item, f"{where}[{index}]", depth + 1)
    else:
        raise BodyError(f"{where}: {type(value).__name__} cannot be recorded")


class RecordTypeRegistry:
    """An immutable set of record types, looked up by name."""

    def __init__(self, types: Iterable[RecordType]) -> None:
        by_name: dict[str, RecordType] = {}
        for record_type in types:
            if record_type.name in by_name:
                raise ValueError(f"record type {record_type.name!r} registered twice")
            by_name[record_type.name] = record_type
        self._types = by_name
        # The dict's own get, bound: no Python frame per record on the verify path.
        self.get: Callable[[str], RecordType | None] = by_name.get
        #: What the C verifier takes: {name: (compiled schema, sensitive names)}.
        self._native_table = {
            name: (t._native_schema, tuple(sorted(t.sensitive))) for name, t in by_name.items()
        }

    def __getitem__(self, name: str) -> RecordType:
        try:
            return self._types[name]
        except KeyError:
            raise RecordEncodeError(f"unknown record type {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[RecordType]:
        return iter(self._types.values())

    def names(self) -> list[str]:
        return sorted(self._types)

    def extended(self, *types: RecordType) -> RecordTypeRegistry:
        """A new registry with *types* added (this one is left as it is)."""
        return RecordTypeRegistry([*self._types.values(), *types])


_ALERT_LEVEL = ("info", "warning", "alarm")


def node_registry(agency: Agency | str) -> RecordTypeRegistry:
    """The default registry as a node of *agency* signs with: its node.* lifecycle and health
    records are its own agency's (the hub's ownership rule), every other type its owner's."""
    return default_registry(node_agency=Agency(agency))


def default_registry(*, node_agency: Agency = Agency.SBS) -> RecordTypeRegistry:
    """The record types of the pilot's devices and of node events (a fresh registry each call).
    *node_agency* is the owner written by default on node.* records (see :func:`node_registry`;
    the hub checks node.* records against the node's enrolled agency, never this default)."""
    SBS, SCC = Agency.SBS, Agency.SCC
    return RecordTypeRegistry(
        [
            RecordType(
                "document.check", SBS,
                {
                    "line": req("uint"),  # control line: 1 first, 2 second
                    "doc_format": req("text", "TD1", "TD2", "TD3", "MRVA", "MRVB"),
                    "doc_code": req("text"),
                    "issuing_state": req("text"),
                    "nationality": req("text"),
                    "verdict": req("text", "clear", "refer", "hit"),
                    "reasons": req("list"),
                    "checks": opt("map"),  # check digit name -> passed
                    "sex": opt("text"),
                    "expiry": opt("date"),
                    "age_years": opt("uint"),
                    "uv_ok": opt("bool"),
                    "ir_ok": opt("bool"),
                    "watchlist": opt("map"),  # list name, version, match score; no identity
                    "surname": secret("text"),
                    "given_names": secret("text"),
                    "document_number": secret("text"),
                    "birth_date": secret("text"),
                    "personal_number": secret("text"),
                    "mrz": secret("list"),
                },
                "a document read at a control line, with the verdict for the officer",
            ),
            RecordType(
                "radiation.occupancy", SCC,
                {
                    "lane": req("text"),
                    "start_ms": req("uint"),
                    "end_ms": req("uint"),
                    "gamma_counts": req("uint"),
                    "gamma_background_cps": req("number"),
                    "neutron_counts": req("uint"),
                    "neutron_background_cps": req("number"),
                    "max_sigma": req("number"),
                    "alarm": req("bool"),
                    "energy_ratio": opt("number"),
                    "nuisance": opt("bool"),  # on an alarm: NORM explains the whole excess
                    "nuclides": opt("list"),  # maps: name ("Cs-137"), confidence 0..1
                    "verdict_reason": opt("text"),  # why nuisance or not, in words
                    "n42": opt("text"),  # ANSI N42.42 report as received, when the RPM sends one
                    "plate": secret("text"),
                },
                "one vehicle through a radiation portal lane",
            ),
            RecordType(
                "radiation.alarm", SCC,
                {
                    "lane": req("text"),
                    "kind": req("text", "gamma", "neutron", "gamma+neutron"),
                    "nuisance": req("bool"),  # naturally occurring radioactive material
                    "sigma": req("number"),
                    "threshold_cps": req("number"),
                    "start_ms": req("uint"),
                    "end_ms": req("uint"),
                    "energy_ratio": opt("number"),
                    "nuclides": opt("list"),  # maps: name ("Cs-137"), confidence 0..1
                    "verdict_reason": opt("text"),  # why nuisance or not, in words
                    "occupancy_seq": opt("uint"),
                    "level": opt("text", *_ALERT_LEVEL),
                    "plate": secret("text"),
                },
                "a gamma or neutron alarm during an occupancy",
            ),
            RecordType(
                "intrusion.alert", SBS,
                {
                    "sector": req("text"),
                    "sensors": req("list"),
                    "class": req("text", "person", "vehicle", "animal", "unknown"),
                    "direction": req("text"),
                    "speed_mps": req("number"),
                    "first_ms": req("uint"),
                    "last_ms": req("uint"),
                    "confidence": opt("number"),
                    "heading_deg": opt("number"),
                    "level": opt("text", *_ALERT_LEVEL),
                },
                "a correlated crossing of a chain of green-border sensors",
            ),
            RecordType(
                "radio.position", SBS,
                {
                    "unit": req("text"),
                    "lat": req("number"),
                    "lon": req("number"),
                    "fix_ms": req("uint"),
                    "speed_mps": opt("number"),
                    "course_deg": opt("number"),
                    "hdop": opt("number"),
                    "sector": opt("text"),
                },
                "a patrol radio's position",
            ),
            RecordType(
                "radio.emergency", SBS,
                {
                    "unit": req("text"),
                    "lat": opt("number"),
                    "lon": opt("number"),
                    "fix_ms": opt("uint"),
                    "message": opt("text"),
                },
                "an emergency button pressed on a patrol radio",
            ),
            RecordType(
                "radio.geofence", SBS,
                {
                    "unit": req("text"),
                    "lat": req("number"),
                    "lon": req("number"),
                    "kind": req("text", "border_proximity", "border_crossed", "sector_exit",
                                "sector_return"),
                    "distance_m": req("number"),
                    "sector": opt("text"),
                    "fix_ms": opt("uint"),
                },
                "a patrol near or across the border line, or out of its sector",
            ),
            RecordType(
                "radio.fix_lost", SBS,
                {
                    "unit": req("text"),
                    "since_ms": req("uint"),
                    "sentence": req("text", "GGA", "RMC", "GLL"),
                    "reason": req("text", "status_void", "quality_0", "mode_not_valid"),
                    "lat": opt("number"),  # the last accepted position, when there was one
                    "lon": opt("number"),
                    "fix_ms": opt("uint"),
                },
                "a patrol radio's GNSS receiver reports no fix (void fix), once per outage",
            ),
            RecordType(
                "link.status", SBS,
                {
                    "link": req("text"),
                    "state": req("text", "up", "degraded", "down"),
                    "since_ms": req("uint"),
                    "loss_pct": opt("number"),
                    "latency_ms": opt("number"),
                    "outage_ms": opt("uint"),
                },
                "a telephony or IP link changing state",
            ),
            RecordType(
                "call.record", SBS,
                {
                    "exchange": req("text"),
                    "start_ms": req("uint"),
                    "duration_s": req("number"),
                    "result": req("text"),
                    "trunk": opt("text"),
                    "calling_number": secret("text"),
                    "called_number": secret("text"),
                },
                "a call detail record summary",
            ),
            RecordType(
                "lab.analysis", SCC,
                {
                    "case_id": req("text"),
                    "sample_id": req("text"),
                    "instrument": req("text"),
                    "method": req("text", "GC-FID", "GC-MS"),
                    "findings": req("list"),  # maps: substance, match, reverse_match, rt_min, ri
                    "controlled_found": req("bool"),
                    "file_sha256": opt("bytes"),
                    "analyst": secret("text"),
                },
                "a laboratory analysis linked to a customs seizure case",
            ),
            RecordType(
                "alert.ack", SBS,
                {
                    "alert_node": req("text"),
                    "alert_seq": req("uint"),
                    "console": req("text"),
                    "action": req("text"),
                    "note": opt("text"),
                    "operator": secret("text"),
                },
                "an alert acknowledged at the site console",
            ),
            *_node_events(node_agency),
        ]
    )


def _node_events(agency: Agency) -> list[RecordType]:
    return [
        RecordType("node.boot", agency, {
            "software": req("text"), "profile": req("text"),
            "resumed_seq": opt("uint"), "reason": opt("text")}, "the agent started"),
        RecordType("node.config_change", agency, {
            "version": req("uint"), "sha256": req("bytes"), "source": opt("text")},
            "a new configuration was applied"),
        RecordType("node.key_rotation", agency, {
            "new_kid": req("bytes"), "new_public_key": req("bytes"), "reason": opt("text")},
            "the node's signing key is replaced; signed by the old key"),
        RecordType("node.clock_skew", agency, {
            "skew_ms": req("int"), "reference": req("text"), "threshold_ms": opt("uint")},
            "the node's clock differs from a reference beyond a threshold"),
        RecordType("node.storage_pressure", agency, {
            "used_bytes": req("uint"), "limit_bytes": req("uint"),
            "unsynced_records": req("uint"), "action": req("text")},
            "the journal is filling with records the hub has not acknowledged"),
        RecordType("node.tamper", agency, {"kind": req("text"), "detail": opt("text")},
                   "an enclosure, cable or sensor tamper signal"),
        RecordType("node.firmware_installed", agency, {
            "version": req("text"), "sha256": req("bytes"), "previous": opt("text")},
            "a firmware image was verified and installed"),
        RecordType("node.firmware_offered", agency, {
            "version": req("text"), "sequence": req("uint"), "digest": req("bytes")},
            "a firmware offer reached the node (not yet checked)"),
        RecordType("node.firmware_refused", agency, {
            "reason": req("text", "malformed", "wrong_target", "bad_signature_or_digest",
                          "replay", "downgrade", "min_version", "download"),
            "detail": req("text"), "sequence": opt("uint"), "version": opt("text")},
            "a firmware offer failed a check and nothing was installed"),
        RecordType("node.firmware_installing", agency, {
            "version": req("text"), "sequence": req("uint"), "slot": req("text")},
            "a checked release is being unpacked into the inactive slot"),
        RecordType("node.firmware_committed", agency, {
            "version": req("text"), "sequence": req("uint"), "slot": req("text"),
            "previous": opt("text")},
            "the new release proved healthy within its deadline and is now the active slot"),
        RecordType("node.firmware_rolled_back", agency, {
            "version": req("text"), "reason": req("text"), "running": opt("text")},
            "the new release failed its trial; the previous slot runs again"),
        RecordType("node.device_fault", agency, {
            "kind": req("text", "garbage", "disconnect", "reconnect", "partial_file",
                        "overload", "checksum", "stuck", "quarantined", "other"),
            "count": req("uint"), "detail": opt("text")},
            "the device link misbehaved: resynchronised, counted, recorded"),
        RecordType("node.downlink_applied", agency, {
            "kind": req("text", "watchlist", "config", "firmware"), "version": req("uint"),
            "issuer": req("text"), "sha256": req("bytes")},
            "a verified watchlist, configuration or firmware offer was applied"),
    ]
