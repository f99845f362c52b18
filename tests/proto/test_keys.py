"""Node keys: PEM files (mode 0600, passphrases), key id = RFC 9679 thumbprint, COSE_Key, hex."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import cbor2
import pytest
from cddl_verifier.cbor import encode as independent_encode
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from hypothesis import given, settings
from hypothesis import strategies as st
from record_samples import RFC8032_PUBLIC, RFC8032_SEED, RFC8032_SIG_EMPTY

from borderlink.proto.errors import KeyFileError, VerificationError
from borderlink.proto.keys import (
    SigningKey,
    cose_key,
    key_id,
    public_key_from_cose_key,
    public_key_from_hex,
    public_key_from_pem,
    public_key_to_pem,
    verify_ed25519,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_rfc8032_test_1() -> None:
    """RFC 8032 §7.1 TEST 1: the public key from the seed, the signature of the empty message."""
    key = SigningKey(RFC8032_SEED)
    assert key.public == RFC8032_PUBLIC
    assert key.sign(b"") == RFC8032_SIG_EMPTY
    verify_ed25519(RFC8032_PUBLIC, b"", RFC8032_SIG_EMPTY)
    with pytest.raises(VerificationError):
        verify_ed25519(RFC8032_PUBLIC, b"\x00", RFC8032_SIG_EMPTY)


def test_pem_written_with_mode_0600(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = tmp_path / "node.key.pem"
    old_umask = os.umask(0)  # even a permissive umask must not widen the file
    try:
        key.write_pem(path)
    finally:
        os.umask(old_umask)
    assert mode(path) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert SigningKey.read_pem(path).seed == key.seed


def test_pem_overwrite_tightens_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "node.key.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    SigningKey.generate().write_pem(path)
    assert mode(path) == 0o600


def test_pem_with_passphrase(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = tmp_path / "node.key.pem"
    key.write_pem(path, passphrase=b"correct horse")
    text = path.read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in text
    assert mode(path) == 0o600
    assert SigningKey.read_pem(path, passphrase=b"correct horse").public == key.public


@pytest.mark.parametrize("passphrase", [b"wrong", None], ids=["wrong", "missing"])
def test_encrypted_pem_needs_the_right_passphrase(tmp_path: Path, passphrase: bytes | None) -> None:
    path = tmp_path / "node.key.pem"
    SigningKey.generate().write_pem(path, passphrase=b"correct horse")
    with pytest.raises(KeyFileError):
        SigningKey.read_pem(path, passphrase=passphrase)


def test_passphrase_for_an_unencrypted_pem_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "node.key.pem"
    SigningKey.generate().write_pem(path)
    with pytest.raises(KeyFileError):
        SigningKey.read_pem(path, passphrase=b"unexpected")


def test_missing_and_garbage_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read key file"):
        SigningKey.read_pem(tmp_path / "absent.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyFileError):
        SigningKey.read_pem(garbage)


@pytest.mark.parametrize(
    "other",
    [ec.generate_private_key(ec.SECP256R1()), ed448.Ed448PrivateKey.generate()],
    ids=["p256", "ed448"],
)
def test_pem_of_another_key_type_is_refused(other) -> None:
    pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    with pytest.raises(KeyFileError, match="Ed25519"):
        SigningKey.from_pem(pem)
    public = other.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyFileError, match="Ed25519"):
        public_key_from_pem(public)


def test_public_pem_round_trip() -> None:
    key = SigningKey.generate()
    assert public_key_from_pem(public_key_to_pem(key.public)) == key.public


def test_repr_never_shows_the_secret() -> None:
    key = SigningKey(RFC8032_SEED)
    assert RFC8032_SEED.hex()[:8] not in repr(key)
    assert key.kid.hex()[:16] in repr(key)


def test_seed_length_is_checked() -> None:
    with pytest.raises(KeyFileError):
        SigningKey(b"\x00" * 31)


#: RFC 9679 §6 (the RFC's only example, an EC2 P-256 key): the deterministic encoding of its
#: required members {1: 2, -1: 1, -2: x, -3: y} and the resulting SHA-256 thumbprint.
RFC9679_X = bytes.fromhex("65eda5a12577c2bae829437fe338701a10aaa375e1bb5b5de108de439c08551d")
RFC9679_Y = bytes.fromhex("1e52ed75701163f7f9e40ddf9f341b3dc9ba860af7e0ca7ca7e9eecd0084d19c")
RFC9679_ENCODED = bytes.fromhex(
    "A40102200121582065EDA5A12577C2BAE829437FE338701A10AAA375E1BB5B5DE"
    "108DE439C08551D2258201E52ED75701163F7F9E40DDF9F341B3DC9BA860AF7E0"
    "CA7CA7E9EECD0084D19C"
)
RFC9679_THUMBPRINT = bytes.fromhex(
    "496bd8afadf307e5b08c64b0421bf9dc01528a344a43bda88fadd1669da253ec")


def rfc9679_thumbprint(required_members: dict[int, object]) -> bytes:
    """RFC 9679 §3-§4 done independently of borderlink: SHA-256 over the deterministic CBOR
    of the key type's required members (RFC 8949 §4.2.1, by a second encoder as well)."""
    encoded = cbor2.dumps(required_members, canonical=True)
    assert encoded == independent_encode(required_members, canonical=True)
    return hashlib.sha256(encoded).digest()


def test_reference_thumbprint_reproduces_the_rfc9679_example() -> None:
    members = {1: 2, -1: 1, -2: RFC9679_X, -3: RFC9679_Y}
    assert cbor2.dumps(members, canonical=True) == RFC9679_ENCODED
    assert rfc9679_thumbprint(members) == RFC9679_THUMBPRINT


def test_key_id_is_the_reference_thumbprint_of_the_okp_members() -> None:
    """RFC 9679 §4 lists kty, crv and x as the required members of an OKP key."""
    assert key_id(RFC8032_PUBLIC) == rfc9679_thumbprint({1: 1, -1: 6, -2: RFC8032_PUBLIC})


def _thumbprint_cbor2(public: bytes) -> bytes:
    """RFC 9679 §3: SHA-256 over the deterministic CBOR of the required OKP members."""
    return hashlib.sha256(cbor2.dumps({1: 1, -1: 6, -2: public}, canonical=True)).digest()


def _thumbprint_independent(public: bytes) -> bytes:
    """The same with another CBOR implementation (cddl-verifier's RFC 8949 §4.2.1 encoder)."""
    return hashlib.sha256(independent_encode({-2: public, -1: 6, 1: 1}, canonical=True)).digest()


def test_key_id_of_the_rfc8032_key() -> None:
    """Thumbprint input for the RFC 8032 TEST 1 key, written out by hand: map(3),
    1:1 (kty OKP), -1:6 (crv Ed25519), -2: bstr(32) x — RFC 9679 §3 and §4."""
    by_hand = bytes.fromhex("a3" "01" "01" "20" "06" "21" "5820") + RFC8032_PUBLIC
    assert key_id(RFC8032_PUBLIC) == hashlib.sha256(by_hand).digest()
    assert key_id(RFC8032_PUBLIC) == _thumbprint_cbor2(RFC8032_PUBLIC)
    assert SigningKey(RFC8032_SEED).kid == key_id(RFC8032_PUBLIC)


@settings(max_examples=30, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32))
def test_key_id_is_the_rfc9679_thumbprint(seed: bytes) -> None:
    key = SigningKey(seed)
    assert len(key.kid) == 32
    assert key.kid == key_id(key.public) == _thumbprint_cbor2(key.public)
    assert key.kid == _thumbprint_independent(key.public)
    # The optional alg member is not part of the thumbprint (RFC 9679 §3: required only).
    assert key.kid == hashlib.sha256(cose_key(key.public, with_alg=False)).digest()


def test_cose_key_round_trip_and_contents() -> None:
    key = SigningKey(RFC8032_SEED)
    encoded = cose_key(key.public)
    assert cbor2.loads(encoded) == {1: 1, 3: -19, -1: 6, -2: RFC8032_PUBLIC}
    assert independent_encode(cbor2.loads(encoded), canonical=True) == encoded
    assert public_key_from_cose_key(encoded) == key.public
    assert public_key_from_cose_key(cose_key(key.public, with_alg=False)) == key.public
    # A COSE_Key from elsewhere, with extra members (kid, key_ops) and -8, is read too.
    foreign = cbor2.dumps({1: 1, 2: b"11", 3: -8, 4: [2], -1: 6, -2: RFC8032_PUBLIC})
    assert public_key_from_cose_key(foreign) == RFC8032_PUBLIC


@pytest.mark.parametrize(
    "data",
    [
        b"\xff",
        cbor2.dumps([1, 6]),
        cbor2.dumps({1: 2, -1: 1, -2: b"x" * 32, -3: b"y" * 32}),  # EC2 P-256
        cbor2.dumps({1: 1, -1: 7, -2: b"x" * 57}),  # Ed448
        cbor2.dumps({1: 1, -1: 4, -2: b"x" * 32}),  # X25519
        cbor2.dumps({1: 1, -1: 6, -2: b"x" * 31}),
        cbor2.dumps({1: 1, -1: 6, -2: "x" * 32}),
        cbor2.dumps({1: 1, -1: 6}),
        cbor2.dumps({1: 1, -1: 6, -2: b"x" * 32}) + b"\x00",
    ],
    ids=["not-cbor", "array", "ec2", "ed448", "x25519", "short-x", "text-x", "no-x", "trailing"],
)
def test_bad_cose_keys(data: bytes) -> None:
    with pytest.raises(KeyFileError):
        public_key_from_cose_key(data)


def test_hex_round_trip() -> None:
    key = SigningKey(RFC8032_SEED)
    assert key.public_hex == RFC8032_PUBLIC.hex()
    assert public_key_from_hex(key.public_hex) == key.public
    assert public_key_from_hex(" " + key.public_hex.upper() + "\n") == key.public


@pytest.mark.parametrize("text", ["", "zz" * 32, "ab" * 31, "ab" * 33, "0x" + "ab" * 32])
def test_bad_hex(text: str) -> None:
    with pytest.raises(KeyFileError):
        public_key_from_hex(text)


def test_keys_differ_and_generate_is_random() -> None:
    one, two = SigningKey.generate(), SigningKey.generate()
    assert one.public != two.public and one.kid != two.kid
