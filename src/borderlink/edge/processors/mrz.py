"""ICAO Doc 9303 machine readable zones, parsed and checked (the host side; pure code).

Formats (Doc 9303, 8th edition 2021):

==========  =======  ======================================================  ==============
format      lines    where                                                   composite CD
==========  =======  ======================================================  ==============
``TD1``     3 x 30   Part 5 §4.2 (identity cards)                            yes (line 2)
``TD2``     2 x 36   Part 6 §4.2 (official travel documents)                 yes
``TD3``     2 x 44   Part 4 §4.2 (passports)                                 yes
``MRVA``    2 x 44   Part 7 §4.2 (visas, format A)                           no
``MRVB``    2 x 36   Part 7 §4.2 (visas, format B)                           no
==========  =======  ======================================================  ==============

TD3/MRV-A and TD2/MRV-B share their sizes; a document code starting with ``V`` is a visa.

Check digits (Part 3 §4.9): weights 7, 3, 1 repeating; ``0-9`` their value, ``A-Z`` 10..35,
``<`` 0; the digit is the sum modulo 10. Checked: document number, birth date, expiry date,
the TD3 personal number (Part 4: when that field is all fillers its check digit may be ``<``
or ``0``), and the composite over the upper/middle line fields of TD1, TD2 and TD3.

Long document numbers (TD1, TD2; Part 5 §4.2.2 note j, Part 6 §4.2.2 note j): when the number
is longer than 9 characters, the 9 most significant fill the field, the check-digit position
holds ``<`` and the rest of the number, then its check digit and a filler, start the optional
data field. The check digit covers the whole number (9303: the 9 characters, then the
overflow). Issuers read the note two ways, and real cards exist of both: the digit over the
number, or over the characters as printed, the ``<`` at the check-digit position included
(``<`` counts 0 but shifts the 7-3-1 weights). Both readings are accepted; ``number_reading``
says which one verified (``field``, ``overflow``, ``overflow_with_filler``). A filler inside a
number (``AB<123``) is part of the field for the check digit and dropped from
``document_number``; inside the overflow, the overflow ends at the first filler whose
preceding character is a check digit that verifies (9303's own reading first: the first
filler), so a number with an inner filler still checks.

Dates are ``YYMMDD``; the century is not in the MRZ (Part 3 §4.8). Birth dates take the
latest century that does not put them after the reading's date; expiry dates the century that
puts them within 50 years either side of it (so ``120415`` is 2012, ``761231`` is 1976
when read in 2026). Unknown birth-date parts are fillers (Part 3 §4.8.2: ``<<`` for an
unknown day or month); such a date parses as partial (``birth_date`` None).

Names (Part 3 §4.6): primary identifier, ``<<``, secondary identifier; components inside
each separated by one ``<``. A name longer than its field is truncated, so the field ends
in a letter instead of a filler: ``name_truncated`` says the field is full (the name may have
been cut; 9303 gives no other mark). Issuing state and nationality are three-letter codes
(ISO 3166-1 alpha-3 or the 9303 Part 3 §5 specials such as ``D<<``, ``UTO``, ``XXA``,
``EUE``, ``UNO``), returned without fillers (``D``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import MrzFormatError

__all__ = [
    "FORMATS",
    "Mrz",
    "birth_century",
    "check_digit",
    "detect_format",
    "expiry_century",
    "parse_mrz",
]

#: format -> (lines, characters per line)
FORMATS: Mapping[str, tuple[int, int]] = {
    "TD1": (3, 30), "TD2": (2, 36), "TD3": (2, 44), "MRVA": (2, 44), "MRVB": (2, 36),
}
_CHARS = re.compile(r"^[A-Z0-9<]*$")
_VALUES = {c: i for i, c in enumerate("0123456789")} | {
    c: i + 10 for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")} | {"<": 0}
_WEIGHTS = (7, 3, 1)
_SEXES = frozenset("MFX<")


def check_digit(text: str) -> str:
    """The Doc 9303 Part 3 §4.9 check digit of *text* (``0-9 A-Z <``) as one character."""
    total = 0
    try:
        for i, char in enumerate(text):
            total += _VALUES[char] * _WEIGHTS[i % 3]
    except KeyError:
        raise MrzFormatError(f"character {char!r} is not allowed in an MRZ") from None
    return str(total % 10)


@dataclass(frozen=True, slots=True)
class Mrz:
    """One parsed MRZ. ``checks`` maps each check digit's name to whether it verified."""

    doc_format: str
    doc_code: str  # e.g. "P", "PD", "I", "ID", "V" (fillers stripped)
    issuing_state: str  # fillers stripped: "D", "UTO", "AZE"
    surname: str  # primary identifier, components joined by spaces
    given_names: str  # secondary identifier, components joined by spaces
    document_number: str  # fillers stripped, long TD1/TD2 numbers joined
    nationality: str
    birth_raw: str  # YYMMDD as printed (may hold "<" for unknown parts)
    birth_date: dt.date | None
    sex: str  # "M", "F", "X" or "<"
    expiry_raw: str
    expiry_date: dt.date | None
    optional_data: str  # TD3: personal number; TD1: line 1 optional data
    optional_data2: str  # TD1 line 2 optional data
    name_truncated: bool
    checks: Mapping[str, bool]
    number_reading: str = "field"  # "field", "overflow", "overflow_with_filler"
    problems: tuple[str, ...] = ()  # structural findings: "bad_birth_date", "bad_sex" …
    lines: tuple[str, ...] = field(default=(), repr=False)

    @property
    def checks_ok(self) -> bool:
        return all(self.checks.values())

    @property
    def is_visa(self) -> bool:
        return self.doc_format in ("MRVA", "MRVB")


def birth_century(yy: int, mm: int, dd: int, today: dt.date) -> dt.date:
    """The latest date ``(19|20)yy-mm-dd`` not after *today* (ValueError if no such date)."""
    century = (today.year // 100) * 100
    candidate = dt.date(century + yy, mm, dd)
    if candidate > today:
        candidate = dt.date(century - 100 + yy, mm, dd)
    return candidate


def expiry_century(yy: int, mm: int, dd: int, today: dt.date) -> dt.date:
    """The date ``ccyy-mm-dd`` within 50 years either side of *today*."""
    century = (today.year // 100) * 100
    year = century + yy
    if year > today.year + 50:
        year -= 100
    elif year < today.year - 50:
        year += 100
    return dt.date(year, mm, dd)


def _strip(text: str) -> str:
    return text.rstrip("<")


def _split_name(field_text: str) -> tuple[str, str, bool]:
    truncated = not field_text.endswith("<")
    text = _strip(field_text)
    primary, sep, secondary = text.partition("<<")
    surname = " ".join(part for part in primary.split("<") if part)
    given = " ".join(part for part in secondary.split("<") if part) if sep else ""
    return surname, given, truncated


def _date(raw: str, today: dt.date, kind: str, problems: list[str]) -> dt.date | None:
    if "<" in raw:
        problems.append(f"partial_{kind}_date")
        return None
    if not raw.isdigit():
        problems.append(f"bad_{kind}_date")
        return None
    yy, mm, dd = int(raw[0:2]), int(raw[2:4]), int(raw[4:6])
    try:
        if kind == "birth":
            return birth_century(yy, mm, dd, today)
        return expiry_century(yy, mm, dd, today)
    except ValueError:
        problems.append(f"bad_{kind}_date")
        return None


def _cd_ok(field_text: str, digit: str) -> bool:
    return check_digit(field_text) == digit


def detect_format(lines: Sequence[str]) -> str:
    """The format name of *lines* by count, length and the visa document code."""
    shape = (len(lines), len(lines[0]) if lines else 0)
    if any(len(line) != shape[1] for line in lines):
        raise MrzFormatError(f"MRZ lines differ in length: {[len(line) for line in lines]}")
    if shape == (3, 30):
        return "TD1"
    if shape == (2, 44):
        return "MRVA" if lines[0][:1] == "V" else "TD3"
    if shape == (2, 36):
        return "MRVB" if lines[0][:1] == "V" else "TD2"
    raise MrzFormatError(
        f"no ICAO 9303 format has {shape[0]} lines of {shape[1]} characters "
        f"(TD1 3x30, TD2/MRV-B 2x36, TD3/MRV-A 2x44)"
    )


def parse_mrz(lines: Sequence[str], today: dt.date) -> Mrz:
    """Parse and check *lines*; *today* (the reading's date) fixes the date centuries.

    Raises :class:`~borderlink.edge.errors.MrzFormatError` when the lines are no 9303 format
    or hold characters outside ``A-Z 0-9 <``; everything else (bad check digits, impossible
    dates, odd sex field) is reported in ``checks`` and ``problems`` for the verdict.
    """
    lines = tuple(lines)
    for line in lines:
        if not _CHARS.match(line):
            bad = sorted(set(re.sub(r"[A-Z0-9<]", "", line)))
            raise MrzFormatError(f"MRZ characters outside A-Z 0-9 <: {bad}")
    fmt = detect_format(lines)
    problems: list[str] = []
    checks: dict[str, bool] = {}
    if fmt == "TD1":
        l1, l2, l3 = lines
        code, state = l1[0:2], l1[2:5]
        number, number_cd, opt1 = l1[5:14], l1[14], l1[15:30]
        birth, birth_cd, sex = l2[0:6], l2[6], l2[7]
        expiry, expiry_cd, nat, opt2 = l2[8:14], l2[14], l2[15:18], l2[18:29]
        number, reading, checks["document_number"], opt1 = _document_number(
            number, number_cd, opt1)
        checks["birth_date"] = _cd_ok(birth, birth_cd)
        checks["expiry_date"] = _cd_ok(expiry, expiry_cd)
        checks["composite"] = _cd_ok(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29])
        surname, given, truncated = _split_name(l3)
        optional, optional2 = _strip(opt1), _strip(opt2)
    else:
        l1, l2 = lines
        width = len(l1)
        code, state = l1[0:2], l1[2:5]
        surname, given, truncated = _split_name(l1[5:width])
        number, number_cd, nat = l2[0:9], l2[9], l2[10:13]
        reading, number_ok = "field", _cd_ok(number, number_cd)
        birth, birth_cd, sex = l2[13:19], l2[19], l2[20]
        expiry, expiry_cd = l2[21:27], l2[27]
        optional2 = ""
        if fmt == "TD3":
            personal, personal_cd = l2[28:42], l2[42]
            optional = _strip(personal)
            if optional or personal_cd not in ("<", "0"):
                checks["personal_number"] = _cd_ok(personal, personal_cd)
            checks["composite"] = _cd_ok(l2[0:10] + l2[13:20] + l2[21:43], l2[43])
        elif fmt == "TD2":
            opt = l2[28:35]
            number, reading, number_ok, opt = _document_number(number, number_cd, opt)
            optional = _strip(opt)
            checks["composite"] = _cd_ok(l2[0:10] + l2[13:20] + l2[21:35], l2[35])
        else:  # MRV-A / MRV-B: no composite, optional data not check-digit protected
            optional = _strip(l2[28:width])
        checks = {
            "document_number": number_ok,
            "birth_date": _cd_ok(birth, birth_cd),
            "expiry_date": _cd_ok(expiry, expiry_cd),
            **checks,
        }
    if sex not in _SEXES:
        problems.append("bad_sex")
    if not surname:
        problems.append("no_primary_identifier")
    birth_date = _date(birth, today, "birth", problems)
    expiry_date = _date(expiry, today, "expiry", problems)
    return Mrz(
        doc_format=fmt,
        doc_code=_strip(code),
        issuing_state=_strip(state),
        surname=surname,
        given_names=given,
        document_number=number.replace("<", ""),
        nationality=_strip(nat),
        birth_raw=birth,
        birth_date=birth_date,
        sex=sex,
        expiry_raw=expiry,
        expiry_date=expiry_date,
        optional_data=optional,
        optional_data2=optional2,
        name_truncated=truncated,
        checks=checks,
        number_reading=reading,
        problems=tuple(problems),
        lines=lines,
    )


def _document_number(number: str, number_cd: str,
                     optional: str) -> tuple[str, str, bool, str]:
    """(number, reading, check passed, optional data left) of a TD1/TD2 number field.

    A check-digit position holding ``<`` before optional data that does not start with a
    filler is a long number (see the module docstring). Overflow ends are tried shortest
    first, each under both readings; the first that verifies wins. None verifying: the
    9303 reading (overflow up to the first filler) is reported as failed.
    """
    if number_cd != "<" or optional[:1] in ("<", ""):
        return number, "field", _cd_ok(number, number_cd), optional
    first: tuple[str, str, bool, str] | None = None
    for end in _overflow_ends(optional):
        # rest: the holder's optional data, after the filler that closes the number
        extension, digit, rest = optional[:end - 1], optional[end - 1], optional[end + 1:]
        for reading, text in (("overflow", number + extension),
                              ("overflow_with_filler", number + "<" + extension)):
            if _cd_ok(text, digit):
                return number + extension, reading, True, rest
        if first is None:
            first = (number + extension, "overflow", False, rest)
    if first is None:  # no digit where the overflow's check digit must be
        end = optional.find("<")
        extension = optional if end < 0 else optional[:end]
        return number + extension, "overflow", False, optional[len(extension):]
    return first


def _overflow_ends(optional: str) -> list[int]:
    """Where a number's overflow may end: after a digit that follows a non-filler and is
    itself followed by a filler or the field's end (the first such end is 9303's)."""
    ends = []
    for end in range(2, len(optional) + 1):
        if "<<" in optional[:end]:
            break  # a double filler ends the number: inner fillers come one at a time
        if (optional[end - 1].isdigit() and optional[end - 2] != "<"
                and (end == len(optional) or optional[end] == "<")):
            ends.append(end)
    return ends
