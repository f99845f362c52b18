"""COSE_Sign1 with Ed25519 (RFC 9052 §4): structure, Sig_structure, algorithms, headers."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from record_samples import NODE_KEY, OTHER_KEY, tagged

from borderlink.proto.cose import (
    ACCEPTED_ALGORITHMS,
    COSE_SIGN1_TAG,
    MAX_MESSAGE_BYTES,
    Algorithm,
    AlgorithmError,
    HeaderLabel,
    Sign1DecodeError,
    SignatureError,
    decode_sign1,
    encode_sign1,
    protected_header,
    sig_structure,
    sign1,
    verify_sign1,
)
from borderlink.proto.errors import RecordDecodeError, VerificationError


def test_sign1_shape() -> None:
    message = sign1(b"hello", NODE_KEY)
    item = cbor2.loads(message)
    assert isinstance(item, cbor2.CBORTag) and item.tag == COSE_SIGN1_TAG == 18
    protected, unprotected, payload, signature = item.value
    assert cbor2.loads(protected) == {1: -19, 4: NODE_KEY.kid}
    assert protected == cbor2.dumps({1: -19, 4: NODE_KEY.kid}, canonical=True)
    assert unprotected == {} and payload == b"hello" and len(signature) == 64
    decoded = decode_sign1(message)
    assert (decoded.algorithm, decoded.kid, decoded.tagged) == (-19, NODE_KEY.kid, True)
    verify_sign1(decoded, NODE_KEY.public)


def test_untagged_sign1() -> None:
    message = sign1(b"hello", NODE_KEY, tagged=False)
    assert message[0] == 0x84
    decoded = decode_sign1(message)
    assert not decoded.tagged
    verify_sign1(decoded, NODE_KEY.public)


@settings(max_examples=40, deadline=None)
@given(protected=st.binary(max_size=300), payload=st.binary(max_size=70_000),
       aad=st.binary(max_size=300))
def test_sig_structure_equals_the_generic_cbor_encoding(protected: bytes, payload: bytes,
                                                        aad: bytes) -> None:
    """RFC 9052 §4.4: Sig_structure = ["Signature1", protected, external_aad, payload]."""
    assert sig_structure(protected, payload, aad) == cbor2.dumps(
        ["Signature1", protected, aad, payload])


@pytest.mark.parametrize("size", [0, 23, 24, 255, 256, 65535, 65536])
def test_length_heads_at_their_boundaries(size: int) -> None:
    payload = b"\x00" * size
    message = sign1(payload, NODE_KEY)
    assert cbor2.loads(message).value[2] == payload
    assert encode_sign1(b"", payload, b"s" * 64) == cbor2.dumps(
        cbor2.CBORTag(18, [b"", {}, payload, b"s" * 64]))
    if len(message) <= MAX_MESSAGE_BYTES:
        verify_sign1(decode_sign1(message), NODE_KEY.public)
    else:
        with pytest.raises(Sign1DecodeError):
            decode_sign1(message)
        verify_sign1(decode_sign1(message, max_bytes=len(message)), NODE_KEY.public)


def test_external_aad_is_bound() -> None:
    protected = protected_header(NODE_KEY.kid)
    signature = NODE_KEY.sign(sig_structure(protected, b"p", b"context"))
    message = decode_sign1(encode_sign1(protected, b"p", signature))
    verify_sign1(message, NODE_KEY.public, external_aad=b"context")
    with pytest.raises(SignatureError):
        verify_sign1(message, NODE_KEY.public)


def test_eddsa_minus_8_accepted_when_signed_that_way() -> None:
    protected = protected_header(NODE_KEY.kid, Algorithm.EDDSA)
    assert cbor2.loads(protected) == {1: -8, 4: NODE_KEY.kid}
    message = decode_sign1(sign1(b"x", NODE_KEY, protected_bytes=protected))
    assert message.algorithm == -8
    verify_sign1(message, NODE_KEY.public)
    assert ACCEPTED_ALGORITHMS == {-19, -8}


def test_empty_protected_header_is_the_empty_map() -> None:
    message = decode_sign1(tagged([b"", {1: -19}, b"x", b"s" * 64]))
    assert message.protected == {} and message.algorithm is None
    with pytest.raises(AlgorithmError, match="protected"):
        verify_sign1(message, NODE_KEY.public)


def test_kid_from_the_unprotected_header() -> None:
    protected = cbor2.dumps({1: -19})
    signature = NODE_KEY.sign(sig_structure(protected, b"x"))
    message = decode_sign1(tagged([protected, {4: NODE_KEY.kid}, b"x", signature]))
    assert message.kid == NODE_KEY.kid
    verify_sign1(message, NODE_KEY.public)


def test_wrong_key_and_tampering() -> None:
    message = decode_sign1(sign1(b"payload", NODE_KEY))
    with pytest.raises(SignatureError):
        verify_sign1(message, OTHER_KEY.public)
    tampered = message._replace(payload=b"pAyload")
    with pytest.raises(SignatureError):
        verify_sign1(tampered, NODE_KEY.public)


def test_error_classes_split_by_cause() -> None:
    assert issubclass(Sign1DecodeError, RecordDecodeError) and issubclass(Sign1DecodeError, ValueError)
    assert issubclass(SignatureError, VerificationError)
    assert issubclass(AlgorithmError, VerificationError)
    assert not issubclass(SignatureError, ValueError)


def test_header_labels_are_the_registered_ones() -> None:
    assert [int(h) for h in HeaderLabel] == [1, 2, 3, 4]


@pytest.mark.parametrize("data", ["text", 5, None])
def test_decode_refuses_non_bytes(data: object) -> None:
    with pytest.raises(Sign1DecodeError):
        decode_sign1(data)  # type: ignore[arg-type]


def test_bytearray_and_memoryview_are_accepted() -> None:
    message = sign1(b"x", NODE_KEY)
    assert decode_sign1(bytearray(message)).payload == b"x"
    assert decode_sign1(memoryview(message)).payload == b"x"


def test_non_shortest_heads_outside_the_payload_still_verify() -> None:
    """COSE does not require the outer array to be deterministic: the signature covers the
    byte strings' contents. A verifier reads the received bytes as they are."""
    message = sign1(b"x", NODE_KEY)
    protected = protected_header(NODE_KEY.kid)
    signature = cbor2.loads(message).value[3]
    long_heads = (b"\xd2\x84" + b"\x59" + len(protected).to_bytes(2, "big") + protected
                  + b"\xa0" + b"\x5a\x00\x00\x00\x01x" + b"\x58\x40" + signature)
    decoded = decode_sign1(long_heads)
    assert decoded.payload == b"x"
    verify_sign1(decoded, NODE_KEY.public)
