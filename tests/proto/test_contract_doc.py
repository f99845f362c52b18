"""The written contract (docs/) shows exactly what the code makes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from borderlink.proto.cddl import registry_cddl
from borderlink.proto.keys import SigningKey, key_id
from borderlink.proto.record import verify_record
from borderlink.proto.record_types import default_registry

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _examples_module():
    spec = importlib.util.spec_from_file_location("make_examples", DOCS / "examples" / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_worked_examples_in_the_document_match_the_code() -> None:
    rendered = _examples_module().render()
    assert rendered.strip() in (DOCS / "record-contract.md").read_text()


def test_worked_examples_verify_with_their_disclosures() -> None:
    module = _examples_module()
    key = SigningKey(module.TEST_SEED)
    registry = default_registry()
    for _, raw, disclosures in module.examples():
        verified = verify_record(raw, key.public, registry=registry, disclosures=disclosures)
        assert verified.known_type
        assert verified.record.kid == key_id(key.public)


def test_body_cddl_is_generated_from_the_registry() -> None:
    written = (DOCS / "record-types.cddl").read_text()
    assert written == registry_cddl(default_registry()), (
        "docs/record-types.cddl is stale: run "
        "`python -m borderlink.proto.cddl > docs/record-types.cddl`"
    )


def test_cddl_generator_runs_as_a_module() -> None:
    done = subprocess.run([sys.executable, "-m", "borderlink.proto.cddl"],
                          capture_output=True, text=True, check=True)
    assert "document-check-body = {" in done.stdout
    assert '"surname"' not in done.stdout.split("document-check-body = {")[1].split("}")[0]
