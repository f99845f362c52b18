"""Signed notes and checkpoints: published Go vectors, real sum.golang.org tree heads,
round-trip properties, failure tables and a mutation/fuzz sweep of the parser."""

from __future__ import annotations

import base64

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderlink.proto.checkpoint import (
    ALG_COSIGNATURE_V1,
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    CosignatureSigner,
    CosignatureVerifier,
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    add_signatures,
    cosignature_timestamp,
    format_checkpoint,
    format_note,
    key_id,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_note,
    parse_vkey,
    sign_checkpoint,
    sign_note,
)
from borderlink.proto.errors import (
    BorderlinkError,
    CheckpointError,
    CheckpointFormatError,
    NoteFormatError,
    NoteKeyError,
    NoteSignatureError,
    RecordDecodeError,
    VerificationError,
)
from borderlink.proto.merkle import EMPTY_ROOT, tree_hash

# --------------------------------------------------------------------------- Go vectors
# From golang.org/x/mod/sumdb/note/note_test.go (TestNewVerifier, TestNewSigner, TestSign,
# TestOpen). The PRIVATE+KEY string is the Go package's published test key, not a secret.

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdn"
    "gotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnW"
    "Lox33WWd1RvMc+QQ=\n"
)

PETER = NoteVerifier.from_vkey(PETER_VKEY)
ENOCH = NoteVerifier.from_vkey(ENOCH_VKEY)


def test_go_sign_vector_is_byte_exact() -> None:
    signer = NoteSigner.from_skey(PETER_SKEY)
    assert signer.key_id == 0xC74F20A3 == PETER.key_id
    assert signer.verifier == PETER and signer.verifier.vkey == PETER_VKEY
    assert signer.skey == PETER_SKEY
    assert sign_note(TEXT, signer) == (TEXT + "\n" + PETER_SIG).encode()


def test_go_open_vectors() -> None:
    msg = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    n = open_note(msg, [PETER])
    assert n.text == TEXT
    assert [(s.name, s.key_id) for s in n.verified] == [("PeterNeumann", 0xC74F20A3)]
    assert [(s.name, s.key_id) for s in n.unverified] == [("EnochRoot", 0xAF0CFE78)]
    both = open_note(msg.encode(), [PETER, ENOCH])
    assert len(both.verified) == 2 and not both.unverified
    with pytest.raises(NoteSignatureError, match="no signature by a known key"):
        open_note(msg, [])
    # duplicated identical lines count once; the unverified ABCD variant is kept apart
    bad_enoch = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    dup = open_note(TEXT + "\n" + PETER_SIG * 2 + ENOCH_SIG * 2 + bad_enoch, [PETER])
    assert len(dup.verified) == 1 and len(dup.unverified) == 2
    with pytest.raises(NoteSignatureError, match="invalid signature for key PeterNeumann"):
        open_note(TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:], [PETER])
    # identical verifiers twice are harmless; two different keys under one name+ID are not
    assert open_note(TEXT + "\n" + ENOCH_SIG, [ENOCH, PETER, ENOCH]).verified
    twin = NoteVerifier("EnochRoot", b"\1" * 32)
    twin.key_id = ENOCH.key_id  # a 32-bit key ID collision, forced
    with pytest.raises(NoteKeyError, match="ambiguous key EnochRoot\\+af0cfe78"):
        open_note(TEXT + "\n" + ENOCH_SIG, [ENOCH, PETER, twin])


GO_BAD_MESSAGES = [  # TestOpen's badMsgs, plus too many signatures
    TEXT,
    TEXT + "\n",
    TEXT + "\n" + PETER_SIG[:-1],
    "\x01" + TEXT + "\n" + PETER_SIG,
    b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
    TEXT + "\n" + "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
    "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
    TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1),
]


@pytest.mark.parametrize("msg", GO_BAD_MESSAGES)
def test_go_malformed_notes(msg) -> None:
    with pytest.raises(NoteFormatError):
        open_note(msg, [PETER])


def _manglings(key: str):
    b = key
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if i != 0 or j != len(b):
                yield b[i:j]
    for i in range(len(b)):
        yield b[:i] + chr(ord(b[i]) + 1) + b[i + 1 :]


def test_go_verifier_key_manglings_all_rejected() -> None:
    count = 0
    for k in _manglings(PETER_VKEY):
        with pytest.raises(NoteKeyError):
            NoteVerifier.from_vkey(k)
        count += 1
    assert count > 2000
    # wrong length key / unknown algorithm, each with an adjusted (matching) key hash. (Go
    # rejects the first for its length; we already reject its non-canonical base64 tail.)
    with pytest.raises(NoteKeyError, match="canonical base64|expected 32"):
        NoteVerifier.from_vkey(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
    with pytest.raises(NoteKeyError, match="algorithm 0x65 is not the 0x01"):
        NoteVerifier.from_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_go_signer_key_manglings_all_rejected() -> None:
    for k in _manglings(PETER_SKEY):
        with pytest.raises(NoteKeyError):
            NoteSigner.from_skey(k)


# --------------------------------------------------------------------------- real checkpoints
# Tree heads signed by the Go checksum database (sum.golang.org, key published in the Go
# toolchain), as quoted in github.com/transparency-dev/formats log/note_test.go (with the
# "monkeys" cosignature of its BenchmarkParse) and in the transparency-dev witness README.

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
MONKEYS_VKEY = "monkeys+db4d9f7e+AULaJMvTtDLHPUcUrjdDad9vDlh/PTfC2VV60JUtCfWT"
SUMDB_6476701 = (
    "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n"
    "\u2014 sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nP"
    "RYfvimWEPWL+o3GeoWwOoAw=\n"
)
MONKEYS_SIG = (
    "\u2014 monkeys 202ffh9ve46Mqbhuyb4wnC2Pwdan5EsXQym/tF1ggXJqhjGosU4T5intH4iKMRgDLxrnXuIjRaU2"
    "NbvAnaepM6Y+8ww=\n"
)
SUMDB_15067302 = (
    "go.sum database tree\n15067302\ngJyioq6dwR9n+NjEWORfYmH+ubeYm3kH42BBQ0bTpYI=\n\n"
    "\u2014 sum.golang.org Az3grp1rvWOs5NKlr/xR4GLN/CDyzzakmt1o61uSxYKpK1SerqOP2ClbX/peKUZjYnyo"
    "mH5Xz7GZG3TpB7OeKn4E2ww=\n"
    "\u2014 test.example.com qTGhC/xIPQ0AXKHK6Y+9ypRfuvMZWPjRXM8NiOg5M1WREn07VQXyuIXM3NRNav3ieVF"
    "LUqDRK77PWDmL6w8w84UqeAw=\n"
)
SUMDB = NoteVerifier.from_vkey(SUMDB_VKEY)


@pytest.mark.parametrize(
    "note,size,root",
    [
        (SUMDB_6476701, 6476701, "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk="),
        (SUMDB_15067302, 15067302, "gJyioq6dwR9n+NjEWORfYmH+ubeYm3kH42BBQ0bTpYI="),
    ],
)
def test_real_sum_golang_org_checkpoints(note: str, size: int, root: str) -> None:
    cp = open_checkpoint(note, SUMDB, origin="go.sum database tree")
    assert cp == Checkpoint("go.sum database tree", size, base64.b64decode(root))
    assert format_checkpoint(cp) == note[: note.index("\n\n") + 1]
    with pytest.raises(CheckpointError, match="not the expected"):
        open_checkpoint(note, SUMDB, origin="Go rocks but I might have the wrong ID")
    with pytest.raises(NoteSignatureError):  # the log's key is required
        open_checkpoint(note, PETER, origin=None)


def test_real_checkpoint_with_witness_cosignature() -> None:
    monkeys = NoteVerifier.from_vkey(MONKEYS_VKEY)
    cp = open_checkpoint(SUMDB_6476701 + MONKEYS_SIG, SUMDB, origin=None, cosigners=[monkeys])
    assert cp.size == 6476701
    forged = MONKEYS_SIG[:50] + ("A" if MONKEYS_SIG[50] != "A" else "B") + MONKEYS_SIG[51:]
    with pytest.raises(NoteSignatureError, match="invalid signature for key monkeys"):
        open_checkpoint(SUMDB_6476701 + forged, SUMDB, origin=None, cosigners=[monkeys])
    # the log's signature alone is not enough to satisfy a missing cosigner, and vice versa
    with pytest.raises(NoteSignatureError, match="not signed by the log key"):
        open_checkpoint(
            SUMDB_6476701.split("\n\n")[0] + "\n\n" + MONKEYS_SIG,
            SUMDB,
            origin=None,
            cosigners=[monkeys],
        )


def test_key_id_is_c2sp_recommended_hash() -> None:
    assert key_id("PeterNeumann", 1, PETER.public_key) == 0xC74F20A3
    assert key_id("sum.golang.org", 1, SUMDB.public_key) == 0x033DE0AE


# --------------------------------------------------------------------------- round trips

origins = st.text(
    st.characters(blacklist_categories=("Cs",), min_codepoint=0x20), min_size=1, max_size=40
)
extensions = st.lists(
    st.text(st.characters(blacklist_categories=("Cs",), min_codepoint=0x20), min_size=1),
    max_size=3,
)
SIGNER = NoteSigner("borderlink.example/hub/test", bytes(range(32)))
WITNESS = NoteSigner("witness.example/w1", bytes(range(1, 33)))


@settings(max_examples=150, deadline=None)
@given(origins, st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32), extensions)
def test_checkpoint_round_trip(origin, size, root, exts) -> None:
    cp = Checkpoint(origin, size, root, tuple(exts))
    text = format_checkpoint(cp)
    assert parse_checkpoint(text) == cp
    signed = sign_checkpoint(cp, SIGNER, WITNESS)
    assert open_checkpoint(signed, SIGNER.verifier, origin=origin) == cp
    assert (
        open_checkpoint(signed, SIGNER.verifier, origin=origin, cosigners=[WITNESS.verifier]) == cp
    )
    note = parse_note(signed)
    assert note.text == text and len(note.signatures) == 2
    assert format_note(note) == signed


def test_empty_log_checkpoint_and_generated_keys() -> None:
    signer = NoteSigner.generate("borderlink.example/hub")
    again = NoteVerifier.from_vkey(signer.verifier.vkey)
    assert again == signer.verifier and hash(again) == hash(signer.verifier)
    assert NoteSigner.from_skey(signer.skey).verifier == again
    cp = Checkpoint("borderlink.example/hub", 0, EMPTY_ROOT)
    signed = sign_checkpoint(cp, signer)
    assert signed.startswith(
        b"borderlink.example/hub\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n"
    )
    assert open_checkpoint(signed, again, origin="borderlink.example/hub") == cp
    assert tree_hash([]) == cp.root_hash
    assert "borderlink.example/hub" in repr(again) and "key_id" in repr(signer)
    assert signer.sign(cp.body()) == NoteSignature(
        signer.name, signer.key_id, parse_note(signed).signatures[0].signature
    )


# --------------------------------------------------------------------------- failure tables

ROOT_B64 = base64.b64encode(bytes(32)).decode()

CHECKPOINT_TEXT_FAILURES = [
    ("insufficient lines", "Head\n9944\n", CheckpointFormatError),
    ("empty origin", f"\n9944\n{ROOT_B64}\n", CheckpointFormatError),
    ("no final newline", f"Log\n123\n{ROOT_B64}", CheckpointFormatError),
    ("size not a number", f"Log\nbananas\n{ROOT_B64}\n", CheckpointFormatError),
    ("negative size", f"Log\n-34\n{ROOT_B64}\n", CheckpointFormatError),
    ("plus sign", f"Log\n+34\n{ROOT_B64}\n", CheckpointFormatError),
    ("leading zero", f"Log\n034\n{ROOT_B64}\n", CheckpointFormatError),
    ("underscore", f"Log\n3_4\n{ROOT_B64}\n", CheckpointFormatError),
    ("arabic-indic digits", f"Log\n\u0663\u0664\n{ROOT_B64}\n", CheckpointFormatError),
    ("spaces around size", f"Log\n 34 \n{ROOT_B64}\n", CheckpointFormatError),
    ("size over 64 bits", f"Log\n18446744073709551616\n{ROOT_B64}\n", CheckpointFormatError),
    ("root not base64", "Log\n123\nThisIsn'tBase64\n", CheckpointFormatError),
    ("root of 7 bytes", "Log\n123\nYmFuYW5hcw==\n", CheckpointFormatError),
    ("root without padding", f"Log\n123\n{ROOT_B64.rstrip('=')}\n", CheckpointFormatError),
    ("root url-safe alphabet", "Log\n123\n" + "_" * 43 + "=\n", CheckpointFormatError),
    ("root non-canonical bits", "Log\n123\n" + "A" * 42 + "B=\n", CheckpointFormatError),
    ("empty extension line", f"Log\n123\n{ROOT_B64}\n\nx\n", CheckpointFormatError),
    ("carriage return", f"Log\r\n123\n{ROOT_B64}\n", CheckpointFormatError),
    ("not str", f"Log\n123\n{ROOT_B64}\n".encode(), CheckpointFormatError),
]


@pytest.mark.parametrize(
    "case,text,error", CHECKPOINT_TEXT_FAILURES, ids=[c[0] for c in CHECKPOINT_TEXT_FAILURES]
)
def test_checkpoint_text_failure_table(case, text, error) -> None:
    with pytest.raises(error) as info:
        parse_checkpoint(text)
    assert isinstance(info.value, RecordDecodeError) and isinstance(info.value, ValueError)


GOOD = sign_checkpoint(Checkpoint("hub.example/log", 42, bytes(range(32))), SIGNER).decode()
GOOD_TEXT, GOOD_SIG = GOOD.split("\n\n")
OTHER = NoteSigner("hub.example/log", bytes(32))  # another key under the same name

NOTE_FAILURES = [
    ("size changed after signing", GOOD.replace("\n42\n", "\n43\n"), NoteSignatureError),
    (
        "origin changed",
        GOOD.replace("hub.example/log\n", "hub.example/lag\n", 1),
        NoteSignatureError,
    ),
    (
        "signature by another key, same name",
        sign_checkpoint(Checkpoint("hub.example/log", 42, bytes(range(32))), OTHER).decode(),
        NoteSignatureError,
    ),
    (
        "key name changed in signature line",
        GOOD.replace("\u2014 borderlink", "\u2014 borderlinc"),
        NoteSignatureError,
    ),
    (
        "signature byte flipped",
        GOOD_TEXT + "\n\n" + GOOD_SIG[:40] + ("A" if GOOD_SIG[40] != "A" else "B") + GOOD_SIG[41:],
        NoteSignatureError,
    ),
    ("signed, wrong origin expected", GOOD, CheckpointError),
    ("no blank line", GOOD.replace("\n\n", "\n"), NoteFormatError),
    ("hyphen instead of em dash", GOOD.replace("\u2014", "-"), NoteFormatError),
    ("two spaces after name", GOOD.replace("/test ", "/test  "), NoteFormatError),
    ("plus in key name", GOOD.replace("/test ", "/te+st "), NoteFormatError),
    ("signature too short", GOOD_TEXT + "\n\n\u2014 x AAAAAA==\n", NoteFormatError),
    ("signature not base64", GOOD_TEXT + "\n\n\u2014 x !!!!\n", NoteFormatError),
    ("CRLF line ends", GOOD.replace("\n", "\r\n"), NoteFormatError),
    ("tab in text", GOOD.replace("hub.example/log", "hub.example\t/log"), NoteFormatError),
    ("NUL byte", GOOD.replace("42", "4\x002"), NoteFormatError),
    ("invalid UTF-8", GOOD.encode().replace(b"42", b"4\xc3\x282"), NoteFormatError),
    ("lone surrogate", GOOD.replace("42", "4\ud8002"), NoteFormatError),
    ("oversized", "a\n" * (MAX_NOTE_BYTES // 2) + "\n" + GOOD_SIG, NoteFormatError),
    ("not bytes or str", 42, NoteFormatError),
    ("empty", b"", NoteFormatError),
    ("body not a checkpoint", sign_note("hello\n", SIGNER).decode(), CheckpointFormatError),
]


@pytest.mark.parametrize("case,data,error", NOTE_FAILURES, ids=[c[0] for c in NOTE_FAILURES])
def test_signed_checkpoint_failure_table(case, data, error) -> None:
    with pytest.raises(error) as info:
        open_checkpoint(
            data,
            SIGNER.verifier,
            origin="borderlink.example/hub/test"
            if case == "signed, wrong origin expected"
            else "hub.example/log",
        )
    assert isinstance(info.value, BorderlinkError)
    assert str(info.value)


KEY_FAILURES = [
    ("empty name", lambda: NoteVerifier("", bytes(32))),
    ("space in name", lambda: NoteVerifier("a b", bytes(32))),
    ("nbsp in name", lambda: NoteVerifier("a\u00a0b", bytes(32))),
    ("plus in name", lambda: NoteSigner("a+b", bytes(32))),
    ("short public key", lambda: NoteVerifier("a", bytes(31))),
    ("short seed", lambda: NoteSigner("a", bytes(31))),
    ("vkey not str", lambda: NoteVerifier.from_vkey(b"x+y+z")),
    ("vkey uppercase-free hash of 7", lambda: NoteVerifier.from_vkey("a+1234567+AQ==")),
    ("vkey without key", lambda: NoteVerifier.from_vkey(f"a+{key_id('a', 1, b''):08x}+")),
    ("skey without prefix", lambda: NoteSigner.from_skey(PETER_SKEY[len("PRIVATE+KEY+") :])),
    ("sign_note without signer", lambda: sign_note("x\n")),
]


@pytest.mark.parametrize("case,call", KEY_FAILURES, ids=[c[0] for c in KEY_FAILURES])
def test_key_failure_table(case, call) -> None:
    with pytest.raises(NoteKeyError):
        call()


def test_formatting_refuses_what_it_could_not_parse() -> None:
    with pytest.raises(NoteFormatError, match="end with a newline"):
        SIGNER.sign("no newline")
    with pytest.raises(NoteFormatError, match="at least one signature"):
        format_note(Note("x\n"))
    with pytest.raises(NoteFormatError, match="32 bits"):
        format_note(Note("x\n", (NoteSignature("a", 2**32, b"s"),)))
    with pytest.raises(NoteFormatError, match="empty"):
        format_note(Note("x\n", (NoteSignature("a", 1, b""),)))
    for bad in [
        lambda: Checkpoint("", 1, bytes(32)),
        lambda: Checkpoint("a\nb", 1, bytes(32)),
        lambda: Checkpoint("a", -1, bytes(32)),
        lambda: Checkpoint("a", 2**64, bytes(32)),
        lambda: Checkpoint("a", True, bytes(32)),
        lambda: Checkpoint("a", 1, bytes(31)),
        lambda: Checkpoint("a", 1, bytes(32), ("",)),
        lambda: format_checkpoint(Checkpoint("a\tb", 1, bytes(32))),
    ]:
        with pytest.raises(CheckpointFormatError):
            bad()


# --------------------------------------------------------------------------- fuzz


def test_every_single_byte_mutation_of_a_signed_checkpoint_is_rejected() -> None:
    raw = GOOD.encode()
    for i in range(len(raw)):
        for mask in (0x01, 0x20, 0x80):
            data = raw[:i] + bytes([raw[i] ^ mask]) + raw[i + 1 :]
            with pytest.raises((RecordDecodeError, VerificationError)):
                open_checkpoint(data, SIGNER.verifier, origin="hub.example/log")


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300),
        st.builds(
            lambda a, b: a + "\n\n" + b,
            st.text(max_size=100),
            st.text(alphabet="\u2014 abcAB+/=\n", max_size=120),
        ),
    )
)
def test_parser_only_raises_borderlink_errors(data) -> None:
    try:
        cp = open_checkpoint(data, SIGNER.verifier, origin=None)
    except (RecordDecodeError, VerificationError):
        return
    raise AssertionError(f"random input verified as {cp}")  # would need a forged signature


def _replace_one(cp: Checkpoint, pos: int, ch: str) -> str:
    text = format_checkpoint(cp)
    pos %= len(text)
    return text[:pos] + ch + text[pos + 1 :]


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.builds(
            lambda o, s, r, e: f"{o}\n{s}\n{r}\n{e}",
            st.text(max_size=20),
            st.text(alphabet="0123456789+- _\u0663", max_size=22),
            st.text(alphabet="ABCDEFabcdef0123456789+/=_-", min_size=40, max_size=48),
            st.text(max_size=20),
        ),
        st.builds(  # a valid body with one character replaced
            _replace_one,
            st.builds(
                Checkpoint, origins, st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32)
            ),
            st.integers(0, 200),
            st.characters(blacklist_categories=("Cs",)),
        ),
    )
)
def test_checkpoint_parser_is_strict_and_canonical(text) -> None:
    try:
        cp = parse_checkpoint(text)
    except CheckpointFormatError:
        return
    assert format_checkpoint(cp) == text  # only the one canonical spelling parses


# --------------------------------------------------------------------------- cosignatures
# Timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature, type 0x04). Vectors from
# github.com/transparency-dev/formats note/note_cosigv1_test.go: the native 0x04 vkey of the
# "remora.n621.de" witness (TestCoSigV1NewVerifier), a 0x01 vkey (same test), and a
# cosignature blob whose timestamp is 1727964367 (TestCosignatureTimestamp).

REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
GO_TEST_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
GO_COSIG_BLOB = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFi"
    "EBYJXORmnFBOBA=="
)
GO_PLAIN_BLOB = (
    "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY="
)


def test_cosignature_vkeys_dispatch_on_the_algorithm_byte() -> None:
    remora = parse_vkey(REMORA_VKEY)
    assert isinstance(remora, CosignatureVerifier) and remora.alg == ALG_COSIGNATURE_V1
    assert remora.key_id == 0xDA77ADE7 and remora.vkey == REMORA_VKEY
    plain = parse_vkey(GO_TEST_VKEY)
    assert type(plain) is NoteVerifier and plain.vkey == GO_TEST_VKEY
    with pytest.raises(NoteKeyError, match="0x04 is not the 0x01"):
        NoteVerifier.from_vkey(REMORA_VKEY)
    with pytest.raises(NoteKeyError, match="0x01 is not the 0x04"):
        CosignatureVerifier.from_vkey(GO_TEST_VKEY)
    # the same key under the two types: different key IDs, never equal
    same = CosignatureVerifier(plain.name, plain.public_key)
    assert same.key_id != plain.key_id and same != plain


def _sig_from_blob(blob64: str) -> NoteSignature:
    raw = base64.b64decode(blob64)
    return NoteSignature("x", int.from_bytes(raw[:4], "big"), raw[4:])


def test_go_cosignature_timestamp_vector() -> None:
    assert cosignature_timestamp(_sig_from_blob(GO_COSIG_BLOB)) == 1727964367
    with pytest.raises(NoteFormatError, match="not a timestamped cosignature"):
        cosignature_timestamp(_sig_from_blob(GO_PLAIN_BLOB))


def test_timestamped_cosignature_round_trip_and_message_format() -> None:
    log = NoteSigner("hub.example/log", bytes(range(32)))
    clock = CosignatureSigner("hub.example/log/time", bytes(range(2, 34)))
    witness = CosignatureSigner.generate("witness.example/w1")
    cp = Checkpoint("hub.example/log", 7, bytes(range(32)), ("ext",))
    signed = sign_checkpoint(cp, log, cosigner=clock, timestamp=1_764_000_000)
    signed = add_signatures(signed, witness.sign(cp.body(), 1_764_000_001))
    opened = open_note(signed, [log.verifier, clock.verifier, witness.verifier])
    assert [cosignature_timestamp(s) for s in opened.verified[1:]] == [1764000000, 1764000001]
    assert (
        open_checkpoint(signed, log.verifier, origin="hub.example/log", cosigners=[clock.verifier])
        == cp
    )
    # independent check of the signed message: "cosignature/v1\ntime N\n" + checkpoint body
    sig = opened.verified[1]
    message = b"cosignature/v1\ntime 1764000000\n" + cp.body().encode()
    nacl.signing.VerifyKey(clock.verifier.public_key).verify(message, sig.signature[8:])
    # the timestamp is signed: changing it breaks the cosignature
    forged = NoteSignature(
        sig.name, sig.key_id, (1764000999).to_bytes(8, "big") + sig.signature[8:]
    )
    with pytest.raises(NoteSignatureError, match="invalid signature for key hub.example/log/time"):
        open_note(add_signatures(signed, forged), [log.verifier, clock.verifier])
    # extension lines are covered
    with pytest.raises(NoteSignatureError):
        open_note(signed.replace(b"ext\n", b"exu\n"), [clock.verifier])
    # a plain Ed25519 verifier of the same key does not accept the cosignature
    with pytest.raises(NoteSignatureError, match="no signature by a known key"):
        open_note(signed, [NoteVerifier(clock.name, clock.verifier.public_key)])
    # re-cosigning replaces the earlier cosignature by that key
    again = add_signatures(signed, clock.sign(cp.body(), 1_764_000_500))
    assert len(parse_note(again).signatures) == 3
    assert "CosignatureSigner" in repr(clock) and "CosignatureVerifier" in repr(clock.verifier)


COSIGN_FAILURES = [
    ("negative time", lambda c: c.sign("x\n", -1)),
    ("time over 2**63-1", lambda c: c.sign("x\n", 2**63)),
    ("bool time", lambda c: c.sign("x\n", True)),
    ("text without newline", lambda c: c.sign("x", 1)),
    (
        "cosigner without timestamp",
        lambda c: sign_checkpoint(Checkpoint("o", 1, bytes(32)), SIGNER, cosigner=c),
    ),
]


@pytest.mark.parametrize("case,call", COSIGN_FAILURES, ids=[c[0] for c in COSIGN_FAILURES])
def test_cosign_failure_table(case, call) -> None:
    with pytest.raises((NoteFormatError, NoteKeyError)):
        call(CosignatureSigner("w", bytes(32)))


def test_cosignature_with_time_beyond_int63_never_verifies() -> None:
    clock = CosignatureSigner("w", bytes(32))
    text = b"o\n1\n" + base64.b64encode(bytes(32)) + b"\n"
    sig = clock.sign(text.decode(), 5)
    too_late = (2**63).to_bytes(8, "big") + sig.signature[8:]
    assert clock.verifier.verify(text, sig.signature)
    assert not clock.verifier.verify(text, too_late)
    assert not clock.verifier.verify(text, sig.signature[:-1])
