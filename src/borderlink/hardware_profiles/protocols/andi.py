"""ANDI/AIA mass-spectrometry files (ASTM E2077, netCDF-3): the GCMS-QP2010's alternative export.

Written as the ANDI-MS template lays out a centroided GC-MS run: global attributes
(``dataset_completeness``, ``ms_template_revision``, ``experiment_date_time_stamp``,
``sample_id``, ``test_ionization_mode``, ``test_electron_energy`` …) and per scan
``scan_acquisition_time`` (s), ``total_intensity``, ``scan_index``, ``point_count``, with all
scans' peaks in ``mass_values`` / ``intensity_values``. Every TIC point is a scan; only the
scans at the chromatographic peak apexes carry their centroided spectrum (the others have
``point_count`` 0). Non-standard extras, as global attributes: ``borderlink_case_id``,
``borderlink_instrument``, ``borderlink_timestamp`` (Unix s) and ``borderlink_ri_calibration``
(``rt_min,ri`` pairs). A file still being written raises :class:`IncompleteFileError`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..errors import FrameDecodeError, ImplausibleValueError
from ..readings import Chromatogram, LabRun, MassSpectrum
from . import netcdf3
from .netcdf3 import NC_DOUBLE, NC_FLOAT, NC_INT, Dataset, Variable
from .untrusted import check_finite

__all__ = ["Decoder", "encode_andi_ms", "parse_file"]


def encode_andi_ms(run: LabRun) -> bytes:
    """The ANDI-MS (netCDF) file of a GC-MS run."""
    chrom = run.chromatogram
    if chrom is None:
        raise ValueError("an ANDI-MS file needs the run's TIC")
    times_s = [round(t * 60.0, 4) for t in chrom.times_min]
    apex: dict[int, MassSpectrum] = {}
    for m in run.spectra:
        i = min(range(len(times_s)), key=lambda k: abs(times_s[k] - m.retention_time_min * 60.0))
        apex[i] = m
    scan_index: list[int] = []
    point_count: list[int] = []
    masses: list[float] = []
    intens: list[float] = []
    for i in range(len(times_s)):
        scan_index.append(len(masses))
        spectrum = apex.get(i)
        if spectrum is None:
            point_count.append(0)
            continue
        point_count.append(len(spectrum.mz))
        masses.extend(spectrum.mz)
        intens.extend(spectrum.intensities)
    stamp = dt.datetime.fromtimestamp(run.t, dt.UTC).strftime("%Y%m%d%H%M%S+0000")
    ds = Dataset(
        dims={"_2_byte_string": 2, "_4_byte_string": 4, "_8_byte_string": 8, "_16_byte_string": 16,
              "_32_byte_string": 32, "_64_byte_string": 64, "scan_number": len(times_s),
              "point_number": max(1, len(masses)), "instrument_number": 1},
        attrs={"dataset_completeness": "C1+C2", "ms_template_revision": "1.0.1", "netcdf_revision": "2.3.2",
               "languages": "English", "dataset_origin": "Customs laboratory, SCC",
               "experiment_title": f"{run.sample_id} GC-MS run", "experiment_date_time_stamp": stamp,
               "experiment_type": "Centroided Mass Spectrum", "sample_id": run.sample_id,
               "test_ionization_mode": "Electron Impact", "test_ionization_polarity": "Positive Polarity",
               "test_electron_energy": float(run.spectra[0].ionisation_ev if run.spectra else 70.0),
               "raw_data_mass_format": "Double", "raw_data_intensity_format": "Float",
               "raw_data_time_format": "Double", "units": "Seconds",
               "borderlink_case_id": run.case_id, "borderlink_instrument": run.instrument,
               "borderlink_timestamp": float(run.t),
               "borderlink_ri_calibration": " ".join(f"{rt:.4f},{ri:.0f}" for rt, ri in chrom.ri_calibration)},
    )
    ds.variables = {
        "scan_acquisition_time": Variable(("scan_number",), NC_DOUBLE, times_s),
        "total_intensity": Variable(("scan_number",), NC_DOUBLE, list(chrom.intensities)),
        "scan_index": Variable(("scan_number",), NC_INT, scan_index),
        "point_count": Variable(("scan_number",), NC_INT, point_count),
        "mass_values": Variable(("point_number",), NC_DOUBLE, masses or [0.0]),
        "intensity_values": Variable(("point_number",), NC_FLOAT, intens or [0.0]),
    }
    return netcdf3.encode(ds)


def _numbers(ds: Dataset, name: str, filename: str, *, whole: bool = False) -> list[Any]:
    """A numeric variable's values, each finite and plausible (whole numbers if *whole*)."""
    try:
        var = ds.variables[name]
    except KeyError:
        raise FrameDecodeError(f"ANDI-MS: {filename or 'file'} lacks variable {name!r}") from None
    if var.nc_type == netcdf3.NC_CHAR or isinstance(var.values, str):
        raise FrameDecodeError(f"ANDI-MS: variable {name} holds text, expected numbers")
    if whole and var.nc_type not in (netcdf3.NC_BYTE, netcdf3.NC_SHORT, NC_INT):
        raise FrameDecodeError(f"ANDI-MS: variable {name} must be an integer variable")
    for v in var.values:
        check_finite(v, f"ANDI-MS: a value of {name}")
    return list(var.values)


def _attr_number(attrs: dict[str, Any], key: str, default: float, *, low: float,
                 high: float) -> float:
    value = attrs.get(key, default)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError as exc:
            raise FrameDecodeError(f"ANDI-MS: attribute {key} is not a number: {value[:40]!r}") from exc
    if not isinstance(value, (int, float)):
        raise FrameDecodeError(f"ANDI-MS: attribute {key} must be one number")
    return check_finite(float(value), f"ANDI-MS: attribute {key}", low=low, high=high)


def parse_file(data: bytes, filename: str = "") -> LabRun:
    ds = netcdf3.decode(data)
    times = _numbers(ds, "scan_acquisition_time", filename)
    tic = _numbers(ds, "total_intensity", filename)
    index = _numbers(ds, "scan_index", filename, whole=True)
    count = _numbers(ds, "point_count", filename, whole=True)
    masses = _numbers(ds, "mass_values", filename)
    intens = _numbers(ds, "intensity_values", filename)
    if not (len(times) == len(tic) == len(index) == len(count)):
        raise FrameDecodeError("ANDI-MS: per-scan variables differ in length")
    a = ds.attrs
    t = _attr_number(a, "borderlink_timestamp", 0.0, low=0.0, high=2.0**32)
    sample, case, instrument = str(a.get("sample_id", "")), str(a.get("borderlink_case_id", "")), \
        str(a.get("borderlink_instrument", ""))
    ladder = []
    for pair in str(a.get("borderlink_ri_calibration", "")).split():
        rt, _, ri = pair.partition(",")
        try:
            ladder.append((check_finite(float(rt), "ANDI-MS: an RI calibration time"),
                           check_finite(float(ri), "ANDI-MS: an RI calibration index")))
        except ValueError as exc:
            if isinstance(exc, ImplausibleValueError):
                raise
            raise FrameDecodeError(f"ANDI-MS: bad RI calibration pair {pair[:40]!r}") from exc
    chrom = Chromatogram(t=t, instrument=instrument, sample_id=sample, case_id=case, detector="TIC",
                         times_min=tuple(round(x / 60.0, 6) for x in times), intensities=tuple(tic),
                         ri_calibration=tuple(ladder))
    energy = _attr_number(a, "test_electron_energy", 70.0, low=0.0, high=1e4)
    spectra = []
    for i, n in enumerate(count):
        if n <= 0:
            continue
        start = index[i]
        if start < 0 or start + n > len(masses):
            raise FrameDecodeError(f"ANDI-MS: scan {i} points outside mass_values")
        spectra.append(MassSpectrum(t=t, instrument=instrument, sample_id=sample, case_id=case,
                                    retention_time_min=round(times[i] / 60.0, 4),
                                    mz=tuple(masses[start: start + n]),
                                    intensities=tuple(float(v) for v in intens[start: start + n]),
                                    ionisation_ev=energy))
    return LabRun(t=t, instrument=instrument, sample_id=sample, case_id=case, chromatogram=chrom,
                  spectra=tuple(spectra), filename=filename)


class Decoder:
    """Whole ANDI-MS files -> one :class:`LabRun`."""

    @classmethod
    def from_profile(cls, profile: Any, **_: Any) -> Decoder:
        return cls()

    def decode(self, frame: bytes, filename: str = "") -> list[LabRun]:
        return [parse_file(frame, filename)]
