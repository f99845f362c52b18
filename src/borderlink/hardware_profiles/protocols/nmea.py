"""NMEA 0183 for patrol radios: $--GGA, $--RMC, $--GLL, $--VTG and the proprietary $PBDLS /
$PBDLE sentences.

Sentences are ``$<body>*<hh>\\r\\n``, ``hh`` the XOR of every byte between ``$`` and ``*`` as two
hex digits (NMEA 0183 v4.11 §5.2.1). Proprietary sentences use the manufacturer mnemonic
``BDL`` (docs/device-protocols.md §4)::

    $PBDLS,<unit>,<hhmmss.ss>,<ddmmyy>,<state>,<battery %>*hh      status, every 60 s
    $PBDLE,<unit>,<hhmmss.ss>,<ddmmyy>,<llll.llll>,<N|S>,<yyyyy.yyyy>,<E|W>*hh   emergency

``state`` is ``OK``, ``EMERG``, ``LOWBAT`` or ``NOFIX``.

Talkers: any two upper-case letters/digits before the sentence type (``GP`` GPS, ``GN``
multi-constellation, ``GL`` GLONASS, ``GA`` Galileo, ``GB``/``BD`` BeiDou, ``GI`` NavIC,
``GQ`` QZSS, ``II`` integrated instrumentation, ``YD`` …): the sentence's content does not
depend on who talks.

Length: NMEA 0183 caps a sentence at 82 characters; high-precision receivers (RTK, 7-8
decimals of arc-minutes, millimetre heights, station ids) exceed it. The limit here is
:data:`MAX_SENTENCE` = 164 bytes (twice the standard, ``$`` to ``\\n``), which every real
receiver log we tried fits (tests/data/real/nmea); longer lines, lines with bytes outside
printable ASCII, and bad checksums are still refused.

Dates: RMC's ``ddmmyy`` has a two-digit year. With a reference date (the caller's
``date_hint``, e.g. the node's clock, or the last decoded date) the century that puts the
date nearest the reference is taken (within ±50 years); without one, the GPS era decides:
``80``-``99`` are 1980-1999 (GPS time starts 1980-01-06), ``00``-``79`` 2000-2079. So
``191194`` is 1994-11-19, never 2094.

Void fixes (RMC/GLL status ``V``, GGA quality 0, mode indicator ``N``) decode to
:class:`FixLoss`, never to a position, whether or not the receiver repeats stale
coordinates. GLL and GGA carry no date: the last date is used (as for GGA). VTG (course and
speed, no time, no position) is kept and given to the next GGA/GLL fix that lacks them;
both the NMEA 2.x+ layout (``T``/``M``/``N``/``K`` unit letters) and the old unlettered one
are read.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from ..errors import FrameDecodeError, UndatedSentenceError
from ..readings import FixLoss, NmeaFix, RadioStatus
from ._framing import DelimitedFramer

__all__ = ["Decoder", "Framer", "checksum", "encode_gga", "encode_rmc", "encode_status", "sentence"]

MAX_SENTENCE = 164  # see the module docstring: 2 x the standard 82
STANDARD_SENTENCE = 82
_ADDRESS = re.compile(r"[A-Z0-9]{2}[A-Z]{3}")  # talker + sentence type
_GPS_ERA_PIVOT = 80  # two-digit years >= this are 19yy when no reference date is known
_STATES = {"OK": "ok", "EMERG": "emergency", "LOWBAT": "low_battery", "NOFIX": "no_fix"}
_STATE_CODES = {v: k for k, v in _STATES.items()}


def checksum(body: str) -> str:
    value = 0
    for char in body.encode("ascii"):
        value ^= char
    return f"{value:02X}"


def sentence(body: str) -> bytes:
    """``$body*hh\\r\\n`` with the checksum."""
    return f"${body}*{checksum(body)}\r\n".encode("ascii")


def _utc(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def _hms(t: float) -> str:
    d = _utc(t)
    return f"{d:%H%M%S}.{d.microsecond // 10000:02d}"


def _dmy(t: float) -> str:
    return f"{_utc(t):%d%m%y}"


def _lat(lat: float) -> tuple[str, str]:
    a = abs(lat)
    deg = int(a)
    return f"{deg:02d}{(a - deg) * 60:07.4f}", "N" if lat >= 0 else "S"


def _lon(lon: float) -> tuple[str, str]:
    a = abs(lon)
    deg = int(a)
    return f"{deg:03d}{(a - deg) * 60:07.4f}", "E" if lon >= 0 else "W"


def encode_gga(fix: NmeaFix, talker: str = "GP") -> bytes:
    lat, ns = _lat(fix.lat)
    lon, ew = _lon(fix.lon)
    quality = fix.fix_quality if fix.fix_quality is not None else (1 if fix.valid else 0)
    sats = f"{fix.sats:02d}" if fix.sats is not None else ""
    hdop = f"{fix.hdop:.1f}" if fix.hdop is not None else ""
    alt = f"{fix.altitude_m:.1f}" if fix.altitude_m is not None else ""
    return sentence(f"{talker}GGA,{_hms(fix.t)},{lat},{ns},{lon},{ew},{quality},{sats},{hdop},"
                    f"{alt},M,-20.0,M,,")


def encode_rmc(fix: NmeaFix, talker: str = "GP") -> bytes:
    lat, ns = _lat(fix.lat)
    lon, ew = _lon(fix.lon)
    speed = f"{fix.speed_kn:.1f}" if fix.speed_kn is not None else ""
    course = f"{fix.course_deg:.1f}" if fix.course_deg is not None else ""
    status = "A" if fix.valid else "V"
    mode = "A" if fix.valid else "N"
    return sentence(f"{talker}RMC,{_hms(fix.t)},{status},{lat},{ns},{lon},{ew},{speed},{course},"
                    f"{_dmy(fix.t)},,,{mode}")


def encode_status(status: RadioStatus) -> bytes:
    if status.emergency:
        if status.lat is None or status.lon is None:
            lat, ns, lon, ew = "", "", "", ""
        else:
            (lat, ns), (lon, ew) = _lat(status.lat), _lon(status.lon)
        return sentence(f"PBDLE,{status.unit_id},{_hms(status.t)},{_dmy(status.t)},{lat},{ns},{lon},{ew}")
    battery = "" if status.battery_pct is None else str(status.battery_pct)
    return sentence(f"PBDLS,{status.unit_id},{_hms(status.t)},{_dmy(status.t)},"
                    f"{_STATE_CODES.get(status.state, 'OK')},{battery}")


class Framer(DelimitedFramer):
    """Delimits ``$…*hh\\r\\n`` sentences; garbage and bad checksums are counted and skipped."""

    starts = (b"$",)
    end = b"\n"

    def __init__(self, max_frame_bytes: int = MAX_SENTENCE) -> None:
        super().__init__(max_frame_bytes)

    def accept(self, frame: bytes) -> bytes | None:
        text = frame.rstrip(b"\r\n")
        if any(b < 0x20 or b > 0x7E for b in text):
            return None  # control or 8-bit bytes: line noise, not a sentence
        star = text.rfind(b"*")
        if star <= 0 or len(text) != star + 3:
            return None
        return text if text[star + 1:].decode("ascii").upper() == \
            checksum(text[1:star].decode("ascii")) else None


def _coord(value: str, hemi: str, degrees: int) -> float:
    """``(d)ddmm.mmmm`` + hemisphere -> signed degrees. The minutes are the two digits before
    the point, whatever the width of the degrees (some receivers drop leading zeros, and
    Unicore's GLL writes ``-0214.4`` for 002°14.4' W: the hemisphere letter gives the sign)."""
    if not value or hemi not in ("N", "S", "E", "W"):
        raise FrameDecodeError(f"NMEA: bad coordinate {value!r} {hemi!r}")
    digits = value[1:] if value[0] in "+-" else value
    point = digits.find(".")
    point = len(digits) if point < 0 else point
    if point < 2 or not digits[:point].isdigit():
        raise FrameDecodeError(f"NMEA: bad coordinate {value!r}")
    deg = int(digits[:point - 2] or "0")
    minutes = float(digits[point - 2:])
    out = deg + minutes / 60.0
    if not (minutes < 60 and math.isfinite(out) and out <= (90 if degrees == 2 else 180)):
        raise FrameDecodeError(f"NMEA: bad coordinate {value!r}")
    return -out if hemi in ("S", "W") else out


def _year(yy: int, reference: dt.date | None) -> int:
    """The four-digit year of a two-digit NMEA year (see the module docstring)."""
    if reference is None:
        return (1900 if yy >= _GPS_ERA_PIVOT else 2000) + yy
    year = (reference.year // 100) * 100 + yy
    if year > reference.year + 50:
        year -= 100
    elif year < reference.year - 50:
        year += 100
    return year


def _time(hms: str, dmy: str | None, date_hint: dt.date | None) -> float:
    try:
        h, m, s = int(hms[0:2]), int(hms[2:4]), float(hms[4:])
        if dmy:
            yy = int(dmy[4:6])
            if len(dmy) != 6 or not dmy.isdigit():
                raise ValueError(dmy)
            date = dt.date(_year(yy, date_hint), int(dmy[2:4]), int(dmy[0:2]))
        elif date_hint is not None:
            date = date_hint
        else:
            raise UndatedSentenceError(
                f"NMEA: time {hms!r} without a date: no RMC or status sentence yet and no "
                "date hint (the decoder never guesses the date from the wall clock)")
        if not (0 <= s < 61 and math.isfinite(s)):
            raise ValueError(hms)
        base = dt.datetime(date.year, date.month, date.day, h, m, tzinfo=dt.UTC)
    except UndatedSentenceError:
        raise
    except (ValueError, IndexError) as exc:
        raise FrameDecodeError(f"NMEA: bad time/date {hms!r} {dmy!r}") from exc
    return base.timestamp() + s


def _vtg(f: list[str]) -> tuple[float | None, float | None]:
    """(speed kn, course deg true) of a VTG; (None, None) when its mode says not valid."""
    if len(f) >= 9 and f[2] in ("T", "") and f[6] in ("N", ""):
        course, knots, mode = f[1], f[5], (f[9] if len(f) > 9 else "")
    else:  # NMEA 1.x: $--VTG,course true,course magnetic,knots,km/h
        course, knots, mode = f[1], (f[3] if len(f) > 3 else ""), ""
    if mode == "N":
        return None, None
    return (float(knots) if knots else None), (float(course) if course else None)


class Decoder:
    """Sentences of one radio -> :class:`NmeaFix` / :class:`RadioStatus`.

    NMEA positions carry no identity: *unit_id* names the radio. GGA has no date: the date
    of the last RMC or status sentence is used, else the caller's *date_hint*; with neither,
    the GGA raises :class:`UndatedSentenceError` (a :class:`FrameDecodeError`) — the decoder
    never reads the wall clock. Sentences of other types (GSV, GSA …) decode to nothing.
    """

    def __init__(self, unit_id: str = "", date_hint: dt.date | None = None) -> None:
        self.unit_id = unit_id
        self.date: dt.date | None = date_hint
        self._velocity: tuple[float | None, float | None] = (None, None)  # from VTG
        self._last_t: float | None = None

    @classmethod
    def from_profile(cls, profile: Any, unit_id: str = "", date_hint: dt.date | None = None,
                     **_: Any) -> Decoder:
        return cls(unit_id=unit_id, date_hint=date_hint)

    def decode(self, frame: bytes) -> list[NmeaFix | FixLoss | RadioStatus]:
        text = frame.decode("ascii", "replace").strip()
        if not text.startswith("$") or "*" not in text:
            raise FrameDecodeError(f"NMEA: not a sentence: {text[:40]!r}")
        fields = text[1: text.rindex("*")].split(",")
        kind = fields[0]
        sentence_type = kind[2:] if _ADDRESS.fullmatch(kind) else ""
        try:
            if sentence_type == "RMC":
                return [self._rmc(fields)]
            if sentence_type == "GGA":
                return [self._gga(fields)]
            if sentence_type == "GLL":
                return [self._gll(fields)]
            if sentence_type == "VTG":
                self._velocity = _vtg(fields)
                return []
            if kind in ("PBDLS", "PBDLE"):
                return [self._status(fields)]
        except (IndexError, ValueError) as exc:
            if isinstance(exc, FrameDecodeError):
                raise
            raise FrameDecodeError(f"NMEA: malformed {kind}: {text[:60]!r}") from exc
        return []

    def _take_velocity(self) -> tuple[float | None, float | None]:
        velocity, self._velocity = self._velocity, (None, None)
        return velocity

    def _stamp(self, hms: str, dmy: str | None, void: bool) -> float:
        """The sentence's time; a void fix without one (a receiver starting up) takes the
        last decoded time, and with none yet is undated (never the wall clock)."""
        if void and not hms:
            if self._last_t is None:
                raise UndatedSentenceError("NMEA: void fix without a time before any time")
            return self._last_t
        t = _time(hms, dmy, self.date)
        self._last_t = t
        return t

    def _rmc(self, f: list[str]) -> NmeaFix | FixLoss:
        t = self._stamp(f[1], f[9], f[2] != "A")
        self.date = dt.datetime.fromtimestamp(t, dt.UTC).date()
        mode = f[12] if len(f) > 12 else ""
        if f[2] != "A" or mode == "N":
            self._velocity = (None, None)
            return FixLoss(t=t, unit_id=self.unit_id, sentence="RMC",
                           reason="status_void" if f[2] != "A" else "mode_not_valid")
        self._velocity = (None, None)  # RMC carries its own
        return NmeaFix(t=t, unit_id=self.unit_id, lat=_coord(f[3], f[4], 2), lon=_coord(f[5], f[6], 3),
                       valid=True, sentence="RMC",
                       speed_kn=float(f[7]) if f[7] else None,
                       course_deg=float(f[8]) if f[8] else None)

    def _gga(self, f: list[str]) -> NmeaFix | FixLoss:
        quality = int(f[6]) if f[6] else 0
        t = self._stamp(f[1], None, quality == 0)
        if quality == 0:
            self._velocity = (None, None)
            return FixLoss(t=t, unit_id=self.unit_id, sentence="GGA", reason="quality_0")
        speed, course = self._take_velocity()
        return NmeaFix(t=t, unit_id=self.unit_id,
                       lat=_coord(f[2], f[3], 2), lon=_coord(f[4], f[5], 3), valid=True,
                       sentence="GGA", fix_quality=quality, sats=int(f[7]) if f[7] else None,
                       hdop=float(f[8]) if f[8] else None,
                       altitude_m=float(f[9]) if f[9] else None,
                       speed_kn=speed, course_deg=course)

    def _gll(self, f: list[str]) -> NmeaFix | FixLoss:
        # $--GLL,lat,N/S,lon,E/W,hhmmss.ss,status,mode (status and mode since NMEA 2.x/2.3)
        status = f[6] if len(f) > 6 else "A"
        if len(f) < 6 or (not f[5] and status == "A"):
            raise FrameDecodeError("NMEA: GLL without a time (NMEA 1.x) cannot be dated")
        t = self._stamp(f[5], None, status != "A")
        mode = f[7] if len(f) > 7 else ""
        if status != "A" or mode == "N":
            self._velocity = (None, None)
            return FixLoss(t=t, unit_id=self.unit_id, sentence="GLL",
                           reason="status_void" if status != "A" else "mode_not_valid")
        speed, course = self._take_velocity()
        return NmeaFix(t=t, unit_id=self.unit_id, lat=_coord(f[1], f[2], 2),
                       lon=_coord(f[3], f[4], 3), valid=True, sentence="GLL",
                       speed_kn=speed, course_deg=course)

    def _status(self, f: list[str]) -> RadioStatus:
        t = _time(f[2], f[3], self.date)
        self.date = dt.datetime.fromtimestamp(t, dt.UTC).date()
        unit = f[1] or self.unit_id
        if f[0] == "PBDLE":
            lat = _coord(f[4], f[5], 2) if f[4] else None
            lon = _coord(f[6], f[7], 3) if f[6] else None
            return RadioStatus(t=t, unit_id=unit, emergency=True, state="emergency", lat=lat, lon=lon)
        if f[4] not in _STATES:
            raise FrameDecodeError(f"NMEA: unknown PBDLS state {f[4]!r}")
        return RadioStatus(t=t, unit_id=unit, emergency=f[4] == "EMERG", state=_STATES[f[4]],
                           battery_pct=int(f[5]) if f[5] else None)
