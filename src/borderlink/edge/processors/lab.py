"""Customs laboratory: GC-FID and GC-MS runs -> identified substances, linked to the seizure case.

GC-MS (``LabRun`` with spectra, or a ``TIC`` chromatogram)
    The TIC is baseline-corrected and its peaks picked (:mod:`.chromatography`); each apex
    spectrum is searched against the reference library (:mod:`.spectra`: NIST-style composite
    match factor and reverse match, 0..999), with the retention index of its retention time from
    the method's alkane ladder. A substance is reported when ``match >= min_match_factor``,
    ``reverse_match >= min_reverse_match`` and, when the run has a ladder and the library an RI,
    ``|RI - RI_lib| <= ri_tolerance``. A spectrum whose residual after the best hit still holds
    a good reverse match to a second compound reports both (co-eluting drug and cutting agent);
    separate peaks are searched separately, so a cut sample reports the drug and its cut.
GC-FID (``FID`` chromatogram)
    Identification by retention index only, a *presumptive* result: the library entry nearest
    in RI within ``ri_tolerance``. When another entry of different control status is about as
    likely (likelihood ratio under ``ri_ambiguity_ratio`` for a Gaussian RI error of
    ``ri_tolerance / 3``), the finding is marked ambiguous (MDMA at RI 1480 vs levoglucosan
    from sugar at 1492). Only peaks of at least ``min_area_pct`` of the total area are
    identified. Every GC-FID finding is ``presumptive``: a retention index is a SWGDRUG
    category C technique, no identification alone — any compound outside the library can
    elute at a drug's index — so it does not set ``controlled_found`` (unless
    ``fid_reports_controlled``); an unambiguous controlled finding is an INFO alert asking
    for GC-MS confirmation.

Every decision is a ``lab.analysis`` body with the case and sample ids of the run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from borderlink.hardware_profiles.readings import Chromatogram, LabRun, MassSpectrum

from .base import AlertLevel, Decision
from .chromatography import Peak, RetentionIndexScale, correct_baseline, pick_peaks
from .spectra import Hit, MsLibrary, bin_spectrum

__all__ = ["Finding", "LabConfig", "LabProcessor"]


@dataclass(frozen=True)
class LabConfig:
    """Parameters of one instrument (the ``[processing]`` table of a gc profile)."""

    min_match_factor: int = 700
    min_reverse_match: int = 750
    ri_tolerance: float = 30.0
    min_peak_snr: float = 10.0
    baseline_window_min: float = 0.5
    # the method's scan range: ions outside it were never recorded (the scan starts above air's
    # N2/O2/H2O at m/z 28/32/18), on the unknown's side and the library's alike
    scan_range_mz: tuple[float, float] = (40.0, 550.0)
    rt_match_tolerance_min: float = 0.05  # spectrum <-> chromatographic peak
    ri_ambiguity_ratio: float = 10.0
    min_ion_pct: float = 3.0  # ions below this share of the base peak are noise, dropped
    background_ions: tuple[int, ...] = (207, 281)  # column bleed (polysiloxane), subtracted
    mz_power: float = 1.0  # match-factor weights (m/z)^mz_power * I^intensity_power (.spectra)
    intensity_power: float = 0.5
    min_area_pct: float = 5.0  # GC-FID: smaller peaks (impurities) are not identified by RI
    fid_reports_controlled: bool = False  # let an RI match alone set controlled_found

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **overrides: Any) -> LabConfig:
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in settings.items() if k in names}
        if "scan_range_mz" in values:
            values["scan_range_mz"] = tuple(float(v) for v in values["scan_range_mz"])
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class Finding:
    """One substance found in a run."""

    substance: str
    name: str
    controlled: bool
    rt_min: float
    ri: float | None
    match: int | None = None
    reverse_match: int | None = None
    area_pct: float | None = None
    presumptive: bool = False
    ambiguous_with: tuple[str, ...] = ()

    def as_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "substance": self.substance,
            "name": self.name,
            "controlled": self.controlled,
            "rt_min": round(self.rt_min, 4),
        }
        if self.ri is not None:
            body["ri"] = round(self.ri, 1)
        if self.match is not None:
            body["match"] = self.match
            body["reverse_match"] = self.reverse_match
        if self.area_pct is not None:
            body["area_pct"] = round(self.area_pct, 2)
        if self.presumptive:
            body["presumptive"] = True
        if self.ambiguous_with:
            body["ambiguous_with"] = list(self.ambiguous_with)
        return body


class LabProcessor:
    """GC-FID / GC-MS processor over a reference library (``MsLibrary.load(profile file)``)."""

    def __init__(self, library: MsLibrary, config: LabConfig | None = None) -> None:
        self.library = library
        self.config = config or LabConfig()

    @classmethod
    def from_profile(cls, profile: Any, **overrides: Any) -> LabProcessor:
        """Load the profile's ``library_file`` (I/O) and its processing parameters."""
        config = LabConfig.from_settings(profile.settings, **overrides)
        library = MsLibrary.load(profile.setting("library_file"), mass_range=config.scan_range_mz,
                                 mz_power=config.mz_power,
                                 intensity_power=config.intensity_power,
                                 ignore_ions=config.background_ions,
                                 min_ion_pct=config.min_ion_pct)
        return cls(library, config)

    # ------------------------------------------------------------------ Processor API
    def feed(self, reading: Any) -> list[Decision]:
        if isinstance(reading, LabRun):
            run = reading
        elif isinstance(reading, Chromatogram):
            run = LabRun(reading.t, reading.instrument, reading.sample_id, reading.case_id,
                         reading)
        elif isinstance(reading, MassSpectrum):
            run = LabRun(reading.t, reading.instrument, reading.sample_id, reading.case_id,
                         None, (reading,))
        else:
            return []
        return [self.analyse(run)]

    def tick(self, now: float) -> list[Decision]:
        return []

    # ------------------------------------------------------------------ analysis
    def peaks(self, chrom: Chromatogram) -> list[Peak]:
        """Baseline-corrected peaks of a chromatogram."""
        times = chrom.times_min
        if len(times) < 5:
            return []
        step = (times[-1] - times[0]) / (len(times) - 1)
        window = max(3, round(self.config.baseline_window_min / step) | 1)
        _, corrected = correct_baseline(chrom.intensities, window)
        return pick_peaks(times, corrected, min_snr=self.config.min_peak_snr)

    def analyse(self, run: LabRun) -> Decision:
        chrom = run.chromatogram
        ladder = chrom.ri_calibration if chrom is not None else ()
        scale = RetentionIndexScale(ladder) if len(ladder) >= 2 else None
        peaks = self.peaks(chrom) if chrom is not None else []
        total_area = sum(p.area for p in peaks if p.area > 0) or 1.0
        gcms = bool(run.spectra) or (chrom is not None and chrom.detector.upper() == "TIC")
        if gcms:
            findings = self._gcms(run, peaks, total_area, scale)
        else:
            findings = self._fid(peaks, total_area, scale)
        # a retention index alone is no identification (SWGDRUG: category C technique)
        presumptive = any(f.controlled and f.presumptive and not f.ambiguous_with
                          for f in findings)
        controlled = any(f.controlled and not f.ambiguous_with
                         and (not f.presumptive or self.config.fid_reports_controlled)
                         for f in findings)
        body = {
            "case_id": run.case_id,
            "sample_id": run.sample_id,
            "instrument": run.instrument,
            "method": "GC-MS" if gcms else "GC-FID",
            "findings": [f.as_body() for f in findings],
            "controlled_found": controlled,
        }
        names = ", ".join(f.name for f in findings) or "nothing identified"
        return Decision(
            "lab.analysis", body, t=run.t, decided_at=run.t,
            alert=(AlertLevel.WARNING if controlled
                   else AlertLevel.INFO if presumptive else None),
            summary=f"case {run.case_id} sample {run.sample_id}: {names}"
                    + (" (presumptive by RI: confirm by GC-MS)" if presumptive else ""),
            extra={"findings": findings, "peaks": peaks, "presumptive_controlled": presumptive})

    def _gcms(self, run: LabRun, peaks: list[Peak], total_area: float,
              scale: RetentionIndexScale | None) -> list[Finding]:
        c = self.config
        best: dict[str, Finding] = {}
        for spec in run.spectra:
            binned = self.clean_spectrum(spec)
            if not binned:
                continue
            rt = spec.retention_time_min
            ri = scale(rt) if scale is not None else None
            tol = c.ri_tolerance if ri is not None else None
            hits = self.library.search_mixture(binned, ri=ri, ri_tolerance=tol,
                                               min_reverse=c.min_reverse_match)
            peak = min(peaks, key=lambda p: abs(p.rt_min - rt), default=None)
            area = None
            if peak is not None and abs(peak.rt_min - rt) <= c.rt_match_tolerance_min:
                area = 100.0 * peak.area / total_area
            for hit in hits:
                if not self._accept(hit, ri):
                    continue
                e = hit.entry
                f = Finding(e.id, e.name, e.controlled, rt, ri, hit.match, hit.reverse_match,
                            area)
                old = best.get(e.id)
                if old is None or (old.match or 0) < hit.match:
                    best[e.id] = f
        return sorted(best.values(), key=lambda f: f.rt_min)

    def clean_spectrum(self, spec: MassSpectrum) -> dict[int, float]:
        """Unit-mass spectrum without column-bleed ions and ions under the noise floor."""
        c = self.config
        binned = bin_spectrum(spec.mz, spec.intensities, c.scan_range_mz)
        for ion in c.background_ions:
            binned.pop(ion, None)
        if not binned:
            return {}
        top = max(binned.values())
        return {m: 100.0 * i / top for m, i in binned.items() if 100.0 * i / top >= c.min_ion_pct}

    def _accept(self, hit: Hit, ri: float | None) -> bool:
        c = self.config
        if hit.match < c.min_match_factor or hit.reverse_match < c.min_reverse_match:
            return False
        return not (ri is not None and hit.ri_delta is not None and abs(hit.ri_delta) > c.ri_tolerance)

    def _fid(self, peaks: list[Peak], total_area: float,
             scale: RetentionIndexScale | None) -> list[Finding]:
        c = self.config
        if scale is None:
            return []  # retention times mean nothing without the method's ladder
        sigma = c.ri_tolerance / 3.0
        found: dict[str, Finding] = {}
        for peak in peaks:
            area_pct = 100.0 * peak.area / total_area
            if area_pct < c.min_area_pct:
                continue
            ri = scale(peak.rt_min)
            cands = sorted(
                ((abs(ri - e.retention_index), e) for e in self.library.entries
                 if e.retention_index is not None and abs(ri - e.retention_index) <= c.ri_tolerance),
                key=lambda x: x[0])
            if not cands:
                continue
            d0, e0 = cands[0]
            rivals = []
            for d, e in cands[1:]:
                log_lr = (d * d - d0 * d0) / (2 * sigma * sigma)
                if log_lr < math.log(c.ri_ambiguity_ratio) and e.controlled != e0.controlled:
                    rivals.append(e.id)
            f = Finding(e0.id, e0.name, e0.controlled, peak.rt_min, ri, area_pct=area_pct,
                        presumptive=True, ambiguous_with=tuple(rivals))
            old = found.get(e0.id)
            if old is None or (old.area_pct or 0) < area_pct:
                found[e0.id] = f
        return sorted(found.values(), key=lambda f: f.rt_min)
