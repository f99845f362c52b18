"""Bad input to the record verifier: a failure table, each row naming the exact error class.

Every row is built from one valid record by changing exactly one thing, re-signing with the
node key where the change is inside the signed bytes (so the row tests the check named, not
the signature). The Hypothesis fuzzers at the end feed random bytes and mutated records into
the decoders and assert that only borderlink errors come out — nothing crashes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cbor2
import pytest
from cddl_verifier.cbor import decode as rfc8949_decode
from cddl_verifier.cbor import encode as rfc8949_encode
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from record_samples import DOCUMENT_BODY, NODE_KEY, OTHER_KEY, sign, tagged

from borderlink.proto.cose import (
    AlgorithmError,
    KeyIdMismatchError,
    Sign1DecodeError,
    SignatureError,
    decode_sign1,
    sig_structure,
)
from borderlink.proto.disclosure import (
    DisclosureDecodeError,
    DisclosureMismatchError,
    decode_disclosure,
    make_disclosure,
)
from borderlink.proto.envelope import decode_record_file
from borderlink.proto.errors import BorderlinkError
from borderlink.proto.keys import KeyFileError, SigningKey, public_key_from_cose_key
from borderlink.proto.record import (
    MAX_RECORD_BYTES,
    NonDeterministicEncodingError,
    PayloadError,
    decode_record,
    encode_payload,
    verify_record,
)
from borderlink.proto.record_types import default_registry

REGISTRY = default_registry()
GOOD = sign("document.check", DOCUMENT_BODY, REGISTRY, seq=5, prev=b"\x22" * 32)
MSG = decode_sign1(GOOD.raw)
PROTECTED = MSG.protected_bytes
PAYLOAD = MSG.payload
FIELDS: dict[int, Any] = dict(cbor2.loads(PAYLOAD))
KID = NODE_KEY.kid


def resign(
    payload: bytes = PAYLOAD,
    protected: bytes = PROTECTED,
    unprotected: dict | None = None,
    *,
    key: SigningKey = NODE_KEY,
) -> bytes:
    """A tagged COSE_Sign1 over the given parts, validly signed by *key*."""
    signature = key.sign(sig_structure(protected, payload))
    return tagged([protected, unprotected or {}, payload, signature])


def payload_with(**changes: Any) -> bytes:
    """The good payload's fields with some replaced, deterministically encoded by cbor2."""
    fields = dict(FIELDS)
    for name, value in changes.items():
        fields[int(name.lstrip("_"))] = value
    return cbor2.dumps(fields, canonical=True)


def bstr(data: bytes) -> bytes:
    return cbor2.dumps(data)


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def deep_array(depth: int) -> bytes:
    return b"\x81" * depth + b"\x00"


def deep_body_payload(depth: int) -> bytes:
    """The good payload with body field 'checks' nested *depth* arrays deep, canonical."""
    head, _, _ = PAYLOAD.partition(b"\x0a")
    body = dict(FIELDS[10])
    body["checks"] = "@@marker@@"
    encoded = cbor2.dumps(body, canonical=True).replace(cbor2.dumps("@@marker@@"), deep_array(depth))
    return head + b"\x0a" + encoded + b"\x0b" + PAYLOAD.rsplit(b"\x0b", 1)[1]


# Positions of parts inside the good record's bytes.
PAYLOAD_AT = GOOD.raw.index(PAYLOAD)
PROTECTED_AT = GOOD.raw.index(PROTECTED)

Row = tuple[str, Callable[[], bytes], type[BaseException]]

ROWS: list[Row] = [
    # -- framing ---------------------------------------------------------------------------
    ("empty", lambda: b"", Sign1DecodeError),
    ("truncated by one byte", lambda: GOOD.raw[:-1], Sign1DecodeError),
    ("truncated inside the payload", lambda: GOOD.raw[: PAYLOAD_AT + 10], Sign1DecodeError),
    ("truncated to the tag", lambda: GOOD.raw[:1], Sign1DecodeError),
    ("not CBOR at all", lambda: b"\xff\xff\xff", Sign1DecodeError),
    ("wrong tag 98 (COSE_Sign)", lambda: b"\xd8\x62" + GOOD.raw[1:], Sign1DecodeError),
    ("wrong tag 17 (COSE_Mac0)", lambda: b"\xd1" + GOOD.raw[1:], Sign1DecodeError),
    ("tag 18 twice", lambda: b"\xd2" + GOOD.raw, Sign1DecodeError),
    ("array of 3", lambda: tagged([PROTECTED, {}, PAYLOAD]), Sign1DecodeError),
    ("array of 5", lambda: tagged([PROTECTED, {}, PAYLOAD, MSG.signature, b""]),
     Sign1DecodeError),
    ("a map, not an array", lambda: cbor2.dumps(cbor2.CBORTag(18, {1: 2})), Sign1DecodeError),
    ("protected header not a bstr", lambda: tagged([{1: -19}, {}, PAYLOAD, MSG.signature]),
     Sign1DecodeError),
    ("protected header encodes an array", lambda: resign(protected=cbor2.dumps([1, -19])),
     Sign1DecodeError),
    ("unprotected header not a map", lambda: tagged([PROTECTED, [], PAYLOAD, MSG.signature]),
     Sign1DecodeError),
    ("detached (nil) payload", lambda: tagged([PROTECTED, {}, None, MSG.signature]),
     Sign1DecodeError),
    ("payload a text string", lambda: tagged([PROTECTED, {}, "text", MSG.signature]),
     Sign1DecodeError),
    ("signature not a bstr", lambda: tagged([PROTECTED, {}, PAYLOAD, 0]), Sign1DecodeError),
    ("trailing byte after the record", lambda: GOOD.raw + b"\x00", Sign1DecodeError),
    ("trailing record after the record", lambda: GOOD.raw + GOOD.raw, Sign1DecodeError),
    ("trailing byte after an untagged record", lambda: GOOD.raw[1:] + b"\xf6", Sign1DecodeError),
    ("trailing byte in the protected header",
     lambda: resign(protected=PROTECTED + b"\x00"), Sign1DecodeError),
    ("over the 64 KiB limit", lambda: GOOD.raw + b"\x00" * (MAX_RECORD_BYTES - len(GOOD.raw) + 1),
     Sign1DecodeError),
    ("over the limit, all zeros", lambda: bytes(MAX_RECORD_BYTES + 1), Sign1DecodeError),
    # -- indefinite lengths ----------------------------------------------------------------
    ("indefinite outer array",
     lambda: b"\xd2\x9f" + GOOD.raw[2:] + b"\xff", Sign1DecodeError),
    ("indefinite payload bstr (chunked)",
     lambda: GOOD.raw.replace(bstr(PAYLOAD), b"\x5f" + bstr(PAYLOAD[:10]) + bstr(PAYLOAD[10:]) + b"\xff"),
     Sign1DecodeError),
    ("indefinite protected header map",
     lambda: resign(protected=b"\xbf" + PROTECTED[1:] + b"\xff"), Sign1DecodeError),
    ("indefinite payload map", lambda: resign(payload=b"\xbf" + PAYLOAD[1:] + b"\xff"),
     PayloadError),
    ("indefinite text in the payload",
     lambda: resign(payload=PAYLOAD.replace(cbor2.dumps("AZ-BIL"), b"\x7f" + cbor2.dumps("AZ-") + cbor2.dumps("BIL") + b"\xff")),
     PayloadError),
    # -- algorithm and headers -------------------------------------------------------------
    ("algorithm missing", lambda: resign(protected=cbor2.dumps({4: KID})), AlgorithmError),
    ("algorithm ES256 (-7)", lambda: resign(protected=cbor2.dumps({1: -7, 4: KID})),
     AlgorithmError),
    ("algorithm Ed448 (-53)", lambda: resign(protected=cbor2.dumps({1: -53, 4: KID})),
     AlgorithmError),
    ("algorithm as text 'EdDSA'", lambda: resign(protected=cbor2.dumps({1: "EdDSA", 4: KID})),
     AlgorithmError),
    ("algorithm only in the unprotected header",
     lambda: resign(protected=cbor2.dumps({4: KID}), unprotected={1: -19}), AlgorithmError),
    ("empty protected header, alg unprotected",
     lambda: resign(protected=b"", unprotected={1: -19, 4: KID}), AlgorithmError),
    ("crit names an unknown label",
     lambda: resign(protected=cbor2.dumps({1: -19, 2: [99], 4: KID, 99: True})), AlgorithmError),
    ("crit names an unknown text label",
     lambda: resign(protected=cbor2.dumps({1: -19, 2: ["x-policy"], 4: KID, "x-policy": 1})),
     AlgorithmError),
    ("crit an empty array", lambda: resign(protected=cbor2.dumps({1: -19, 2: [], 4: KID})),
     AlgorithmError),
    ("crit not an array", lambda: resign(protected=cbor2.dumps({1: -19, 2: 3, 3: 0, 4: KID})),
     AlgorithmError),
    ("label both protected and unprotected",
     lambda: resign(unprotected={4: KID}), Sign1DecodeError),
    ("duplicate key in the protected header",
     lambda: resign(protected=b"\xa3\x01\x32\x01\x32" + PROTECTED[3:]), Sign1DecodeError),
    ("duplicate key in the unprotected header",
     lambda: GOOD.raw.replace(b"\xa0" + bstr(PAYLOAD), b"\xa2\x18\x63\x01\x18\x63\x02" + bstr(PAYLOAD)),
     Sign1DecodeError),
    # -- signature and key -----------------------------------------------------------------
    ("altered payload (one bit of the time)",
     lambda: flip(GOOD.raw, PAYLOAD_AT + PAYLOAD.index(b"\x05\x1b") + 9), SignatureError),
    ("altered payload (one bit of the body)",
     lambda: flip(GOOD.raw, PAYLOAD_AT + PAYLOAD.index(b"AZE") + 1), SignatureError),
    ("altered protected header (alg -19 -> -8)",
     lambda: GOOD.raw[:PROTECTED_AT] + PROTECTED.replace(b"\x01\x32", b"\x01\x27") + GOOD.raw[PROTECTED_AT + len(PROTECTED):],
     SignatureError),
    ("altered signature", lambda: flip(GOOD.raw, len(GOOD.raw) - 1), SignatureError),
    ("signature 63 bytes", lambda: tagged([PROTECTED, {}, PAYLOAD, MSG.signature[:63]]),
     SignatureError),
    ("signature empty", lambda: tagged([PROTECTED, {}, PAYLOAD, b""]), SignatureError),
    ("signed by another key under our kid", lambda: resign(key=OTHER_KEY), SignatureError),
    ("another key's kid", lambda: resign(protected=cbor2.dumps({1: -19, 4: OTHER_KEY.kid})),
     KeyIdMismatchError),
    ("another key's record", lambda: sign("node.tamper", {"kind": "lid"}, REGISTRY, key=OTHER_KEY).raw,
     KeyIdMismatchError),
    ("kid only unprotected, another key's",
     lambda: resign(protected=cbor2.dumps({1: -19}), unprotected={4: OTHER_KEY.kid}),
     KeyIdMismatchError),
    # -- deterministic encoding of the payload ---------------------------------------------
    ("payload keys unsorted",
     lambda: resign(payload=b"\xab\x02" + cbor2.dumps(FIELDS[2]) + b"\x01\x01" + PAYLOAD[2 + 2 + len(cbor2.dumps(FIELDS[2])):]),
     NonDeterministicEncodingError),
    ("body keys unsorted", lambda: resign(payload=_body_unsorted()),
     NonDeterministicEncodingError),
    ("non-shortest integer (seq 5 in two bytes)",
     lambda: resign(payload=PAYLOAD.replace(b"\x03\x05", b"\x03\x18\x05", 1)),
     NonDeterministicEncodingError),
    ("non-shortest integer (seq 5 in nine bytes)",
     lambda: resign(payload=PAYLOAD.replace(b"\x03\x05", b"\x03\x1b" + (5).to_bytes(8, "big"), 1)),
     NonDeterministicEncodingError),
    ("non-shortest length (prev bstr)",
     lambda: resign(payload=PAYLOAD.replace(b"\x04\x58\x20", b"\x04\x59\x00\x20", 1)),
     NonDeterministicEncodingError),
    ("float in 64 bits that fits 16 (1.5)",
     lambda: resign(payload=_body_float(b"\xfb" + (0x3FF8000000000000).to_bytes(8, "big"))),
     NonDeterministicEncodingError),
    ("float in 32 bits that fits 16 (1.5)",
     lambda: resign(payload=_body_float(b"\xfa\x3f\xc0\x00\x00")),
     NonDeterministicEncodingError),
    ("trailing byte inside the payload", lambda: resign(payload=PAYLOAD + b"\x00"),
     NonDeterministicEncodingError),
    # -- duplicate keys and nesting --------------------------------------------------------
    ("duplicate payload label",
     lambda: resign(payload=b"\xac" + PAYLOAD[1:] + b"\x09" + cbor2.dumps("X")), PayloadError),
    ("duplicate body key",
     lambda: resign(payload=_body_duplicate()), PayloadError),
    ("nesting bomb: outer arrays", lambda: b"\xd2" + deep_array(60_000), Sign1DecodeError),
    ("nesting bomb: outer maps", lambda: b"\xa1\x00" * 30_000 + b"\x00", Sign1DecodeError),
    ("nesting bomb: tags", lambda: b"\xc1" * 60_000 + b"\x00", Sign1DecodeError),
    ("nesting bomb: protected header", lambda: resign(protected=b"\xa1\x01" + deep_array(5_000)),
     Sign1DecodeError),
    ("nesting bomb: unprotected header",
     lambda: GOOD.raw.replace(b"\xa0" + bstr(PAYLOAD), b"\xa1\x18\x63" + deep_array(5_000) + bstr(PAYLOAD)),
     Sign1DecodeError),
    ("nesting bomb: payload", lambda: resign(payload=deep_array(30_000)), PayloadError),
    ("nesting bomb: body", lambda: resign(payload=deep_body_payload(10_000)), PayloadError),
    ("body nested past the limit", lambda: resign(payload=deep_body_payload(9)), PayloadError),
    # -- payload structure -----------------------------------------------------------------
    ("payload an array", lambda: resign(payload=cbor2.dumps([1, 2])), PayloadError),
    ("payload lacks the body", lambda: resign(payload=cbor2.dumps({k: v for k, v in FIELDS.items() if k != 10}, canonical=True)),
     PayloadError),
    ("schema version 2", lambda: resign(payload=payload_with(_1=2)), PayloadError),
    ("seq 0", lambda: resign(payload=payload_with(_3=0)), PayloadError),
    ("seq negative", lambda: resign(payload=payload_with(_3=-1)), PayloadError),
    ("seq as text", lambda: resign(payload=payload_with(_3="5")), PayloadError),
    ("prev 31 bytes", lambda: resign(payload=payload_with(_4=b"\x00" * 31)), PayloadError),
    ("time negative", lambda: resign(payload=payload_with(_5=-1)), PayloadError),
    ("time a float", lambda: resign(payload=payload_with(_5=1.5)), PayloadError),
    ("clock quality 256", lambda: resign(payload=payload_with(_6=256)), PayloadError),
    ("node id empty", lambda: resign(payload=payload_with(_2="")), PayloadError),
    ("record type an int", lambda: resign(payload=payload_with(_7=1)), PayloadError),
    ("body an array", lambda: resign(payload=payload_with(_10=[1])), PayloadError),
    ("body with an int key", lambda: resign(payload=payload_with(_10={1: 1})), PayloadError),
    ("digests not 32 bytes", lambda: resign(payload=payload_with(_11=[b"\x00" * 31])),
     PayloadError),
    ("unknown label below 12", lambda: resign(payload=cbor2.dumps({**FIELDS, 0: 1}, canonical=True)),
     PayloadError),
    ("body invalid for its type (verdict)",
     lambda: resign(payload=payload_with(_10={**FIELDS[10], "verdict": "maybe"})), PayloadError),
    ("body lacks a required field",
     lambda: resign(payload=payload_with(_10={k: v for k, v in FIELDS[10].items() if k != "line"})),
     PayloadError),
    ("sensitive field signed in the clear",
     lambda: resign(payload=payload_with(_10={**FIELDS[10], "surname": "ALIYEV"})), PayloadError),
]


def _body_float(encoded_float: bytes) -> bytes:
    """A radiation.alarm-like body is not needed: put the float in document.check's 'checks'."""
    body = dict(FIELDS[10])
    body["checks"] = "@@f@@"
    good_body = cbor2.dumps(body, canonical=True)
    head, _, _ = PAYLOAD.partition(b"\x0a" + cbor2.dumps(FIELDS[10], canonical=True))
    tail = PAYLOAD[len(head) + 1 + len(cbor2.dumps(FIELDS[10], canonical=True)):]
    return head + b"\x0a" + good_body.replace(cbor2.dumps("@@f@@"), encoded_float) + tail


def _body_unsorted() -> bytes:
    """The body map with its two first keys swapped (same content, wrong order)."""
    body = cbor2.dumps(FIELDS[10], canonical=True)
    items = list(FIELDS[10].items())
    ordered = sorted(items, key=lambda kv: (len(kv[0].encode()), kv[0].encode()))
    ordered[0], ordered[1] = ordered[1], ordered[0]
    swapped = body[:1] + b"".join(cbor2.dumps(k) + cbor2.dumps(v, canonical=True) for k, v in ordered)
    return PAYLOAD.replace(body, swapped)


def _body_duplicate() -> bytes:
    body = cbor2.dumps(FIELDS[10], canonical=True)
    count = len(FIELDS[10])
    assert count < 23
    dup = bytes([0xA0 + count + 1]) + body[1:] + cbor2.dumps("line") + cbor2.dumps(2)
    return PAYLOAD.replace(body, dup)


@pytest.mark.parametrize(("name", "build", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_failure_table(name: str, build: Callable[[], bytes], expected: type[BaseException]) -> None:
    data = build()
    with pytest.raises(BorderlinkError) as caught:
        verify_record(data, NODE_KEY.public, registry=REGISTRY, disclosures=GOOD.disclosure_bytes)
    assert type(caught.value) is expected, f"{name}: got {type(caught.value).__name__}: {caught.value}"
    assert str(caught.value)  # a reason, not a bare class


def test_the_rows_start_from_a_record_that_verifies() -> None:
    verified = verify_record(GOOD.raw, NODE_KEY.public, registry=REGISTRY,
                             disclosures=GOOD.disclosure_bytes)
    assert verified.known_type and verified.body["surname"] == "ALIYEV"
    assert verify_record(resign(), NODE_KEY.public, registry=REGISTRY).record.seq == 5


def test_untagged_record_verifies() -> None:
    untagged = GOOD.raw[1:]
    verified = verify_record(untagged, NODE_KEY.public, registry=REGISTRY,
                             disclosures=GOOD.disclosure_bytes)
    assert verified.record.raw == untagged
    assert not verified.record.message.tagged


def test_eddsa_minus_8_is_accepted() -> None:
    raw = resign(protected=cbor2.dumps({1: -8, 4: KID}))
    assert verify_record(raw, NODE_KEY.public, registry=REGISTRY).record.message.algorithm == -8


def test_crit_naming_a_known_label_is_accepted() -> None:
    raw = resign(protected=cbor2.dumps({1: -19, 2: [3], 3: "application/cbor", 4: KID}))
    assert verify_record(raw, NODE_KEY.public, registry=REGISTRY).known_type


def test_record_without_kid_verifies_against_the_key_given() -> None:
    raw = resign(protected=cbor2.dumps({1: -19}))
    assert verify_record(raw, NODE_KEY.public, registry=REGISTRY).record.kid is None
    with pytest.raises(SignatureError):
        verify_record(raw, OTHER_KEY.public, registry=REGISTRY)


def test_unknown_record_type_still_verifies_forward_compatibly() -> None:
    payload = payload_with(_7="drone.sighting", _10={"sector": "N-4", "new_field": [1, 2]})
    verified = verify_record(resign(payload=payload), NODE_KEY.public, registry=REGISTRY)
    assert verified.known_type is False
    assert verified.record.record_type == "drone.sighting"
    # Still a signature check: tampering is caught for unknown types as for known ones.
    with pytest.raises(SignatureError):
        verify_record(flip(resign(payload=payload), 60), NODE_KEY.public, registry=REGISTRY)


def test_extension_labels_of_later_schemas_verify() -> None:
    payload = cbor2.dumps({**FIELDS, 12: "later", 40: [1]}, canonical=True)
    verified = verify_record(resign(payload=payload), NODE_KEY.public, registry=REGISTRY)
    assert verified.record.extensions == {12: "later", 40: [1]}


def test_extension_map_with_mixed_keys_in_rfc8949_order_verifies() -> None:
    """RFC 8949 §4.2.1 orders map keys bytewise by their encodings; the older length-first
    order (RFC 7049 §3.9, cbor2's ``canonical``) differs for maps mixing key types, which
    version 1 allows inside extension labels. Checked with another encoder."""
    value = {24: "a", -1: "b", "t": [{"z": 1, 10: 2}]}
    payload = rfc8949_encode({**FIELDS, 12: value}, canonical=True)
    assert b"\x0c\xa3\x18\x18\x61a\x20\x61b" in payload  # 24 (0x18) before -1 (0x20)
    verified = verify_record(resign(payload=payload), NODE_KEY.public, registry=REGISTRY)
    assert verified.record.extensions[12][24] == "a"
    length_first = cbor2.dumps({**FIELDS, 12: value}, canonical=True)
    assert length_first != payload
    with pytest.raises(NonDeterministicEncodingError):
        verify_record(resign(payload=length_first), NODE_KEY.public, registry=REGISTRY)


# -- disclosures ---------------------------------------------------------------------------

OTHER = sign("document.check", DOCUMENT_BODY, REGISTRY, seq=6)


@pytest.mark.parametrize(
    ("name", "disclosures", "expected"),
    [
        ("disclosure of another record", lambda: [OTHER.disclosure_bytes[0]],
         DisclosureMismatchError),
        ("disclosure with a changed value", lambda: [make_disclosure(
            "surname", "SMITH", GOOD.disclosures[0].salt).raw], DisclosureMismatchError),
        ("disclosure duplicated", lambda: [GOOD.disclosure_bytes[0]] * 2,
         DisclosureMismatchError),
        ("disclosure not CBOR", lambda: [b"\xff"], DisclosureDecodeError),
        ("disclosure truncated", lambda: [GOOD.disclosure_bytes[0][:-1]], DisclosureDecodeError),
        ("disclosure a map", lambda: [cbor2.dumps({"salt": b"x"})], DisclosureDecodeError),
        ("disclosure of two items", lambda: [cbor2.dumps([b"\x00" * 16, "surname"])],
         DisclosureDecodeError),
        ("disclosure salt 15 bytes", lambda: [cbor2.dumps([b"\x00" * 15, "surname", "X"])],
         DisclosureDecodeError),
        ("disclosure field an int", lambda: [cbor2.dumps([b"\x00" * 16, 1, "X"])],
         DisclosureDecodeError),
        ("disclosure indefinite", lambda: [b"\x9f" + cbor2.dumps(b"\x00" * 16) + b"\x61a\x61b\xff"],
         DisclosureDecodeError),
        ("disclosure nesting bomb", lambda: [b"\x83" + cbor2.dumps(b"\x00" * 16) + b"\x61a" + deep_array(5000)],
         DisclosureDecodeError),
        ("disclosure over 8 KiB", lambda: [cbor2.dumps([b"\x00" * 16, "f", "x" * 9000])],
         DisclosureDecodeError),
        ("disclosure not bytes", lambda: ["surname"], DisclosureDecodeError),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_disclosure_failures(name: str, disclosures: Callable[[], list], expected: type) -> None:
    with pytest.raises(BorderlinkError) as caught:
        verify_record(GOOD.raw, NODE_KEY.public, registry=REGISTRY, disclosures=disclosures())
    assert type(caught.value) is expected, f"{name}: got {type(caught.value).__name__}"


def _with_extra_digest(disclosure) -> bytes:
    """The good record re-signed with one more signed digest (a node's own mistake)."""
    return resign(payload=encode_payload(
        node_id=FIELDS[2], seq=FIELDS[3], prev_hash=FIELDS[4], time_ms=FIELDS[5],
        clock=FIELDS[6], record_type=FIELDS[7], agency=FIELDS[8], site=FIELDS[9],
        body=FIELDS[10], digests=sorted([disclosure.digest, *FIELDS[11]]),
    ))


@pytest.mark.parametrize(
    ("disclosure", "expected"),
    [
        (make_disclosure("surname", 5), PayloadError),  # sensitive field of the wrong kind
        (make_disclosure("favourite_colour", "red"), PayloadError),  # not a field of the type
    ],
    ids=["wrong-kind", "unknown-field"],
)
def test_signed_disclosure_must_fit_the_type(disclosure, expected: type) -> None:
    raw = _with_extra_digest(disclosure)
    verify_record(raw, NODE_KEY.public, registry=REGISTRY)  # fine while withheld
    with pytest.raises(BorderlinkError) as caught:
        verify_record(raw, NODE_KEY.public, registry=REGISTRY, disclosures=[disclosure.raw])
    assert type(caught.value) is expected
    # Without a registry (type unknown to the verifier) it is only a signed value.
    assert verify_record(raw, NODE_KEY.public, disclosures=[disclosure.raw]).disclosed


def test_disclosure_of_a_field_also_in_the_clear_is_refused() -> None:
    """A node that signs both a clear value and a digest for one field says two things:
    holders with and without the disclosure would read different values (SD-JWT, RFC 9901
    §7.1 rejects this). The verifier must refuse it, whatever the registry knows."""
    hidden = make_disclosure("verdict", "clear")
    body = dict(FIELDS[10])  # verdict "refer" in the clear
    payload = encode_payload(
        node_id=FIELDS[2], seq=FIELDS[3], prev_hash=FIELDS[4], time_ms=FIELDS[5],
        clock=FIELDS[6], record_type=FIELDS[7], agency=FIELDS[8], site=FIELDS[9],
        body=body, digests=sorted([hidden.digest, *FIELDS[11]]),
    )
    raw = resign(payload=payload)
    assert verify_record(raw, NODE_KEY.public, registry=REGISTRY).body["verdict"] == "refer"
    for registry in (REGISTRY, None):
        with pytest.raises(DisclosureMismatchError):
            verify_record(raw, NODE_KEY.public, registry=registry, disclosures=[hidden.raw])


# -- fuzz: nothing but borderlink errors comes out -----------------------------------------

_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_borderlink_errors(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except BorderlinkError:
        return None


@_FUZZ
@given(data=st.binary(max_size=400))
@example(b"\xd2\x84")
@example(b"\xd2\x84\x40\xa0\x40\x40")
@example(b"\x84\x41\xa0\xa0\x40\x40")
@example(b"\xd2\x84\x43\xa1\x01\x32\xa1\x81\x00\x00\x40\x40")
@example(b"\xd2\x84\x40\xa1\xa1\x00\x00\x00\x40\x40")
@example(b"\xd2\x84\x40\xa0\x5b\xff\xff\xff\xff\xff\xff\xff\xff\x40")
@example(b"\xd2\x84\x40\xa0\x7f\xff\x40")
@example(b"\xc4\x82\x00\x00")
@example(b"\xfb\x7f\xf8\x00\x00\x00\x00\x00\x00")
def test_fuzz_random_bytes(data: bytes) -> None:
    _only_borderlink_errors(lambda: decode_record(data))
    _only_borderlink_errors(lambda: verify_record(data, NODE_KEY.public, registry=REGISTRY))
    _only_borderlink_errors(lambda: decode_sign1(data))
    _only_borderlink_errors(lambda: decode_disclosure(data))
    _only_borderlink_errors(lambda: decode_record_file(data))
    _only_borderlink_errors(lambda: public_key_from_cose_key(data))
    _only_borderlink_errors(
        lambda: verify_record(GOOD.raw, NODE_KEY.public, registry=REGISTRY, disclosures=[data]))


_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 4)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, Any]]) -> bytes:
    for kind, at, arg in mutations:
        at %= max(len(data), 1)
        if kind == "flip":
            data = data[:at] + bytes([data[at] ^ arg]) + data[at + 1:] if data else data
        elif kind == "insert":
            data = data[:at] + arg + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + arg:]
        else:
            data = data[:at]
    return data


@_FUZZ
@given(mutations=st.lists(_mutation, min_size=1, max_size=4), which=st.integers(0, 1))
def test_fuzz_mutated_records(mutations: list, which: int) -> None:
    original = (GOOD.raw, GOOD.raw[1:])[which]
    data = _mutate(original, mutations)
    verified = _only_borderlink_errors(lambda: verify_record(
        data, NODE_KEY.public, registry=REGISTRY, disclosures=GOOD.disclosure_bytes))
    if verified is not None:
        # Whatever was accepted says exactly what the node signed.
        assert verified.record.message.payload == PAYLOAD
        assert verified.record.message.protected_bytes == PROTECTED
    _only_borderlink_errors(lambda: decode_record(data))


@_FUZZ
@given(mutations=st.lists(_mutation, min_size=1, max_size=3), index=st.integers(0, 3))
def test_fuzz_mutated_disclosures(mutations: list, index: int) -> None:
    disclosures = list(GOOD.disclosure_bytes)
    index %= len(disclosures)
    disclosures[index] = _mutate(disclosures[index], mutations)
    verified = _only_borderlink_errors(lambda: verify_record(
        GOOD.raw, NODE_KEY.public, registry=REGISTRY, disclosures=disclosures))
    if verified is not None:
        assert verified.body == {**DOCUMENT_BODY, "reasons": verified.body["reasons"],
                                 "checks": verified.body["checks"]}


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    width = 1 if value < 0x100 else 2 if value < 0x10000 else 4 if value < 2**32 else 8
    return bytes([major << 5 | {1: 24, 2: 25, 4: 26, 8: 27}[width]]) + value.to_bytes(width, "big")


_cbor_leaf = st.one_of(
    st.integers(0, 2**64 - 1).map(lambda v: _head(0, v)),
    st.integers(0, 2**64 - 1).map(lambda v: _head(1, v)),
    st.binary(max_size=40).map(lambda b: _head(2, len(b)) + b),
    st.text(max_size=20).map(lambda t: _head(3, len(t.encode())) + t.encode()),
    st.sampled_from([b"\xf4", b"\xf5", b"\xf6", b"\xf7", b"\xf8\x20", b"\xf9\x7e\x00",
                     b"\xfa\x7f\x80\x00\x00", b"\xfb\x3f\xf8\x00\x00\x00\x00\x00\x00"]),
)
#: Arbitrary well-formed CBOR items as bytes, including tags the decoder gives meaning to
#: (dates, bignums, decimal fractions, regexps, MIME, sets, IP addresses, self-describe).
cbor_items = st.recursive(
    _cbor_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: _head(4, len(xs)) + b"".join(xs)),
        st.lists(st.tuples(inner, inner), max_size=3).map(
            lambda kv: _head(5, len(kv)) + b"".join(k + v for k, v in kv)),
        st.tuples(st.sampled_from([0, 1, 2, 3, 4, 5, 18, 21, 24, 25, 28, 29, 30, 32, 35, 36,
                                   37, 52, 54, 256, 258, 260, 261, 55799, 2**32]), inner).map(
            lambda t: _head(6, t[0]) + t[1]),
    ),
    max_leaves=12,
)


@_FUZZ
@given(item=cbor_items, where=st.sampled_from(["payload", "body", "label", "protected"]))
def test_fuzz_signed_payloads_of_arbitrary_cbor(item: bytes, where: str) -> None:
    """Signed (so past the signature check) payloads holding any CBOR item: only borderlink
    errors, or a record whose bytes are exactly what was signed."""
    protected = PROTECTED
    payload = {
        "payload": item,
        "body": PAYLOAD.replace(b"\x0a" + cbor2.dumps(FIELDS[10], canonical=True),
                                b"\x0a" + item),
        "label": b"\xac" + PAYLOAD[1:] + b"\x0c" + item,
        "protected": PAYLOAD,
    }[where]
    if where == "protected":
        protected = b"\xa3\x01\x32\x04\x58\x20" + KID + b"\x18\x63" + item
    raw = resign(payload=payload, protected=protected)
    verified = _only_borderlink_errors(
        lambda: verify_record(raw, NODE_KEY.public, registry=REGISTRY))
    if verified is not None:
        assert verified.record.message.payload == payload
        # Accepted payloads are RFC 8949 deterministic by another implementation's encoder.
        assert rfc8949_encode(rfc8949_decode(payload), canonical=True) == payload
    _only_borderlink_errors(lambda: decode_record(raw))
    _only_borderlink_errors(lambda: decode_disclosure(b"\x83\x50" + bytes(16) + b"\x61a" + item))


@pytest.mark.parametrize("where", ["label", "body"])
def test_keys_equal_once_encoded_are_duplicates_even_with_nan(where: str) -> None:
    """Two keys [NaN] decode unequal (nan != nan), so the decoder's duplicate check lets them
    through; they are still one key twice (found by the fuzzer below)."""
    twice = b"\xa2\x81\xf9\x7e\x00\x01\x81\xf9\x7e\x00\x02"  # {[NaN]: 1, [NaN]: 2}
    if where == "label":
        payload = b"\xac" + PAYLOAD[1:] + b"\x0c" + twice
    else:  # a body field "z" holding that map: the shortest key, so first in the body
        body = cbor2.dumps(FIELDS[10], canonical=True)
        assert 0xA0 < body[0] < 0xB7  # a map of fewer than 23 entries: a one-byte head
        payload = PAYLOAD.replace(
            b"\x0a" + body, b"\x0a" + bytes([body[0] + 1]) + b"\x61z" + twice + body[1:]
        )
    with pytest.raises(PayloadError, match="duplicate keys"):
        verify_record(resign(payload=payload), NODE_KEY.public)


def test_fuzzers_reject_non_bytes_input_cleanly() -> None:
    for bad in ("text", 5, None, [b"\xd2"]):
        with pytest.raises(BorderlinkError):
            verify_record(bad, NODE_KEY.public)  # type: ignore[arg-type]
    with pytest.raises(KeyFileError):
        public_key_from_cose_key(b"\xa1\x01\x01")


@pytest.mark.parametrize("alg", [[-19], {"a": 1}, True, "EdDSA", 1.5])
def test_algorithm_of_the_wrong_type_is_refused_not_a_crash(alg: object) -> None:
    """An alg header that is an array, a map, a bool, text or a float: AlgorithmError."""
    import cbor2

    from borderlink.proto.cose import AlgorithmError, decode_sign1, sign1, verify_sign1
    from borderlink.proto.keys import SigningKey

    key = SigningKey.generate()
    message = sign1(b"payload", key, protected_bytes=cbor2.dumps({1: alg, 4: key.kid}))
    with pytest.raises(AlgorithmError):
        verify_sign1(decode_sign1(message), key.public)
