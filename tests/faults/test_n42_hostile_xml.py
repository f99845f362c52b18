"""Every N42 entry point refuses DTDs, external entities and entity expansion, and only those.

The entry points: the portal monitor's N42 report (``n42.parse_report``), the same report inside
an RPM wire frame (what the agent's RPM driver decodes), and the spectrum file importer
(``n42_spectra.read_spectra``). Each hostile document is a real, good document of that entry
point with one declaration added, so the refusal can only come from the declaration; the good
document itself must still parse. The external entity names a real file holding a marker: it
must never be read (the error names no part of it), and the expansion bomb is refused at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from borderlink.hardware_profiles.errors import UnsafeDocumentError
from borderlink.hardware_profiles.protocols import n42, rpm
from borderlink.hardware_profiles.protocols.n42_spectra import N42ImportError, read_spectra

TESTS = Path(__file__).resolve().parents[1]
REPORT = (TESTS / "fuzz_corpus" / "n42-report" / "seed-2d53bdc4eae7896a").read_bytes()
SPECTRA = (TESTS / "data" / "real" / "n42" / "rase_generic_nai_cs137.n42").read_bytes()
MARKER = "secret-marker-7f3a"


def _rpm_frame(document: bytes) -> list[Any]:
    return rpm.Decoder().decode(rpm._frame(rpm.T_N42, 1, document))


#: name, parser, a good document, the error its refusal raises.
ENTRY_POINTS: list[tuple[str, Callable[[bytes], Any], bytes, type[Exception]]] = [
    ("portal report", n42.parse_report, REPORT, UnsafeDocumentError),
    ("RPM frame", _rpm_frame, REPORT, UnsafeDocumentError),
    ("spectrum import", read_spectra, SPECTRA, N42ImportError),
]

_LAUGHS = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))


def _declarations(secret: Path) -> dict[str, str]:
    return {
        "internal entity": '<!DOCTYPE r [<!ENTITY a "b">]>',
        "external entity": f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]>',
        "external parameter entity": f'<!DOCTYPE r [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>',
        "external DTD": '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">',
        "entity expansion bomb": f'<!DOCTYPE r [<!ENTITY l0 "lol">{_LAUGHS}]>',
        "unparsed entity": f'<!DOCTYPE r [<!NOTATION n SYSTEM "x"><!ENTITY u SYSTEM '
                           f'"file://{secret}" NDATA n>]>',
    }


def _with(declaration: str, good: bytes, codec: str) -> bytes:
    """*good* with *declaration* after its XML declaration, re-encoded as *codec*."""
    text = good.decode("utf-8")
    head = ""
    if text.startswith("<?xml"):
        end = text.index("?>") + 2
        head, text = text[:end], text[end:]
        head = head.replace("UTF-8", codec.upper()).replace("utf-8", codec.upper())
    return (head + declaration + text).encode(codec)


@pytest.mark.parametrize("name,parse,good,refused", ENTRY_POINTS, ids=[e[0] for e in ENTRY_POINTS])
def test_the_good_document_of_every_entry_point_parses(
        name: str, parse: Callable[[bytes], Any], good: bytes, refused: type[Exception]) -> None:
    assert parse(good)


@pytest.mark.parametrize("codec", ["utf-8", "utf-16"])
@pytest.mark.parametrize("kind", list(_declarations(Path("/x"))))
@pytest.mark.parametrize("name,parse,good,refused", ENTRY_POINTS, ids=[e[0] for e in ENTRY_POINTS])
def test_every_entry_point_refuses_every_declaration(
        tmp_path: Path, name: str, parse: Callable[[bytes], Any], good: bytes,
        refused: type[Exception], kind: str, codec: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(MARKER)
    hostile = _with(_declarations(secret)[kind], good, codec)
    began = time.monotonic()
    with pytest.raises(refused, match="DTD or entities") as caught:
        parse(hostile)
    assert time.monotonic() - began < 1.0  # refused before any expansion
    assert MARKER not in str(caught.value)
