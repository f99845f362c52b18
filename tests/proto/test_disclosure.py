"""Selective disclosure: salted digests of [salt, field, value], decoys, reveal checks."""

from __future__ import annotations

import hashlib

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from record_samples import DOCUMENT_BODY, NODE_KEY, body_values, normalize, sign

from borderlink.proto.disclosure import (
    DIGEST_BYTES,
    MAX_DISCLOSURE_BYTES,
    SALT_BYTES,
    Disclosure,
    DisclosureDecodeError,
    DisclosureMismatchError,
    conceal,
    decode_disclosure,
    make_disclosure,
    reveal,
)
from borderlink.proto.errors import RecordEncodeError
from borderlink.proto.record import verify_record
from borderlink.proto.record_types import default_registry

REGISTRY = default_registry()
SALT = bytes(range(16))


def test_disclosure_bytes_are_the_deterministic_array() -> None:
    disclosure = make_disclosure("surname", "ALIYEV", SALT)
    assert disclosure.raw == cbor2.dumps([SALT, "surname", "ALIYEV"], canonical=True)
    assert disclosure.raw == b"\x83\x50" + SALT + b"\x67surname\x66ALIYEV"
    assert disclosure.digest == hashlib.sha256(disclosure.raw).digest()
    assert decode_disclosure(disclosure.raw) == disclosure


@settings(max_examples=60, deadline=None)
@given(field=st.text(max_size=20), value=body_values(3), salt=st.binary(min_size=16, max_size=16))
def test_disclosure_round_trip(field: str, value: object, salt: bytes) -> None:
    made = make_disclosure(field, value, salt)
    read = decode_disclosure(made.raw)
    assert (read.salt, read.field, normalize(read.value)) == (salt, field, normalize(value))
    assert read.digest == made.digest
    assert reveal([made.digest], [made.raw])[field].raw == made.raw


def test_fresh_salt_each_time() -> None:
    one, two = make_disclosure("f", "v"), make_disclosure("f", "v")
    assert len(one.salt) == SALT_BYTES and one.salt != two.salt and one.digest != two.digest


def test_salt_length_checked() -> None:
    with pytest.raises(RecordEncodeError):
        make_disclosure("f", "v", b"\x00" * 15)


def test_unencodable_value() -> None:
    with pytest.raises(RecordEncodeError):
        make_disclosure("f", object(), SALT)


def test_conceal_pads_with_decoys_and_sorts() -> None:
    body = {"a": 1, "secret1": "x", "secret2": "y"}
    signed, digests, disclosures = conceal(body, {"secret1", "secret2", "secret3"}, 5)
    assert signed == {"a": 1}
    assert len(digests) == 5 and digests == sorted(digests)
    assert all(len(d) == DIGEST_BYTES for d in digests)
    assert {d.digest for d in disclosures} < set(digests)
    with pytest.raises(RecordEncodeError):
        conceal(body, {"secret1", "secret2"}, 1)


def test_the_count_of_hidden_fields_leaks_nothing() -> None:
    """A record with every sensitive field and one with none carry as many digests."""
    spec = REGISTRY["document.check"]
    full = sign("document.check", {**DOCUMENT_BODY, "personal_number": "1", "mrz": ["P<"]}, REGISTRY)
    none = sign("document.check", {k: v for k, v in DOCUMENT_BODY.items()
                                   if k not in spec.sensitive}, REGISTRY)
    assert len(full.disclosures) == len(spec.sensitive) == 6
    assert not none.disclosures
    assert len(full.record.digests) == len(none.record.digests) == spec.digest_slots


def test_sensitive_values_are_not_in_the_record_bytes() -> None:
    body = {**DOCUMENT_BODY, "surname": "UNIQUE-SURNAME-7f3a", "document_number": "DOC-9c41"}
    signed = sign("document.check", body, REGISTRY)
    for secret in (b"UNIQUE-SURNAME-7f3a", b"DOC-9c41", b"surname", b"given_names"):
        assert secret not in signed.raw


def test_each_holder_sees_only_what_it_was_given() -> None:
    signed = sign("document.check", DOCUMENT_BODY, REGISTRY)
    by_field = {d.field: d for d in signed.disclosures}
    customs = verify_record(signed.raw, NODE_KEY.public, registry=REGISTRY,
                            disclosures=[by_field["document_number"].raw])
    assert set(customs.disclosed) == {"document_number"}
    assert customs.body["document_number"] == "C01X00T47"
    assert "surname" not in customs.body and "birth_date" not in customs.body
    # Disclosure objects are accepted as well as their bytes.
    objects = verify_record(signed.raw, NODE_KEY.public, registry=REGISTRY,
                            disclosures=list(signed.disclosures))
    assert objects.body == {**DOCUMENT_BODY, "reasons": objects.body["reasons"]}


def test_reveal_checks() -> None:
    one, two = make_disclosure("a", 1, SALT), make_disclosure("b", 2, SALT)
    assert set(reveal([one.digest, two.digest], [one.raw, two])) == {"a", "b"}
    with pytest.raises(DisclosureMismatchError, match="not signed"):
        reveal([one.digest], [two.raw])
    with pytest.raises(DisclosureMismatchError, match="twice"):
        reveal([one.digest], [one.raw, one.raw])
    again = make_disclosure("a", 3, bytes(16))  # same field, another salt and value
    with pytest.raises(DisclosureMismatchError, match="twice"):
        reveal([one.digest, again.digest], [one.raw, again.raw])


def test_a_decoy_cannot_be_opened() -> None:
    signed = sign("call.record", {"exchange": "BIL-1", "start_ms": 1, "duration_s": 2.5,
                                  "result": "answered"}, REGISTRY)
    assert len(signed.record.digests) == 2 and not signed.disclosures
    forged = make_disclosure("calling_number", "+994500000000", SALT)
    with pytest.raises(DisclosureMismatchError):
        verify_record(signed.raw, NODE_KEY.public, registry=REGISTRY, disclosures=[forged.raw])


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x83",
        cbor2.dumps([SALT, "f"]),
        cbor2.dumps([SALT, "f", 1, 2]),
        cbor2.dumps((SALT, b"f", 1)),
        cbor2.dumps([SALT[:15], "f", 1]),
        cbor2.dumps(["salt-as-text----", "f", 1]),
        cbor2.dumps({"salt": SALT}),
        b"\x9f" + cbor2.dumps(SALT) + b"\x61f\x01\xff",
        b"\x83" + cbor2.dumps(SALT) + b"\x61f" + b"\xa2\x61a\x01\x61a\x02",  # duplicate key
        cbor2.dumps([SALT, "f", "x" * MAX_DISCLOSURE_BYTES]),
    ],
    ids=["empty", "truncated", "two", "four", "field-bytes", "short-salt", "text-salt", "map",
         "indefinite", "duplicate-key", "oversized"],
)
def test_malformed_disclosures(raw: bytes) -> None:
    with pytest.raises(DisclosureDecodeError):
        decode_disclosure(raw)


def test_disclosure_value_is_hashed_as_received() -> None:
    """A disclosure re-encoded (here: non-shortest int) no longer matches its digest."""
    good = make_disclosure("line", 5, SALT)
    loose = good.raw[:-1] + b"\x18\x05"
    assert decode_disclosure(loose).value == 5
    with pytest.raises(DisclosureMismatchError):
        reveal([good.digest], [loose])
    assert isinstance(decode_disclosure(good.raw), Disclosure)


# -- the random pool behind salts and decoys -------------------------------------------------

def test_the_random_pool_never_hands_one_value_to_two_threads() -> None:
    import threading

    from borderlink.proto.disclosure import RandomPool

    pool = RandomPool(batch=16)  # small batches: many refills race with pops
    drawn: list[list[bytes]] = [[] for _ in range(8)]

    def draw(out: list[bytes]) -> None:
        for _ in range(2000):
            out.append(pool(DIGEST_BYTES))

    threads = [threading.Thread(target=draw, args=(out,)) for out in drawn]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    values = [v for out in drawn for v in out]
    assert len(values) == 16_000 and all(len(v) == DIGEST_BYTES for v in values)
    assert len(set(values)) == len(values)


def test_a_forked_child_draws_other_values_than_its_parent() -> None:
    import os

    from borderlink.proto.disclosure import RandomPool

    pool = RandomPool()
    pool(SALT_BYTES)  # the parent now holds a batch of ready values
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next value and leave at once
        os.write(write, pool(SALT_BYTES))
        os._exit(0)
    os.close(write)
    child_value = os.read(read, SALT_BYTES)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child_value) == SALT_BYTES
    assert child_value != pool(SALT_BYTES)  # the parent's next value was not the child's
