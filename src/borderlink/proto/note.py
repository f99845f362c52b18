"""Signed notes (https://c2sp.org/signed-note) with Ed25519 keys, pure functions, no I/O.

A note is text ending in a newline, a blank line, then one line per signature::

    <text ...>
                                            <- blank line
    — <key name> base64(key ID (4 bytes, big-endian) || signature)

The note *text* (the signed bytes) is everything up to and including the newline before the
last blank line. Ed25519 key IDs are ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``; a
verifier key travels as ``name+<key ID, 8 hex>+base64(0x01 || public key)`` (a "vkey") and a
signer key as ``PRIVATE+KEY+name+<key ID>+base64(0x01 || seed)`` (an "skey", the Go format).
Compatible with golang.org/x/mod/sumdb/note and github.com/transparency-dev/formats/note.

Timestamped Ed25519 cosignatures (https://c2sp.org/tlog-cosignature, type 0x04, what
witnesses add to checkpoints): :class:`CosignatureSigner` signs
``cosignature/v1\\ntime <seconds>\\n`` + the note text; :func:`cosignature_timestamp` reads
the time of a verified one.

Limits on untrusted input: a note is at most :data:`MAX_NOTE_BYTES` bytes with at most
:data:`MAX_SIGNATURES` signature lines; both exceed the spec's minimum (16 signatures).

Errors: malformed text raises :class:`NoteFormatError` (a ``RecordDecodeError``, so a
``ValueError``); a bad key string :class:`NoteKeyError`; a note without a valid signature
by a known key, or with a known key's signature that fails, :class:`NoteSignatureError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Self

import nacl.exceptions
import nacl.signing
import nacl.utils

from .errors import NoteFormatError, NoteKeyError, NoteSignatureError

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "MAX_COSIGNATURE_TIME",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "CosignatureSigner",
    "CosignatureVerifier",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "VerifiedNote",
    "add_signatures",
    "cosignature_timestamp",
    "format_note",
    "key_id",
    "open_note",
    "parse_note",
    "parse_vkey",
    "sign_note",
]

ALG_ED25519 = 0x01
"""Signature type byte of Ed25519 in c2sp.org/signed-note."""

ALG_COSIGNATURE_V1 = 0x04
"""Signature type byte of timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature)."""

MAX_COSIGNATURE_TIME = (1 << 63) - 1
"""Largest timestamp a cosignature may state (the spec's 2**63 - 1)."""

MAX_NOTE_BYTES = 1 << 20
"""Largest signed note parsed (1 MiB)."""

MAX_SIGNATURES = 100
"""Most signature lines a parsed note may carry (the limit of Go's ``note.Open``)."""

_DASH = "\u2014 "  # em dash, space: starts every signature line
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


# --------------------------------------------------------------------------- helpers


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str, error: type[Exception]) -> bytes:
    """Strict standard base64 (RFC 4648 §4): alphabet, padding and canonical form."""
    if not _B64.fullmatch(text) or len(text) % 4:
        raise error(f"{what} is not standard base64: {text[:80]!r}")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise error(f"{what} is not standard base64: {text[:80]!r}") from exc
    if _b64encode(data) != text:
        raise error(f"{what} is not canonical base64 (non-zero padding bits): {text[:80]!r}")
    return data


def _check_name(name: str, error: type[Exception]) -> None:
    """Key names: non-empty, no Unicode space, no '+', no control character."""
    if not isinstance(name, str) or not name:
        raise error("key name must be a non-empty string")
    for ch in name:
        if ch == "+" or ch.isspace() or ord(ch) < 0x20:
            raise error(
                f"key name {name!r} contains {ch!r}; spaces, '+' and controls are not allowed"
            )


def _check_text(text: str, error: type[Exception]) -> None:
    """Note text: ends with a newline, no control characters except newline."""
    if not text.endswith("\n"):
        raise error("note text must end with a newline")
    for i, ch in enumerate(text):
        if ord(ch) < 0x20 and ch != "\n":
            raise error(f"note text has control character {ch!r} at offset {i}")


def key_id(name: str, alg: int, public_key: bytes) -> int:
    """The 32-bit key ID: ``SHA-256(name || 0x0A || alg || public key)[:4]``, big-endian."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


# --------------------------------------------------------------------------- keys


class NoteVerifier:
    """An Ed25519 signed-note verifier key: a name and a 32-byte public key."""

    __slots__ = ("_key", "key_id", "name", "public_key")

    alg = ALG_ED25519
    """Signature type byte, part of the key ID and of the vkey."""

    def __init__(self, name: str, public_key: bytes) -> None:
        _check_name(name, NoteKeyError)
        if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != 32:
            raise NoteKeyError(f"an Ed25519 public key is 32 bytes, got {len(public_key)}")
        self.name = name
        self.public_key = bytes(public_key)
        self.key_id = key_id(name, self.alg, self.public_key)
        self._key = nacl.signing.VerifyKey(self.public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> Self:
        """Parse ``name+hash+base64(alg || public key)``; the hash must match the key and
        ``alg`` must be this class's (0x01 here, 0x04 for :class:`CosignatureVerifier`)."""
        name, alg, public_key = _split_vkey(vkey)
        if alg != cls.alg:
            raise NoteKeyError(
                f"verifier key algorithm 0x{alg:02x} is not the 0x{cls.alg:02x} of {cls.__name__}"
            )
        if len(public_key) != 32:
            raise NoteKeyError(f"Ed25519 verifier key is {len(public_key)} bytes, expected 32")
        return cls(name, public_key)

    @property
    def vkey(self) -> str:
        """This key as ``name+hash+base64(alg || public key)``."""
        key64 = _b64encode(bytes([self.alg]) + self.public_key)
        return f"{self.name}+{self.key_id:08x}+{key64}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (without the key ID) is this key's signature of ``text``."""
        if len(signature) != 64:
            return False
        try:
            self._key.verify(text, signature)
        except (nacl.exceptions.BadSignatureError, ValueError):
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, NoteVerifier)
            and other.name == self.name
            and other.public_key == self.public_key
        )

    def __hash__(self) -> int:
        return hash((self.alg, self.name, self.public_key))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey!r})"


def _split_vkey(vkey: str) -> tuple[str, int, bytes]:
    """``name+hash+base64(alg || key)`` -> (name, alg, key), the hash checked."""
    if not isinstance(vkey, str):
        raise NoteKeyError(f"verifier key must be str, got {type(vkey).__name__}")
    name, sep1, rest = vkey.partition("+")
    hash_hex, sep2, key64 = rest.partition("+")
    if not (sep1 and sep2):
        raise NoteKeyError(f"verifier key {vkey[:80]!r} is not name+hash+key")
    _check_name(name, NoteKeyError)
    if not _HEX8.fullmatch(hash_hex):
        raise NoteKeyError(f"key hash {hash_hex!r} of verifier key is not 8 hex digits")
    key = _b64decode(key64, "verifier key", NoteKeyError)
    if not key:
        raise NoteKeyError("verifier key has no key bytes")
    expected = key_id(name, key[0], key[1:])
    if expected != int(hash_hex, 16):
        raise NoteKeyError(
            f"key hash {hash_hex} does not match name {name!r} and the key "
            f"(expected {expected:08x})"
        )
    return name, key[0], key[1:]


class CosignatureVerifier(NoteVerifier):
    """A timestamped Ed25519 cosignature key (c2sp.org/tlog-cosignature, type 0x04).

    The signed message is ``cosignature/v1\\ntime <seconds>\\n`` followed by the note text;
    the signature blob is ``uint64 timestamp (big-endian) || 64-byte Ed25519 signature``.
    """

    __slots__ = ()

    alg = ALG_COSIGNATURE_V1

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (timestamp || Ed25519 signature) cosigns ``text``."""
        if len(signature) != 72:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_COSIGNATURE_TIME:
            return False
        return super().verify(_cosigned_message(text, timestamp), signature[8:])


def parse_vkey(vkey: str) -> NoteVerifier:
    """A verifier for any supported vkey: Ed25519 (0x01) or Ed25519 cosignature (0x04)."""
    _, alg, _ = _split_vkey(vkey)
    if alg == ALG_COSIGNATURE_V1:
        return CosignatureVerifier.from_vkey(vkey)
    return NoteVerifier.from_vkey(vkey)


def _cosigned_message(text: bytes, timestamp: int) -> bytes:
    return b"cosignature/v1\ntime %d\n" % timestamp + text


def cosignature_timestamp(signature: NoteSignature) -> int:
    """The POSIX time (seconds) a type-0x04 cosignature states. Only meaningful for a
    signature that verified with a :class:`CosignatureVerifier`."""
    if len(signature.signature) != 72:
        raise NoteFormatError(
            f"signature by {signature.name!r} is {len(signature.signature)} bytes, "
            "not a timestamped cosignature (72)"
        )
    return int.from_bytes(signature.signature[:8], "big")


class NoteSigner:
    """An Ed25519 signed-note signer: a name and a 32-byte private seed."""

    __slots__ = ("_key", "key_id", "name", "verifier")

    def __init__(self, name: str, seed: bytes) -> None:
        _check_name(name, NoteKeyError)
        if not isinstance(seed, (bytes, bytearray)) or len(seed) != 32:
            raise NoteKeyError(f"an Ed25519 seed is 32 bytes, got {len(seed)}")
        self._key = nacl.signing.SigningKey(bytes(seed))
        self.name = name
        self.verifier = NoteVerifier(name, self._key.verify_key.encode())
        self.key_id = self.verifier.key_id

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """A new random key (from the operating system's CSPRNG)."""
        return cls(name, nacl.utils.random(32))

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+name+hash+base64(0x01 || seed)`` (Go's signer key format)."""
        if not isinstance(skey, str):
            raise NoteKeyError(f"signer key must be str, got {type(skey).__name__}")
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise NoteKeyError("signer key is not PRIVATE+KEY+name+hash+key")
        _, _, name, hash_hex, key64 = parts
        _check_name(name, NoteKeyError)
        if not _HEX8.fullmatch(hash_hex):
            raise NoteKeyError(f"key hash {hash_hex!r} of signer key is not 8 hex digits")
        key = _b64decode(key64, "signer key", NoteKeyError)
        if not key or key[0] != ALG_ED25519:
            raise NoteKeyError("signer key algorithm is not Ed25519 (0x01)")
        if len(key) != 33:
            raise NoteKeyError(f"Ed25519 signer seed is {len(key) - 1} bytes, expected 32")
        signer = cls(name, key[1:])
        if signer.key_id != int(hash_hex, 16):
            raise NoteKeyError(
                f"key hash {hash_hex} does not match name {name!r} and the key "
                f"(expected {signer.key_id:08x})"
            )
        return signer

    @property
    def skey(self) -> str:
        """This key as ``PRIVATE+KEY+name+hash+base64(0x01 || seed)``. Secret: keep it so."""
        key64 = _b64encode(bytes([ALG_ED25519]) + bytes(self._key))
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{key64}"

    def sign(self, text: str) -> NoteSignature:
        """Sign the note text (which must end with a newline)."""
        _check_text(text, NoteFormatError)
        sig = self._key.sign(text.encode("utf-8")).signature
        return NoteSignature(self.name, self.key_id, sig)

    def __repr__(self) -> str:
        return f"NoteSigner(name={self.name!r}, key_id={self.key_id:08x})"


class CosignatureSigner:
    """A timestamped Ed25519 cosigner (c2sp.org/tlog-cosignature, type 0x04): what a
    witness adds to a checkpoint, and how a log states *when* it signed a tree head.
    The spec requires a key of its own per cosigner (the message does not commit to the
    name)."""

    __slots__ = ("_key", "key_id", "name", "verifier")

    def __init__(self, name: str, seed: bytes) -> None:
        _check_name(name, NoteKeyError)
        if not isinstance(seed, (bytes, bytearray)) or len(seed) != 32:
            raise NoteKeyError(f"an Ed25519 seed is 32 bytes, got {len(seed)}")
        self._key = nacl.signing.SigningKey(bytes(seed))
        self.name = name
        self.verifier = CosignatureVerifier(name, self._key.verify_key.encode())
        self.key_id = self.verifier.key_id

    @classmethod
    def generate(cls, name: str) -> CosignatureSigner:
        """A new random key (from the operating system's CSPRNG)."""
        return cls(name, nacl.utils.random(32))

    def sign(self, text: str, timestamp: int) -> NoteSignature:
        """Cosign note text as of ``timestamp`` (POSIX seconds, 0..2**63-1)."""
        _check_text(text, NoteFormatError)
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            raise NoteFormatError(f"timestamp must be an int, got {type(timestamp).__name__}")
        if not 0 <= timestamp <= MAX_COSIGNATURE_TIME:
            raise NoteFormatError(f"timestamp {timestamp} is outside 0..2**63-1")
        msg = _cosigned_message(text.encode("utf-8"), timestamp)
        sig = self._key.sign(msg).signature
        return NoteSignature(self.name, self.key_id, timestamp.to_bytes(8, "big") + sig)

    def __repr__(self) -> str:
        return f"CosignatureSigner(name={self.name!r}, key_id={self.key_id:08x})"


# --------------------------------------------------------------------------- notes


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key ID and the signature bytes (without the ID)."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        """``— name base64(key ID || signature)`` with its newline."""
        blob = self.key_id.to_bytes(4, "big") + self.signature
        return f"{_DASH}{self.name} {_b64encode(blob)}\n"


@dataclass(frozen=True)
class Note:
    """A note: its text (ending in newline) and its signature lines, in order."""

    text: str
    signatures: tuple[NoteSignature, ...] = ()


@dataclass(frozen=True)
class VerifiedNote:
    """A note whose ``verified`` signatures checked out against known keys; ``unverified``
    are signatures by keys the caller did not name (witnesses, rotated keys): ignored."""

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...] = field(default=())


def format_note(note: Note) -> bytes:
    """The wire form: text, a blank line, one line per signature (at least one)."""
    _check_text(note.text, NoteFormatError)
    if not note.signatures:
        raise NoteFormatError("a signed note needs at least one signature")
    for sig in note.signatures:
        _check_name(sig.name, NoteFormatError)
        if not 0 <= sig.key_id <= 0xFFFFFFFF:
            raise NoteFormatError(f"key ID {sig.key_id} does not fit in 32 bits")
        if not sig.signature:
            raise NoteFormatError(f"signature by {sig.name!r} is empty")
    return (note.text + "\n" + "".join(s.line() for s in note.signatures)).encode("utf-8")


def parse_note(data: bytes | str) -> Note:
    """Split a signed note into text and signature lines, rejecting anything malformed.
    Signatures are not checked here; see :func:`open_note`."""
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise NoteFormatError("note is not valid UTF-8 (lone surrogate)") from exc
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    else:
        raise NoteFormatError(f"note must be bytes or str, got {type(data).__name__}")
    if len(raw) > MAX_NOTE_BYTES:
        raise NoteFormatError(f"note is {len(raw)} bytes, over the {MAX_NOTE_BYTES} limit")
    try:
        text_all = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteFormatError(f"note is not valid UTF-8 at byte {exc.start}") from exc
    for i, ch in enumerate(text_all):
        if ord(ch) < 0x20 and ch != "\n":
            raise NoteFormatError(f"note has control character {ch!r} at offset {i}")
    split = text_all.rfind("\n\n")
    if split < 0:
        raise NoteFormatError("note has no blank line between text and signatures")
    text, sig_block = text_all[: split + 1], text_all[split + 2 :]
    if not sig_block:
        raise NoteFormatError("note has no signature lines after the blank line")
    if not sig_block.endswith("\n"):
        raise NoteFormatError("last signature line does not end with a newline")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteFormatError(f"note has {len(lines)} signatures, over the {MAX_SIGNATURES} limit")
    sigs = []
    for n, line in enumerate(lines, 1):
        if not line.startswith(_DASH):
            raise NoteFormatError(f"signature line {n} does not start with an em dash and space")
        name, sep, b64 = line[len(_DASH) :].partition(" ")
        if not sep:
            raise NoteFormatError(f"signature line {n} has no space between name and signature")
        _check_name(name, NoteFormatError)
        blob = _b64decode(b64, f"signature line {n}", NoteFormatError)
        if len(blob) < 5:
            raise NoteFormatError(
                f"signature line {n} holds {len(blob)} bytes; a key ID and a signature need 5+"
            )
        sigs.append(NoteSignature(name, int.from_bytes(blob[:4], "big"), blob[4:]))
    return Note(text, tuple(sigs))


def sign_note(text: str, *signers: NoteSigner) -> bytes:
    """Sign ``text`` (ending in newline) with each signer; the wire form of the note."""
    if not signers:
        raise NoteKeyError("sign_note needs at least one signer")
    return format_note(Note(text, tuple(s.sign(text) for s in signers)))


def add_signatures(data: bytes | str, *signatures: NoteSignature) -> bytes:
    """Append signatures (e.g. from :meth:`CosignatureSigner.sign` over the note's text) to
    a signed note, replacing any earlier signature by the same key name and ID."""
    note = parse_note(data)
    new_keys = {(s.name, s.key_id) for s in signatures}
    kept = tuple(s for s in note.signatures if (s.name, s.key_id) not in new_keys)
    return format_note(Note(note.text, kept + tuple(signatures)))


def open_note(data: bytes | str, verifiers: Iterable[NoteVerifier]) -> VerifiedNote:
    """Parse a signed note and check it against known keys (c2sp.org/signed-note).

    Signatures whose (name, key ID) is unknown are kept as ``unverified`` and otherwise
    ignored. A signature by a known key that fails rejects the whole note; so does a note
    with no valid signature by any known key (:class:`NoteSignatureError`).
    """
    known: dict[tuple[str, int], NoteVerifier] = {}
    for v in verifiers:
        prev = known.setdefault((v.name, v.key_id), v)
        if prev != v:
            raise NoteKeyError(f"ambiguous key {v.name}+{v.key_id:08x}: two verifiers share it")
    note = parse_note(data)
    text = note.text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    for sig in note.signatures:
        key = known.get((sig.name, sig.key_id))
        if key is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if not key.verify(text, sig.signature):
            raise NoteSignatureError(f"invalid signature for key {sig.name}+{sig.key_id:08x}")
        if sig not in verified:
            verified.append(sig)
    if not verified:
        names = ", ".join(f"{n}+{i:08x}" for n, i in known) or "none"
        raise NoteSignatureError(f"note has no signature by a known key (known: {names})")
    return VerifiedNote(note.text, tuple(verified), tuple(unverified))
