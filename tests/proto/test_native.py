"""The C accelerator (proto/_native.c) against the pure-Python reference it speeds up.

The accelerator may refuse anything (``Unsupported``: the caller then runs the reference),
but where it answers, its answer must be the reference's, byte for byte. Hypothesis drives
both with valid input, near-valid input and mutations of valid records; each property names
the direction that matters:

* the accelerator never accepts what the reference refuses, and
* where both accept, they agree exactly (bytes, values and their types).

Plus: the accelerator is built here (a slow pure-Python install is a finding, not a pass),
and it takes the hot path on ordinary records (a fast path that always bails out would pass
every other test).
"""

from __future__ import annotations

import math
import struct
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from record_samples import NODE_KEY, bodies, body_values, minimal_body

from borderlink.proto import cose, record, record_types
from borderlink.proto.errors import RecordDecodeError, RecordEncodeError
from borderlink.proto.record import (
    GENESIS_PREV,
    _record_from_reference,
    decode_sign1,
    encode_payload_reference,
    make_record,
    verify_record,
)
from borderlink.proto.record_types import BodyError, default_registry

try:
    from borderlink.proto import _native
except ImportError:  # the first test says so loudly; the rest cannot run without it
    _native = None

REGISTRY = default_registry()
TYPES = sorted(REGISTRY.names())


def test_the_accelerator_is_built() -> None:
    assert _native is not None, (
        "borderlink.proto._native was not built: install gcc and the Python headers "
        "(python3-dev) and reinstall; without it records are made and verified on the "
        "pure-Python reference, about 1.5x slower"
    )
    assert record._native is _native and cose._native is _native and record_types._native is _native


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types (1, 1.0 and True differ; -0.0 and 0.0 differ)."""
    return cbor2.dumps(a, canonical=True) == cbor2.dumps(b, canonical=True)


def use_reference(m: pytest.MonkeyPatch) -> None:
    """Run the pure-Python reference only, until *m* is undone."""
    for module in (record, cose, record_types):
        m.setattr(module, "_native", None)


@pytest.fixture
def reference_only(monkeypatch: pytest.MonkeyPatch) -> None:
    use_reference(monkeypatch)


# -- encoding ---------------------------------------------------------------------------------

odd_values = st.one_of(
    st.integers(-(2**70), 2**70),  # bignums: cbor2 writes tags 2/3, the accelerator refuses
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.builds(float, st.sampled_from(["nan", "-nan", "inf", "-inf", "-0.0"])),
    st.text(alphabet=st.characters(codec=None), max_size=4),  # may hold lone surrogates
    st.dictionaries(st.integers(-3, 3), st.none(), max_size=2),  # non-text keys
    st.frozensets(st.integers(0, 3), max_size=2),
    st.tuples(st.integers(), st.text(max_size=3)),
)


def values(depth: int = 3) -> st.SearchStrategy[Any]:
    if depth == 0:
        return st.one_of(body_values(0), odd_values)
    inner = values(depth - 1)
    return st.one_of(
        body_values(0), odd_values, st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
    )


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(values())
def test_encode_is_cbor2_canonical_or_refused(value: Any) -> None:
    try:
        expected = cbor2.dumps(value, canonical=True)
    except (cbor2.CBOREncodeError, TypeError, ValueError, UnicodeError):
        expected = None
    try:
        got = _native.encode(value)
    except _native.Unsupported:
        return
    assert got == expected


@given(body_values(4))
def test_encode_takes_ordinary_bodies(value: Any) -> None:
    """Text-keyed maps, arrays and 64-bit scalars are the accelerator's to encode."""
    assert _native.encode(value) == cbor2.dumps(value, canonical=True)


@pytest.mark.parametrize("value", [
    0.0, -0.0, 1.5, 65504.0, 65505.0, 2.0**-24, 2.0**-25, 2.0**-149, 1e-7, 0.1, 1e300,
    3.4028234663852886e38, math.inf, -math.inf, math.nan,
    struct.unpack(">d", bytes.fromhex("7ff0000000000001"))[0],  # a NaN with a payload
])
def test_floats_take_the_shortest_exact_width(value: float) -> None:
    assert _native.encode(value) == cbor2.dumps(value, canonical=True)


# -- body validation ---------------------------------------------------------------------------

def _mangle(value: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(value), odd_values, body_values(1), st.just(True), st.just(-1),
                     st.just("2030-1-01"), st.just("２０３０-01-01"), st.just([[[[[[[[[[1]]]]]]]]]]))


@st.composite
def near_bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid body of a random type, then maybe a field changed, dropped or added."""
    name = draw(st.sampled_from(TYPES))
    body = dict(draw(bodies(REGISTRY[name])))
    for _ in range(draw(st.integers(0, 2))):
        action = draw(st.sampled_from(["change", "drop", "add"]))
        if action == "change" and body:
            key = draw(st.sampled_from(sorted(body)))
            body[key] = draw(_mangle(body[key]))
        elif action == "drop" and body:
            body.pop(draw(st.sampled_from(sorted(body))))
        elif action == "add":
            body[draw(st.text(max_size=6))] = draw(body_values(1))
    return name, body


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(near_bodies())
def test_validation_never_accepts_what_the_reference_refuses(case: tuple[str, dict]) -> None:
    name, body = case
    spec = REGISTRY[name]
    try:
        spec.validate_reference(body)
        valid = True
    except BodyError:
        valid = False
    try:
        _native.check_body(body, spec._native_schema)
    except _native.Unsupported:
        return
    assert valid, f"the accelerator accepted a body the reference refuses: {body!r:.200}"


@settings(max_examples=200)
@given(st.sampled_from(TYPES).flatmap(lambda n: st.tuples(st.just(n), bodies(REGISTRY[n]))))
def test_validation_takes_valid_bodies(case: tuple[str, dict]) -> None:
    name, body = case
    _native.check_body(body, REGISTRY[name]._native_schema)  # no Unsupported


# -- making records ----------------------------------------------------------------------------

def _make(name: str, body: dict, seq: int, time_ms: int) -> bytes:
    salts = iter(bytes([i]) * 32 for i in range(1, 1000))
    return make_record(
        NODE_KEY, node_id="az-bil-rpm-01", seq=seq, prev_hash=GENESIS_PREV, time_ms=time_ms,
        record_type=name, body=body, registry=REGISTRY, site="AZ-BIL",
        salt_source=lambda n: next(salts)[:n],
    ).raw


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(TYPES).flatmap(lambda n: st.tuples(st.just(n), bodies(REGISTRY[n]))),
    st.integers(1, 2**64 - 1), st.integers(0, 2**64 - 1),
)
def test_records_are_the_references_bytes(
    monkeypatch: pytest.MonkeyPatch, case: tuple[str, dict], seq: int, time_ms: int
) -> None:
    name, body = case
    fast = _make(name, body, seq, time_ms)
    with monkeypatch.context() as m:
        use_reference(m)
        slow = _make(name, body, seq, time_ms)
    assert fast == slow


def test_making_an_ordinary_record_takes_the_c_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fast path that always bailed out would pass every equality test above."""
    def no_reference(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the reference encoder ran for an ordinary record")

    monkeypatch.setattr(record, "encode_payload_reference", no_reference)
    monkeypatch.setattr(record, "_record_from_reference", no_reference)
    body = minimal_body(REGISTRY["radiation.occupancy"])
    raw = _make("radiation.occupancy", body, 1, 1_795_000_000_000)
    assert verify_record(raw, NODE_KEY.public, registry=REGISTRY).body == body


@pytest.mark.parametrize("bad", [
    {"seq": 0}, {"seq": True}, {"time_ms": -1}, {"clock": 256}, {"clock": True},
    {"node_id": ""}, {"node_id": "n" * 65}, {"site": "s" * 65}, {"record_type": "t" * 65},
    {"agency": ""}, {"prev_hash": b"\x00" * 31}, {"digests": [b"\x00" * 31]},
])
def test_bad_header_fields_get_the_references_error(bad: dict[str, Any]) -> None:
    fields = {"node_id": "n", "seq": 1, "prev_hash": GENESIS_PREV, "time_ms": 0, "clock": 0,
                  "record_type": "t", "agency": "SBS", "site": "s", "body": {}, "digests": []}
    fields.update(bad)
    with pytest.raises(RecordEncodeError) as reference:
        encode_payload_reference(**fields)
    with pytest.raises(RecordEncodeError) as accelerated:
        record.encode_payload(**fields)
    assert str(accelerated.value) == str(reference.value)


# -- decoding ----------------------------------------------------------------------------------

@st.composite
def payloads(draw: st.DrawFn, mutate: bool = True) -> bytes:
    """Valid payloads, and mutations of them: flipped, inserted, dropped or truncated bytes."""
    name = draw(st.sampled_from(TYPES))
    body = draw(bodies(REGISTRY[name]))
    spec = REGISTRY[name]
    signed = {k: v for k, v in body.items() if k not in spec.sensitive}
    payload = bytearray(encode_payload_reference(
        node_id=draw(st.text(min_size=1, max_size=8)), seq=draw(st.integers(1, 2**64 - 1)),
        prev_hash=draw(st.binary(min_size=32, max_size=32)),
        time_ms=draw(st.integers(0, 2**64 - 1)), clock=draw(st.integers(0, 255)),
        record_type=name, agency=str(spec.agency), site="AZ-BIL", body=signed,
        digests=sorted(draw(st.lists(st.binary(min_size=32, max_size=32), max_size=3))),
    ))
    for _ in range(draw(st.integers(0, 3)) if mutate else 0):
        at = draw(st.integers(0, len(payload) - 1))
        action = draw(st.sampled_from(["flip", "insert", "drop", "truncate"]))
        if action == "flip":
            payload[at] ^= draw(st.integers(1, 255))
        elif action == "insert":
            payload[at:at] = draw(st.binary(min_size=1, max_size=3))
        elif action == "drop":
            del payload[at]
        else:
            del payload[at:]
        if not payload:
            break
    return bytes(payload)


def _message(payload: bytes) -> cose.Sign1Message:
    return cose.Sign1Message(b"", {}, {}, payload, b"", True)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(payloads())
def test_decoding_never_accepts_what_the_reference_refuses(payload: bytes) -> None:
    try:
        expected = _record_from_reference(b"", _message(payload))
    except RecordDecodeError:
        expected = None
    try:
        got = _native.decode_payload(payload)
    except _native.Unsupported:
        return
    assert expected is not None, f"the accelerator accepted a payload the reference refuses: {payload.hex()}"
    assert not expected.extensions
    reference = (expected.node_id, expected.seq, expected.prev_hash, expected.time_ms,
                 expected.clock, expected.record_type, expected.agency, expected.site,
                 expected.body, tuple(expected.digests))
    assert all(same(a, b) for a, b in zip(got, reference, strict=True))


@settings(max_examples=300)
@given(payloads(mutate=False))
def test_decoding_takes_ordinary_payloads(payload: bytes) -> None:
    got = _native.decode_payload(payload)  # no Unsupported
    expected = _record_from_reference(b"", _message(payload))
    assert same(got[8], expected.body) and got[1] == expected.seq


@pytest.mark.parametrize("payload", [
    # a float written wider than it needs: 1.5 as float64
    bytes.fromhex("ab010102616e030104582000000000000000000000000000000000000000000000000000000000"
                  "00000000000500060007617408635342530961730aa1617afb3ff8000000000000000b80"),
    # body keys out of order: {"b": 1, "a": 2}
    bytes.fromhex("ab010102616e030104582000000000000000000000000000000000000000000000000000000000"
                  "00000000000500060007617408635342530961730aa2616201616102" "0b80"),
    # an integer in a longer head than needed: seq 1 as 0x1801
    bytes.fromhex("ab010102616e03180104582000000000000000000000000000000000000000000000000000000000"
                  "00000000000500060007617408635342530961730aa00b80"),
])
def test_decoding_refuses_non_deterministic_forms(payload: bytes) -> None:
    with pytest.raises(_native.Unsupported):
        _native.decode_payload(payload)
    with pytest.raises(RecordDecodeError):
        _record_from_reference(b"", _message(payload))


# -- COSE_Sign1 layout ---------------------------------------------------------------------------

@settings(max_examples=800)
@given(st.data())
def test_split_sign1_agrees_with_the_reference_parser(data: st.DataObject) -> None:
    raw = bytearray(_make("radiation.occupancy", minimal_body(REGISTRY["radiation.occupancy"]), 1, 0))
    for _ in range(data.draw(st.integers(0, 2))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] ^= data.draw(st.integers(1, 255))
    raw = bytes(raw)
    parts = _native.split_sign1(raw)
    assume(parts is not None)
    try:
        message = decode_sign1(raw)
    except RecordDecodeError as exc:
        # Only the protected header can be wrong in a message that splits; open_sign1 decodes
        # it with the reference's own function, so it refuses with the same words.
        with pytest.raises(type(exc), match="protected header"):
            cose._decode_protected(parts[0])
        return
    assert (parts[0], parts[1], parts[2]) == (
        message.protected_bytes, message.payload, message.signature)
    assert parts[3] == message.signature + cose.sig_structure(message.protected_bytes, message.payload)


def test_verification_errors_are_the_references(reference_only: None) -> None:
    """The reference's errors for a forged and a foreign-key record, then the accelerated ones."""
    raw = _make("radiation.occupancy", minimal_body(REGISTRY["radiation.occupancy"]), 1, 0)
    forged = raw[:-1] + bytes([raw[-1] ^ 1])
    from borderlink.proto.keys import SigningKey

    other = SigningKey(bytes(32)).public
    reference = []
    for case, key in ((forged, NODE_KEY.public), (raw, other)):
        with pytest.raises(Exception) as exc:
            verify_record(case, key, registry=REGISTRY)
        reference.append((type(exc.value), str(exc.value)))
    for module in (record, cose, record_types):
        module._native = _native  # undo the fixture for the second half (monkeypatch restores)
    for (case, key), (kind, text) in zip(((forged, NODE_KEY.public), (raw, other)), reference):
        with pytest.raises(kind) as exc:
            verify_record(case, key, registry=REGISTRY)
        assert str(exc.value) == text


# -- a chain's records ---------------------------------------------------------------------------

@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(TYPES).flatmap(lambda n: st.tuples(st.just(n), bodies(REGISTRY[n]))),
    st.integers(0, 255),
)
def test_a_chains_records_are_the_references_bytes(
    monkeypatch: pytest.MonkeyPatch, case: tuple[str, dict], clock: int
) -> None:
    """RecordChain.prepare (C, decoys from the pool) makes what make_record's reference path
    makes from the same decoys; bodies with sensitive fields take conceal() and disclose."""
    name, body = case
    chain = record.RecordChain(NODE_KEY, node_id="az-bil-rpm-01", site="AZ-BIL",
                               registry=REGISTRY, clock=clock)
    fast = chain.prepare(name, body, time_ms=1_795_000_000_000)
    spec = REGISTRY[name]
    assert len(fast.record.digests) == spec.digest_slots
    assert {d.field for d in fast.disclosures} == spec.sensitive & body.keys()
    concealed = {k: v for k, v in body.items() if k not in spec.sensitive}
    assert same(fast.record.body, concealed)
    if fast.disclosures:
        return  # salts are random: the bytes cannot be rebuilt, verification covers them
    decoys = iter(fast.record.digests)
    with monkeypatch.context() as m:
        use_reference(m)
        slow = make_record(
            NODE_KEY, node_id="az-bil-rpm-01", seq=1, prev_hash=GENESIS_PREV,
            time_ms=1_795_000_000_000, record_type=name, body=body, registry=REGISTRY,
            site="AZ-BIL", clock=clock, salt_source=lambda n: next(decoys),
        )
    assert fast.raw == slow.raw and fast.hash == slow.hash == record.record_hash(fast.raw)


def test_a_chain_takes_the_c_path_and_copies_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_python_path(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the Python path ran for an ordinary record")

    monkeypatch.setattr(record, "_make", no_python_path)
    chain = record.RecordChain(NODE_KEY, node_id="n", site="s", registry=REGISTRY,
                               clock=record.ClockQuality.NTP)
    body = minimal_body(REGISTRY["radiation.occupancy"])
    signed = chain.prepare("radiation.occupancy", body, time_ms=5)
    chain.commit(signed)
    body["lane"] = "changed after signing"
    assert signed.record.body["lane"] != "changed after signing"
    assert signed.record.clock == int(record.ClockQuality.NTP) and chain.next_seq == 2
    second = chain.prepare("radiation.occupancy", minimal_body(REGISTRY["radiation.occupancy"]),
                           time_ms=6)
    assert second.record.prev_hash == signed.hash and second.record.seq == 2


def test_a_chain_refuses_a_bad_body_with_the_references_error() -> None:
    chain = record.RecordChain(NODE_KEY, node_id="n", site="s", registry=REGISTRY)
    body = minimal_body(REGISTRY["radiation.occupancy"])
    body["gamma_counts"] = -1  # a uint
    with pytest.raises(BodyError, match="gamma_counts"):
        chain.prepare("radiation.occupancy", body, time_ms=5)


# -- verifying -------------------------------------------------------------------------------------

@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(TYPES).flatmap(lambda n: st.tuples(st.just(n), bodies(REGISTRY[n]))))
def test_verifying_in_c_gives_the_references_verified_record(
    monkeypatch: pytest.MonkeyPatch, case: tuple[str, dict]
) -> None:
    name, body = case
    raw = _make(name, body, 3, 1_795_000_000_000)
    fast = verify_record(raw, NODE_KEY.public, registry=REGISTRY)
    with monkeypatch.context() as m:
        use_reference(m)
        slow = verify_record(raw, NODE_KEY.public, registry=REGISTRY)
    assert fast.known_type and slow.known_type and fast.disclosed == slow.disclosed == {}
    assert fast.record.raw == slow.record.raw
    assert fast.record.message[:2] == slow.record.message[:2]  # protected bytes and map
    assert fast.record.message[3:] == slow.record.message[3:]  # payload, signature, tagged
    for a, b in zip(fast.record[2:], slow.record[2:], strict=True):
        assert same(a, b)
    unknown = verify_record(raw, NODE_KEY.public, registry=None)
    assert not unknown.known_type and unknown.record.seq == 3


def test_verifying_an_ordinary_record_takes_the_c_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_python_path(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the Python path ran for an ordinary record")

    monkeypatch.setattr(record, "open_sign1", no_python_path)
    body = minimal_body(REGISTRY["radiation.occupancy"])
    raw = _make("radiation.occupancy", body, 1, 0)
    assert verify_record(raw, NODE_KEY.public, registry=REGISTRY).body == body


@pytest.mark.parametrize("change", ["signature", "payload", "other key", "sensitive in clear"])
def test_what_c_refuses_gets_the_references_error(change: str) -> None:
    from borderlink.proto.keys import SigningKey

    spec = REGISTRY["document.check"]
    body = minimal_body(spec)
    raw = _make("document.check", body, 1, 0)
    key = NODE_KEY.public
    if change == "signature":
        raw = raw[:-1] + bytes([raw[-1] ^ 1])
        expected: type[Exception] = cose.SignatureError
    elif change == "payload":
        at = raw.index(b"document.check")
        raw = raw[:at] + b"Document.check" + raw[at + 14:]
        expected = cose.SignatureError
    elif change == "other key":
        key = SigningKey(bytes(32)).public
        expected = cose.KeyIdMismatchError
    else:  # a body with a sensitive field signed in the clear, bypassing make_record
        payload = encode_payload_reference(
            node_id="n", seq=1, prev_hash=GENESIS_PREV, time_ms=0, clock=0,
            record_type="document.check", agency="SMS", site="s",
            body={**body, "surname": "ALIYEV"}, digests=[bytes(32)] * spec.digest_slots,
        )
        protected = cose.protected_header(NODE_KEY.kid)
        raw = cose.encode_sign1(protected, payload,
                                NODE_KEY.sign(cose.sig_structure(protected, payload)))
        expected = record.PayloadError
    with pytest.raises(expected):
        verify_record(raw, key, registry=REGISTRY)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_verifying_disclosures_in_c_agrees_with_the_reference(
    monkeypatch: pytest.MonkeyPatch, data: st.DataObject
) -> None:
    """Any subset of a record's disclosures, in any order: the same disclosed fields and the
    same merged body either way."""
    name = data.draw(st.sampled_from(sorted(n for n in TYPES if REGISTRY[n].sensitive)))
    body = data.draw(bodies(REGISTRY[name]))
    signed = make_record(
        NODE_KEY, node_id="n", seq=1, prev_hash=GENESIS_PREV, time_ms=0, record_type=name,
        body=body, registry=REGISTRY, site="s",
    )
    given_ = data.draw(st.permutations(signed.disclosure_bytes))
    given_ = given_[: data.draw(st.integers(0, len(given_)))]
    fast = verify_record(signed.raw, NODE_KEY.public, registry=REGISTRY, disclosures=given_)
    with monkeypatch.context() as m:
        use_reference(m)
        slow = verify_record(signed.raw, NODE_KEY.public, registry=REGISTRY, disclosures=given_)
    assert list(fast.disclosed) == list(slow.disclosed)
    assert all(tuple(fast.disclosed[k]) == tuple(slow.disclosed[k]) for k in fast.disclosed)
    assert same(fast.body, slow.body)


def test_disclosures_take_the_c_path_and_a_bad_one_the_references_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from borderlink.proto.disclosure import DisclosureMismatchError, make_disclosure

    body = {**minimal_body(REGISTRY["document.check"]), "surname": "ALIYEV"}
    signed = make_record(NODE_KEY, node_id="n", seq=1, prev_hash=GENESIS_PREV, time_ms=0,
                         record_type="document.check", body=body, registry=REGISTRY, site="s")
    forged = make_disclosure("surname", "MAMMADOV", bytes(16)).raw
    with pytest.raises(DisclosureMismatchError, match="surname"):
        verify_record(signed.raw, NODE_KEY.public, registry=REGISTRY, disclosures=[forged])

    def no_python_path(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the Python path ran for ordinary disclosures")

    monkeypatch.setattr(record, "open_sign1", no_python_path)
    verified = verify_record(signed.raw, NODE_KEY.public, registry=REGISTRY,
                             disclosures=signed.disclosure_bytes)
    assert verified.body["surname"] == "ALIYEV" and set(verified.disclosed) == {"surname"}
