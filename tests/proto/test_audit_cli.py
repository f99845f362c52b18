"""``borderlink audit verify-sign1`` and ``audit inspect``: exit codes, reasons, output."""

from __future__ import annotations

from pathlib import Path

import cbor2
import pytest

from borderlink.cli import main
from borderlink.proto.cose import protected_header, sign1
from borderlink.proto.envelope import encode_envelope
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import GENESIS_PREV, make_record
from borderlink.proto.record_types import default_registry


@pytest.fixture()
def key() -> SigningKey:
    return SigningKey.generate()


def _document_check(key: SigningKey):
    return make_record(
        key, node_id="az-bil-dr-01", seq=1, prev_hash=GENESIS_PREV, time_ms=1_795_000_000_000,
        record_type="document.check", site="AZ-BIL", registry=default_registry(),
        body={"line": 1, "doc_format": "TD3", "doc_code": "P", "issuing_state": "AZE",
              "nationality": "AZE", "verdict": "clear", "reasons": [],
              "surname": "MAMMADOV", "document_number": "C01234567"},
    )


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_verify_sign1_valid_record_prints_payload(tmp_path, key, capsys) -> None:
    signed = _document_check(key)
    code = main(["audit", "verify-sign1", _write(tmp_path, "r.cbor", signed.raw),
                 "--public-key", key.public_hex])
    captured = capsys.readouterr()
    assert code == 0
    assert '"document.check"' in captured.out
    assert "MAMMADOV" not in captured.out  # concealed: only its digest is signed
    assert "valid" in captured.err


@pytest.mark.parametrize("tagged", [True, False])
def test_verify_sign1_accepts_eddsa_minus_8_and_untagged(tmp_path, key, capsys, tagged) -> None:
    message = sign1(b"\xa1\x01\x02", key, protected_bytes=protected_header(key.kid, -8),
                    tagged=tagged)
    code = main(["audit", "verify-sign1", _write(tmp_path, "m.cbor", message),
                 "--public-key", key.public_hex])
    assert code == 0
    assert "{1: 2}" in capsys.readouterr().out.replace("1:2", "1: 2")


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda raw, other: raw[:-3], "Sign1DecodeError"),
        (lambda raw, other: b"\xd3" + raw[1:], "Sign1DecodeError"),  # tag 19, not 18
        (lambda raw, other: raw[:-1] + bytes([raw[-1] ^ 1]), "SignatureError"),
        (lambda raw, other: sign1(cbor2.loads(raw).value[2], other,
                                  protected_bytes=protected_header(other.kid)), "SignatureError"),
        (lambda raw, other: sign1(b"x", other,
                                  protected_bytes=cbor2.dumps({1: -7, 4: other.kid})),
         "AlgorithmError"),
        (lambda raw, other: sign1(b"x", other, protected_bytes=cbor2.dumps({4: other.kid})),
         "AlgorithmError"),
    ],
    ids=["truncated", "wrong-tag", "altered-signature", "other-key", "es256-alg", "no-alg"],
)
def test_verify_sign1_refuses_with_the_precise_reason(tmp_path, key, capsys, mutate, reason) -> None:
    other = SigningKey.generate()
    data = mutate(_document_check(key).raw, other)
    code = main(["audit", "verify-sign1", _write(tmp_path, "bad.cbor", data),
                 "--public-key", key.public_hex])
    assert code == 1
    assert reason in capsys.readouterr().err


def test_verify_sign1_bad_key_is_a_usage_error(tmp_path, key, capsys) -> None:
    code = main(["audit", "verify-sign1", _write(tmp_path, "r.cbor", b"\xd2"),
                 "--public-key", "abcd"])
    assert code == 2
    assert "32 bytes" in capsys.readouterr().err


def test_inspect_shows_fields_disclosures_and_signature(tmp_path, key, capsys) -> None:
    signed = _document_check(key)
    surname = next(d for d in signed.disclosures if d.field == "surname")
    path = _write(tmp_path, "e.cbor", encode_envelope(signed.raw, [surname.raw]))
    code = main(["audit", "inspect", path, "--public-key", key.public_hex])
    out = capsys.readouterr().out
    assert code == 0
    assert "az-bil-dr-01" in out and "genesis" in out
    assert "surname: 'MAMMADOV'  (matches a signed digest)" in out
    assert "C01234567" not in out
    assert "6 digests" in out
    assert "verifies with key id" in out


def test_inspect_reports_a_forged_disclosure(tmp_path, key, capsys) -> None:
    from borderlink.proto.disclosure import make_disclosure

    signed = _document_check(key)
    forged = make_disclosure("surname", "SOMEONE ELSE")
    path = _write(tmp_path, "e.cbor", encode_envelope(signed.raw, [forged.raw]))
    assert main(["audit", "inspect", path]) == 1
    assert "DISCLOSURE CHECK FAILED" in capsys.readouterr().out


def test_inspect_wrong_key_fails(tmp_path, key, capsys) -> None:
    path = _write(tmp_path, "r.cbor", _document_check(key).raw)
    assert main(["audit", "inspect", path, "--public-key", SigningKey.generate().public_hex]) == 1
    assert "DOES NOT VERIFY" in capsys.readouterr().out
