"""borderlink records: COSE_Sign1 messages over a deterministic CBOR payload.

The payload (``docs/record-contract.md`` has the CDDL and worked examples) is a map with
integer labels, :class:`PayloadLabel`. Making a record is :func:`make_record` (or a
:class:`RecordChain`, which keeps sequence number and previous hash); checking one is
:func:`verify_record`, which verifies the signature over the bytes received, checks that the
payload is in deterministic encoding, checks disclosures against the signed digests and, for
a type the registry knows, validates the body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import IntEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

import cbor2
import nacl.bindings

from .cose import (
    MAX_MESSAGE_BYTES,
    Sign1Message,
    _decode_protected,
    decode_sign1,
    encode_sign1,
    open_sign1,
    protected_header,
    sig_structure,
)
from .disclosure import (
    DIGEST_BYTES,
    Disclosure,
    DisclosureMismatchError,
    conceal,
    decoys,
    random_bytes,
    reveal,
)
from .errors import RecordDecodeError, RecordEncodeError
from .keys import PUBLIC_KEY_BYTES, SigningKey, key_id
from .record_types import Agency, BodyError, RecordType, RecordTypeRegistry

try:
    from . import _native
except ImportError:  # built without a C compiler: the pure-Python reference alone, slower
    _native = None  # type: ignore[assignment]

SCHEMA_VERSION = 1
HASH_BYTES = 32
#: prev of the first record of a node.
GENESIS_PREV = bytes(HASH_BYTES)
#: A record (the whole COSE_Sign1) is at most this many bytes; larger is refused both ways.
MAX_RECORD_BYTES = MAX_MESSAGE_BYTES
#: Maps and arrays nest at most this deep in a payload (the body allows 8 of them).
MAX_PAYLOAD_DEPTH = 12
#: Node id, site and record type are at most this many UTF-8 bytes (docs/record.cddl).
MAX_NAME_BYTES = 64


class PayloadLabel(IntEnum):
    """Labels of the record payload map (schema version 1)."""

    VERSION = 1
    NODE = 2
    SEQ = 3
    PREV = 4
    TIME = 5  # node clock, milliseconds since the Unix epoch (UTC)
    CLOCK = 6  # ClockQuality of TIME
    TYPE = 7
    AGENCY = 8
    SITE = 9
    BODY = 10
    SD = 11  # sorted SHA-256 digests of disclosures, padded with decoys


class ClockQuality(IntEnum):
    """How far the node's clock can be trusted when it stamped TIME."""

    UNSYNCHRONISED = 0  # free-running since boot, never compared
    HUB = 1  # compared with the hub's clock on the last connect
    NTP = 2  # disciplined by NTP
    GNSS = 3  # disciplined by a GNSS receiver (PPS)


class PayloadError(RecordDecodeError):
    """A signed payload that is not a valid record payload."""


class NonDeterministicEncodingError(PayloadError):
    """A payload not in RFC 8949 §4.2.1 deterministic encoding."""


_REQUIRED = tuple(PayloadLabel)


def record_hash(raw: bytes) -> bytes:
    """SHA-256 of a record's exact bytes: what the next record's PREV holds."""
    return hashlib.sha256(raw).digest()


class Record(NamedTuple):
    """A decoded record. ``raw`` is the exact bytes; everything else is read from them.

    A named tuple rather than a dataclass: one is built per record on the hot paths.
    """

    raw: bytes
    message: Sign1Message
    version: int
    node_id: str
    seq: int
    prev_hash: bytes
    time_ms: int
    clock: int
    record_type: str
    agency: str
    site: str
    body: Mapping[str, Any]
    digests: tuple[bytes, ...]
    extensions: Mapping[int, Any] = {}

    @property
    def hash(self) -> bytes:
        return record_hash(self.raw)

    @property
    def kid(self) -> bytes | None:
        return self.message.kid


class SignedRecord(NamedTuple):
    """A new record: its bytes and the disclosures of its sensitive fields.

    A named tuple, as :class:`Record`: one is built per record on the edge's hot path.
    """

    record: Record
    disclosures: tuple[Disclosure, ...]
    #: SHA-256 of the record's bytes (``record.hash``), computed as it was made.
    hash: bytes

    @property
    def raw(self) -> bytes:
        return self.record.raw

    @property
    def disclosure_bytes(self) -> list[bytes]:
        return [d.raw for d in self.disclosures]


class VerifiedRecord(NamedTuple):
    """A record whose signature held, with the disclosed fields that checked out.

    A named tuple, as :class:`Record`: one is built per record the hub ingests.
    """

    record: Record
    disclosed: Mapping[str, Disclosure]
    known_type: bool

    @property
    def body(self) -> dict[str, Any]:
        """The signed body with every verified disclosure merged in."""
        merged = dict(self.record.body)
        merged.update({name: d.value for name, d in self.disclosed.items()})
        return merged


def _head(major: int, value: int) -> bytes:
    """A CBOR head: major type and argument in the shortest form (RFC 8949 §3, §4.2.1)."""
    mt = major << 5
    if value < 24:
        return bytes((mt | value,))
    if value < 0x100:
        return bytes((mt | 24, value))
    if value < 0x10000:
        return bytes((mt | 25,)) + value.to_bytes(2, "big")
    if value < 0x100000000:
        return bytes((mt | 26,)) + value.to_bytes(4, "big")
    if value < 0x10000000000000000:
        return bytes((mt | 27,)) + value.to_bytes(8, "big")
    raise RecordEncodeError(f"integer {value} does not fit in 64 bits")


@lru_cache(maxsize=1024)
def _text(value: str) -> bytes:
    """A CBOR text string; cached, since node ids, sites, types and agencies repeat."""
    encoded = value.encode("utf-8")
    return _head(3, len(encoded)) + encoded


def encode_payload(
    *,
    node_id: str,
    seq: int,
    prev_hash: bytes,
    time_ms: int,
    clock: int,
    record_type: str,
    agency: str,
    site: str,
    body: Mapping[str, Any],
    digests: Sequence[bytes],
) -> bytes:
    """The deterministic CBOR payload (RFC 8949 §4.2.1) of a record.

    The C accelerator writes it when it can; otherwise (and for every error) the reference,
    :func:`encode_payload_reference`, does.
    """
    if _native is not None:
        try:
            return _native.payload(
                node_id, seq, prev_hash, time_ms, clock, record_type, agency, site,
                _native.encode(body), digests,
            )
        except _native.Unsupported:
            pass
    return encode_payload_reference(
        node_id=node_id, seq=seq, prev_hash=prev_hash, time_ms=time_ms, clock=clock,
        record_type=record_type, agency=agency, site=site, body=body, digests=digests,
    )


def encode_payload_reference(
    *,
    node_id: str,
    seq: int,
    prev_hash: bytes,
    time_ms: int,
    clock: int,
    record_type: str,
    agency: str,
    site: str,
    body: Mapping[str, Any],
    digests: Sequence[bytes],
) -> bytes:
    """:func:`encode_payload` in pure Python: the authority the C accelerator is tested against.

    The header is assembled from pre-encoded pieces (labels 1..11 are one byte each, so
    their order is fixed); the body goes through cbor2's canonical encoder, whose
    length-first key order equals bytewise order for maps with text keys only.
    """
    if type(seq) is not int or seq < 1:
        raise RecordEncodeError(f"sequence numbers start at 1, got {seq!r}")
    if type(prev_hash) is not bytes or len(prev_hash) != HASH_BYTES:
        raise RecordEncodeError(f"prev must be {HASH_BYTES} bytes")
    if type(time_ms) is not int or time_ms < 0:
        raise RecordEncodeError(f"time must be milliseconds since 1970, got {time_ms!r}")
    if not node_id or not site or not record_type or not agency:
        raise RecordEncodeError("node id, site, record type and agency must be non-empty")
    if not isinstance(clock, int) or isinstance(clock, bool) or not 0 <= clock <= 255:
        raise RecordEncodeError(f"clock quality must be an integer 0..255, got {clock!r}")
    if any(type(d) is not bytes or len(d) != HASH_BYTES for d in digests):
        raise RecordEncodeError(f"disclosure digests must be {HASH_BYTES}-byte strings")
    for what, name in (("node id", node_id), ("site", site), ("record type", record_type)):
        # _text (cached) is the 2-byte text head + UTF-8 for 24..255 bytes: exact and cheap.
        if len(_text(name)) > MAX_NAME_BYTES + 2:
            raise RecordEncodeError(f"{what} is over {MAX_NAME_BYTES} UTF-8 bytes: {name!r:.80}")
    try:
        body_bytes = cbor2.dumps(body, canonical=True)
    except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
        raise RecordEncodeError(f"record body cannot be encoded: {exc}") from exc
    return b"".join(
        (
            b"\xab\x01\x01\x02",  # map(11), 1: version 1, label 2
            _text(node_id),
            b"\x03",
            _head(0, seq),
            b"\x04\x58\x20",
            prev_hash,
            b"\x05",
            _head(0, time_ms),
            b"\x06",
            _head(0, int(clock)),
            b"\x07",
            _text(record_type),
            b"\x08",
            _text(str(agency)),
            b"\x09",
            _text(site),
            b"\x0a",
            body_bytes,
            b"\x0b",
            _head(4, len(digests)),
            *(b"\x58\x20" + d for d in digests),
        )
    )


def make_record(
    key: SigningKey,
    *,
    node_id: str,
    seq: int,
    prev_hash: bytes,
    time_ms: int,
    record_type: str,
    body: Mapping[str, Any],
    registry: RecordTypeRegistry,
    site: str,
    agency: str | None = None,
    clock: int = ClockQuality.UNSYNCHRONISED,
    salt_source: Callable[[int], bytes] = random_bytes,
) -> SignedRecord:
    """Validate *body* against its type, conceal its sensitive fields, sign the record."""
    return _make(
        key, registry[record_type], node_id, seq, prev_hash, time_ms, record_type, body, site,
        agency, clock, salt_source,
    )


# Named tuples built with tuple.__new__ skip their generated Python-level __new__: three of
# them per record on the edge's hot path.
_tuple_new = tuple.__new__
# Empty header and extension maps, shared as Record's own default is.
_EMPTY: Mapping[Any, Any] = MappingProxyType({})


@lru_cache(maxsize=256)
def _protected_for(kid: bytes) -> tuple[bytes, Mapping[int, Any]]:
    """The protected header a key signs with, as bytes and as the map they decode to."""
    protected = protected_header(kid)
    return protected, _decode_protected(protected)


_READY_DIGESTS = random_bytes.ready(DIGEST_BYTES)
# What _native.make builds its results with (see proto/_native.c).
_SHAPES = (Sign1Message, Record, SignedRecord, SCHEMA_VERSION, _EMPTY, MAX_RECORD_BYTES)

# The agencies as plain str (an enum's .value is a slow descriptor; the C encoder takes str).
_AGENCY_NAMES = {agency: agency.value for agency in Agency}


def _make(
    key: SigningKey,
    spec: RecordType,
    node_id: str,
    seq: int,
    prev_hash: bytes,
    time_ms: int,
    record_type: str,
    body: Mapping[str, Any],
    site: str,
    agency: str | None,
    clock: int,
    salt_source: Callable[[int], bytes],
) -> SignedRecord:
    """:func:`make_record` with positional arguments (:class:`RecordChain` calls it per record)."""
    owner = _AGENCY_NAMES[spec.agency if agency is None else Agency(agency)]
    if type(clock) is not int and isinstance(clock, int) and not isinstance(clock, bool):
        clock = int(clock)  # ClockQuality: a plain int, which the C encoder takes as it is
    protected, header = _protected_for(key.kid)
    if _native is not None and type(body) is dict:
        # The hot path: one C call validates the body, encodes, signs (with key.sign) and
        # builds the record. A body with no sensitive field present needs no disclosures,
        # only its type's decoy digests; one with some is split by conceal() first.
        if spec.sensitive.isdisjoint(body):
            # A copy: the record never changes when the caller's dict does.
            signed_body: Mapping[str, Any] = dict(body)
            disclosures: Sequence[Disclosure] = ()
            digests: Sequence[bytes] = decoys(spec.digest_slots, salt_source)
        else:
            spec.validate(body)
            signed_body, digests, disclosures = conceal(
                body, spec.sensitive, spec.digest_slots, salt_source=salt_source
            )
        try:
            return _native.make(
                spec._native_schema, signed_body, digests, node_id, seq, prev_hash, time_ms,
                clock, record_type, owner, site, protected, header, key.sign,
                tuple(disclosures), _SHAPES,
            )
        except _native.Unsupported:
            pass  # bad or unusual input: the reference below decides
    spec.validate(body)
    if spec.sensitive:
        signed_body, digests, disclosures = conceal(
            body, spec.sensitive, spec.digest_slots, salt_source=salt_source
        )
    else:
        signed_body, digests, disclosures = dict(body), (), ()
    payload = encode_payload(
        node_id=node_id, seq=seq, prev_hash=prev_hash, time_ms=time_ms, clock=clock,
        record_type=record_type, agency=owner, site=site, body=signed_body, digests=digests,
    )
    signature = key.sign(sig_structure(protected, payload))
    raw = encode_sign1(protected, payload, signature)
    if len(raw) > MAX_RECORD_BYTES:
        raise RecordEncodeError(f"record is {len(raw)} bytes, over the {MAX_RECORD_BYTES} limit")
    message = _tuple_new(Sign1Message, (protected, header, _EMPTY, payload, signature, True))
    record = _tuple_new(Record, (
        raw, message, SCHEMA_VERSION, node_id, seq, prev_hash, time_ms, clock,
        record_type, owner, site, signed_body, tuple(digests), _EMPTY,
    ))
    return _tuple_new(SignedRecord, (record, tuple(disclosures), record_hash(raw)))


def decode_record(raw: bytes) -> Record:
    """Parse a record without checking its signature (for inspection and routing)."""
    message = decode_sign1(raw, max_bytes=MAX_RECORD_BYTES)
    return _record_from(raw, message)


def _record_from(raw: bytes, message: Sign1Message) -> Record:
    if _native is not None:
        try:
            node, seq, prev, time_ms, clock, rtype, agency, site, body, sd = (
                _native.decode_payload(message.payload)
            )
        except _native.Unsupported:
            pass  # unusual or bad: the reference decides, and names what is wrong
        else:
            return _tuple_new(Record, (
                raw, message, SCHEMA_VERSION, node, seq, prev, time_ms, clock, rtype, agency,
                site, body, sd, _EMPTY,
            ))
    return _record_from_reference(raw, message)


def _record_from_reference(raw: bytes, message: Sign1Message) -> Record:
    payload = message.payload
    try:
        fields = cbor2.loads(
            payload, allow_indefinite=False, allow_duplicate_keys=False,
            max_depth=MAX_PAYLOAD_DEPTH,
        )
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError) as exc:
        raise PayloadError(f"payload is not well-formed CBOR: {exc}") from exc
    if not isinstance(fields, Mapping):
        raise PayloadError("payload must be a CBOR map")
    missing = [label.name for label in _REQUIRED if label not in fields]
    if missing:
        raise PayloadError(f"payload lacks {', '.join(missing)}")
    fields = dict(fields)
    version, node, seq, prev, time_ms, clock, rtype, agency, site, body, sd = (
        fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7],
        fields[8], fields[9], fields[10], fields[11],
    )
    if version != SCHEMA_VERSION:
        raise PayloadError(f"schema version {version!r} is not supported (expected 1)")
    if not isinstance(node, str) or not node:
        raise PayloadError("node id must be non-empty text")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise PayloadError(f"sequence number must be a positive integer, got {seq!r}")
    if not isinstance(prev, bytes) or len(prev) != HASH_BYTES:
        raise PayloadError("prev must be a 32-byte string")
    if not isinstance(time_ms, int) or isinstance(time_ms, bool) or time_ms < 0:
        raise PayloadError(f"time must be a non-negative integer, got {time_ms!r}")
    if not isinstance(clock, int) or isinstance(clock, bool) or not 0 <= clock <= 255:
        raise PayloadError(f"clock quality must be an integer 0..255, got {clock!r}")
    if not isinstance(rtype, str) or not rtype:
        raise PayloadError("record type must be non-empty text")
    if not isinstance(agency, str) or not agency:
        raise PayloadError("agency must be non-empty text")
    if not isinstance(site, str) or not site:
        raise PayloadError("site must be non-empty text")
    if not isinstance(body, Mapping) or any(type(k) is not str for k in body):
        raise PayloadError("body must be a map with text keys")
    if not isinstance(sd, (list, tuple)) or not all(
        isinstance(d, bytes) and len(d) == HASH_BYTES for d in sd
    ):
        raise PayloadError("disclosure digests must be an array of 32-byte strings")
    extensions = {k: v for k, v in fields.items() if k not in _LABELS}
    if any(not isinstance(k, int) or k < 12 for k in extensions):
        raise PayloadError(f"payload has labels outside schema 1: {sorted(map(repr, extensions))}")
    _check_deterministic(payload, fields, extensions)
    return Record(
        raw, message, version, node, seq, prev, time_ms, clock, rtype, agency, site, body,
        tuple(sd), extensions,
    )


_LABELS = frozenset(int(label) for label in PayloadLabel)


def _deterministic(value: Any) -> bytes:
    """RFC 8949 §4.2.1 encoding of a decoded value: map keys in bytewise order of their
    encodings. cbor2's ``canonical`` sorts length-first (RFC 7049), which differs for maps
    mixing key types — possible only inside extension labels, so only that path uses this."""
    if isinstance(value, Mapping):
        items = sorted((_deterministic(k), _deterministic(v)) for k, v in value.items())
        return _head(5, len(items)) + b"".join(k + v for k, v in items)
    if isinstance(value, (list, tuple)):
        return _head(4, len(value)) + b"".join(_deterministic(v) for v in value)
    if isinstance(value, cbor2.CBORTag):
        return _head(6, value.tag) + _deterministic(value.value)
    return cbor2.dumps(value, canonical=True)


def _has_duplicate_keys(value: Any) -> bool:
    """Whether a decoded value holds a map with two keys that decode unequal but encode the
    same: a NaN inside a key, which the decoder's duplicate check cannot see (nan != nan)."""
    if isinstance(value, Mapping):
        keys = [_deterministic(k) for k in value]
        if len(set(keys)) != len(keys):
            return True
        return any(_has_duplicate_keys(k) or _has_duplicate_keys(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_duplicate_keys(v) for v in value)
    if isinstance(value, cbor2.CBORTag):
        return _has_duplicate_keys(value.value)
    return False


def _check_deterministic(
    payload: bytes, fields: Mapping[int, Any], extensions: Mapping[int, Any]
) -> None:
    """Reject a payload that is not the deterministic encoding of what it decodes to.

    This re-encodes only to compare — the signature was checked over the received bytes.
    Indefinite lengths and equal keys were already refused by the decoder, but for keys
    holding a NaN, which only their encodings tell apart.
    """
    try:
        if _has_duplicate_keys(fields):
            raise PayloadError("payload has a map with duplicate keys (RFC 8949 §5.6)")
        if extensions:
            expected = _deterministic(fields)
        else:
            expected = encode_payload_reference(
                node_id=fields[2], seq=fields[3], prev_hash=fields[4], time_ms=fields[5],
                clock=fields[6], record_type=fields[7], agency=fields[8], site=fields[9],
                body=fields[10], digests=fields[11],
            )
    except (RecordEncodeError, cbor2.CBOREncodeError, TypeError, ValueError) as exc:
        raise PayloadError(f"payload holds values a record cannot: {exc}") from exc
    if expected != payload:
        raise NonDeterministicEncodingError(
            "payload is not in deterministic encoding (RFC 8949 §4.2.1): key order, "
            "integer or length width, or float width differs"
        )


def verify_record(
    raw: bytes,
    public_key: bytes,
    *,
    registry: RecordTypeRegistry | None = None,
    disclosures: Iterable[bytes | Disclosure] = (),
) -> VerifiedRecord:
    """Verify a record's signature, encoding, disclosures and (for a known type) its body.

    Raises a :class:`~borderlink.proto.errors.RecordDecodeError` for malformed bytes and a
    :class:`~borderlink.proto.errors.VerificationError` when a check fails.
    """
    if _native is not None and type(public_key) is bytes and type(disclosures) in (tuple, list):
        context = _verify_context(public_key, registry)
        if context is not None:
            try:
                return _native.verify(raw, public_key, context, disclosures)
            except _native.Unsupported:
                pass  # another shape, a failed check or anything unusual: decided below
    message = open_sign1(raw, public_key, max_bytes=MAX_RECORD_BYTES)
    record = _record_from(raw, message)
    disclosed = reveal(record.digests, disclosures) if disclosures else {}
    spec = registry.get(record.record_type) if registry is not None else None
    if spec is not None:
        if not spec.sensitive.isdisjoint(record.body):
            overlap = set(record.body) & spec.sensitive
            raise PayloadError(f"sensitive fields {sorted(overlap)} are in the clear in the body")
        body = record.body
        if disclosed:
            body = dict(body)
            body.update({name: d.value for name, d in disclosed.items()})
        try:
            spec.validate(body)
        except BodyError as exc:
            raise PayloadError(f"signed body does not match its type: {exc}") from exc
    if disclosed and disclosed.keys() & record.body.keys():
        # One field both in the clear and disclosed would read differently to different holders.
        clear = sorted(disclosed.keys() & record.body.keys())
        raise DisclosureMismatchError(f"fields {clear} are both in the body and disclosed")
    return _tuple_new(VerifiedRecord, (record, disclosed, spec is not None))


@lru_cache(maxsize=4096)
def _verify_context(
    public_key: bytes, registry: RecordTypeRegistry | None
) -> tuple[Any, ...] | None:
    """What ``_native.verify`` takes for records of *public_key* checked against *registry*:
    built once per signer (see proto/_native.c)."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        return None
    protected, header = _protected_for(key_id(public_key))
    types = registry._native_table if registry is not None else None
    return (
        protected, header, types, nacl.bindings.crypto_sign_open,
        (Sign1Message, Record, VerifiedRecord, SCHEMA_VERSION, _EMPTY, Disclosure),
        MAX_RECORD_BYTES,
    )


class RecordChain:
    """A node's chain state: the next sequence number and the hash of the last record.

    :meth:`prepare` signs the next record without moving the chain; the caller makes it
    durable, then calls :meth:`commit`. Signing twice before a commit yields the same
    sequence number — never persist both (a fork).
    """

    def __init__(
        self,
        key: SigningKey,
        *,
        node_id: str,
        site: str,
        registry: RecordTypeRegistry,
        next_seq: int = 1,
        prev_hash: bytes = GENESIS_PREV,
        clock: int = ClockQuality.UNSYNCHRONISED,
    ) -> None:
        self.key = key
        self.node_id = node_id
        self.site = site
        self.registry = registry
        self._contexts: dict[str, tuple[Any, ...]] = {}  # see _context
        self.next_seq = next_seq
        self.prev_hash = prev_hash
        # A ClockQuality is kept as the plain int it is (the C path takes exact ints).
        self.clock = int(clock) if isinstance(clock, IntEnum) else clock

    def prepare(
        self,
        record_type: str,
        body: Mapping[str, Any],
        *,
        time_ms: int,
        agency: str | None = None,
        clock: int | None = None,
    ) -> SignedRecord:
        if clock is None:
            clock = self.clock
        if agency is None and _native is not None and type(clock) is int:
            # The edge's hot path: one C call with what this chain and type keep constant.
            context = self._contexts.get(record_type) or self._context(record_type)
            try:
                return _native.chain_make(
                    context, body, self.next_seq, self.prev_hash, time_ms, clock
                )
            except _native.Unsupported:
                pass  # sensitive fields present, or bad or unusual input: the path below
        return _make(
            self.key, self.registry[record_type], self.node_id, self.next_seq, self.prev_hash,
            time_ms, record_type, body, self.site, agency, clock, random_bytes,
        )

    def _context(self, record_type: str) -> tuple[Any, ...]:
        """What ``_native.chain_make`` takes for *record_type*, built once per chain and type."""
        spec = self.registry[record_type]
        protected, header = _protected_for(self.key.kid)
        context = (
            spec._native_schema, tuple(sorted(spec.sensitive)), spec.digest_slots, self.node_id,
            record_type, _AGENCY_NAMES[spec.agency], self.site, protected, header,
            self.key.sign, _SHAPES, _READY_DIGESTS, random_bytes,
        )
        self._contexts[record_type] = context
        return context

    def commit(self, signed: SignedRecord) -> None:
        record = signed.record
        if record.seq != self.next_seq or record.prev_hash != self.prev_hash:
            raise RecordEncodeError(
                f"record {record.seq} does not extend the chain at {self.next_seq}"
            )
        self.next_seq = record.seq + 1
        self.prev_hash = signed.hash
