"""Read spectra from ANSI N42.42 files of real instruments (2006 and 2011/2012 schemas).

:func:`borderlink.hardware_profiles.protocols.n42.parse_report` reads the portal-monitor
occupancy subset our RPM family writes (2011 namespace, ``GrossCounts`` per ``PanelN-…``
detector). Files of real instruments mostly carry *spectra* instead: handheld identifiers and
laboratory detectors (one ``Spectrum``), spectroscopic portals (one spectrum per detector and
sample, ``Occupied`` flags), written in the 2006 schema (namespace ``…/ANSIN4242/2005/…`` or
none at all) or the 2011 one (``EnergyCalibration`` referenced by id, ``CountedZeroes``
compression). This module reads those into :class:`N42Spectrum` and sums them into the energy
windows of :class:`~borderlink.hardware_profiles.readings.OccupancyReport`, so the radiation
processor's N42 path can decide on them.

Pure functions, no I/O: callers read the bytes. Refuses DTDs and entities (XML bombs) and
documents over ``max_bytes``; every refusal is an :class:`N42ImportError` naming the cause.

Protocol ``n42-file`` (hand-held radionuclide identifiers and spectroscopic portals that export
one N42.42 file per measurement into a watched folder): :func:`parse_file` turns one file into
one :class:`OccupancyReport` — the foreground measurement(s) summed per detector, against the
file's ``Background`` measurement, or when the file has none, the last background the same
:class:`Decoder` saw (instruments measure background now and then, not before every item).
:func:`encode_spectra_file` writes such a file (the emulator's side, 2011 schema).
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from xml.sax.saxutils import escape

from ..errors import FrameDecodeError, IncompleteFileError
from ..readings import GammaSpectrum, OccupancyReport, PanelCounts
from .untrusted import check_finite, parse_untrusted_xml

__all__ = ["GAMMA_HIGH_KEV", "GAMMA_LOW_KEV", "Decoder", "N42ImportError", "N42Spectrum",
           "encode_spectra_file", "occupancy_report", "parse_file", "read_spectra",
           "window_counts"]

NS_2006 = "http://physics.nist.gov/Divisions/Div846/Gp4/ANSIN4242/2005/ANSIN4242"
NS_2011 = "http://physics.nist.gov/N42/2011/N42"
GAMMA_LOW_KEV = (30.0, 400.0)  # the RPM profile's low window (see hardware_profiles n42 encoder)
GAMMA_HIGH_KEV = (400.0, 3000.0)
MAX_CHANNELS = 1 << 16  # the largest multichannel analysers have 64k channels
_MAX_COEFFICIENTS = 8  # an energy polynomial of higher degree is no calibration
_MAX_COUNT = 1 << 40
#: CountedZeroes is compression: a document may expand to one full spectrum plus this many
#: channels per byte of itself (real sparse portal spectra: ~13), never beyond the absolute cap.
_CHANNELS_PER_BYTE = 64
_MAX_DOCUMENT_CHANNELS = 1 << 24
_DUR = re.compile(r"^\s*P(?:T)?(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?\s*$")


class N42ImportError(FrameDecodeError):
    """An N42 document that cannot be read as spectra (names the element and the cause)."""


@dataclass(frozen=True)
class N42Spectrum:
    """One spectrum of one detector in one measurement (sample)."""

    detector: str
    counts: tuple[int, ...]
    live_time_s: float
    real_time_s: float
    calibration: tuple[float, ...]  # polynomial E(ch) = sum c_k ch^k, keV (ch = channel index)
    measurement_class: str = ""  # Foreground / Background / … (2011) or SourceType (2006)
    occupied: bool | None = None
    start: float | None = None  # POSIX seconds
    sample: int = 0  # order of the measurement / DetectorData block in the document

    def energy(self, channel: float) -> float:
        """Energy (keV) at a (fractional) channel position."""
        return sum(c * channel ** k for k, c in enumerate(self.calibration))

    @property
    def total(self) -> int:
        return sum(self.counts)


def _seconds(text: str | None, where: str) -> float:
    m = _DUR.match(text or "")
    if not m or not any(m.groups()):
        raise N42ImportError(f"N42 {where}: bad ISO 8601 duration {text!r}")
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return check_finite(h * 3600 + mi * 60 + s, f"N42 {where}: duration {text!r}", low=0.0,
                        high=366 * 86400.0, error=N42ImportError)


def _time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip())
        if when.tzinfo is None:  # N42 times without an offset are taken as UTC
            when = when.replace(tzinfo=dt.UTC)
        return when.timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _numbers(text: str | None, where: str) -> list[float]:
    try:
        values = [float(x) for x in (text or "").replace(",", " ").split()]
    except ValueError as exc:
        raise N42ImportError(f"N42 {where}: non-numeric value ({exc})") from exc
    for v in values:  # NaN and infinities parse as floats; no detector reports them
        check_finite(v, f"N42 {where}: a value", error=N42ImportError)
    return values


class _ChannelBudget:
    """The channels one document may still expand to (many spectra of long zero runs in a few
    KB would each stay under :data:`MAX_CHANNELS` yet add up to gigabytes)."""

    def __init__(self, document_bytes: int) -> None:
        self.left = min(MAX_CHANNELS + _CHANNELS_PER_BYTE * document_bytes, _MAX_DOCUMENT_CHANNELS)

    def take(self, n: int, where: str) -> None:
        if n > self.left:
            raise N42ImportError(f"N42 {where}: the document expands to more channels than its "
                                 f"size allows ({_CHANNELS_PER_BYTE} per byte, compressed)")
        self.left -= n


def _counted_zeroes_length(values: list[float], where: str) -> int:
    """The expanded length of a CountedZeroes list, checked without allocating it."""
    length = i = 0
    while i < len(values):
        if values[i] == 0.0:
            if i + 1 >= len(values):
                raise N42ImportError(f"N42 {where}: CountedZeroes ends after a 0 without a run length")
            run = values[i + 1]
            if run < 0 or run != int(run):
                raise N42ImportError(f"N42 {where}: bad CountedZeroes run length {run!r}")
            length += int(run)
            i += 2
        else:
            length += 1
            i += 1
        if length > MAX_CHANNELS:  # checked before allocating (a zip bomb)
            raise N42ImportError(f"N42 {where}: CountedZeroes expands beyond {MAX_CHANNELS} channels")
    return length


def _channels(text: str | None, compression: str, where: str,
              budget: _ChannelBudget) -> tuple[int, ...]:
    values = _numbers(text, where)
    if compression.lower() == "countedzeroes":
        budget.take(_counted_zeroes_length(values, where), where)
        out: list[int] = []
        i = 0
        while i < len(values):
            v = values[i]
            if v == 0.0:
                out.extend([0] * int(values[i + 1]))
                i += 2
            else:
                out.append(round(v))
                i += 1
        values_i = out
    elif compression in ("", "None", "none"):
        budget.take(len(values), where)
        values_i = [round(v) for v in values]
    else:
        raise N42ImportError(f"N42 {where}: unsupported compression {compression!r}")
    if not values_i:
        raise N42ImportError(f"N42 {where}: empty ChannelData")
    if len(values_i) > MAX_CHANNELS:
        raise N42ImportError(f"N42 {where}: {len(values_i)} channels, more than {MAX_CHANNELS}")
    if any(v < 0 or v > _MAX_COUNT for v in values_i):
        raise N42ImportError(f"N42 {where}: channel count negative or beyond {_MAX_COUNT}")
    return tuple(values_i)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text(el: ET.Element, name: str) -> str | None:
    c = _child(el, name)
    return c.text if c is not None else None


def _iter(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el.iter() if _local(c.tag) == name]


def _parse(data: bytes, max_bytes: int) -> ET.Element:
    """The root, refusing DTDs and entities in any encoding (UTF-16 too) and big documents."""
    return parse_untrusted_xml(data, "N42", max_bytes=max_bytes, refused=N42ImportError,
                               malformed=N42ImportError)


def _calibration(values: list[float], where: str) -> list[float]:
    if len(values) > _MAX_COEFFICIENTS:
        raise N42ImportError(f"N42 {where}: {len(values)} calibration coefficients, at most "
                             f"{_MAX_COEFFICIENTS}")
    return values


def _read_2006(root: ET.Element, budget: _ChannelBudget) -> list[N42Spectrum]:
    out: list[N42Spectrum] = []
    sample = 0
    # spectroscopic portals: Measurement/DetectorData (one per sample) with Occupied flags;
    # handhelds and laboratory files: Measurement/Spectrum
    for meas in _iter(root, "Measurement"):
        blocks = [d for d in meas if _local(d.tag) == "DetectorData"] or [meas]
        for block in blocks:
            occ_text = _text(block, "Occupied")
            occupied = None if occ_text is None else occ_text.strip() in ("1", "true")
            start = _time(_text(block, "StartTime"))
            for spec in _iter(block, "Spectrum"):
                where = f"Spectrum {spec.get('Detector') or spec.get('ID') or len(out)}"
                cd = _child(spec, "ChannelData")
                if cd is None:
                    raise N42ImportError(f"N42 {where}: no ChannelData")
                coeffs: list[float] = []
                for cal in _iter(spec, "Calibration"):
                    if (cal.get("Type") or "Energy").lower() == "energy":
                        eq = _child(cal, "Equation")
                        if eq is not None and (eq.get("Model") or "Polynomial") != "Polynomial":
                            raise N42ImportError(f"N42 {where}: energy model {eq.get('Model')!r} unsupported")
                        c = next(iter(_iter(cal, "Coefficients")), None)
                        coeffs = _calibration(_numbers(c.text if c is not None else None, where),
                                              where)
                        break
                if not coeffs:
                    raise N42ImportError(f"N42 {where}: no energy calibration")
                real = _seconds(_text(spec, "RealTime"), where) if _text(spec, "RealTime") else 0.0
                live_text = _text(spec, "LiveTime")
                if live_text is None:
                    raise N42ImportError(f"N42 {where}: no LiveTime")
                out.append(N42Spectrum(
                    detector=spec.get("Detector") or "", sample=sample,
                    counts=_channels(cd.text, cd.get("Compression") or "", where, budget),
                    live_time_s=_seconds(live_text, where), real_time_s=real,
                    calibration=tuple(coeffs), measurement_class=(_text(spec, "SourceType") or "").strip(),
                    occupied=occupied, start=start))
            sample += 1
    return out


def _read_2011(root: ET.Element, budget: _ChannelBudget) -> list[N42Spectrum]:
    cals: dict[str, tuple[float, ...]] = {}
    for cal in _iter(root, "EnergyCalibration"):
        where = f"EnergyCalibration {cal.get('id')!r}"
        coeffs = _calibration(_numbers(_text(cal, "CoefficientValues"), where), where)
        if coeffs:
            cals[cal.get("id") or ""] = tuple(coeffs)
    out: list[N42Spectrum] = []
    for sample, meas in enumerate(m for m in root if _local(m.tag) == "RadMeasurement"):
        cls = (_text(meas, "MeasurementClassCode") or "").strip()
        start = _time(_text(meas, "StartDateTime"))
        real = _seconds(_text(meas, "RealTimeDuration"), f"RadMeasurement {meas.get('id')!r}") \
            if _text(meas, "RealTimeDuration") else 0.0
        occ_text = _text(meas, "OccupancyIndicator")
        occupied = None if occ_text is None else occ_text.strip() in ("1", "true")
        for spec in (s for s in meas if _local(s.tag) == "Spectrum"):
            where = f"Spectrum {spec.get('id')!r}"
            ref = spec.get("energyCalibrationReference") or ""
            if ref not in cals:
                raise N42ImportError(f"N42 {where}: energy calibration {ref!r} not found "
                                     "(only polynomial CoefficientValues are supported)")
            cd = _child(spec, "ChannelData")
            if cd is None:
                raise N42ImportError(f"N42 {where}: no ChannelData")
            live_text = _text(spec, "LiveTimeDuration")
            if live_text is None:
                raise N42ImportError(f"N42 {where}: no LiveTimeDuration")
            out.append(N42Spectrum(
                detector=spec.get("radDetectorInformationReference") or "", sample=sample,
                counts=_channels(cd.text, cd.get("compressionCode") or "", where, budget),
                live_time_s=_seconds(live_text, where), real_time_s=real, calibration=cals[ref],
                measurement_class=cls, occupied=occupied, start=start))
    return out


def read_spectra(data: bytes, *, max_bytes: int = 8 << 20) -> list[N42Spectrum]:
    """Every gamma spectrum in an N42.42 document (2006 with or without namespace, or 2011)."""
    root = _parse(data, max_bytes)
    tag = root.tag
    if tag in (f"{{{NS_2006}}}N42InstrumentData", "N42InstrumentData"):
        spectra = _read_2006(root, _ChannelBudget(len(data)))
    elif tag == f"{{{NS_2011}}}RadInstrumentData":
        spectra = _read_2011(root, _ChannelBudget(len(data)))
    else:
        raise N42ImportError(f"N42: root element {tag!r} is neither N42InstrumentData (2006) "
                             "nor RadInstrumentData (2011)")
    if not spectra:
        raise N42ImportError("N42: document holds no Spectrum with ChannelData")
    return spectra


def window_counts(spectrum: N42Spectrum, window_kev: tuple[float, float]) -> int:
    """Counts of the channels whose centre energy lies in ``[lo, hi)`` keV."""
    lo, hi = window_kev
    return sum(n for i, n in enumerate(spectrum.counts) if n and lo <= spectrum.energy(i + 0.5) < hi)


def _panel(panel: int, spectra: Sequence[N42Spectrum], scale: float = 1.0) -> PanelCounts:
    low = sum(window_counts(s, GAMMA_LOW_KEV) for s in spectra)
    high = sum(window_counts(s, GAMMA_HIGH_KEV) for s in spectra)
    return PanelCounts(panel=panel, gamma_low=round(low * scale), gamma_high=round(high * scale),
                       neutron=0)


def occupancy_report(foreground: Sequence[N42Spectrum], background: Sequence[N42Spectrum], *,
                     lane: str, start: float = 0.0, occupancy_id: int = 0) -> OccupancyReport:
    """An occupancy report from spectra: one panel per detector, counts in the RPM windows.

    Each foreground detector is paired with the background spectrum of the same detector name
    (or, when there is one background spectrum only, with that one). Live times are taken from
    the spectra (the foreground's must agree within 1 %). Neutron counts are 0: gamma spectra
    carry none. The spectra themselves ride along (``foreground_spectra`` /
    ``background_spectra``) for a spectroscopic processor's photopeak test.
    """
    if not foreground or not background:
        raise N42ImportError("N42: an occupancy needs foreground and background spectra")
    live = foreground[0].live_time_s
    if live <= 0 or any(abs(s.live_time_s - live) > 0.01 * live for s in foreground):
        raise N42ImportError("N42: foreground spectra of one occupancy must share one live time")
    by_name = {s.detector: s for s in background}
    fg, bg = [], []
    fg_spectra, bg_spectra = [], []
    b_live = background[0].live_time_s
    for i, s in enumerate(foreground):
        b = by_name.get(s.detector) or (background[0] if len(background) == 1 else None)
        if b is None:
            raise N42ImportError(f"N42: no background spectrum for detector {s.detector!r}")
        fg.append(_panel(i + 1, [s]))
        bg.append(_panel(i + 1, [b], scale=b_live / b.live_time_s))
        fg_spectra.append(GammaSpectrum(i + 1, s.counts, s.calibration, s.live_time_s))
        bg_spectra.append(GammaSpectrum(i + 1, b.counts, b.calibration, b.live_time_s))
    return OccupancyReport(t=start + live, lane=lane, occupancy_id=occupancy_id, start=start,
                           end=start + live, live_time_s=live, foreground=tuple(fg),
                           background=tuple(bg), background_live_time_s=b_live,
                           foreground_spectra=tuple(fg_spectra),
                           background_spectra=tuple(bg_spectra))


# --------------------------------------------------------------------------- protocol n42-file
#: Measurement classes that are neither the item nor the background (2011 codes, 2006 types).
_NOT_FOREGROUND = frozenset({"background", "calibration", "intrinsicactivity"})
#: XML parser messages that mean the document simply ends too early (still being written).
_TRUNCATED = ("no element found", "unclosed token", "unclosed cdata", "unclosed start tag")


def _summed(spectra: Sequence[N42Spectrum]) -> list[N42Spectrum]:
    """One spectrum per detector: the samples of a measurement added channel by channel."""
    by_det: dict[str, N42Spectrum] = {}
    for s in spectra:
        prev = by_det.get(s.detector)
        if prev is None:
            by_det[s.detector] = s
            continue
        if len(prev.counts) != len(s.counts):
            raise N42ImportError(f"N42: detector {s.detector!r} changes its channel count "
                                 f"({len(prev.counts)} -> {len(s.counts)}) within one measurement")
        by_det[s.detector] = N42Spectrum(
            detector=s.detector, counts=tuple(a + b for a, b in zip(prev.counts, s.counts)),
            live_time_s=prev.live_time_s + s.live_time_s,
            real_time_s=prev.real_time_s + s.real_time_s, calibration=prev.calibration,
            measurement_class=prev.measurement_class, occupied=prev.occupied,
            start=prev.start if prev.start is not None else s.start, sample=prev.sample)
    return list(by_det.values())


def split_measurements(spectra: Sequence[N42Spectrum]) -> tuple[list[N42Spectrum],
                                                                 list[N42Spectrum]]:
    """(foreground, background) of a file, each summed per detector.

    Background: spectra of class ``Background``. Foreground: the rest except calibration and
    intrinsic-source spectra; where samples carry occupancy flags (portals), the occupied
    ones — the unoccupied samples then stand in as background when the file has none.
    """
    bg = [s for s in spectra if s.measurement_class.strip().lower() == "background"]
    rest = [s for s in spectra if s.measurement_class.strip().lower() not in _NOT_FOREGROUND]
    if any(s.occupied is not None for s in rest):
        fg = [s for s in rest if s.occupied]
        if not bg:
            bg = [s for s in rest if s.occupied is False]
    else:
        fg = rest
    return _summed(fg), _summed(bg)


def parse_file(data: bytes, filename: str = "", *, lane: str = "H1",
               background: Sequence[N42Spectrum] = (), occupancy_id: int = 0,
               max_bytes: int = 8 << 20) -> tuple[OccupancyReport, list[N42Spectrum]]:
    """One exported N42.42 file -> (its :class:`OccupancyReport`, the background used).

    *background* is used when the file holds none. A document that ends before its root
    element closes is still being written: :class:`IncompleteFileError`.
    """
    where = f"N42 file {filename!r}" if filename else "N42 file"
    try:
        spectra = read_spectra(data, max_bytes=max_bytes)
    except N42ImportError as exc:
        # an empty file is one the instrument has just created; a truncated one is being written
        if not data.strip() or any(t in str(exc) for t in _TRUNCATED):
            raise IncompleteFileError(f"{where}: ends before the document does "
                                      f"(still being written?): {exc}") from exc
        raise
    fg, bg = split_measurements(spectra)
    if not fg:
        raise N42ImportError(f"{where}: no foreground measurement (only "
                             f"{sorted({s.measurement_class or '?' for s in spectra})})")
    bg = bg or list(background)
    if not bg:
        raise N42ImportError(f"{where}: no Background measurement in the file and none seen "
                             "before from this instrument")
    start = min((s.start for s in fg if s.start is not None), default=0.0)
    report = occupancy_report(fg, bg, lane=lane, start=start, occupancy_id=occupancy_id)
    doc_id = _document_uuid(data)
    if doc_id:
        report = replace(report, uuid=doc_id)
    return report, bg


_UUID = re.compile(rb"n42DocUUID\s*=\s*[\"']([0-9A-Za-z{}-]{1,64})[\"']")


def _document_uuid(data: bytes) -> str:
    """The 2011 document's ``n42DocUUID`` (the instrument's id of the file), if it gives one."""
    m = _UUID.search(data[:4096])
    return m.group(1).decode("ascii") if m else ""


class Decoder:
    """Exported files -> one :class:`OccupancyReport` each; remembers the last background."""

    def __init__(self, lane: str = "H1", max_bytes: int = 8 << 20) -> None:
        self.lane = lane
        self.max_bytes = max_bytes
        self.background: list[N42Spectrum] = []
        self.files = 0

    @classmethod
    def from_profile(cls, profile: Any, **_: Any) -> Decoder:
        lane = profile.framing.param("lane")
        return cls(lane=str(lane) if lane is not None else "H1",
                   max_bytes=int(profile.framing.max_frame_bytes))

    def decode(self, frame: bytes, filename: str = "") -> list[OccupancyReport]:
        report, bg = parse_file(frame, filename, lane=self.lane, background=self.background,
                                occupancy_id=self.files + 1, max_bytes=self.max_bytes)
        self.files += 1
        self.background = bg
        return [report]


def _iso(t: float) -> str:
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def encode_spectra_file(report: OccupancyReport, *, manufacturer: str = "Generic",
                        model: str = "RIID", detector_kind: str = "NaI",
                        instrument_class: str = "Radionuclide Identifier") -> bytes:
    """An N42.42-2011 file of a spectrometer: Background and Foreground measurement, one
    ``Spectrum`` per detector with its polynomial ``EnergyCalibration`` (UTF-8 bytes)."""
    if not report.foreground_spectra or not report.background_spectra:
        raise ValueError("an N42 spectrum file needs foreground and background spectra")
    cals, dets = [], []
    for s in report.foreground_spectra:
        coeffs = " ".join(f"{c:.9g}" for c in s.calibration)
        cals.append(f'  <EnergyCalibration id="ECal-{s.panel}">\n'
                    f"    <CoefficientValues>{coeffs}</CoefficientValues>\n"
                    f"  </EnergyCalibration>\n")
        dets.append(f'  <RadDetectorInformation id="Det-{s.panel}">\n'
                    f"    <RadDetectorCategoryCode>Gamma</RadDetectorCategoryCode>\n"
                    f"    <RadDetectorKindCode>{escape(detector_kind)}</RadDetectorKindCode>\n"
                    f"  </RadDetectorInformation>\n")

    def measurement(mid: str, cls: str, start: float,
                    spectra: Sequence[GammaSpectrum]) -> str:
        live = spectra[0].live_time_s
        out = [f'  <RadMeasurement id="{mid}">\n',
               f"    <MeasurementClassCode>{cls}</MeasurementClassCode>\n",
               f"    <StartDateTime>{_iso(start)}</StartDateTime>\n",
               f"    <RealTimeDuration>PT{live:.3f}S</RealTimeDuration>\n"]
        for s in spectra:
            out.append(f'    <Spectrum id="{mid}-{s.panel}" radDetectorInformationReference='
                       f'"Det-{s.panel}" energyCalibrationReference="ECal-{s.panel}">\n'
                       f"      <LiveTimeDuration>PT{s.live_time_s:.3f}S</LiveTimeDuration>\n"
                       f"      <ChannelData>{' '.join(str(int(c)) for c in s.counts)}"
                       f"</ChannelData>\n    </Spectrum>\n")
        out.append("  </RadMeasurement>\n")
        return "".join(out)

    bg_start = report.start - report.background_live_time_s
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           f'<RadInstrumentData xmlns="{NS_2011}" n42DocUUID="{escape(report.uuid)}">\n'
           "  <RadInstrumentDataCreatorName>borderlink spectrometer emulator"
           "</RadInstrumentDataCreatorName>\n"
           '  <RadInstrumentInformation id="RadInstrumentInformation-1">\n'
           f"    <RadInstrumentManufacturerName>{escape(manufacturer)}"
           "</RadInstrumentManufacturerName>\n"
           f"    <RadInstrumentIdentifier>{escape(report.lane)}</RadInstrumentIdentifier>\n"
           f"    <RadInstrumentModelName>{escape(model)}</RadInstrumentModelName>\n"
           f"    <RadInstrumentClassCode>{escape(instrument_class)}</RadInstrumentClassCode>\n"
           "  </RadInstrumentInformation>\n"
           + "".join(dets) + "".join(cals)
           + measurement(f"Background-{report.occupancy_id}", "Background", bg_start,
                         report.background_spectra)
           + measurement(f"Foreground-{report.occupancy_id}", "Foreground", report.start,
                         report.foreground_spectra)
           + "</RadInstrumentData>\n")
    return xml.encode("utf-8")
