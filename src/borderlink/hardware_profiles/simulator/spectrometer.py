"""Hand-held radionuclide identifier: one N42.42 spectrum file per measurement of an item.

Each measurement is a Foreground spectrum of the item over ``live_time_s`` and the
instrument's Background spectrum (measured beforehand, ``background_live_s``), as a RIID
exports them. Spectra are built from published line energies and yields (derived, not
measured): a falling continuum plus the NORM lines of the environment (K-40, the Th-232 and
U-238 chains) for the background; the item's source adds its photopeaks, each with a Compton
continuum up to its edge, smeared with the detector's resolution (``resolution_662_pct`` of the
profile, FWHM ~ sqrt(E)) and a smooth efficiency curve. Counts are Poisson.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from ..protocols import n42_spectra
from ..readings import GammaSpectrum, OccupancyReport, PanelCounts
from .base import DeviceSim, poisson
from .model import Emission, GroundTruth

__all__ = ["SOURCES", "SpectrometerSim", "synth_spectrum"]

CHANNELS = 1024
KEV_PER_CHANNEL = 3.0
#: Line energies (keV) and relative intensities per source (published decay data, rounded).
SOURCES: dict[str, tuple[tuple[float, float], ...]] = {
    "cs137": ((661.7, 0.85),),
    "co60": ((1173.2, 1.0), (1332.5, 1.0)),
    "am241": ((59.5, 0.36),),
    "ir192": ((316.5, 0.83), (468.1, 0.48), (604.4, 0.08), (308.5, 0.30), (296.0, 0.29)),
    "k40": ((1460.8, 0.107),),
    "th232": ((2614.5, 0.36), (583.2, 0.31), (911.2, 0.26), (238.6, 0.44), (969.0, 0.16),
              (338.3, 0.11)),
    "ra226": ((609.3, 0.46), (1764.5, 0.15), (1120.3, 0.15), (351.9, 0.37), (295.2, 0.19),
              (1238.1, 0.06)),
}
#: Which sources are NORM (a nuisance when nothing else is there).
NORM = frozenset({"k40", "th232", "ra226"})
#: The nuclide the identification must name for each source.
NAMES = {"cs137": "Cs-137", "co60": "Co-60", "am241": "Am-241", "ir192": "Ir-192",
         "k40": "K-40", "th232": "Th-232", "ra226": "Ra-226"}


def _efficiency(e_kev: float) -> float:
    """Relative full-energy efficiency of a small scintillator: rises to ~120 keV, then falls."""
    return (1.0 - math.exp(-e_kev / 60.0)) * (e_kev / 120.0) ** -0.9 if e_kev > 120 else \
        (1.0 - math.exp(-e_kev / 60.0))


def synth_spectrum(lines: Sequence[tuple[float, float]], rate_cps: float, live_s: float,
                   resolution_662_pct: float, continuum_cps: float = 0.0,
                   rng: Any = None) -> tuple[int, ...]:
    """Expected (or, with *rng*, Poisson) counts per channel for *lines* of a source emitting
    *rate_cps* gammas seen by the detector, plus an environmental continuum."""
    mean = [0.0] * CHANNELS
    energies = [(i + 0.5) * KEV_PER_CHANNEL for i in range(CHANNELS)]
    total_yield = sum(y for _, y in lines) or 1.0
    for e, y in lines:
        n = rate_cps * live_s * y / total_yield
        peak = n * _efficiency(e)
        fwhm = resolution_662_pct / 100.0 * 662.0 * math.sqrt(e / 662.0)
        sigma = max(fwhm / 2.3548, KEV_PER_CHANNEL / 2)
        edge = e * (1 - 1 / (1 + 2 * e / 511.0))  # Compton edge
        compton = peak * 2.5  # scattered events of this line, spread up to its edge
        for i, x in enumerate(energies):
            z = (x - e) / sigma
            if abs(z) < 6:
                mean[i] += peak * KEV_PER_CHANNEL / (sigma * math.sqrt(2 * math.pi)) * \
                    math.exp(-0.5 * z * z)
            if 20 < x < edge:
                mean[i] += compton * KEV_PER_CHANNEL / edge
    if continuum_cps > 0:
        norm = sum(math.exp(-x / 250.0) for x in energies)
        for i, x in enumerate(energies):
            mean[i] += continuum_cps * live_s * math.exp(-x / 250.0) / norm
    if rng is None:
        return tuple(round(m) for m in mean)
    return tuple(poisson(rng, m) for m in mean)


class SpectrometerSim(DeviceSim):
    """Measurements of items with a hand-held identifier (event kind ``measurement``)."""

    event_kinds = ("measurement",)

    def _spectrum(self, sources: dict[str, float], live_s: float) -> tuple[int, ...]:
        res = float(self.profile.setting("resolution_662_pct", 7.0))
        lines: list[tuple[float, float]] = []
        counts = [0] * CHANNELS
        # the environment: a continuum and the NORM lines at their usual strength
        env = {"k40": 40.0, "th232": 25.0, "ra226": 25.0}
        for name, cps in {**env, **sources}.items():
            lines = list(SOURCES[name])
            part = synth_spectrum(lines, cps, live_s, res, rng=self.rng)
            counts = [a + b for a, b in zip(counts, part, strict=True)]
        cont = synth_spectrum([], 0.0, live_s, res, continuum_cps=300.0, rng=self.rng)
        return tuple(a + b for a, b in zip(counts, cont, strict=True))

    def emissions(self) -> Iterator[Emission]:
        lane = str(self.profile.framing.param("lane", "H1"))
        live = float(self.opt.get("live_time_s", 60.0))
        bg_live = float(self.opt.get("background_live_s", 300.0))
        cal = (0.0, KEV_PER_CHANNEL)
        for n, ev in enumerate(self.events(), start=1):
            variant = str(ev.params.get("variant", "clean"))
            strength = float(ev.params.get("cps", 400.0))
            sources = {} if variant == "clean" else {variant: strength}
            start = ev.t - live  # the event is the export; the measurement led up to it
            fg = GammaSpectrum(1, self._spectrum(sources, live), cal, live)
            bg = GammaSpectrum(1, self._spectrum({}, bg_live), cal, bg_live)
            panel = lambda s, scale=1.0: PanelCounts(  # noqa: E731
                panel=1, gamma_low=round(sum(s.counts[:133]) * scale),
                gamma_high=round(sum(s.counts[133:]) * scale), neutron=0)
            report = OccupancyReport(
                t=start + live, lane=lane, occupancy_id=n, start=start, end=start + live,
                live_time_s=live, foreground=(panel(fg),), background=(panel(bg),),
                background_live_time_s=bg_live, foreground_spectra=(fg,),
                background_spectra=(bg,), uuid=str(uuid.UUID(int=self.rng.getrandbits(128))))
            man_made = variant not in NORM and variant != "clean"
            expect: dict[str, Any] = {"nuisance": variant in NORM, "uuid": report.uuid}
            if variant != "clean":
                expect["nuclide"] = NAMES[variant]
            truth = GroundTruth(
                t=start + live, device_id=self.device_id, event_id=ev.event_id,
                kind="measurement",
                record_type="radiation.alarm" if variant != "clean" else "radiation.occupancy",
                alert=("alarm" if man_made else "info" if variant != "clean" else None),
                expect=expect, start=start, detail={"variant": variant, "cps": strength})
            data = n42_spectra.encode_spectra_file(
                report, manufacturer=self.profile.vendor, model=self.profile.model,
                detector_kind=str(self.profile.setting("detector_type", "nai")).upper()
                .replace("LABR3", "LaBr3").replace("CSI", "CsI").replace("HPGE", "HPGe")
                .replace("NAI", "NaI"))
            yield Emission(report.t, self.device_id, (report,), data, truth)
