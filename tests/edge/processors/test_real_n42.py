"""Radiation: real ANSI N42.42 files of real instruments (tests/data/real/n42, see its README).

Apart from the simulator: these spectra were measured by others (LLNL RASE base spectra of a
generic NaI device; an ORTEC spectroscopic portal from InterSpec's examples). They first showed
that the two-window NORM band of PVT panels misjudges NaI spectra; the processor now judges NaI
on photopeak windows, and these tests hold it to what an expert expects.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from pathlib import Path

import pytest

from borderlink.edge.processors.radiation import (
    OccupancyResult,
    RadiationConfig,
    RadiationProcessor,
)
from borderlink.hardware_profiles.errors import FrameDecodeError
from borderlink.hardware_profiles.protocols.n42 import parse_report
from borderlink.hardware_profiles.protocols.n42_spectra import (
    GAMMA_HIGH_KEV,
    GAMMA_LOW_KEV,
    N42ImportError,
    N42Spectrum,
    occupancy_report,
    read_spectra,
    window_counts,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "real" / "n42"
RASE = {name: DATA / f"rase_generic_nai_{name}.n42" for name in
        ("background", "cs137", "co60", "th232", "ra226")}
PORTAL = DATA / "interspec_passthrough_excerpt.n42"
ALL_FILES = sorted(DATA.glob("*.n42"))


def _one(path: Path) -> N42Spectrum:
    spectra = read_spectra(path.read_bytes())
    assert len(spectra) == 1
    return spectra[0]


def _peak_energy(s: N42Spectrum, lo_kev: float, hi_kev: float) -> float:
    """Energy of the highest channel inside a window (the photopeak an analyst would read off)."""
    best = max((i for i in range(len(s.counts)) if lo_kev <= s.energy(i + 0.5) < hi_kev),
               key=s.counts.__getitem__)
    return s.energy(best + 0.5)


def test_the_folder_holds_the_files_the_readme_cites() -> None:
    names = {p.name for p in ALL_FILES}
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert len(names) == 7
    for name in names:
        assert name in readme


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_portal_subset_decoder_refuses_real_spectrum_files_with_a_clear_error(path: Path) -> None:
    """hardware_profiles' decoder reads only the RPM GrossCounts subset; real files are refused
    with a FrameDecodeError that names the cause, never another exception."""
    with pytest.raises(FrameDecodeError, match="root element|RadInstrumentData"):
        parse_report(path.read_bytes())


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_importer_reads_every_real_file(path: Path) -> None:
    spectra = read_spectra(path.read_bytes())
    for s in spectra:
        assert s.total > 0 and s.live_time_s > 0
        assert 2500 < s.energy(len(s.counts)) < 3200  # both instruments span ~0-3 MeV


def test_rase_nai_spectra_decode_to_the_right_physics() -> None:
    bg, cs, co = _one(RASE["background"]), _one(RASE["cs137"]), _one(RASE["co60"])
    assert len(cs.counts) == 1024 and cs.live_time_s == pytest.approx(400.29)
    assert bg.live_time_s == pytest.approx(55467.02)
    # Cs-137: the 661.7 keV photopeak; Co-60: 1173.2 and 1332.5 keV; background: K-40 1460.8 keV
    assert _peak_energy(cs, 500, 900) == pytest.approx(661.7, abs=15)
    assert _peak_energy(co, 1100, 1250) == pytest.approx(1173.2, abs=20)
    assert _peak_energy(co, 1260, 1420) == pytest.approx(1332.5, abs=20)
    assert _peak_energy(bg, 1300, 1600) == pytest.approx(1460.8, abs=25)
    # window sums partition the spectrum above 30 keV
    above = sum(n for i, n in enumerate(cs.counts) if 30 <= cs.energy(i + 0.5) < 3000)
    assert window_counts(cs, GAMMA_LOW_KEV) + window_counts(cs, GAMMA_HIGH_KEV) == above


def test_real_portal_excerpt_decodes_counted_zeroes_into_full_spectra() -> None:
    spectra = read_spectra(PORTAL.read_bytes())
    assert [s.detector for s in spectra] == ["A1", "A2", "A3", "A4", "B1", "B2", "B3", "B4"]
    for s in spectra:
        # CountedZeroes runs must expand to the instrument's 16384 channels exactly
        assert len(s.counts) == 16384
        assert s.occupied is True
        assert 0.22 <= s.live_time_s <= 0.25
        assert s.energy(16384) == pytest.approx(3070, abs=20)  # HPGe, ~0.187 keV/channel
        assert 30 <= s.total <= 80  # a 0.25 s sample of 50 % HPGe: tens of counts
    assert spectra[0].start == pytest.approx(1264291704.078)
    assert sum(s.total for s in spectra) == 454


_CAL = b"<Calibration><Equation><Coefficients>0 3</Coefficients></Equation></Calibration>"
_BAD_RUN = (b"<N42InstrumentData><Measurement><Spectrum><LiveTime>PT1S</LiveTime>" + _CAL
            + b"<ChannelData Compression='CountedZeroes'>5 0</ChannelData></Spectrum></Measurement>"
            + b"</N42InstrumentData>")
_BAD_DURATION = (b"<N42InstrumentData><Measurement><Spectrum><LiveTime>1 s</LiveTime>" + _CAL
                 + b"<ChannelData>1 2</ChannelData></Spectrum></Measurement></N42InstrumentData>")


@pytest.mark.parametrize("bad,match", [
    (b"<RadInstrumentData/>", "neither"),
    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><N42InstrumentData/>", "DTD"),
    (_BAD_RUN, "CountedZeroes"),
    (_BAD_DURATION, "duration"),
    (b"<N42InstrumentData><Measurement/></N42InstrumentData>", "no Spectrum"),
    (b"<N42InstrumentData", "well-formed"),
])
def test_importer_refuses_malformed_documents_with_a_named_cause(bad: bytes, match: str) -> None:
    with pytest.raises(N42ImportError, match=match):
        read_spectra(bad)


# ------------------------------------------------------------------ through the processor
def _gross(source: N42Spectrum, bg: N42Spectrum) -> N42Spectrum:
    """What the detector saw with the source present: the (background-free) RASE source spectrum
    plus the measured background's expected counts over the source's live time."""
    k = source.live_time_s / bg.live_time_s
    return replace(source, counts=tuple(a + round(b * k) for a, b in zip(source.counts, bg.counts,
                                                                             strict=True)))


def _decide(fg: N42Spectrum, bg: N42Spectrum, **config: object) -> OccupancyResult:
    """Through the processor as the RASE device is: a NaI detector sending its spectra."""
    settings = {"lane": "L1", "panels": 1, "detector_type": "nai", **config}
    proc = RadiationProcessor(RadiationConfig.from_settings(settings))
    decisions = proc.feed(occupancy_report([fg], [bg], lane="L1", start=1_700_000_000.0))
    assert decisions and decisions[0].record_type == "radiation.occupancy"
    result = decisions[0].extra["result"]
    assert isinstance(result, OccupancyResult)
    return result


def _source(name: str, **config: object) -> OccupancyResult:
    bg = _one(RASE["background"])
    return _decide(_gross(_one(RASE[name]), bg), bg, **config)


def test_real_background_split_in_two_does_not_alarm() -> None:
    """Binomial thinning of a Poisson count gives two independent Poisson counts: half of the
    measured background as the 'occupancy', the other half as the background it is tested on."""
    bg = _one(RASE["background"])
    rng = random.Random(20261127)
    fg_counts, bg_counts = [], []
    for n in bg.counts:
        k = sum(rng.random() < 0.5 for _ in range(n)) if n < 64 else \
            max(0, min(n, round(rng.gauss(n / 2, (n / 4) ** 0.5))))
        fg_counts.append(k)
        bg_counts.append(n - k)
    half = bg.live_time_s / 2
    fg = replace(bg, counts=tuple(fg_counts), live_time_s=half)
    rest = replace(bg, counts=tuple(bg_counts), live_time_s=half)
    r = _decide(fg, rest)
    assert not r.gamma_alarm and not r.neutron_alarm
    assert abs(r.max_sigma) < 4.0


@pytest.mark.parametrize("name", ["cs137", "co60", "th232", "ra226"])
def test_every_real_source_alarms_on_gross_counts(name: str) -> None:
    r = _source(name)
    assert r.gamma_alarm and not r.neutron_alarm
    assert r.max_sigma > 100  # laboratory sources, minutes of live time
    assert r.energy_ratio is not None


def test_th232_norm_is_labelled_nuisance() -> None:
    r = _source("th232")
    assert r.nuisance and r.norm_test == "photopeaks"
    assert r.photopeaks is not None and "Tl-208" in r.photopeaks.norm
    assert not r.photopeaks.man_made


# Formerly strict xfails (the two-window band of PVT panels applied to NaI spectra called
# Cs-137 and Co-60 NORM and missed Ra-226); NaI is judged on its photopeaks now.
def test_cs137_is_man_made_not_norm() -> None:
    r = _source("cs137")
    assert not r.nuisance and r.gamma_alarm
    assert r.photopeaks is not None and r.photopeaks.man_made == ("Cs-137",)


def test_co60_is_man_made_not_norm() -> None:
    r = _source("co60")
    assert not r.nuisance and r.gamma_alarm
    assert r.photopeaks is not None and r.photopeaks.man_made == ("Co-60",)


def test_ra226_norm_is_labelled_nuisance() -> None:
    r = _source("ra226")
    assert r.nuisance
    assert r.photopeaks is not None and "Bi-214" in r.photopeaks.norm
    assert not r.photopeaks.man_made


def test_the_pvt_band_on_nai_windows_is_what_failed() -> None:
    """The finding the photopeak test answers: with the PVT band applied to a NaI detector's
    two windows, Cs-137 and Co-60 are called NORM and Ra-226 is not."""
    pvt_band = {"norm_ratio_band": (0.30, 0.52)}
    cs, co, ra = (_decide_windows_only(n, **pvt_band) for n in ("cs137", "co60", "ra226"))
    assert cs.nuisance and co.nuisance and not ra.nuisance
    assert cs.energy_ratio == pytest.approx(0.319, abs=0.01)
    # NaI profiles define no band: two windows alone never call a nuisance
    assert not any(_decide_windows_only(n).nuisance for n in ("cs137", "th232", "ra226"))
    assert _decide_windows_only("th232").norm_test == "none"


def _decide_windows_only(name: str, **config: object) -> OccupancyResult:
    bg = _one(RASE["background"])
    report = occupancy_report([_gross(_one(RASE[name]), bg)], [bg], lane="L1", start=1.7e9)
    report = replace(report, foreground_spectra=(), background_spectra=())
    settings = {"lane": "L1", "panels": 1, "detector_type": "nai", **config}
    proc = RadiationProcessor(RadiationConfig.from_settings(settings))
    (occupancy, *_) = proc.feed(report)
    return occupancy.extra["result"]


def test_cs137_photopeak_window_shows_the_man_made_line_an_analyst_would_see() -> None:
    """What the processor does not yet use: the net counts in a 662 keV window above the
    straight-line continuum of its side bands are a large share for Cs-137, not for Th-232."""
    def net_share(s: N42Spectrum) -> float:
        def band(lo: float, hi: float) -> int:
            return window_counts(s, (lo, hi))
        peak = band(620, 705)
        sides = (band(580, 620) * 85 / 40 + band(705, 745) * 85 / 40) / 2
        return (peak - sides) / max(1, s.total)

    cs, th = net_share(_one(RASE["cs137"])), net_share(_one(RASE["th232"]))
    assert cs > 0.15 and th < 0.03


# ------------------------------------------------------------------ 2011 schema (format only)
_N42_2011 = b"""<?xml version="1.0" encoding="utf-8"?>
<RadInstrumentData xmlns="http://physics.nist.gov/N42/2011/N42" n42DocUUID="x">
  <RadDetectorInformation id="det"><RadDetectorCategoryCode>Gamma</RadDetectorCategoryCode>
  </RadDetectorInformation>
  <EnergyCalibration id="EnergyCal0"><CoefficientValues>-0.32 0.4888 0</CoefficientValues>
  </EnergyCalibration>
  <RadMeasurement id="Sample1">
    <MeasurementClassCode>Foreground</MeasurementClassCode>
    <StartDateTime>2013-12-26T21:15:00Z</StartDateTime>
    <RealTimeDuration>PT1824.65S</RealTimeDuration>
    <Spectrum energyCalibrationReference="EnergyCal0" radDetectorInformationReference="det" id="s">
      <LiveTimeDuration>PT1800.000000S</LiveTimeDuration>
      <ChannelData compressionCode="CountedZeroes">0 36 2 2 16 0 3 5</ChannelData>
    </Spectrum>
  </RadMeasurement>
</RadInstrumentData>
"""


def test_2011_schema_spectrum_with_referenced_calibration_and_counted_zeroes() -> None:
    """The layout InterSpec/SpecUtils write for a real HPGe file (structure of SpecUtils'
    unit_tests/test_data/spectra/Mn56_DetX_Shielded.n42), with a short spectrum."""
    (s,) = read_spectra(_N42_2011)
    assert s.counts == (0,) * 36 + (2, 2, 16, 0, 0, 0, 5)
    assert s.live_time_s == 1800.0 and s.real_time_s == pytest.approx(1824.65)
    assert s.measurement_class == "Foreground" and s.detector == "det"
    assert s.start == pytest.approx(1388092500.0)
    assert s.energy(100) == pytest.approx(48.56)
    with pytest.raises(N42ImportError, match="energy calibration 'EnergyCal1' not found"):
        read_spectra(_N42_2011.replace(b'Reference="EnergyCal0"', b'Reference="EnergyCal1"'))


def test_importer_refuses_our_own_gross_count_reports_clearly() -> None:
    """The RPM occupancy report carries no spectrum: the importer says so instead of guessing."""
    from borderlink.hardware_profiles.protocols.n42 import encode_report
    from borderlink.hardware_profiles.readings import OccupancyReport, PanelCounts
    pc = (PanelCounts(panel=1, gamma_low=100, gamma_high=50, neutron=1),)
    rep = OccupancyReport(t=10.0, lane="L1", occupancy_id=1, start=5.0, end=10.0, live_time_s=5.0,
                          foreground=pc, background=pc, background_live_time_s=5.0)
    with pytest.raises(N42ImportError, match="no Spectrum"):
        read_spectra(encode_report(rep))


def _portal_pass(name: str, net_counts: int, rng: random.Random, live_s: float = 4.0):
    """A vehicle pass: the measured background over *live_s* plus *net_counts* of the real
    source spectrum's shape, Poisson-sampled (far weaker than the laboratory files)."""
    bg = _one(RASE["background"])
    src = _one(RASE[name])
    k, total = live_s / bg.live_time_s, sum(src.counts)

    def poisson(lam: float) -> int:
        if lam < 30:
            n, p, limit = 0, rng.random(), math.exp(-lam)
            while p > limit:
                n, p = n + 1, p * rng.random()
            return n
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))

    counts = tuple(poisson(b * k + c * net_counts / total) for b, c in zip(bg.counts, src.counts,
                                                                           strict=True))
    return _decide(replace(src, counts=counts, live_time_s=live_s), bg)


@pytest.mark.parametrize("name", ["cs137", "co60"])
def test_a_weak_man_made_source_on_a_portal_pass_is_never_called_nuisance(name: str) -> None:
    """At portal counts the lines may be too weak to name: then it stays an alarm (NORM must
    be seen, and no man-made line, for a nuisance)."""
    rng = random.Random(f"portal/{name}")
    results = [_portal_pass(name, n, rng) for n in (300, 1000, 3000) for _ in range(6)]
    assert all(r.gamma_alarm and not r.nuisance for r in results)


def test_strong_norm_on_a_portal_pass_is_called_nuisance() -> None:
    rng = random.Random("portal/norm")
    assert all(_portal_pass(name, 10_000, rng).nuisance for name in ("th232", "ra226")
               for _ in range(3))
