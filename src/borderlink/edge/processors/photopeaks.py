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

The verdict an analyst would give: *nuisance* only when NORM lines are seen and no man-made
line is. Not covered (their lines coincide with NORM lines at NaI resolution, or lie where a
portal's spectrum is poor): Ba-133 (356, under Pb-214's 352), I-131 (364), Ir-192 (317),
U-235 (186, Ra-226's 186), Am-241 (59.5) — a spectrum with only such a line shows no NORM
line of its own and is therefore not called a nuisance either.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from borderlink.hardware_profiles.readings import GammaSpectrum

__all__ = ["MAN_MADE", "NORM", "LineExcess", "PhotopeakVerdict", "analyse", "window_counts"]

MAN_MADE: Mapping[str, tuple[float, ...]] = {"Cs-137": (661.7,), "Co-60": (1173.2, 1332.5)}
NORM: Mapping[str, tuple[float, ...]] = {
    "K-40": (1460.8,), "Tl-208": (2614.5, 583.2), "Bi-214": (609.3, 1764.5),
    "Pb-212": (238.6,), "Pb-214": (351.9,), "Ac-228": (911.2,),
}
TOTAL_KEV = (30.0, 3000.0)


@dataclass(frozen=True)
class LineExcess:
    nuclide: str
    energy_kev: float
    excess: float  # net counts above the continuum, less the scaled background's
    share: float  # of the spectrum's whole excess
    z: float


@dataclass(frozen=True)
class PhotopeakVerdict:
    man_made: tuple[str, ...]  # nuclides whose every line is there
    norm: tuple[str, ...]  # NORM nuclides with a line there
    lines: tuple[LineExcess, ...]
    total_excess: float

    @property
    def nuisance(self) -> bool:
        return bool(self.norm) and not self.man_made


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
    lines = []
    found_man: list[str] = []
    found_norm: list[str] = []
    for table, min_share, out in ((MAN_MADE, man_made_min_share, found_man),
                                  (NORM, norm_min_share, found_norm)):
        for nuclide, energies in table.items():
            seen = []
            for e in energies:
                fwhm = resolution_662_pct / 100.0 * 661.7 * math.sqrt(e / 661.7)
                excess = var = 0.0
                for wf, wb, k in pairs:
                    p, lo, hi = _net(wf, e, fwhm, window_fwhm)
                    pb, lob, hib = _net(wb, e, fwhm, window_fwhm)
                    excess += (p - lo - hi) - k * (pb - lob - hib)
                    var += (p + lo + hi) + k * k * (pb + lob + hib)
                z = excess / math.sqrt(var) if var > 0 else 0.0
                line = LineExcess(nuclide, e, excess, excess / total, z)
                lines.append(line)
                seen.append(z >= min_sigma and line.share >= min_share)
            if (all(seen) if table is MAN_MADE else any(seen)):
                out.append(nuclide)
    return PhotopeakVerdict(tuple(found_man), tuple(found_norm), tuple(lines), total)
