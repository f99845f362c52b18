"""Photopeak windows of a gamma spectrum: man-made lines against naturally occurring ones.

Spectroscopic portal monitors (NaI, HPGe) send each panel's spectrum with the occupancy
report (:class:`~borderlink.hardware_profiles.readings.GammaSpectrum`). Two energy windows
cannot tell a NaI detector's Cs-137 or Co-60 from NORM — their photopeaks fall in the high
window as K-40's and Tl-208's do (on the real RASE NaI spectra of ``tests/data/real/n42``:
high-window share Cs-137 0.32, Co-60 0.51, Th-232 0.32, Ra-226 0.25) — but the lines can.

For each line a *peak* window ``E ± window_fwhm * FWHM(E)`` and two *side* windows of half
its width on either side; the line's net counts are the peak window less the side windows
(the straight-line continuum under the peak). FWHM scales as ``sqrt(E)`` from the detector's
resolution at 662 keV (NaI ~7 %, HPGe ~0.2 %). A line's *excess* is the occupancy's net
counts less the background measurement's, scaled to the occupancy's live time; its *share*
is that excess over the spectrum's whole excess (30-3000 keV), its ``z`` the excess over its
Poisson standard error.

* Man-made (:data:`MAN_MADE`): Cs-137 (661.7 keV), Co-60 (1173.2 *and* 1332.5 keV): every
  line of the nuclide with ``z >= min_sigma`` and ``share >= man_made_min_share``. On the real
  spectra the 662 keV window holds 19 % of the Cs-137 excess and < 0 for Th-232/Ra-226
  (whose 583/609 keV lines lift the side band); Co-60's lines 6 % each.
* NORM (:data:`NORM`): K-40 1460.8, Tl-208 2614.5 and 583.2, Bi-214 609.3 and 1764.5,
  Pb-212 238.6, Pb-214 351.9, Ac-228 911.2 keV: a line with ``z >= min_sigma`` and
  ``share >= norm_min_share``.

The verdict an analyst would give (issue 14): *nuisance* only when the whole excess is
explained by NORM, never "some NORM windows rose":

* a series is claimed only on its key lines, together (:data:`NORM_SERIES`): K-40 on 1461;
  the Th-232 chain on Tl-208's 2614 keV line (with 583 and Ac-228's 911 not absent); the
  U-238 / Ra-226 chain on Bi-214's 609 *and* 1764 keV lines (the second key line confirms at
  3/5 of ``min_sigma``), its 1120 keV line not absent.
  Their expected ratios are checked with the bounds any detector efficiency respects (a
  lower-energy line of similar or higher yield is not much weaker than a higher one, within
  two standard errors: 583 >= 0.4 x 2614, 609 >= 0.6 x 1764, 1120 >= 0.3 x 1764). Pb-212, Pb-214 or Ac-228 alone never claim NORM: a high-energy
  source's Compton continuum lifts those windows (what named Co-60 on CsI(Tl) "Pb-212,
  Ac-228");
* every significant peak of the excess spectrum (a scan of the whole 120-3000 keV range at a
  third of the FWHM) must be explained: a line of a claimed series, or an artefact of one
  (its backscatter peak, Compton edge, escape peaks and the 511 keV annihilation line above
  1022 keV: weaker than their line, within 1.5 FWHM; the backscatter humps of all lines add
  up, within 2 FWHM). An unexplained peak (``unexplained_kev``) or a man-made line
  (:data:`MAN_MADE`, its key line seen) forbids the nuisance;
* the excess above the highest claimed line's reach (its energy + 3 FWHM) must be
  insignificant: nothing of NORM lies there.

``reason`` says in words why the verdict is what it is (the record carries it).

Identification (``nuclides``): the ANSI N42.34 categories' nuclides, each on its key line
(the first listed; significance ``min_sigma`` and ``norm_min_share`` of the excess, since in
a mixture one nuclide's share shrinks the other's), with a confidence: the fraction of its
lines seen, times 0.5 when every line seen is explained by a claimed NORM series — a line of
the series within one FWHM whose expected excess (the key line's, times the published yield
ratio and the efficiency slope measured on the series' own lines, with a factor 3 of margin)
covers it — and then
it does not count against the nuisance
(Ir-192's 604 under Bi-214's 609, U-235's 186 under Ra-226's 186, Ba-133's 356 under
Pb-214's 352, Ga-67's 300 under Pb-212's 300 at scintillator resolution). Special nuclear
material (U-235, Pu-239) is never a nuisance.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from borderlink.hardware_profiles.readings import GammaSpectrum

__all__ = ["MAN_MADE", "NORM", "NORM_SERIES", "SNM", "LineExcess", "PhotopeakVerdict",
           "analyse", "window_counts"]

#: Man-made nuclides (ANSI N42.34 industrial, medical, SNM): key line first, keV.
MAN_MADE: Mapping[str, tuple[float, ...]] = {
    "Co-60": (1332.5, 1173.2), "Cs-137": (661.7,), "Ir-192": (316.5, 468.1, 604.4),
    "Am-241": (59.5,), "Ba-133": (356.0, 81.0, 302.9, 383.8), "Se-75": (264.7, 136.0, 400.7),
    "Tc-99m": (140.5,), "I-131": (364.5, 637.0), "F-18": (511.0,), "Tl-201": (167.4, 71.0),
    "Ga-67": (184.6, 93.3, 300.2), "Lu-177": (208.4, 112.9), "U-235": (185.7, 143.8),
    "Pu-239": (413.7, 375.0), "Co-57": (122.1,),
}
SNM = frozenset({"U-235", "Pu-239"})
#: NORM lines by emitter (for the records and the old callers) ...
NORM: Mapping[str, tuple[float, ...]] = {
    "K-40": (1460.8,), "Tl-208": (2614.5, 583.2), "Bi-214": (609.3, 1764.5, 1120.3),
    "Pb-212": (238.6,), "Pb-214": (351.9, 295.2), "Ac-228": (911.2, 969.0),
}
#: ... and by series: (key lines, all lines of the series a spectrum may show).
NORM_SERIES: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "K-40": ((1460.8,), (1460.8,)),
    "Th-232": ((2614.5,), (2614.5, 583.2, 911.2, 969.0, 238.6, 338.3, 727.3, 860.6, 1588.2,
                           510.8, 463.0, 409.5, 794.9, 964.8, 1630.6, 277.4, 300.1, 328.0,
                           785.4)),
    "Ra-226": ((609.3, 1764.5), (609.3, 1120.3, 1764.5, 351.9, 295.2, 1238.1, 768.4,
                                         934.1, 1377.7, 1729.6, 2204.2, 242.0, 186.2, 806.2, 1401.5,
                                         1408.0, 1281.0, 1847.4, 665.5, 1155.2, 1509.2,
                                         2447.9)),
}
#: Photons per 100 decays of the chain (NNDC/ENSDF), for the NORM lines above.
_YIELD = {1460.8: 10.7, 2614.5: 35.8, 583.2: 30.4, 911.2: 25.8, 969.0: 15.8, 238.6: 43.6,
          338.3: 11.3, 727.3: 6.7, 860.6: 4.5, 1588.2: 3.2, 510.8: 8.1, 609.3: 45.5,
          1764.5: 15.3, 1120.3: 14.9, 351.9: 35.6, 295.2: 18.4, 1238.1: 5.8, 768.4: 4.9,
          934.1: 3.1, 1377.7: 4.0, 1729.6: 2.9, 2204.2: 4.9, 242.0: 7.3, 186.2: 3.6,
          806.2: 1.3, 1401.5: 1.3, 1408.0: 2.4, 1281.0: 1.4, 1847.4: 2.0, 665.5: 1.5,
          1155.2: 1.6, 1509.2: 2.1, 2447.9: 1.5, 463.0: 4.4, 409.5: 1.9, 794.9: 4.3,
          964.8: 5.0, 1630.6: 1.5, 277.4: 2.3, 300.1: 3.3, 328.0: 2.9, 785.4: 1.1}
#: (series, stronger lower line, weaker higher line, least ratio of their excesses)
_RATIOS = (("Th-232", 583.2, 2614.5, 0.4), ("Ra-226", 609.3, 1764.5, 0.6),
           ("Ra-226", 1120.3, 1764.5, 0.3))
TOTAL_KEV = (30.0, 3000.0)
_XRAY_KEV = 100.0  # Pb/Bi K X-rays (72-90 keV) lie below
SCAN_KEV = (120.0, 3000.0)


@dataclass(frozen=True)
class LineExcess:
    nuclide: str
    energy_kev: float
    excess: float  # net counts above the continuum, less the scaled background's
    share: float  # of the spectrum's whole excess
    z: float


@dataclass(frozen=True)
class PhotopeakVerdict:
    man_made: tuple[str, ...]  # man-made nuclides identified (key line seen)
    norm: tuple[str, ...]  # NORM emitters with a line seen (information)
    lines: tuple[LineExcess, ...]
    total_excess: float
    series: tuple[str, ...] = ()  # NORM series claimed on their key lines and ratios
    unexplained_kev: tuple[float, ...] = ()  # significant peaks no claimed series explains
    excess_beyond: bool = False  # significant excess above every claimed line's reach
    nuclides: tuple[tuple[str, float], ...] = ()  # (name, confidence 0..1), best first
    reason: str = ""

    @property
    def nuisance(self) -> bool:
        return (bool(self.series) and not self.man_made and not self.unexplained_kev
                and not self.excess_beyond)


def window_counts(s: GammaSpectrum, lo_kev: float, hi_kev: float) -> int:
    """Counts of the channels whose centre energy lies in ``[lo, hi)`` keV."""
    return sum(n for i, n in enumerate(s.counts) if n and lo_kev <= s.energy(i + 0.5) < hi_kev)


class _Windows:
    """Window sums of one spectrum through its cumulative counts (one pass per spectrum)."""

    def __init__(self, s: GammaSpectrum) -> None:
        self.centres = [s.energy(i + 0.5) for i in range(len(s.counts))]
        self.cum = [0]
        for n in s.counts:
            self.cum.append(self.cum[-1] + n)
        self.live = s.live_time_s

    def sum(self, lo: float, hi: float) -> int:
        a = bisect.bisect_left(self.centres, lo)
        b = bisect.bisect_left(self.centres, hi)
        return self.cum[b] - self.cum[a]


def _net(w: _Windows, e: float, fwhm: float, width: float) -> tuple[int, int, int]:
    lo, hi = e - width * fwhm, e + width * fwhm
    side = (hi - lo) / 2
    return w.sum(lo, hi), w.sum(lo - side, lo), w.sum(hi, hi + side)


class _Excess:
    """Line and band excesses of an occupancy over its scaled background."""

    def __init__(self, pairs: list[tuple[_Windows, _Windows, float]], resolution_662_pct: float,
                 width: float) -> None:
        self.pairs, self.res, self.width = pairs, resolution_662_pct, width

    def fwhm(self, e: float) -> float:
        return self.res / 100.0 * 661.7 * math.sqrt(max(e, 1.0) / 661.7)

    def line(self, e: float) -> tuple[float, float]:
        """(excess, z) of a line at *e* keV."""
        fwhm = self.fwhm(e)
        excess = var = 0.0
        for wf, wb, k in self.pairs:
            p, lo, hi = _net(wf, e, fwhm, self.width)
            pb, lob, hib = _net(wb, e, fwhm, self.width)
            excess += (p - lo - hi) - k * (pb - lob - hib)
            var += (p + lo + hi) + k * k * (pb + lob + hib)
        return excess, (excess / math.sqrt(var) if var > 0 else 0.0)

    def band(self, lo: float, hi: float) -> tuple[float, float]:
        """(excess, z) of the counts in ``[lo, hi)`` keV."""
        excess = var = 0.0
        for wf, wb, k in self.pairs:
            f, b = wf.sum(lo, hi), wb.sum(lo, hi)
            excess += f - k * b
            var += f + k * k * b
        return excess, (excess / math.sqrt(var) if var > 0 else 0.0)


def _artefacts(e: float) -> list[float]:
    """Energies where a line at *e* keV puts a peak-like feature of its own."""
    backscatter = e / (1 + 2 * e / 511.0)
    # the backscatter hump (marked negative: the humps of several lines add up) and the
    # Compton edge (e minus the backscatter energy)
    out = [-backscatter, e - backscatter]
    if e > 1022.0:
        out += [511.0, e - 511.0, e - 1022.0]  # annihilation, single and double escape
    return out


def analyse(foreground: Sequence[GammaSpectrum], background: Sequence[GammaSpectrum], *,
            resolution_662_pct: float, min_sigma: float = 5.0,
            man_made_min_share: float = 0.02, norm_min_share: float = 0.005,
            window_fwhm: float = 0.9) -> PhotopeakVerdict | None:
    """Photopeak verdict of an occupancy; ``None`` without a usable spectrum pair.

    Panels are paired by number (one background spectrum stands for all when alone); each
    background is scaled to its foreground's live time.
    """
    if not foreground or not background:
        return None
    by_panel = {b.panel: b for b in background}
    pairs = []
    for f in foreground:
        b = by_panel.get(f.panel) or (background[0] if len(background) == 1 else None)
        if b is None or f.live_time_s <= 0 or b.live_time_s <= 0 or not f.counts:
            return None
        pairs.append((_Windows(f), _Windows(b), f.live_time_s / b.live_time_s))
    total = sum(wf.sum(*TOTAL_KEV) - k * wb.sum(*TOTAL_KEV) for wf, wb, k in pairs)
    if total <= 0:
        return None
    ex = _Excess(pairs, resolution_662_pct, window_fwhm)
    cache: dict[float, tuple[float, float]] = {}

    def seen(e: float, min_share: float) -> bool:
        if e not in cache:
            cache[e] = ex.line(e)
        excess, z = cache[e]
        return z >= min_sigma and excess / total >= min_share

    lines = []
    norm_seen = []
    for nuclide, energies in NORM.items():
        for e in energies:
            seen(e, norm_min_share)
            excess, z = cache[e]
            lines.append(LineExcess(nuclide, e, excess, excess / total, z))
        if any(seen(e, norm_min_share) for e in energies):
            norm_seen.append(nuclide)
    reasons: list[str] = []
    series = []
    for name, (keys, _all) in NORM_SERIES.items():
        # the first key line at min_sigma, the others confirming at 3/5 of it
        if not seen(keys[0], norm_min_share) or not all(
                cache.setdefault(e, ex.line(e))[1] >= 0.6 * min_sigma for e in keys[1:]):
            continue
        bad = []
        for s_name, lo, hi, least in _RATIOS:
            if s_name != name:
                continue
            excess_lo, z_lo = cache.setdefault(lo, ex.line(lo))
            sigma_lo = excess_lo / z_lo if z_lo else math.inf
            if excess_lo + 2 * abs(sigma_lo) < least * cache[hi][0]:
                bad.append(f"{lo:g}/{hi:g} keV")
        if bad:
            reasons.append(f"{name} lines out of ratio ({', '.join(bad)})")
            continue
        series.append(name)
    # man-made nuclides, strongest key line first: key line seen, not an artefact (backscatter,
    # Compton edge, escape) of a line already explained, and Co-60 with both its lines
    claimed = [e for name in series for e in NORM_SERIES[name][1]]
    found: list[tuple[str, float]] = []
    man_made: list[str] = []
    for nuclide, energies in MAN_MADE.items():
        for e in energies:
            seen(e, 0.0)
            excess, z = cache[e]
            lines.append(LineExcess(nuclide, e, excess, excess / total, z))
    # the detector's efficiency slope, measured on each claimed series' own pair of lines:
    # efficiency ~ E^-slope (clamped to 0..3; K-40 alone: 1)
    slopes: dict[str, float] = {}
    for name in series:
        slopes[name] = 1.0
        for s_name, lo, hi, _least in _RATIOS:
            if s_name == name and cache[lo][0] > 0 and cache[hi][0] > 0:
                ratio = (cache[lo][0] / _YIELD[lo]) / (cache[hi][0] / _YIELD[hi])
                slopes[name] = min(3.0, max(0.0, math.log(ratio) / math.log(hi / lo)))
                break

    def norm_explains(e: float, excess: float, fwhms: float = 1.0) -> bool:
        """A claimed series' line near *e* explains *excess* if the series' key line gives
        it that much (its yield, the efficiency slope measured on the series' own lines, a factor 3 of margin; a multiplet's lines add up)."""
        bound = 0.0  # the lines of a multiplet add up
        for name in series:
            key = NORM_SERIES[name][0][0]
            key_excess = cache[key][0]
            slope = slopes[name]
            for line in NORM_SERIES[name][1]:
                if abs(e - line) <= fwhms * ex.fwhm(line):
                    bound += 3 * key_excess * _YIELD[line] / _YIELD[key] * (key / line) ** slope
        if bound > 0 and excess <= bound:
            return True
        return False

    explained = list(claimed)
    # (energy, parent excess) of the artefacts of lines seen: they explain weaker features only
    for e in claimed:
        cache.setdefault(e, ex.line(e))
    artefacts = [(a, cache[e][0]) for e in claimed if cache[e][1] >= min_sigma
                 for a in _artefacts(e)]
    key_share = norm_min_share  # a man-made key line needs the same bar as a NORM line:
    # in a mixture a strong nuclide's share shrinks the other's, its significance does not
    for nuclide, energies in sorted(MAN_MADE.items(), key=lambda kv: -kv[1][0]):
        key = energies[0]
        # single-line nuclides keep the man-made share bar (a lone low-energy window is
        # easily lifted by backscatter and X-rays); others need a confirming line
        if not seen(key, key_share if len(energies) > 1 else man_made_min_share):
            continue
        seen_lines = [e for e in energies if (e == key or cache[e][1] >= 0.6 * min_sigma)
                      and not _artefact(e, cache[e][0], artefacts, ex)]
        if key not in seen_lines or (len(energies) > 1 and len(seen_lines) < 2):
            continue  # an artefact of a stronger line, or one line alone of several
        # below 100 keV a NORM chain (and any lead around it) has its own Pb/Bi X-rays
        free = [e for e in seen_lines if not norm_explains(e, cache[e][0])
                and not (series and e < _XRAY_KEV)]
        confidence = len(seen_lines) / len(energies)
        counted = bool(free)  # a line of its own that no claimed NORM line explains
        if not free:
            confidence *= 0.5
            # SNM under a NORM line counts when the line is far stronger than the series
            # gives it (Ra-226's 186 keV is 3.6 % of decays against 609 keV's 45 %)
            counted = nuclide == "U-235" and "Ra-226" in series and \
                cache[key][0] > 0.6 * cache[609.3][0]
        found.append((nuclide, round(confidence, 2)))
        if counted:
            man_made.append(nuclide)
        explained.extend(energies)
        artefacts.extend((a, cache[e][0]) for e in seen_lines for a in _artefacts(e))
    for name in series:
        found.append((name, 1.0))
    # every significant peak must be explained by what was found
    reach = max((e for e in explained), default=0.0)
    unexplained: list[float] = []
    e = SCAN_KEV[0]
    previous = (0.0, 0.0)
    candidate: tuple[float, float] | None = None
    while e < SCAN_KEV[1]:
        excess, z = ex.line(e)
        if z >= min_sigma and excess / total >= norm_min_share and excess >= previous[0]:
            candidate = (e, excess)
        elif candidate is not None:
            peak = candidate[0]
            if not (_near(peak, explained[len(claimed):], ex, 1.5)
                    or norm_explains(peak, candidate[1], 1.5)
                    or _artefact(peak, candidate[1], artefacts, ex)):
                unexplained.append(round(peak, 1))
            candidate = None
        previous = (excess, z)
        e += ex.fwhm(e) / 3
    beyond_lo = reach + 3 * ex.fwhm(reach) if reach else TOTAL_KEV[0]
    beyond = False
    if series and beyond_lo < TOTAL_KEV[1]:
        excess, z = ex.band(beyond_lo, TOTAL_KEV[1])
        beyond = z >= min_sigma and excess / total >= norm_min_share
    verdict = PhotopeakVerdict(tuple(man_made), tuple(norm_seen), tuple(lines), total,
                               tuple(series), tuple(unexplained), beyond,
                               tuple(sorted(found, key=lambda x: -x[1])))
    return _explain(verdict, reasons)


def _near(e: float, energies: Sequence[float], ex: _Excess, fwhms: float) -> bool:
    return any(abs(e - x) <= fwhms * ex.fwhm(x) for x in energies)


def _artefact(e: float, excess: float, artefacts: Sequence[tuple[float, float]],
              ex: _Excess) -> bool:
    """Is a feature at *e* keV (of *excess* counts) an artefact of stronger lines? The
    backscatter humps of several lines add up and are broad (2 FWHM); an edge or escape
    peak is explained by its own line alone (1.5 FWHM)."""
    hump = sum(parent for a, parent in artefacts
               if a < 0 and abs(e + a) <= 2.0 * ex.fwhm(-a))  # backscatter: stored as -E
    if hump > 0 and excess <= hump:
        return True
    return any(a > 0 and abs(e - a) <= 1.5 * ex.fwhm(a) and excess <= parent
               for a, parent in artefacts)


def _explain(v: PhotopeakVerdict, reasons: list[str]) -> PhotopeakVerdict:
    """The verdict with its reason in words (what an analyst reads in the record)."""
    from dataclasses import replace

    if v.nuisance:
        why = f"NORM nuisance: the excess is explained by {', '.join(v.series)}"
    else:
        parts = []
        if v.man_made:
            parts.append(f"man-made line(s): {', '.join(v.man_made)}")
        if v.unexplained_kev:
            parts.append("unexplained peak(s) at " + ", ".join(f"{e:g}" for e in v.unexplained_kev)
                         + " keV")
        if v.excess_beyond:
            parts.append("excess above the highest NORM line")
        if not v.series:
            parts.append("no NORM series on its key lines"
                         + (f" (only {', '.join(v.norm)} windows rose)" if v.norm else ""))
        parts.extend(reasons)
        why = "not a nuisance: " + "; ".join(parts)
    return replace(v, reason=why)
