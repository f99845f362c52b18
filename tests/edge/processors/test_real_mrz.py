"""Published specimen MRZs through the parser and the document processor (issue 14).

Real: specimens and 9303 examples in tests/data/real/mrz (cited there). Derived: MRZs built
from the 9303 rules where no published card of that kind was found (marked below).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from borderlink.edge.processors.document import DocumentConfig, DocumentProcessor
from borderlink.edge.processors.mrz import check_digit, parse_mrz
from borderlink.hardware_profiles.mrz import MrzDocument, build_mrz
from borderlink.hardware_profiles.readings import MrzRead

_DATA = json.loads((Path(__file__).parents[2] / "data/real/mrz/specimens.json").read_text())
TODAY = dt.date.fromisoformat(_DATA["today"])
_T = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC).timestamp()
_COUNTRIES = {c: "iso3166" for c in ("UTO", "BEL", "LVA", "LIE", "MCO", "AZE")}


def _processor() -> DocumentProcessor:
    return DocumentProcessor(DocumentConfig(), _COUNTRIES)


def _read(lines) -> MrzRead:
    return MrzRead(t=_T, lines=tuple(lines), uv_ok=True, ir_ok=True, reader_id="r1")


@pytest.mark.parametrize("card", _DATA["cards"], ids=[c["id"] for c in _DATA["cards"]])
def test_published_specimens_check_and_keep_their_number(card):
    mrz = parse_mrz(card["lines"], TODAY)
    assert mrz.checks_ok, mrz.checks
    assert mrz.document_number == card["document_number"]
    assert mrz.number_reading == card["reading"]
    decision = _processor().decide(_read(card["lines"]))
    assert not any(r.startswith("check_digit") for r in decision.body["reasons"])


def _td1_long(number: str, *, with_filler: bool, optional: str = "") -> tuple[str, ...]:
    """DERIVED: a TD1 with an overflowing number, its check digit under either reading."""
    head, tail = number[:9], number[9:]
    cd = check_digit(head + "<" + tail if with_filler else number)
    l1 = ("I<UTO" + head + "<" + tail + cd + "<" + optional + "<" * 30)[:30]
    l2 = "7408122F320415" + check_digit("320415") + "UTO<<<<<<<<<<<"
    l2 += check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
    return l1, l2, "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"


def _td2_long(number: str, *, with_filler: bool) -> tuple[str, ...]:
    """DERIVED: a TD2 with an overflowing number (Part 6 note j)."""
    head, tail = number[:9], number[9:]
    cd = check_digit(head + "<" + tail if with_filler else number)
    body = (head + "<" + "UTO7408122F320415" + check_digit("320415") + tail + cd + "<" * 8)[:35]
    return ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
            body + check_digit(body[0:10] + body[13:20] + body[21:35]))


@pytest.mark.parametrize("with_filler", [False, True], ids=["9303", "filler-in-check"])
@pytest.mark.parametrize("number", ["D23145890734", "5901234567", "AB<1234567", "000590448015"])
def test_derived_long_numbers_both_readings_are_clear(number, with_filler):
    for lines in (_td1_long(number, with_filler=with_filler),
                  _td2_long(number, with_filler=with_filler)):
        mrz = parse_mrz(lines, TODAY)
        assert mrz.checks_ok, (lines, mrz.checks)
        assert mrz.document_number == number.replace("<", "")
        same = check_digit(number) == check_digit(number[:9] + "<" + number[9:])
        expected = "overflow_with_filler" if with_filler and not same else "overflow"
        assert mrz.number_reading == expected  # 9303's reading first when both verify
        decision = _processor().decide(_read(lines))
        assert decision.body["verdict"] == "clear", decision.body["reasons"]


def test_derived_filler_inside_the_overflow():
    number = "D23145890" + "7<34"  # a filler inside the overflowing part
    lines = _td1_long(number, with_filler=False, optional="ABC")
    mrz = parse_mrz(lines, TODAY)
    assert mrz.checks_ok and mrz.document_number == "D231458907 34".replace(" ", "")
    assert mrz.optional_data == "ABC"


def test_optional_data_after_the_overflow_is_kept():
    lines = _td1_long("D23145890734", with_filler=False, optional="12345")
    mrz = parse_mrz(lines, TODAY)
    assert mrz.checks_ok and mrz.optional_data == "12345"


@pytest.mark.parametrize("position", range(15, 18))
def test_a_corrupted_overflow_is_still_referred(position):
    lines = list(_td1_long("D23145890734", with_filler=False))
    line = lines[0]
    lines[0] = line[:position] + ("8" if line[position] != "8" else "9") + line[position + 1:]
    mrz = parse_mrz(lines, TODAY)
    assert mrz.checks["document_number"] is False
    decision = _processor().decide(_read(lines))
    assert "check_digit:document_number" in decision.body["reasons"]


def test_builder_makes_long_numbers_the_parser_reads():
    for fmt in ("TD1", "TD2"):
        doc = MrzDocument(fmt, "I", "UTO", "ERIKSSON", "ANNA", "D23145890734", "UTO",
                          "740812", "F", "320415", "XY")
        mrz = parse_mrz(build_mrz(doc), TODAY)
        assert mrz.checks_ok and mrz.document_number == "D23145890734"
        assert mrz.optional_data == "XY"
    with pytest.raises(ValueError, match="no room"):
        build_mrz(MrzDocument("TD3", "P", "UTO", "E", "A", "D23145890734", "UTO", "740812",
                              "F", "320415"))
