"""Ed25519 node keys: generation, PEM files, raw and COSE_Key public forms, the key id.

Signing and verification go through libsodium (PyNaCl), the fastest well-kept binding we
measured (``benchmarks/bench_record.py`` prints both); key files go through ``cryptography``
(PKCS#8 PEM, optionally encrypted with a passphrase).

Key id
------
A key id (``kid``, COSE header label 4) is the COSE Key Thumbprint of RFC 9679: SHA-256 over
the deterministic CBOR encoding of the required members of the public COSE_Key, here the map
``{1: 1, -1: 6, -2: x}`` (kty OKP, crv Ed25519, x the 32-byte public key) — 32 bytes. Anyone
can recompute it from the public key alone; :func:`key_id` does.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cbor2
import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .errors import KeyFileError, VerificationError

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64

# COSE_Key labels and values (RFC 9052 §7, RFC 9053 §7.2, RFC 9864).
_KTY, _ALG, _CRV, _X = 1, 3, -1, -2
_KTY_OKP, _CRV_ED25519 = 1, 6


@lru_cache(maxsize=4096)
def key_id(public_key: bytes) -> bytes:
    """The RFC 9679 COSE Key Thumbprint (SHA-256) of an Ed25519 public key."""
    _check_public(public_key)
    # {1: 1, -1: 6, -2: h'..'} in deterministic order: 0x01 < 0x20 < 0x21 bytewise.
    thumb_input = b"\xa3\x01\x01\x20\x06\x21\x58\x20" + public_key
    return hashlib.sha256(thumb_input).digest()


def cose_key(public_key: bytes, *, with_alg: bool = True) -> bytes:
    """The public key as a deterministically encoded COSE_Key (OKP, Ed25519; alg -19 if asked)."""
    _check_public(public_key)
    members: dict[int, object] = {_KTY: _KTY_OKP, _CRV: _CRV_ED25519, _X: public_key}
    if with_alg:
        members[_ALG] = -19
    return cbor2.dumps(members, canonical=True)


def public_key_from_cose_key(data: bytes) -> bytes:
    """The 32-byte Ed25519 key in a COSE_Key; :class:`KeyFileError` if it is anything else."""
    stream = io.BytesIO(data)
    try:
        members = cbor2.CBORDecoder(stream, allow_duplicate_keys=False, max_depth=8).decode()
    except (cbor2.CBORDecodeError, ValueError) as exc:
        raise KeyFileError(f"COSE_Key is not valid CBOR: {exc}") from exc
    if stream.tell() != len(data):
        raise KeyFileError(f"COSE_Key is followed by {len(data) - stream.tell()} more bytes")
    if not isinstance(members, dict):
        raise KeyFileError("COSE_Key must be a CBOR map")
    if members.get(_KTY) != _KTY_OKP or members.get(_CRV) != _CRV_ED25519:
        raise KeyFileError(
            f"COSE_Key is not an Ed25519 OKP key (kty={members.get(_KTY)!r}, "
            f"crv={members.get(_CRV)!r})"
        )
    x = members.get(_X)
    if not isinstance(x, bytes) or len(x) != PUBLIC_KEY_BYTES:
        raise KeyFileError("COSE_Key x must be a 32-byte string")
    return x


def public_key_from_hex(text: str) -> bytes:
    """Parse a 32-byte public key written as 64 hex digits."""
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise KeyFileError(f"public key is not hex: {text!r}") from exc
    _check_public(raw)
    return raw


def _check_public(public_key: bytes) -> None:
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_BYTES:
        raise KeyFileError(
            f"an Ed25519 public key is {PUBLIC_KEY_BYTES} bytes, got "
            f"{len(public_key) if isinstance(public_key, bytes) else type(public_key).__name__}"
        )


def verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Check an Ed25519 signature; :class:`VerificationError` when it does not verify."""
    if len(signature) != SIGNATURE_BYTES:
        raise VerificationError(f"Ed25519 signature must be 64 bytes, got {len(signature)}")
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as exc:
        raise VerificationError("Ed25519 signature does not verify") from exc


@dataclass(frozen=True, repr=False)
class SigningKey:
    """An Ed25519 private key. ``repr`` never shows the secret."""

    seed: bytes
    public: bytes = field(init=False)
    kid: bytes = field(init=False)
    _secret: bytes = field(init=False)

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise KeyFileError(f"an Ed25519 seed is 32 bytes, got {len(self.seed)}")
        public, secret = nacl.bindings.crypto_sign_seed_keypair(self.seed)
        object.__setattr__(self, "public", public)
        object.__setattr__(self, "kid", key_id(public))
        object.__setattr__(self, "_secret", secret)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(os.urandom(32))

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of *message*."""
        return nacl.bindings.crypto_sign(message, self._secret)[:SIGNATURE_BYTES]

    @property
    def public_hex(self) -> str:
        return self.public.hex()

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid[:8].hex()}…)"

    # -- files -------------------------------------------------------------------------

    def to_pem(self, passphrase: bytes | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return Ed25519PrivateKey.from_private_bytes(self.seed).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    @classmethod
    def from_pem(cls, data: bytes, passphrase: bytes | None = None) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(data, password=passphrase)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"cannot read the private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"expected an Ed25519 private key, got {type(key).__name__}")
        return cls(key.private_bytes_raw())

    def write_pem(self, path: Path | str, passphrase: bytes | None = None) -> None:
        """Write the key as PKCS#8 PEM, created with mode 0600 (never briefly world-readable)."""
        path = Path(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, self.to_pem(passphrase))
            os.fsync(fd)
        finally:
            os.close(fd)

    @classmethod
    def read_pem(cls, path: Path | str, passphrase: bytes | None = None) -> SigningKey:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from exc
        return cls.from_pem(data, passphrase)


def public_key_to_pem(public_key: bytes) -> bytes:
    """SubjectPublicKeyInfo PEM of a raw Ed25519 public key."""
    _check_public(public_key)
    return Ed25519PublicKey.from_public_bytes(public_key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_from_pem(data: bytes) -> bytes:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(f"cannot read the public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"expected an Ed25519 public key, got {type(key).__name__}")
    return key.public_bytes_raw()
