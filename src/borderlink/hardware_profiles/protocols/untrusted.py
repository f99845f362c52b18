"""Guards every file parser shares: untrusted XML without DTDs, numbers that must be finite.

XML: a byte search for ``<!DOCTYPE`` misses a document written in UTF-16 (with or without a
byte order mark) or any other encoding the XML declaration names. So the document is first run
through expat, which detects the encoding as the XML specification says (BOM, the first bytes,
the declaration) and reports a document type declaration or an entity declaration as an event:
the first one stops the parse and the document is refused. Only then is the tree built.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from xml.parsers import expat

from ..errors import FrameDecodeError, ImplausibleValueError, UnsafeDocumentError

__all__ = ["MAX_MAGNITUDE", "check_finite", "parse_untrusted_xml"]

#: No device this project reads reports a number beyond this (counts, intensities, seconds).
MAX_MAGNITUDE = 1e15


class _Declared(Exception):
    pass


def _refuse(*_: object) -> int:
    raise _Declared


def parse_untrusted_xml(data: bytes, what: str, *, max_bytes: int,
                        refused: type[Exception] = UnsafeDocumentError,
                        malformed: type[Exception] = FrameDecodeError) -> ET.Element:
    """The root element of *data*, refusing DTDs, entities and documents over *max_bytes*.

    *refused* is raised for a DTD/entity or an oversized document, *malformed* for XML that
    is not well formed; callers pass their own error types.
    """
    if len(data) > max_bytes:
        raise refused(f"{what}: document of {len(data)} bytes exceeds the {max_bytes}-byte limit")
    scan = expat.ParserCreate()
    scan.StartDoctypeDeclHandler = _refuse
    scan.EntityDeclHandler = _refuse
    scan.UnparsedEntityDeclHandler = _refuse
    scan.ExternalEntityRefHandler = _refuse
    try:
        scan.Parse(data, True)
    except _Declared:
        raise refused(f"{what}: document declares a DTD or entities (refused)") from None
    except (expat.ExpatError, ValueError, LookupError) as exc:  # incl. unsupported encodings
        raise malformed(f"{what}: not well-formed XML: {exc}") from exc
    try:
        return ET.fromstring(data)
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise malformed(f"{what}: not well-formed XML: {exc}") from exc


def check_finite(value: float, what: str, *, low: float = -MAX_MAGNITUDE,
                 high: float = MAX_MAGNITUDE,
                 error: type[Exception] = ImplausibleValueError) -> float:
    """*value* if it is a finite number in ``[low, high]``, else *error* naming *what*."""
    if not math.isfinite(value) or not low <= value <= high:
        raise error(f"{what}: {value!r} is not a plausible value (expected {low:g}..{high:g})")
    return value
