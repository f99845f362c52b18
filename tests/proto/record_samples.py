"""Shared material for the record-contract tests: fixed keys, valid bodies, Hypothesis strategies.

A module (not a conftest) so test files import the strategies by name. Keys are fixed seeds,
never written to disk by this module.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import cbor2
from hypothesis import strategies as st

from borderlink.proto.keys import SigningKey
from borderlink.proto.record import GENESIS_PREV, ClockQuality, SignedRecord, make_record
from borderlink.proto.record_types import Agency, Field, RecordType, RecordTypeRegistry

#: Deterministic test keys (seeds are public test values, not secrets).
NODE_KEY = SigningKey(bytes(range(32)))
OTHER_KEY = SigningKey(bytes(range(32, 64)))

#: RFC 8032 §7.1 TEST 1: secret key, public key, signature of the empty message.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIG_EMPTY = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
    "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)

_INT64 = (-(2**64), 2**64 - 1)


def normalize(value: Any) -> Any:
    """Arrays decode as tuples under cbor2 6: compare structure, not container class."""
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if isinstance(value, Mapping):
        return {k: normalize(v) for k, v in value.items()}
    return value


# -- strategies ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(*_INT64),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.binary(max_size=24),
)


def body_values(depth: int = 3) -> st.SearchStrategy[Any]:
    """Values a body may hold (text-keyed maps, arrays, scalars), nested at most *depth*."""
    if depth == 0:
        return scalars
    inner = body_values(depth - 1)
    return st.one_of(
        scalars,
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=6), inner, max_size=3),
    )


_BY_KIND: dict[str, st.SearchStrategy[Any]] = {
    "text": st.text(max_size=24),
    "uint": st.integers(0, 2**64 - 1),
    "int": st.integers(*_INT64),
    "number": st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False)),
    "bool": st.booleans(),
    "bytes": st.binary(max_size=40),
    "date": st.dates(datetime.date(1900, 1, 1), datetime.date(2199, 12, 31)).map(
        datetime.date.isoformat
    ),
    "list": st.lists(body_values(2), max_size=4),
    "map": st.dictionaries(st.text(max_size=8), body_values(2), max_size=4),
    "any": body_values(2),
}


def field_values(spec: Field) -> st.SearchStrategy[Any]:
    if spec.choices:
        return st.sampled_from(sorted(spec.choices))
    return _BY_KIND[spec.kind]


def bodies(record_type: RecordType) -> st.SearchStrategy[dict[str, Any]]:
    """Valid bodies: every required field, any subset of optional and sensitive ones."""
    required = {n: field_values(f) for n, f in record_type.fields.items() if f.required and not f.sensitive}
    optional = {n: field_values(f) for n, f in record_type.fields.items() if not (f.required and not f.sensitive)}
    return st.fixed_dictionaries(required, optional=optional)


node_ids = st.text(min_size=1, max_size=16)
sites = st.text(min_size=1, max_size=16)
seqs = st.integers(1, 2**64 - 1)
times = st.integers(0, 2**64 - 1)
prevs = st.binary(min_size=32, max_size=32)
clocks = st.sampled_from(list(ClockQuality))
agencies = st.one_of(st.none(), st.sampled_from(list(Agency)))


# -- fixed samples ---------------------------------------------------------------------------

def minimal_body(record_type: RecordType) -> dict[str, Any]:
    """The simplest valid body of a type: each required field with a plain value."""
    plain = {
        "text": "x", "uint": 1, "int": -1, "number": 1.5, "bool": True, "bytes": b"\x01" * 32,
        "date": "2030-01-31", "list": [], "map": {}, "any": None,
    }
    body: dict[str, Any] = {}
    for name, spec in record_type.fields.items():
        if spec.required and not spec.sensitive:
            body[name] = min(spec.choices) if spec.choices else plain[spec.kind]
    return body


DOCUMENT_BODY: dict[str, Any] = {
    "line": 1,
    "doc_format": "TD3",
    "doc_code": "P",
    "issuing_state": "AZE",
    "nationality": "AZE",
    "verdict": "refer",
    "reasons": ["expired"],
    "checks": {"document_number": True, "birth_date": True},
    "expiry": "2024-05-01",
    "surname": "ALIYEV",
    "given_names": "RASHAD",
    "document_number": "C01X00T47",
    "birth_date": "1985-03-14",
}


def sign(
    record_type: str,
    body: Mapping[str, Any],
    registry: RecordTypeRegistry,
    *,
    key: SigningKey = NODE_KEY,
    seq: int = 1,
    prev: bytes = GENESIS_PREV,
    node_id: str = "bil-dr-01",
    time_ms: int = 1_767_225_600_000,
) -> SignedRecord:
    return make_record(
        key, node_id=node_id, seq=seq, prev_hash=prev, time_ms=time_ms,
        record_type=record_type, body=body, registry=registry, site="AZ-BIL",
        clock=ClockQuality.NTP,
    )


def tagged(items: list[Any]) -> bytes:
    """A tagged COSE_Sign1 from its four items, encoded by cbor2 (not by our encoder)."""
    return cbor2.dumps(cbor2.CBORTag(18, items))
