"""COSE_Sign1 (RFC 9052 §4.2) with Ed25519, sans-IO.

Signing emits the fully-specified algorithm Ed25519 (-19, RFC 9864) in the protected header
with the signer's key id; verification accepts -19 and the polymorphic EdDSA (-8) when the
key is Ed25519. The Sig_structure is built from the bytes received — a verifier never
re-encodes a decoded header or payload to check a signature.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from enum import IntEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

import cbor2
import nacl.bindings
import nacl.exceptions

from .errors import RecordDecodeError, VerificationError
from .keys import SIGNATURE_BYTES, SigningKey, key_id, verify_ed25519

try:
    from . import _native
except ImportError:  # built without a C compiler: the pure-Python reference alone, slower
    _native = None  # type: ignore[assignment]

#: CBOR tag of COSE_Sign1 (RFC 9052 §2).
COSE_SIGN1_TAG = 18

#: The largest message we decode (header, payload and signature together).
MAX_MESSAGE_BYTES = 64 * 1024


class HeaderLabel(IntEnum):
    """COSE header parameters we read or write (RFC 9052 §3.1)."""

    ALG = 1
    CRIT = 2
    CONTENT_TYPE = 3
    KID = 4


class Algorithm(IntEnum):
    """COSE algorithm ids this module signs or verifies with."""

    EDDSA = -8  # polymorphic EdDSA (RFC 9053), accepted with an Ed25519 key
    ED25519 = -19  # fully specified (RFC 9864), what borderlink emits


ACCEPTED_ALGORITHMS = frozenset({Algorithm.ED25519, Algorithm.EDDSA})


class Sign1DecodeError(RecordDecodeError):
    """The bytes are not a well-formed COSE_Sign1 message."""


class AlgorithmError(VerificationError):
    """The message names no algorithm, or one this verifier does not accept."""


class SignatureError(VerificationError):
    """The signature does not verify under the given key."""


class KeyIdMismatchError(VerificationError):
    """The message names another signer than the key it is checked against."""


class Sign1Message(NamedTuple):
    """A decoded COSE_Sign1: the protected header as received (bytes) and as a map."""

    protected_bytes: bytes
    protected: Mapping[int, Any]
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes
    tagged: bool

    @property
    def algorithm(self) -> int | None:
        alg = self.protected.get(HeaderLabel.ALG)
        return alg if isinstance(alg, int) else None

    @property
    def kid(self) -> bytes | None:
        kid = self.protected.get(HeaderLabel.KID, self.unprotected.get(HeaderLabel.KID))
        return kid if isinstance(kid, bytes) else None


def _bstr_head(length: int) -> bytes:
    """The CBOR head of a byte string of *length* bytes (major type 2, shortest form)."""
    if length < 24:
        return bytes((0x40 | length,))
    if length < 0x100:
        return bytes((0x58, length))
    if length < 0x10000:
        return b"\x59" + length.to_bytes(2, "big")
    return b"\x5a" + length.to_bytes(4, "big")


# ["Signature1", body_protected, external_aad, payload]: array(4), text(10) "Signature1".
_SIG1_PREFIX = b"\x84\x6aSignature1"


def sig_structure(protected_bytes: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """The exact bytes signed for a COSE_Sign1 (RFC 9052 §4.4)."""
    if _native is not None and not external_aad:
        return _native.sig_structure(protected_bytes, payload)
    return b"".join(
        (
            _SIG1_PREFIX,
            _bstr_head(len(protected_bytes)),
            protected_bytes,
            _bstr_head(len(external_aad)),
            external_aad,
            _bstr_head(len(payload)),
            payload,
        )
    )


@lru_cache(maxsize=256)
def protected_header(kid: bytes, alg: int = Algorithm.ED25519) -> bytes:
    """The deterministic protected header ``{1: alg, 4: kid}`` that borderlink emits."""
    return cbor2.dumps({int(HeaderLabel.ALG): int(alg), int(HeaderLabel.KID): kid}, canonical=True)


def encode_sign1(
    protected_bytes: bytes, payload: bytes, signature: bytes, *, tagged: bool = True
) -> bytes:
    """Assemble ``18([protected, {}, payload, signature])`` from its parts."""
    if _native is not None and tagged:
        return _native.sign1(protected_bytes, payload, signature)
    body = b"".join(
        (
            b"\x84",
            _bstr_head(len(protected_bytes)),
            protected_bytes,
            b"\xa0",  # empty unprotected header: disclosures travel beside the record
            _bstr_head(len(payload)),
            payload,
            _bstr_head(len(signature)),
            signature,
        )
    )
    return b"\xd2" + body if tagged else body


def sign1(
    payload: bytes,
    key: SigningKey,
    *,
    protected_bytes: bytes | None = None,
    tagged: bool = True,
) -> bytes:
    """Sign *payload* as a COSE_Sign1 with alg -19 and the key's id in the protected header."""
    if protected_bytes is None:
        protected_bytes = protected_header(key.kid)
    signature = key.sign(sig_structure(protected_bytes, payload))
    return encode_sign1(protected_bytes, payload, signature, tagged=tagged)


def _read_bstr(data: bytes, pos: int) -> tuple[bytes, int] | None:
    """A definite-length byte string at *pos* and the position after it; None if not one."""
    if pos >= len(data):
        return None
    initial = data[pos]
    if initial >> 5 != 2:
        return None
    info = initial & 0x1F
    if info < 24:
        length, pos = info, pos + 1
    elif 24 <= info <= 27:
        width = 1 << (info - 24)
        length = int.from_bytes(data[pos + 1 : pos + 1 + width], "big")
        pos += 1 + width
    else:
        return None  # indefinite length or reserved: the general path rejects it
    end = pos + length
    if end > len(data):
        return None
    return data[pos:end], end


def _loads_one(data: bytes, *, max_depth: int) -> Any:
    """Decode exactly one CBOR item (definite lengths, unique keys); bytes after it are an
    error — ``cbor2.loads`` silently ignores them, which would let anyone append bytes to a
    record and change its hash without touching the signature."""
    stream = io.BytesIO(data)
    item = cbor2.CBORDecoder(
        stream, allow_indefinite=False, allow_duplicate_keys=False, max_depth=max_depth
    ).decode()
    if stream.tell() != len(data):
        raise Sign1DecodeError(f"{len(data) - stream.tell()} bytes after the end of the CBOR item")
    return item


@lru_cache(maxsize=256)
def _decode_protected(protected_bytes: bytes) -> Mapping[int, Any]:
    """Decode a protected header; cached, since a node signs every record with the same one."""
    if not protected_bytes:
        return {}  # RFC 9052: a zero-length string stands for the empty map
    try:
        protected = _loads_one(protected_bytes, max_depth=8)
    except (cbor2.CBORDecodeError, ValueError) as exc:
        raise Sign1DecodeError(f"protected header is not well-formed CBOR: {exc}") from exc
    if not isinstance(protected, Mapping):
        raise Sign1DecodeError("protected header must encode a map")
    return protected


def _decode_common(data: bytes) -> Sign1Message | None:
    """Fast path for the common shape ``18([bstr, {}, bstr, bstr])``; None for anything else."""
    if len(data) < 4 or data[0] != 0xD2 or data[1] != 0x84:
        return None
    part = _read_bstr(data, 2)
    if part is None:
        return None
    protected_bytes, pos = part
    if pos >= len(data) or data[pos] != 0xA0:
        return None
    part = _read_bstr(data, pos + 1)
    if part is None:
        return None
    payload, pos = part
    part = _read_bstr(data, pos)
    if part is None:
        return None
    signature, pos = part
    if pos != len(data):
        return None  # trailing bytes: the general path names the problem
    protected = _decode_protected(protected_bytes)
    return Sign1Message(protected_bytes, protected, {}, payload, signature, True)


def decode_sign1(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> Sign1Message:
    """Parse a COSE_Sign1 (tagged with 18 or untagged) without checking its signature."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise Sign1DecodeError(f"a COSE_Sign1 is bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise Sign1DecodeError(f"message is {len(data)} bytes, over the limit of {max_bytes}")
    if not data:
        raise Sign1DecodeError("message is empty")
    common = _decode_common(data)
    if common is not None:
        return common
    try:
        outer = _loads_one(data, max_depth=16)
    except cbor2.CBORDecodeError as exc:
        raise Sign1DecodeError(f"not well-formed CBOR: {exc}") from exc
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise Sign1DecodeError(f"not well-formed CBOR: {exc}") from exc
    tagged = False
    if isinstance(outer, cbor2.CBORTag):
        if outer.tag != COSE_SIGN1_TAG:
            raise Sign1DecodeError(f"CBOR tag {outer.tag} is not COSE_Sign1 (tag 18)")
        outer, tagged = outer.value, True
    if not isinstance(outer, (list, tuple)) or len(outer) != 4:
        raise Sign1DecodeError("COSE_Sign1 must be an array of 4 items")
    protected_bytes, unprotected, payload, signature = outer
    if not isinstance(protected_bytes, bytes):
        raise Sign1DecodeError("protected header must be a byte string")
    if not isinstance(unprotected, Mapping):
        raise Sign1DecodeError("unprotected header must be a map")
    if payload is None:
        raise Sign1DecodeError("detached payloads are not supported: the payload is nil")
    if not isinstance(payload, bytes):
        raise Sign1DecodeError("payload must be a byte string")
    if not isinstance(signature, bytes):
        raise Sign1DecodeError("signature must be a byte string")
    protected = _decode_protected(protected_bytes)
    duplicated = set(protected) & set(unprotected)
    if duplicated:
        raise Sign1DecodeError(f"header labels {sorted(duplicated)} are both protected and not")
    return Sign1Message(protected_bytes, protected, unprotected, payload, signature, tagged)


def check_algorithm(message: Sign1Message) -> None:
    """Refuse a message whose protected header names no accepted algorithm, or critical
    labels this verifier does not understand (RFC 9052 §3.1)."""
    alg = message.protected.get(HeaderLabel.ALG)
    if alg is None:
        if HeaderLabel.ALG in message.unprotected:
            raise AlgorithmError("the algorithm must be in the protected header, not unprotected")
        raise AlgorithmError("the protected header names no algorithm (label 1)")
    # An unhashable value (an array, a map) is as wrong as an unknown id; never a TypeError.
    if type(alg) is not int or alg not in ACCEPTED_ALGORITHMS:
        raise AlgorithmError(
            f"algorithm {alg!r} is not accepted; expected Ed25519 (-19) or EdDSA (-8)"
        )
    crit = message.protected.get(HeaderLabel.CRIT)
    if crit is not None:
        # RFC 9052 §3.1: crit is a non-empty array; a recipient must reject a message with
        # critical labels it does not know.
        if not isinstance(crit, (list, tuple)) or not crit:
            raise AlgorithmError(f"crit must be a non-empty array of header labels, got {crit!r}")
        known = {int(label) for label in HeaderLabel}
        unknown = [c for c in crit if type(c) is not int or c not in known]
        if unknown:
            raise AlgorithmError(f"critical header labels {unknown} are not understood")


def verify_sign1(message: Sign1Message, public_key: bytes, *, external_aad: bytes = b"") -> None:
    """Check *message*'s signature under an Ed25519 *public_key*; raise if it does not hold."""
    check_algorithm(message)
    try:
        verify_ed25519(
            public_key, sig_structure(message.protected_bytes, message.payload, external_aad),
            message.signature,
        )
    except VerificationError as exc:
        raise SignatureError(f"signature does not verify: {exc}") from exc


def check_key_id(message: Sign1Message, public_key: bytes) -> None:
    """Refuse a message that names another signer (kid) than *public_key*."""
    if message.kid is not None and message.kid != key_id(public_key):
        raise KeyIdMismatchError(
            f"record is signed by key id {message.kid.hex()[:16]}…, not by the key given "
            f"({key_id(public_key).hex()[:16]}…)"
        )


def open_sign1(
    data: bytes, public_key: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES
) -> Sign1Message:
    """:func:`decode_sign1`, :func:`check_key_id` and :func:`verify_sign1` in that order.

    Messages of the shape borderlink writes are split, and their Sig_structure built, in C
    (``_native.split_sign1``); the checks and the errors are the same either way.
    """
    parts = (
        _native.split_sign1(data)
        if _native is not None and type(data) is bytes and len(data) <= max_bytes
        else None
    )
    if parts is None:
        message = decode_sign1(data, max_bytes=max_bytes)
        check_key_id(message, public_key)
        verify_sign1(message, public_key)
        return message
    protected_bytes, payload, signature, signed_message = parts
    protected, kid, algorithm_ok = _protected_facts(protected_bytes)
    message = _tuple_new(
        Sign1Message, (protected_bytes, protected, _EMPTY, payload, signature, True)
    )
    if kid is not None and kid != key_id(public_key):
        check_key_id(message, public_key)  # raises, naming both key ids
    if not algorithm_ok:
        check_algorithm(message)  # raises, naming what is wrong
    if len(signature) != SIGNATURE_BYTES:
        verify_sign1(message, public_key)  # raises, naming the length
    try:
        nacl.bindings.crypto_sign_open(signed_message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as exc:
        raise SignatureError(
            "signature does not verify: Ed25519 signature does not verify"
        ) from exc
    return message


# Named tuples built with tuple.__new__ skip their generated Python-level __new__.
_tuple_new = tuple.__new__
_EMPTY: Mapping[Any, Any] = MappingProxyType({})


@lru_cache(maxsize=256)
def _protected_facts(protected_bytes: bytes) -> tuple[Mapping[int, Any], bytes | None, bool]:
    """A protected header decoded, its key id, and whether its algorithm and crit pass
    :func:`check_algorithm`: once per signer, not once per record."""
    protected = _decode_protected(protected_bytes)
    message = Sign1Message(protected_bytes, protected, _EMPTY, b"", b"", True)
    try:
        check_algorithm(message)
    except AlgorithmError:
        return protected, message.kid, False
    return protected, message.kid, True
