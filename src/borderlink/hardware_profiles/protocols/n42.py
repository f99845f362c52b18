"""ANSI N42.42-2012 XML occupancy reports of a radiation portal monitor.

One ``RadInstrumentData`` document per occupancy: instrument and detector information (per
panel a gamma low-window, a gamma high-window and a neutron detector), a ``Background``
measurement and a ``Foreground`` measurement with ``OccupancyIndicator`` true, each with
``GrossCounts`` per detector. Namespace ``http://physics.nist.gov/N42/2011/N42``.
Durations are ISO 8601 (``PT12.3S``), times UTC (``2026-11-27T10:00:00.000Z``).
"""

from __future__ import annotations

import datetime as dt
import re
from xml.sax.saxutils import escape

from ..errors import FrameDecodeError
from ..readings import OccupancyReport, PanelCounts
from .untrusted import check_finite, parse_untrusted_xml

__all__ = ["NS", "encode_report", "parse_report"]

NS = "http://physics.nist.gov/N42/2011/N42"
_CHANNELS = (("GammaLow", "Gamma"), ("GammaHigh", "Gamma"), ("Neutron", "Neutron"))
_MAX_XML = 1 << 20
_MAX_COUNT = 1 << 40  # gross counts of one detector in one measurement
_MAX_SECONDS = 366 * 86400.0  # a measurement longer than a year is no portal's


def _iso(t: float) -> str:
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def _dur(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _counts(ref: str, live: float, value: int) -> str:
    return (f'    <GrossCounts radDetectorInformationReference="{ref}">\n'
            f"      <LiveTimeDuration>{_dur(live)}</LiveTimeDuration>\n"
            f"      <CountData>{value}</CountData>\n    </GrossCounts>\n")


def encode_report(report: OccupancyReport, manufacturer: str = "Generic",
                  model: str = "RPM-2P") -> bytes:
    """The N42.42 document for *report* (UTF-8 bytes)."""
    panels = [p.panel for p in report.foreground]
    det = []
    for panel in panels:
        for suffix, category in _CHANNELS:
            kind = "He3" if category == "Neutron" else "PVT"
            window = {"GammaLow": "gamma counts 30-400 keV", "GammaHigh": "gamma counts 400-3000 keV",
                      "Neutron": "thermal neutron counts"}[suffix]
            det.append(f'  <RadDetectorInformation id="Panel{panel}-{suffix}">\n'
                       f"    <RadDetectorCategoryCode>{category}</RadDetectorCategoryCode>\n"
                       f"    <RadDetectorKindCode>{kind}</RadDetectorKindCode>\n"
                       f"    <RadDetectorDescription>panel {panel}, {window}</RadDetectorDescription>\n"
                       f"  </RadDetectorInformation>\n")

    def measurement(mid: str, cls: str, start: float, real: float, live: float,
                    counts: tuple[PanelCounts, ...], occupied: bool) -> str:
        body = [f'  <RadMeasurement id="{mid}">\n',
                f"    <MeasurementClassCode>{cls}</MeasurementClassCode>\n",
                f"    <StartDateTime>{_iso(start)}</StartDateTime>\n",
                f"    <RealTimeDuration>{_dur(real)}</RealTimeDuration>\n"]
        for p in counts:
            body.append(_counts(f"Panel{p.panel}-GammaLow", live, p.gamma_low))
            body.append(_counts(f"Panel{p.panel}-GammaHigh", live, p.gamma_high))
            body.append(_counts(f"Panel{p.panel}-Neutron", live, p.neutron))
        body.append(f"    <OccupancyIndicator>{'true' if occupied else 'false'}</OccupancyIndicator>\n")
        body.append("  </RadMeasurement>\n")
        return "".join(body)

    remark = f"lane={report.lane};occupancy={report.occupancy_id}"
    if report.vehicle_speed_kmh is not None:
        remark += f";speed_kmh={report.vehicle_speed_kmh:.1f}"
    if report.instrument_alarm:
        remark += f";instrument_alarm={report.instrument_alarm}"
    bg_start = report.start - report.background_live_time_s
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<RadInstrumentData xmlns="{NS}" n42DocUUID="{escape(report.uuid)}" '
        f'n42DocDateTime="{_iso(report.t)}">\n'
        f"  <RadInstrumentDataCreatorName>borderlink RPM emulator</RadInstrumentDataCreatorName>\n"
        f"  <Remark>{escape(remark)}</Remark>\n"
        f'  <RadInstrumentInformation id="RadInstrumentInformation-1">\n'
        f"    <RadInstrumentManufacturerName>{escape(manufacturer)}</RadInstrumentManufacturerName>\n"
        f"    <RadInstrumentIdentifier>{escape(report.lane)}</RadInstrumentIdentifier>\n"
        f"    <RadInstrumentModelName>{escape(model)}</RadInstrumentModelName>\n"
        f"    <RadInstrumentClassCode>Portal Monitor</RadInstrumentClassCode>\n"
        f"    <RadInstrumentVersion>\n      <RadInstrumentComponentName>Firmware</RadInstrumentComponentName>\n"
        f"      <RadInstrumentComponentVersion>1.0</RadInstrumentComponentVersion>\n"
        f"    </RadInstrumentVersion>\n  </RadInstrumentInformation>\n"
        + "".join(det)
        + measurement(f"Background-{report.occupancy_id}", "Background", bg_start,
                      report.background_live_time_s, report.background_live_time_s,
                      report.background, False)
        + measurement(f"Foreground-{report.occupancy_id}", "Foreground", report.start,
                      report.end - report.start, report.live_time_s, report.foreground, True)
        + "</RadInstrumentData>\n"
    )
    return xml.encode("utf-8")


_DUR = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")


def _seconds(text: str | None) -> float:
    m = _DUR.match((text or "").strip())
    if not m:
        raise FrameDecodeError(f"N42: bad duration {text!r}")
    h, mi, s = m.groups()
    seconds = int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
    return check_finite(seconds, f"N42: duration {text!r}", low=0.0, high=_MAX_SECONDS)


def _time(text: str | None) -> float:
    try:
        return dt.datetime.fromisoformat((text or "").strip()).timestamp()
    except (ValueError, OverflowError, OSError) as exc:
        raise FrameDecodeError(f"N42: bad date-time {text!r}") from exc


def _speed(text: str | None) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise FrameDecodeError(f"N42: bad speed_kmh {text!r} in Remark") from exc
    return check_finite(value, "N42: speed_kmh", low=0.0, high=1000.0)


def parse_report(data: bytes) -> OccupancyReport:
    """Parse an N42.42 occupancy document as the emulator (and this family of RPMs) writes it."""
    root = parse_untrusted_xml(data, "N42", max_bytes=_MAX_XML)
    q = f"{{{NS}}}"
    if root.tag != f"{q}RadInstrumentData":
        raise FrameDecodeError(f"N42: root element is {root.tag!r}, expected RadInstrumentData")
    remark = dict(kv.split("=", 1) for kv in (root.findtext(f"{q}Remark") or "").split(";") if "=" in kv)
    lane = root.findtext(f"{q}RadInstrumentInformation/{q}RadInstrumentIdentifier") or remark.get("lane", "")
    measurements: dict[str, tuple[float, float, float, tuple[PanelCounts, ...]]] = {}
    for m in root.findall(f"{q}RadMeasurement"):
        cls = m.findtext(f"{q}MeasurementClassCode")
        start = _time(m.findtext(f"{q}StartDateTime"))
        real = _seconds(m.findtext(f"{q}RealTimeDuration"))
        panels: dict[int, dict[str, int]] = {}
        live = real
        for gc in m.findall(f"{q}GrossCounts"):
            ref = gc.get("radDetectorInformationReference", "")
            hit = re.fullmatch(r"Panel(\d+)-(GammaLow|GammaHigh|Neutron)", ref)
            if not hit:
                raise FrameDecodeError(f"N42: unknown detector reference {ref!r}")
            live = _seconds(gc.findtext(f"{q}LiveTimeDuration"))
            try:
                number = float((gc.findtext(f"{q}CountData") or "").split()[0])
            except (ValueError, IndexError) as exc:
                raise FrameDecodeError(f"N42: bad CountData for {ref}") from exc
            value = int(check_finite(number, f"N42: CountData for {ref}", low=0, high=_MAX_COUNT))
            panels.setdefault(int(hit.group(1)), {})[hit.group(2)] = value
        counts = tuple(PanelCounts(panel=p, gamma_low=v.get("GammaLow", 0),
                                   gamma_high=v.get("GammaHigh", 0), neutron=v.get("Neutron", 0))
                       for p, v in sorted(panels.items()))
        measurements[cls or ""] = (start, real, live, counts)
    if "Foreground" not in measurements:
        raise FrameDecodeError("N42: no Foreground measurement")
    f_start, f_real, f_live, fore = measurements["Foreground"]
    _, _, b_live, back = measurements.get("Background", (0.0, 0.0, 0.0, ()))
    occ = remark.get("occupancy", "0")
    speed = _speed(remark.get("speed_kmh"))
    return OccupancyReport(
        t=_time(root.get("n42DocDateTime")) if root.get("n42DocDateTime") else f_start + f_real,
        lane=lane, occupancy_id=int(occ) if occ.isascii() and occ.isdigit() else 0, start=f_start, end=f_start + f_real,
        live_time_s=f_live, foreground=fore, background=back, background_live_time_s=b_live,
        vehicle_speed_kmh=speed,
        instrument_alarm=remark.get("instrument_alarm"), uuid=root.get("n42DocUUID", ""))
