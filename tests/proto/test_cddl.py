"""What the code makes matches the written CDDL (RFC 8610) of the record, by independent tools.

The schema is ``docs/record.cddl`` (envelope, payload, disclosure) together with
``docs/record-types.cddl`` (each type's body). Two validators that share no code with
borderlink checks it: ``cddl-verifier`` (pure Python, RFC 8610/9682, with its own CBOR
decoder), on every rule. (``pycddl``, the Rust ``cddl`` crate, was tried as a second
validator and dropped: it misreads a ``bstr .cbor`` member inside an array and a map
alternative inside a recursive type choice such as ``body-value``, so it rejects valid
records.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cbor2
import pytest
from cddl_verifier import Validator
from cddl_verifier.cbor import decode as independent_decode
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from record_samples import DOCUMENT_BODY, NODE_KEY, bodies, minimal_body, sign, tagged

from borderlink.proto.cddl import rule_name
from borderlink.proto.cose import decode_sign1, protected_header, sig_structure
from borderlink.proto.envelope import encode_envelope
from borderlink.proto.errors import RecordEncodeError
from borderlink.proto.record import PayloadError, make_record, verify_record
from borderlink.proto.record_types import default_registry

DOCS = Path(__file__).resolve().parents[2] / "docs"
RECORD_CDDL = DOCS / "record.cddl"
TYPES_CDDL = DOCS / "record-types.cddl"
REGISTRY = default_registry()


def _schema_text() -> str:
    missing = [p.name for p in (RECORD_CDDL, TYPES_CDDL) if not p.exists()]
    assert not missing, f"the record's CDDL is missing from docs/: {missing}"
    return RECORD_CDDL.read_text() + "\n" + TYPES_CDDL.read_text()


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(_schema_text())


def check(validator: Validator, data: Any, root: str) -> None:
    result = validator.validate(data, root_type=root)
    assert result.valid, (root, [(d.path_text, d.message) for d in result.diagnostics][:5])


def rejects(validator: Validator, data: Any, root: str) -> bool:
    return not validator.validate(data, root_type=root).valid


def check_record(validator: Validator, raw: bytes, disclosures: list[bytes],
                 type_name: str | None) -> None:
    check(validator, raw, "borderlink-record")
    payload = decode_sign1(raw).payload
    check(validator, payload, "borderlink-payload")
    body = independent_decode(payload)[10]
    check(validator, body, "body")
    if type_name is not None:
        check(validator, body, rule_name(type_name))
        check(validator, body, "known-body")
    for disclosure in disclosures:
        check(validator, disclosure, "disclosure")
    check(validator, encode_envelope(raw, disclosures), "record-envelope")


def test_schema_has_a_body_rule_for_every_type(validator: Validator) -> None:
    text = _schema_text()
    for name in REGISTRY.names():
        assert f"\n{rule_name(name)} = {{" in text, name


@pytest.mark.parametrize("type_name", REGISTRY.names())
def test_minimal_record_of_each_type_matches(validator, type_name: str) -> None:
    signed = sign(type_name, minimal_body(REGISTRY[type_name]), REGISTRY)
    check_record(validator, signed.raw, signed.disclosure_bytes, type_name)


def test_record_with_disclosures_matches(validator) -> None:
    signed = sign("document.check", {**DOCUMENT_BODY, "mrz": ["P<AZE", "C01X00T47"]}, REGISTRY)
    assert len(signed.disclosures) == 5
    check_record(validator, signed.raw, signed.disclosure_bytes, "document.check")
    check(validator, signed.raw[1:], "COSE-Sign1-record")  # untagged: the array rule


@pytest.mark.parametrize("type_name", REGISTRY.names())
@settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
          suppress_health_check=[HealthCheck.too_slow,
                                                               HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_drawn_records_of_each_type_match(validator, type_name: str,
                                          data: st.DataObject) -> None:
    body = data.draw(bodies(REGISTRY[type_name]))
    node_id = data.draw(st.text(min_size=1, max_size=16))  # at most 64 UTF-8 bytes
    signed = make_record(NODE_KEY, node_id=node_id, seq=data.draw(st.integers(1, 2**64 - 1)),
                         prev_hash=data.draw(st.binary(min_size=32, max_size=32)),
                         time_ms=data.draw(st.integers(0, 2**64 - 1)), record_type=type_name,
                         body=body, registry=REGISTRY, site="AZ-BIL",
                         clock=data.draw(st.integers(0, 255)))
    check_record(validator, signed.raw, signed.disclosure_bytes, type_name)


def test_unknown_type_matches_the_generic_body(validator) -> None:
    from borderlink.proto.record_types import Agency, RecordType, opt

    newer = REGISTRY.extended(RecordType("drone.sighting", Agency.SBS, {"track": opt("any")}))
    signed = sign("drone.sighting", {"track": [{"lat": 39.4, "lon": 48.5}, None]}, newer)
    check_record(validator, signed.raw, [], None)
    assert rejects(validator, independent_decode(decode_sign1(signed.raw).payload)[10],
                   "known-body")


# -- the schema is not vacuous: it refuses what the contract refuses ---------------------------

GOOD = sign("node.tamper", {"kind": "lid"}, REGISTRY)
PAYLOAD_FIELDS = dict(cbor2.loads(decode_sign1(GOOD.raw).payload))


def _resigned(protected: bytes | None = None, **labels: Any) -> bytes:
    fields = dict(PAYLOAD_FIELDS)
    fields.update({int(k.lstrip("_")): v for k, v in labels.items()})
    payload = cbor2.dumps(fields, canonical=True)
    protected = protected if protected is not None else protected_header(NODE_KEY.kid)
    return tagged([protected, {}, payload, NODE_KEY.sign(sig_structure(protected, payload))])


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("alg -8 (verifiers accept it; borderlink does not emit it)",
         _resigned(protected_header(NODE_KEY.kid, -8))),
        ("kid of 16 bytes", _resigned(cbor2.dumps({1: -19, 4: b"k" * 16}))),
        ("schema version 2", _resigned(_1=2)),
        ("seq 0", _resigned(_3=0)),
        ("prev of 31 bytes", _resigned(_4=b"\x00" * 31)),
        ("time as text", _resigned(_5="now")),
        ("clock quality 256", _resigned(_6=256)),
        ("node id of 65 bytes", _resigned(_2="n" * 65)),
        ("empty site", _resigned(_9="")),
        ("body an array", _resigned(_10=[])),
        ("digest of 31 bytes", _resigned(_11=[b"\x00" * 31])),
        ("extension label 0", cbor2.dumps(cbor2.CBORTag(18, [
            protected_header(NODE_KEY.kid), {}, cbor2.dumps({**PAYLOAD_FIELDS, 0: 1}), b"s" * 64]))),
        ("untagged is not borderlink-record", GOOD.raw[1:]),
        ("non-empty unprotected header", tagged([protected_header(NODE_KEY.kid), {99: 1},
                                                 decode_sign1(GOOD.raw).payload, b"s" * 64])),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_schema_refuses(validator, name: str, raw: bytes) -> None:
    assert rejects(validator, raw, "borderlink-record"), name


@pytest.mark.parametrize(
    ("type_name", "field", "value"),
    [
        ("document.check", "line", -1),
        ("document.check", "verdict", "maybe"),
        ("document.check", "expiry", "2024-1-1"),
        ("radiation.alarm", "sigma", "6"),
        ("node.config_change", "sha256", "ab"),
        ("node.tamper", "unknown_field", 1),
    ],
)
def test_body_rule_refuses_what_validation_refuses(validator, type_name: str,
                                                   field: str, value: Any) -> None:
    body = {**minimal_body(REGISTRY[type_name]), field: value}
    if type_name == "document.check":
        body = {**{k: v for k, v in DOCUMENT_BODY.items() if k not in REGISTRY[type_name].sensitive},
                field: value}
    assert rejects(validator, body, rule_name(type_name))
    with pytest.raises(RecordEncodeError):
        sign(type_name, body, REGISTRY)


@pytest.mark.parametrize(
    ("change", "label_value"),
    [
        ({"node_id": "n" * 65}, {"_2": "n" * 65}),
        ({"node_id": "é" * 33}, {"_2": "é" * 33}),  # 66 UTF-8 bytes
        ({"site": "s" * 65}, {"_9": "s" * 65}),
        ({"clock": 256}, {"_6": 256}),
    ],
    ids=["node-65", "node-66-utf8", "site-65", "clock-256"],
)
def test_code_and_schema_agree_on_limits(validator, change: dict, label_value: dict) -> None:
    """What the CDDL refuses, make_record refuses and verify_record refuses too."""
    assert rejects(validator, _resigned(**label_value), "borderlink-record")
    args = {"node_id": "n", "seq": 1, "prev_hash": bytes(32), "time_ms": 0,
            "record_type": "node.tamper", "body": {"kind": "lid"}, "registry": REGISTRY,
            "site": "s"}
    args.update(change)
    with pytest.raises(RecordEncodeError):
        make_record(NODE_KEY, **args)
    with pytest.raises(PayloadError):
        verify_record(_resigned(**label_value), NODE_KEY.public, registry=REGISTRY)
