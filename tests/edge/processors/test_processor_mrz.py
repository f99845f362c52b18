"""ICAO Doc 9303 MRZ parsing: published specimens, check digits, altered fields, properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderlink.edge.errors import MrzFormatError
from borderlink.edge.processors.mrz import (
    birth_century,
    check_digit,
    expiry_century,
    parse_mrz,
)
from borderlink.hardware_profiles.mrz import MrzDocument, build_mrz
from borderlink.hardware_profiles.mrz import check_digit as device_check_digit

TODAY = dt.date(2026, 11, 27)

# Published specimens. Each row: source, lines, expected fields.
#   ICAO Doc 9303 (7th ed. 2015 / 8th ed. 2021): Part 4 Appendix A (TD3 MRP specimen),
#   Part 5 Appendix A (TD1 specimen), Part 6 Appendix A (TD2 specimen), Part 7 Appendix A
#   (MRV-A and MRV-B specimens); the 1969 TD3 specimen is the one of Doc 9303 Part 1 (6th ed.
#   2006, Appendix 6 to Section IV). The German specimens (Erika Mustermann) are the ones the
#   German Federal Ministry of the Interior publishes for its eID card (2010) and ePassport;
#   they show the special issuing-state code "D<<". The Dutch specimen (Willeke Liselotte
#   de Bruijn, document number SPECI2014) is the Netherlands government's published specimen;
#   it shows a compound primary identifier.
SPECIMENS = [
    (
        "9303 Part 4 App. A (TD3)",
        ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
         "L898902C36UTO7408122F1204159ZE184226B<<<<<10"),
        {"doc_format": "TD3", "doc_code": "P", "issuing_state": "UTO", "surname": "ERIKSSON",
             "given_names": "ANNA MARIA", "document_number": "L898902C3", "nationality": "UTO",
             "birth_date": dt.date(1974, 8, 12), "sex": "F", "expiry_date": dt.date(2012, 4, 15),
             "optional_data": "ZE184226B"},
        {"document_number", "birth_date", "expiry_date", "personal_number", "composite"},
    ),
    (
        "9303 Part 1 6th ed. (TD3, 1969 specimen)",
        ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
         "L898902C<3UTO6908061F9406236ZE184226B<<<<<14"),
        {"doc_format": "TD3", "doc_code": "P", "issuing_state": "UTO", "surname": "ERIKSSON",
             "given_names": "ANNA MARIA", "document_number": "L898902C", "nationality": "UTO",
             "birth_date": dt.date(1969, 8, 6), "sex": "F", "expiry_date": dt.date(1994, 6, 23),
             "optional_data": "ZE184226B"},
        {"document_number", "birth_date", "expiry_date", "personal_number", "composite"},
    ),
    (
        "9303 Part 5 App. A (TD1)",
        ("I<UTOD231458907<<<<<<<<<<<<<<<",
         "7408122F1204159UTO<<<<<<<<<<<6",
         "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"),
        {"doc_format": "TD1", "doc_code": "I", "issuing_state": "UTO", "surname": "ERIKSSON",
             "given_names": "ANNA MARIA", "document_number": "D23145890", "nationality": "UTO",
             "birth_date": dt.date(1974, 8, 12), "sex": "F", "expiry_date": dt.date(2012, 4, 15),
             "optional_data": ""},
        {"document_number", "birth_date", "expiry_date", "composite"},
    ),
    (
        "9303 Part 6 App. A (TD2)",
        ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
         "D231458907UTO7408122F1204159<<<<<<<6"),
        {"doc_format": "TD2", "doc_code": "I", "issuing_state": "UTO", "surname": "ERIKSSON",
             "given_names": "ANNA MARIA", "document_number": "D23145890", "nationality": "UTO",
             "birth_date": dt.date(1974, 8, 12), "sex": "F", "expiry_date": dt.date(2012, 4, 15),
             "optional_data": ""},
        {"document_number", "birth_date", "expiry_date", "composite"},
    ),
    (
        "9303 Part 7 App. A (MRV-A)",
        ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
         "L8988901C4XXX4009078F96121096ZE184226B<<<<<<"),
        {"doc_format": "MRVA", "doc_code": "V", "issuing_state": "UTO", "surname": "ERIKSSON",
             "given_names": "ANNA MARIA", "document_number": "L8988901C", "nationality": "XXX",
             "birth_date": dt.date(1940, 9, 7), "sex": "F", "expiry_date": dt.date(1996, 12, 10),
             "optional_data": "6ZE184226B"},
        {"document_number", "birth_date", "expiry_date"},
    ),
    (
        "9303 Part 7 App. A (MRV-B)",
        ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
         "L8988901C4XXX4009078F9612109<<<<<<<<"),
        {"doc_format": "MRVB", "doc_code": "V", "issuing_state": "UTO", "surname": "ERIKSSON",
             "given_names": "ANNA MARIA", "document_number": "L8988901C", "nationality": "XXX",
             "birth_date": dt.date(1940, 9, 7), "sex": "F", "expiry_date": dt.date(1996, 12, 10),
             "optional_data": ""},
        {"document_number", "birth_date", "expiry_date"},
    ),
    (
        "Dutch passport specimen (Rijksoverheid, 2014)",
        ("P<NLDDE<BRUIJN<<WILLEKE<LISELOTTE<<<<<<<<<<<",
         "SPECI20142NLD6503101F2403096999999990<<<<<84"),
        {"doc_format": "TD3", "doc_code": "P", "issuing_state": "NLD", "surname": "DE BRUIJN",
         "given_names": "WILLEKE LISELOTTE", "document_number": "SPECI2014",
         "nationality": "NLD", "birth_date": dt.date(1965, 3, 10), "sex": "F",
         "expiry_date": dt.date(2024, 3, 9), "optional_data": "999999990"},
        {"document_number", "birth_date", "expiry_date", "personal_number", "composite"},
    ),
    (
        "German eID card specimen (BMI, 2010)",
        ("IDD<<T220001293<<<<<<<<<<<<<<<",
         "6408125<2010315D<<<<<<<<<<<<<4",
         "MUSTERMANN<<ERIKA<<<<<<<<<<<<<"),
        {"doc_format": "TD1", "doc_code": "ID", "issuing_state": "D", "surname": "MUSTERMANN",
             "given_names": "ERIKA", "document_number": "T22000129", "nationality": "D",
             "birth_date": dt.date(1964, 8, 12), "sex": "<", "expiry_date": dt.date(2020, 10, 31)},
        {"document_number", "birth_date", "expiry_date", "composite"},
    ),
    (
        "German ePassport specimen (BMI)",
        ("P<D<<MUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<",
         "C01X00T478D<<6408125F2702283<<<<<<<<<<<<<<<4"),
        {"doc_format": "TD3", "doc_code": "P", "issuing_state": "D", "surname": "MUSTERMANN",
             "given_names": "ERIKA", "document_number": "C01X00T47", "nationality": "D",
             "birth_date": dt.date(1964, 8, 12), "sex": "F", "expiry_date": dt.date(2027, 2, 28),
             "optional_data": ""},
        {"document_number", "birth_date", "expiry_date", "composite"},
    ),
]


@pytest.mark.parametrize("source,lines,expected,check_names", SPECIMENS,
                         ids=[row[0] for row in SPECIMENS])
def test_specimen_fields_and_check_digits(source, lines, expected, check_names):
    mrz = parse_mrz(lines, TODAY)
    for name, value in expected.items():
        assert getattr(mrz, name) == value, (source, name)
    assert set(mrz.checks) == check_names
    assert mrz.checks_ok, mrz.checks
    assert mrz.problems == ()
    assert not mrz.name_truncated


def test_check_digit_published_examples():
    # Doc 9303 Part 3 §4.9 worked example: date 520727 -> 3; and the specimens' fields.
    assert check_digit("520727") == "3"
    assert check_digit("L898902C3") == "6"
    assert check_digit("D23145890") == "7"
    assert check_digit("AB2134<<<") == "5"
    with pytest.raises(MrzFormatError):
        check_digit("ab")


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<", max_size=40))
def test_check_digit_agrees_with_the_device_side(text):
    assert check_digit(text) == device_check_digit(text)


# Every check-digit position of each format, and the check(s) a wrong digit there breaks.
CD_POSITIONS = {
    "TD3": [(1, 9, {"document_number", "composite"}), (1, 19, {"birth_date", "composite"}),
            (1, 27, {"expiry_date", "composite"}), (1, 42, {"personal_number", "composite"}),
            (1, 43, {"composite"})],
    "TD1": [(0, 14, {"document_number", "composite"}), (1, 6, {"birth_date", "composite"}),
            (1, 14, {"expiry_date", "composite"}), (1, 29, {"composite"})],
    "TD2": [(1, 9, {"document_number", "composite"}), (1, 19, {"birth_date", "composite"}),
            (1, 27, {"expiry_date", "composite"}), (1, 35, {"composite"})],
    "MRVA": [(1, 9, {"document_number"}), (1, 19, {"birth_date"}), (1, 27, {"expiry_date"})],
    "MRVB": [(1, 9, {"document_number"}), (1, 19, {"birth_date"}), (1, 27, {"expiry_date"})],
}
_BY_FORMAT = {row[2]["doc_format"]: row[1] for row in SPECIMENS[::-1]}


def _replace(lines, line, pos, char):
    out = list(lines)
    out[line] = out[line][:pos] + char + out[line][pos + 1:]
    return tuple(out)


@pytest.mark.parametrize("fmt,line,pos,broken", [
    (fmt, line, pos, broken) for fmt, rows in CD_POSITIONS.items() for line, pos, broken in rows])
def test_every_wrong_check_digit_is_caught(fmt, line, pos, broken):
    lines = _BY_FORMAT[fmt]
    original = lines[line][pos]
    wrong = str((int(original) + 3) % 10)
    mrz = parse_mrz(_replace(lines, line, pos, wrong), TODAY)
    failed = {name for name, ok in mrz.checks.items() if not ok}
    assert failed == broken


@pytest.mark.parametrize("fmt,line,pos,broken", [
    ("TD3", 1, 3, {"document_number", "composite"}),   # document number digit
    ("TD3", 1, 15, {"birth_date", "composite"}),       # birth month
    ("TD3", 1, 23, {"expiry_date", "composite"}),      # expiry month
    ("TD3", 1, 30, {"personal_number", "composite"}),  # personal number
    ("TD1", 0, 6, {"document_number", "composite"}),
    ("TD1", 1, 3, {"birth_date", "composite"}),
    ("TD1", 1, 20, {"composite"}),                     # line-2 optional data: composite only
    ("TD2", 1, 2, {"document_number", "composite"}),
    ("TD2", 1, 30, {"composite"}),                     # optional data: composite only
    ("MRVA", 1, 24, {"expiry_date"}),
    ("MRVB", 1, 16, {"birth_date"}),
])
def test_altered_fields_break_their_checks(fmt, line, pos, broken):
    lines = _BY_FORMAT[fmt]
    original = lines[line][pos]
    altered = "7" if original != "7" else "8"
    mrz = parse_mrz(_replace(lines, line, pos, altered), TODAY)
    assert {name for name, ok in mrz.checks.items() if not ok} == broken


def test_altered_name_is_not_check_digit_protected():
    lines = _replace(_BY_FORMAT["TD3"], 0, 6, "X")  # ERIKSSON -> EXIKSSON
    mrz = parse_mrz(lines, TODAY)
    assert mrz.surname == "EXIKSSON" and mrz.checks_ok


def test_personal_number_filler_check_digit_may_be_zero_or_filler():
    base = "L898902C36UTO7408122F1204159<<<<<<<<<<<<<<"
    for cd in "<0":
        body = base + cd
        line2 = body + check_digit(body[0:10] + body[13:20] + body[21:43])
        mrz = parse_mrz(("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", line2), TODAY)
        assert "personal_number" not in mrz.checks and mrz.checks_ok
    body = base + "3"
    line2 = body + check_digit(body[0:10] + body[13:20] + body[21:43])
    mrz = parse_mrz(("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", line2), TODAY)
    assert mrz.checks["personal_number"] is False


@pytest.mark.parametrize("fmt", ["TD1", "TD2"])
def test_long_document_number_continues_in_optional_data(fmt):
    number = "D23145890123"  # 12 characters (9303 Part 5/6, note j)
    cd = check_digit(number)
    if fmt == "TD1":
        l1 = ("I<UTO" + number[:9] + "<" + number[9:] + cd + "<" * 30)[:30]
        l2 = "7408122F1204159UTO<<<<<<<<<<<"
        l2 += check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
        lines = (l1, l2, "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
    else:
        body = (number[:9] + "<" + "UTO7408122F1204159" + number[9:] + cd + "<" * 8)[:35]
        lines = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
                 body + check_digit(body[0:10] + body[13:20] + body[21:35]))
    mrz = parse_mrz(lines, TODAY)
    assert mrz.document_number == number
    assert mrz.checks_ok, mrz.checks
    assert mrz.optional_data == ""


def test_truncated_names_and_name_components():
    doc = MrzDocument("TD3", "P", "AZE", "VAN DER STEEN HOVENWILLIAMSON", "ALEXANDRA MARIA ELIZA",
                      "C12345678", "AZE", "900101", "F", "300101")
    mrz = parse_mrz(build_mrz(doc), TODAY)
    assert mrz.name_truncated
    assert mrz.surname == "VAN DER STEEN HOVENWILLIAMSON"
    assert mrz.given_names.startswith("ALEXA")
    only_primary = ("P<AZEMAMMADOV<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<",) + build_mrz(doc)[1:]
    mrz = parse_mrz(only_primary, TODAY)
    assert (mrz.surname, mrz.given_names, mrz.name_truncated) == ("MAMMADOV", "", False)


def test_centuries():
    assert birth_century(30, 1, 1, TODAY) == dt.date(1930, 1, 1)
    assert birth_century(26, 11, 27, TODAY) == dt.date(2026, 11, 27)
    assert birth_century(26, 11, 28, TODAY) == dt.date(1926, 11, 28)
    assert birth_century(0, 2, 29, TODAY) == dt.date(2000, 2, 29)
    assert expiry_century(76, 12, 31, TODAY) == dt.date(2076, 12, 31)
    assert expiry_century(77, 1, 1, TODAY) == dt.date(1977, 1, 1)
    assert expiry_century(12, 4, 15, TODAY) == dt.date(2012, 4, 15)


def test_partial_and_impossible_dates():
    doc = MrzDocument("TD3", "P", "AZE", "ALIYEV", "VUGAR", "C12345678", "AZE", "74<<<<", "M",
                      "301332")
    mrz = parse_mrz(build_mrz(doc), TODAY)
    assert mrz.birth_date is None and mrz.expiry_date is None
    assert "partial_birth_date" in mrz.problems and "bad_expiry_date" in mrz.problems
    assert mrz.checks_ok  # check digits cover the characters, not their sense


@pytest.mark.parametrize("lines,match", [
    (("P<UTOERIKS", "L898902C36"), "no ICAO 9303 format"),
    (("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<1"),
     "differ in length"),
    (("p<utoeriksson<<anna<maria<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"),
     "outside A-Z"),
    (("I<UTOD231458907<<<<<<<<<<<<<<<",) * 4, "no ICAO 9303 format"),
    ((), "no ICAO 9303 format"),
])
def test_format_errors_name_the_problem(lines, match):
    with pytest.raises(MrzFormatError, match=match):
        parse_mrz(lines, TODAY)


_LETTERS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12)


@st.composite
def documents(draw):
    fmt = draw(st.sampled_from(["TD1", "TD2", "TD3", "MRVA", "MRVB"]))
    code = {"TD1": "I", "TD2": "I", "TD3": "P", "MRVA": "V", "MRVB": "V"}[fmt]
    birth = draw(st.dates(dt.date(1927, 1, 1), TODAY))
    expiry = draw(st.dates(dt.date(1990, 1, 1), dt.date(2060, 12, 31)))
    number = draw(st.text(alphabet="0123456789ABCDEFGHJKLMNPRSTUVWXYZ", min_size=6, max_size=9))
    return MrzDocument(
        fmt, code, draw(st.sampled_from(["AZE", "GEO", "IRN", "RUS", "D<<", "XXA", "UTO"])),
        draw(_LETTERS), draw(_LETTERS), number,
        draw(st.sampled_from(["AZE", "TUR", "XXB", "UNO"])), birth.strftime("%y%m%d"),
        draw(st.sampled_from("MF<")), expiry.strftime("%y%m%d"),
        optional=draw(st.text(alphabet="0123456789", max_size=7))), birth, expiry


@settings(max_examples=300, deadline=None)
@given(documents())
def test_round_trip_with_the_device_builder(case):
    doc, birth, expiry = case
    mrz = parse_mrz(build_mrz(doc), TODAY)
    assert mrz.doc_format == doc.doc_format
    assert mrz.checks_ok
    assert mrz.surname == doc.surname and mrz.given_names == doc.given_names
    assert mrz.document_number == doc.number
    assert mrz.issuing_state == doc.issuing_state.rstrip("<")
    assert mrz.birth_date == birth and mrz.expiry_date == expiry


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([(3, 30), (2, 36), (2, 44)]), st.data())
def test_fuzz_parser_never_crashes(shape, data):
    count, width = shape
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
    lines = tuple(data.draw(st.text(alphabet=alphabet, min_size=width, max_size=width))
                  for _ in range(count))
    mrz = parse_mrz(lines, TODAY)  # any content of the right shape parses; checks judge it
    assert set(mrz.checks) >= {"document_number", "birth_date", "expiry_date"}
