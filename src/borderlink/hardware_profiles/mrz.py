"""ICAO Doc 9303 machine readable zones: check digits and builders (the device/document side).

Parsing and judging MRZs is the processors' job (issue 6); this module makes them, for the
reader emulator and the simulator, and exposes :func:`check_digit` (9303 Part 3 §4.9:
weights 7, 3, 1; ``<`` = 0, ``A`` = 10 … ``Z`` = 35).
"""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass

__all__ = ["FORMATS", "MrzDocument", "build_mrz", "check_digit", "transliterate"]

#: Format -> (lines, characters per line).
FORMATS = {"TD1": (3, 30), "TD2": (2, 36), "TD3": (2, 44), "MRVA": (2, 44), "MRVB": (2, 36)}

_VALUES = {c: i for i, c in enumerate("0123456789")} | {
    c: i + 10 for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")} | {"<": 0}


def check_digit(field: str) -> str:
    """The ICAO 9303 check digit of *field* (characters ``0-9 A-Z <``)."""
    total = 0
    for i, char in enumerate(field):
        try:
            total += _VALUES[char] * (7, 3, 1)[i % 3]
        except KeyError:
            raise ValueError(f"character {char!r} is not allowed in an MRZ") from None
    return str(total % 10)


# ICAO 9303 Part 3 §6 (Table: transliteration of multinational Latin characters), abridged,
# plus Azerbaijani letters as Azerbaijan's passports write them in the MRZ.
_TRANSLIT = {
    "Ə": "A", "Ä": "AE", "Å": "AA", "Æ": "AE", "Ç": "C", "Ğ": "G", "İ": "I", "I": "I", "Ö": "OE",
    "Ø": "OE", "Ş": "S", "ß": "SS", "Ü": "UE", "Þ": "TH", "Ñ": "N", "Ł": "L", "Đ": "D", "Œ": "OE",
}


def transliterate(name: str) -> str:
    """Upper-case *name* into MRZ characters (ICAO 9303 transliteration; others stripped)."""
    out = []
    for char in name.upper():
        if char in _TRANSLIT:
            out.append(_TRANSLIT[char])
            continue
        base = unicodedata.normalize("NFKD", char)[0]
        if "A" <= base <= "Z" or "0" <= base <= "9":
            out.append(base)
        elif base in " -'":
            out.append("<")
    return "".join(out)


@dataclass(frozen=True)
class MrzDocument:
    """The data printed in an MRZ. Dates are ``YYMMDD``; names already in MRZ characters."""

    doc_format: str  # TD1 TD2 TD3 MRVA MRVB
    doc_code: str  # "P", "PD", "I", "ID", "V" …
    issuing_state: str
    surname: str
    given_names: str
    number: str
    nationality: str
    birth_date: str
    sex: str  # M F <
    expiry_date: str
    optional: str = ""
    optional2: str = ""  # TD1 line 2 optional data


def _pad(text: str, width: int) -> str:
    text = text.replace(" ", "<")
    return (text + "<" * width)[:width]


def _name(doc: MrzDocument, width: int) -> str:
    given = doc.given_names.replace(" ", "<")
    return _pad(f"{doc.surname.replace(' ', '<')}<<{given}", width)


def build_mrz(doc: MrzDocument) -> tuple[str, ...]:
    """The MRZ lines of *doc* with every check digit right (ICAO 9303 Parts 4–7)."""
    fmt = doc.doc_format
    number = _pad(doc.number, 9)
    number_cd = check_digit(number)
    if len(doc.number) > 9:
        if fmt not in ("TD1", "TD2"):
            raise ValueError(f"{fmt} has no room for a document number of {len(doc.number)}")
        # 9303 Part 5/6 note j: the check-digit position holds "<"; the rest of the number,
        # its check digit (over the whole number) and a filler open the optional data.
        number_cd = "<"
        overflow = doc.number[9:] + check_digit(doc.number.replace(" ", "<")) + "<"
        doc = dataclasses.replace(doc, optional=overflow + doc.optional)
    birth_cd = check_digit(doc.birth_date)
    expiry_cd = check_digit(doc.expiry_date)
    code = _pad(doc.doc_code, 2)
    if fmt == "TD3":
        l1 = code + doc.issuing_state + _name(doc, 39)
        personal = _pad(doc.optional, 14)
        personal_cd = check_digit(personal) if doc.optional.strip("<") else "<"
        body = number + number_cd + doc.nationality + doc.birth_date + birth_cd + doc.sex + \
            doc.expiry_date + expiry_cd + personal + personal_cd
        composite = check_digit(number + number_cd + doc.birth_date + birth_cd + doc.expiry_date
                                + expiry_cd + personal + personal_cd)
        return l1, body + composite
    if fmt == "TD2":
        l1 = code + doc.issuing_state + _name(doc, 31)
        optional = _pad(doc.optional, 7)
        body = number + number_cd + doc.nationality + doc.birth_date + birth_cd + doc.sex + \
            doc.expiry_date + expiry_cd + optional
        composite = check_digit(number + number_cd + doc.birth_date + birth_cd + doc.expiry_date
                                + expiry_cd + optional)
        return l1, body + composite
    if fmt == "TD1":
        opt1 = _pad(doc.optional, 15)
        l1 = code + doc.issuing_state + number + number_cd + opt1
        opt2 = _pad(doc.optional2, 11)
        l2 = doc.birth_date + birth_cd + doc.sex + doc.expiry_date + expiry_cd + doc.nationality + opt2
        composite = check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
        return l1, l2 + composite, _name(doc, 30)
    if fmt in ("MRVA", "MRVB"):
        width = 44 if fmt == "MRVA" else 36
        l1 = _pad(doc.doc_code or "V", 2) + doc.issuing_state + _name(doc, width - 5)
        body = number + number_cd + doc.nationality + doc.birth_date + birth_cd + doc.sex + \
            doc.expiry_date + expiry_cd
        return l1, _pad(body + doc.optional, width)
    raise ValueError(f"unknown MRZ format {fmt!r}; known: {sorted(FORMATS)}")
