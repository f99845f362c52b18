"""The published negative test vectors (docs/record-contract.md §8) say what the code does.

Other-language verifiers test their strictness against ``docs/examples/negative-vectors.json``;
these tests keep that file, the document's table and the reference verifier in agreement, on
both verification paths (the C fast path and the pure-Python reference).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from borderlink.proto import cose, record, record_types
from borderlink.proto import errors as proto_errors
from borderlink.proto.cose import open_sign1
from borderlink.proto.disclosure import DisclosureMismatchError
from borderlink.proto.record import NonDeterministicEncodingError, PayloadError, verify_record
from borderlink.proto.record_types import default_registry

DOCS = Path(__file__).resolve().parents[2] / "docs"
VECTORS_FILE = DOCS / "examples" / "negative-vectors.json"

ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls for cls in (
        cose.SignatureError, cose.KeyIdMismatchError, cose.AlgorithmError, cose.Sign1DecodeError,
        NonDeterministicEncodingError, PayloadError, DisclosureMismatchError,
    )
}


def _generator() -> Any:
    path = DOCS / "examples" / "make_negative_vectors.py"
    spec = importlib.util.spec_from_file_location("make_negative_vectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text())["vectors"]


def test_the_published_file_is_what_the_generator_makes() -> None:
    assert VECTORS_FILE.read_text() == _generator().render()


def test_the_contract_lists_every_vector_with_its_verdict() -> None:
    text = (DOCS / "record-contract.md").read_text()
    for v in VECTORS:
        assert f"| `{v['name']}` | {v['expect']} |" in text, v["name"]


def test_the_vectors_cover_the_strictness_rules() -> None:
    names = {v["name"] for v in VECTORS}
    # non-deterministic encoding, wrong kid, wrong alg: what the issue asks other verifiers to check
    assert {"nonshortest-int", "unsorted-keys", "wrong-kid", "alg-es256", "alg-unprotected"} <= names
    assert sum(v["expect"] == "reject" for v in VECTORS) >= 20


def _verify(v: dict[str, Any]) -> None:
    verify_record(
        bytes.fromhex(v["record"]), bytes.fromhex(v["public_key"]), registry=default_registry(),
        disclosures=[bytes.fromhex(d) for d in v.get("disclosures", [])],
    )


@pytest.mark.parametrize("path", ["native", "reference"])
@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_reference_verifier_gives_the_published_verdict(
    v: dict[str, Any], path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "reference":
        for module in (cose, record, record_types):
            monkeypatch.setattr(module, "_native", None)
    elif cose._native is None:
        pytest.fail("the C extension borderlink.proto._native is not built")
    if v["expect"] == "accept":
        _verify(v)
        return
    with pytest.raises(proto_errors.BorderlinkError) as caught:
        _verify(v)
    assert type(caught.value) is ERRORS[v["error"]], (v["name"], caught.value)


@pytest.mark.parametrize(
    "v", [v for v in VECTORS if v["rule"].startswith(("§2", "§3")) and v["expect"] == "reject"],
    ids=lambda v: v["name"],
)
def test_payload_and_disclosure_vectors_carry_a_valid_signature(v: dict[str, Any]) -> None:
    """So a verifier that checks only the signature accepts them: they test strictness."""
    open_sign1(bytes.fromhex(v["record"]), bytes.fromhex(v["public_key"]))
