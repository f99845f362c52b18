"""Record round trips: body -> record -> bytes -> verify -> body, for every registered type.

Hypothesis draws bodies per field kind (``record_samples.bodies``); each example checks the
record with all of its disclosures, with a drawn subset (withheld fields absent, signature
still valid) and with none.
"""

from __future__ import annotations

import hashlib

import cbor2
import pytest
from cddl_verifier.cbor import decode as independent_decode
from cddl_verifier.cbor import encode as independent_encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from record_samples import (
    DOCUMENT_BODY,
    NODE_KEY,
    agencies,
    bodies,
    clocks,
    minimal_body,
    node_ids,
    normalize,
    prevs,
    seqs,
    sign,
    sites,
    times,
)

from borderlink.proto.cose import decode_sign1
from borderlink.proto.errors import RecordEncodeError
from borderlink.proto.keys import key_id
from borderlink.proto.record import (
    GENESIS_PREV,
    MAX_RECORD_BYTES,
    ClockQuality,
    PayloadLabel,
    RecordChain,
    decode_record,
    make_record,
    record_hash,
    verify_record,
)
from borderlink.proto.record_types import Agency, BodyError, default_registry

REGISTRY = default_registry()
TYPE_NAMES = REGISTRY.names()

_ROUND_TRIP = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("type_name", TYPE_NAMES)
@_ROUND_TRIP
@given(data=st.data())
def test_round_trip_every_type(type_name: str, data: st.DataObject) -> None:
    spec = REGISTRY[type_name]
    body = data.draw(bodies(spec), label="body")
    node_id, site = data.draw(node_ids, label="node"), data.draw(sites, label="site")
    seq, prev, time_ms = data.draw(seqs), data.draw(prevs), data.draw(times)
    clock, agency = data.draw(clocks), data.draw(agencies)

    signed = make_record(
        NODE_KEY, node_id=node_id, seq=seq, prev_hash=prev, time_ms=time_ms,
        record_type=type_name, body=body, registry=REGISTRY, site=site,
        agency=agency, clock=clock,
    )
    raw = bytes(signed.raw)  # only the bytes travel on
    sensitive_present = {n for n in body if n in spec.sensitive}
    assert {d.field for d in signed.disclosures} == sensitive_present
    assert len(signed.record.digests) == spec.digest_slots  # decoys pad to a fixed count

    # Everything disclosed: the whole body comes back.
    full = verify_record(raw, NODE_KEY.public, registry=REGISTRY,
                         disclosures=signed.disclosure_bytes)
    assert full.known_type
    assert normalize(full.body) == normalize(body)
    record = full.record
    assert (record.node_id, record.seq, record.prev_hash, record.time_ms) == (
        node_id, seq, prev, time_ms)
    assert (record.clock, record.record_type, record.site) == (int(clock), type_name, site)
    assert record.agency == str(agency if agency is not None else spec.agency)
    assert record.kid == key_id(NODE_KEY.public)
    assert record.hash == hashlib.sha256(raw).digest()

    # A subset disclosed: withheld fields are absent, the signature still verifies.
    shown = data.draw(st.sets(st.sampled_from(sorted(sensitive_present))) if sensitive_present
                      else st.just(set()), label="shown")
    partial = verify_record(
        raw, NODE_KEY.public, registry=REGISTRY,
        disclosures=[d.raw for d in signed.disclosures if d.field in shown],
    )
    expected = {n: v for n, v in body.items() if n not in sensitive_present - shown}
    assert normalize(partial.body) == normalize(expected)
    assert set(partial.disclosed) == shown

    # None disclosed: no sensitive field anywhere in what the verifier sees.
    bare = verify_record(raw, NODE_KEY.public, registry=REGISTRY)
    assert not set(bare.body) & spec.sensitive
    assert normalize(bare.body) == normalize({n: v for n, v in body.items()
                                              if n not in spec.sensitive})
    for disclosure in signed.disclosures:
        assert disclosure.raw not in raw


@pytest.mark.parametrize("type_name", TYPE_NAMES)
def test_payload_is_rfc8949_deterministic_by_an_independent_encoder(type_name: str) -> None:
    """cddl-verifier's own CBOR codec (not cbor2) re-encodes the payload to the same bytes."""
    signed = sign(type_name, minimal_body(REGISTRY[type_name]), REGISTRY)
    payload = decode_sign1(signed.raw).payload
    assert independent_encode(independent_decode(payload), canonical=True) == payload
    for disclosure in signed.disclosures:
        assert independent_encode(independent_decode(disclosure.raw), canonical=True) == \
            disclosure.raw


def test_payload_labels_and_values_are_the_contract() -> None:
    signed = sign("document.check", DOCUMENT_BODY, REGISTRY, seq=7, prev=b"\x11" * 32)
    payload = cbor2.loads(decode_sign1(signed.raw).payload)
    assert sorted(payload) == [int(label) for label in PayloadLabel]
    assert payload[PayloadLabel.VERSION] == 1
    assert payload[PayloadLabel.SEQ] == 7
    assert payload[PayloadLabel.PREV] == b"\x11" * 32
    assert payload[PayloadLabel.CLOCK] == ClockQuality.NTP
    assert payload[PayloadLabel.TYPE] == "document.check"
    assert payload[PayloadLabel.AGENCY] == "SBS"
    assert payload[PayloadLabel.SITE] == "AZ-BIL"
    assert "surname" not in payload[PayloadLabel.BODY]
    assert list(payload[PayloadLabel.SD]) == sorted(payload[PayloadLabel.SD])
    header = cbor2.loads(decode_sign1(signed.raw).protected_bytes)
    assert header == {1: -19, 4: key_id(NODE_KEY.public)}


def test_same_inputs_and_salts_give_the_same_bytes() -> None:
    def fixed_salts(n: int) -> bytes:
        return b"\x5a" * n

    def make() -> bytes:
        return make_record(
            NODE_KEY, node_id="n", seq=1, prev_hash=GENESIS_PREV, time_ms=5,
            record_type="document.check", body=DOCUMENT_BODY, registry=REGISTRY,
            site="s", salt_source=fixed_salts,
        ).raw

    assert make() == make()


def test_salts_are_fresh_so_equal_values_give_different_digests() -> None:
    one = sign("document.check", DOCUMENT_BODY, REGISTRY)
    two = sign("document.check", DOCUMENT_BODY, REGISTRY)
    assert set(one.record.digests).isdisjoint(two.record.digests)


def test_agency_override_and_default() -> None:
    default = sign("lab.analysis", minimal_body(REGISTRY["lab.analysis"]), REGISTRY)
    assert default.record.agency == "SCC"
    override = make_record(
        NODE_KEY, node_id="n", seq=1, prev_hash=GENESIS_PREV, time_ms=0,
        record_type="node.boot", body={"software": "1", "profile": "p"}, registry=REGISTRY,
        site="s", agency="SMS",
    )
    assert verify_record(override.raw, NODE_KEY.public).record.agency == Agency.SMS
    with pytest.raises(ValueError):
        make_record(NODE_KEY, node_id="n", seq=1, prev_hash=GENESIS_PREV, time_ms=0,
                    record_type="node.boot", body={"software": "1", "profile": "p"},
                    registry=REGISTRY, site="s", agency="XYZ")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"seq": 0}, RecordEncodeError),
        ({"seq": -3}, RecordEncodeError),
        ({"seq": True}, RecordEncodeError),
        ({"prev_hash": b"\x00" * 31}, RecordEncodeError),
        ({"time_ms": -1}, RecordEncodeError),
        ({"time_ms": 1.5}, RecordEncodeError),
        ({"node_id": ""}, RecordEncodeError),
        ({"site": ""}, RecordEncodeError),
        ({"record_type": "no.such.type"}, RecordEncodeError),
        ({"body": {"kind": 5}}, BodyError),
        ({"body": {}}, BodyError),
        ({"body": {"kind": "lid", "extra": 1}}, BodyError),
        ({"body": {"kind": "lid", "detail": {1: "int key"}}}, BodyError),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_make_record_refuses_bad_input(change: dict, error: type[Exception]) -> None:
    args = {"node_id": "n", "seq": 1, "prev_hash": GENESIS_PREV, "time_ms": 0,
            "record_type": "node.tamper", "body": {"kind": "lid"}, "registry": REGISTRY,
            "site": "s"}
    args.update(change)
    with pytest.raises(error):
        make_record(NODE_KEY, **args)


@pytest.mark.parametrize(
    ("type_name", "field", "value"),
    [
        ("document.check", "line", -1),
        ("document.check", "line", True),  # bool is not an int here
        ("document.check", "verdict", "maybe"),
        ("document.check", "expiry", "2024-1-1"),
        ("document.check", "expiry", "2024-01-01\n"),  # a trailing newline is not a date
        ("document.check", "expiry", "٢٠٢٤-٠١-٠١"),  # nor are non-ASCII digits
        ("document.check", "reasons", "not a list"),
        ("radiation.alarm", "sigma", "3"),
        ("node.config_change", "sha256", "ab" * 32),
        ("intrusion.alert", "sensors", [{"deep": [[[[[[[[["too deep"]]]]]]]]]}]),
        ("intrusion.alert", "sensors", [{1, 2}]),
    ],
)
def test_body_validation_rejects_wrong_kinds(type_name: str, field: str, value: object) -> None:
    body = minimal_body(REGISTRY[type_name])
    if type_name == "document.check":
        body.update({k: v for k, v in DOCUMENT_BODY.items() if k in body})
    body[field] = value
    with pytest.raises(BodyError, match=field):
        sign(type_name, body, REGISTRY)


def test_oversized_record_is_refused_at_creation() -> None:
    body = {"kind": "lid", "detail": "x" * MAX_RECORD_BYTES}
    with pytest.raises(RecordEncodeError, match=str(MAX_RECORD_BYTES)):
        sign("node.tamper", body, REGISTRY)
    # Just under the limit is fine.
    overhead = len(sign("node.tamper", {"kind": "lid", "detail": ""}, REGISTRY).raw)
    fits = sign("node.tamper", {"kind": "lid", "detail": "x" * (MAX_RECORD_BYTES - overhead - 3)},
                REGISTRY)
    assert len(fits.raw) <= MAX_RECORD_BYTES
    assert verify_record(fits.raw, NODE_KEY.public, registry=REGISTRY).known_type


def test_unknown_type_verifies_but_is_flagged() -> None:
    from borderlink.proto.record_types import RecordType, req

    newer = REGISTRY.extended(RecordType("drone.sighting", Agency.SBS, {"sector": req("text")}))
    signed = sign("drone.sighting", {"sector": "N-4"}, newer)
    old = verify_record(signed.raw, NODE_KEY.public, registry=REGISTRY)
    assert old.known_type is False
    assert old.body == {"sector": "N-4"}
    assert verify_record(signed.raw, NODE_KEY.public, registry=newer).known_type is True
    assert "drone.sighting" not in REGISTRY  # extended() left the original alone


def test_decode_record_reads_without_a_key() -> None:
    signed = sign("document.check", DOCUMENT_BODY, REGISTRY, seq=3)
    record = decode_record(signed.raw)
    assert record == signed.record
    assert record_hash(signed.raw) == record.hash


def test_record_chain_prepare_commit() -> None:
    chain = RecordChain(NODE_KEY, node_id="n", site="s", registry=REGISTRY)
    first = chain.prepare("node.tamper", {"kind": "lid"}, time_ms=1)
    again = chain.prepare("node.tamper", {"kind": "lid"}, time_ms=1)
    assert first.record.seq == again.record.seq == 1  # prepare does not move the chain
    chain.commit(first)
    second = chain.prepare("node.boot", {"software": "1", "profile": "p"}, time_ms=2)
    assert second.record.seq == 2 and second.record.prev_hash == record_hash(first.raw)
    with pytest.raises(RecordEncodeError):
        chain.commit(again)  # the other record 1 does not extend the chain at 2
    chain.commit(second)
    assert (chain.next_seq, chain.prev_hash) == (3, second.record.hash)
