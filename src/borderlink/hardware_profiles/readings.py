"""Typed readings: what a device protocol decoder yields on the host side.

Every protocol module in :mod:`borderlink.hardware_profiles.protocols` decodes wire frames or
export files into one of these frozen dataclasses; processors (``borderlink.edge.processors``)
consume them and never see bytes. They are part of the package's public surface: fields are
only ever added (with defaults), never renamed or removed.

Conventions
-----------
* ``t`` is the *device's* time of the reading, Unix seconds (UTC) as a float. It is what the
  device put on the wire (or, where the wire carries no time, what the decoder derived); a
  device with clock drift reports drifted times — processors and the edge compare them with
  their own clock, nobody rewrites them.
* Units are in the field names (``_s``, ``_ms``, ``_kn``, ``_deg``, ``_pct``, ``_min``) or in
  the field's comment. Counts are raw counts per sample interval, not rates.
* Sequences are tuples so that a reading is hashable and immutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CallDetailRecord",
    "Chromatogram",
    "CountSample",
    "FixLoss",
    "GammaSpectrum",
    "LabRun",
    "LinkStatus",
    "MassSpectrum",
    "MrzRead",
    "NmeaFix",
    "OccupancyReport",
    "PanelCounts",
    "RadioStatus",
    "Reading",
    "SensorFrame",
]


# --------------------------------------------------------------------------- document reader
@dataclass(frozen=True)
class MrzRead:
    """One document placed on a full-page reader: the MRZ text lines and the reader's checks.

    ``lines`` are the raw MRZ lines exactly as OCR'd (characters ``A-Z 0-9 <``): 3 x 30 for
    TD1, 2 x 36 for TD2 and MRV-B, 2 x 44 for TD3 and MRV-A. ``uv_ok``/``ir_ok`` are the
    reader's own UV (no unexpected fluorescence) and IR (MRZ visible in infrared, B900 ink)
    checks; ``False`` means the reader flagged the page.
    """

    lines: tuple[str, ...]
    uv_ok: bool
    ir_ok: bool
    t: float
    reader_id: str = ""
    seq: int = 0


# --------------------------------------------------------------------------- radiation portal
@dataclass(frozen=True)
class CountSample:
    """One ~100 ms count sample of one detector panel of a radiation portal monitor lane.

    Gamma counts are split into two energy windows of the plastic scintillator (``gamma_low``
    below, ``gamma_high`` above the window boundary of the profile, ~400 keV) for the
    energy-window-ratio test; ``neutron`` is the He-3 tube count of the panel.
    ``occupied`` is the lane's occupancy (light-curtain) sensor at the end of the sample.
    """

    t: float
    lane: str
    panel: int
    gamma_low: int
    gamma_high: int
    neutron: int
    occupied: bool
    seq: int = 0
    interval_s: float = 0.1

    @property
    def gamma(self) -> int:
        """Gross gamma counts of the sample (both windows)."""
        return self.gamma_low + self.gamma_high


@dataclass(frozen=True)
class PanelCounts:
    """Counts of one panel summed over a measurement (used inside :class:`OccupancyReport`)."""

    panel: int
    gamma_low: int
    gamma_high: int
    neutron: int

    @property
    def gamma(self) -> int:
        return self.gamma_low + self.gamma_high


@dataclass(frozen=True)
class GammaSpectrum:
    """One detector's gamma spectrum over a measurement (spectroscopic monitors, N42 files).

    ``calibration`` is the polynomial energy calibration ``E(ch) = sum c_k ch**k`` in keV,
    ``ch`` a (fractional) channel position: channel ``i`` spans ``[i, i + 1)``.
    """

    panel: int
    counts: tuple[int, ...]
    calibration: tuple[float, ...]
    live_time_s: float

    def energy(self, channel: float) -> float:
        return sum(c * channel ** k for k, c in enumerate(self.calibration))


@dataclass(frozen=True)
class OccupancyReport:
    """The ANSI N42.42 report the monitor emits once per occupancy (vehicle passage).

    ``foreground`` holds each panel's counts over the occupancy (``live_time_s``);
    ``background`` the counts of the background measurement the monitor attached
    (``background_live_time_s``), so rates are counts / live time. ``t`` is the end of the
    occupancy. ``instrument_alarm`` is what the monitor itself concluded, if it reported one;
    the edge makes its own decision. Spectroscopic monitors also send each panel's spectrum
    (``foreground_spectra`` over the occupancy, ``background_spectra`` over the background
    measurement); count-only monitors (PVT panels) send none.
    """

    t: float
    lane: str
    occupancy_id: int
    start: float
    end: float
    live_time_s: float
    foreground: tuple[PanelCounts, ...]
    background: tuple[PanelCounts, ...]
    background_live_time_s: float
    vehicle_speed_kmh: float | None = None
    instrument_alarm: str | None = None
    uuid: str = ""
    foreground_spectra: tuple[GammaSpectrum, ...] = ()
    background_spectra: tuple[GammaSpectrum, ...] = ()


# --------------------------------------------------------------------------- green border
@dataclass(frozen=True)
class SensorFrame:
    """One authenticated frame from a green-border sensor node (CBOR + HMAC-SHA256).

    ``event`` is ``"detect"`` (a sensor triggered), ``"heartbeat"``, ``"boot"`` or ``"fault"``.
    ``kind`` is the sensor's type: ``"seismic"`` (``value`` = peak ground velocity, mm/s),
    ``"pir"`` (``value`` = triggered zones count), ``"magnetic"`` (``value`` = field
    deviation, nT). ``position_m`` is the sensor's chainage along the border line (metres from
    the sector origin) and ``offset_m`` its distance from the line (+ towards the interior),
    so a processor can derive direction and speed from a chain of detections.
    """

    t: float
    node_id: str
    sensor_id: str
    seq: int
    event: str
    kind: str
    value: float
    position_m: float = 0.0
    offset_m: float = 0.0
    battery_mv: int | None = None
    detail: str = ""


# --------------------------------------------------------------------------- patrol radio
@dataclass(frozen=True)
class NmeaFix:
    """A position from an NMEA 0183 GGA or RMC sentence of one patrol radio.

    ``unit_id`` is the radio's identity (from the device configuration — NMEA positions do
    not carry it). ``valid`` is False for RMC status ``V`` or GGA quality 0.
    ``speed_kn``/``course_deg`` come from RMC, ``sats``/``hdop``/``altitude_m`` from GGA;
    the other sentence leaves them ``None``.
    """

    t: float
    unit_id: str
    lat: float
    lon: float
    valid: bool
    sentence: str  # "GGA", "RMC" or "GLL"
    fix_quality: int | None = None
    sats: int | None = None
    hdop: float | None = None
    altitude_m: float | None = None
    speed_kn: float | None = None
    course_deg: float | None = None


@dataclass(frozen=True)
class FixLoss:
    """A void fix: the receiver says it has no position (RMC/GLL status ``V``, GGA quality
    0, mode ``N``). Not a position: its coordinates, if any, are stale and not kept."""

    t: float
    unit_id: str
    sentence: str  # "GGA", "RMC" or "GLL"
    reason: str  # "status_void", "quality_0", "mode_not_valid"


@dataclass(frozen=True)
class RadioStatus:
    """A radio's proprietary status or emergency sentence (``$PBDLS`` / ``$PBDLE``).

    ``emergency`` is True for an emergency-button message, which also carries the last
    position (``lat``/``lon``, else ``None``).
    """

    t: float
    unit_id: str
    emergency: bool
    state: str  # "ok", "emergency", "low_battery", "no_fix"
    battery_pct: int | None = None
    lat: float | None = None
    lon: float | None = None


# --------------------------------------------------------------------------- telephony / IP
@dataclass(frozen=True)
class CallDetailRecord:
    """One call detail record line of a telephony/IP unit (``CDR`` line)."""

    t: float  # time the record was written (end of call)
    exchange_id: str
    seq: int
    start: float
    duration_s: float
    caller: str
    callee: str
    trunk: str
    direction: str  # "in", "out", "internal"
    disposition: str  # "answered", "no_answer", "busy", "failed"
    mos: float | None = None  # mean opinion score of a VoIP call, 1.0 .. 5.0


@dataclass(frozen=True)
class LinkStatus:
    """One link-status line of a telephony/IP unit (``LNK`` line), sent every few seconds."""

    t: float
    exchange_id: str
    link_id: str
    state: str  # "up", "down", "degraded"
    latency_ms: float | None
    loss_pct: float | None
    jitter_ms: float | None = None
    rx_kbps: float | None = None
    tx_kbps: float | None = None


# --------------------------------------------------------------------------- laboratory
@dataclass(frozen=True)
class Chromatogram:
    """A chromatogram: detector signal against retention time.

    ``detector`` is ``"FID"`` (GC-2010) or ``"TIC"`` (total ion current of the GC-MS).
    ``ri_calibration`` is the n-alkane ladder of the method as (retention time min,
    retention index) pairs, so a processor can convert times into retention indices.
    """

    t: float
    instrument: str
    sample_id: str
    case_id: str
    detector: str
    times_min: tuple[float, ...]
    intensities: tuple[float, ...]
    ri_calibration: tuple[tuple[float, float], ...] = ()
    method: str = ""


@dataclass(frozen=True)
class MassSpectrum:
    """One 70 eV electron-ionisation mass spectrum (centroided) at a retention time."""

    t: float
    instrument: str
    sample_id: str
    case_id: str
    retention_time_min: float
    mz: tuple[float, ...]
    intensities: tuple[float, ...]
    ionisation_ev: float = 70.0


@dataclass(frozen=True)
class LabRun:
    """Everything one export file of a run holds: the chromatogram and any spectra."""

    t: float
    instrument: str
    sample_id: str
    case_id: str
    chromatogram: Chromatogram | None
    spectra: tuple[MassSpectrum, ...] = field(default=())
    filename: str = ""


#: Every reading type, for ``isinstance`` checks and registries.
Reading = (
    MrzRead
    | CountSample
    | OccupancyReport
    | SensorFrame
    | NmeaFix
    | RadioStatus
    | CallDetailRecord
    | LinkStatus
    | Chromatogram
    | MassSpectrum
    | LabRun
)
