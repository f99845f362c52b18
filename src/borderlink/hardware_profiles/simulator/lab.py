"""Customs laboratory samples: GC-FID chromatograms and GC-MS runs derived from the library.

Never a verbatim library copy: every spectrum gets lognormal intensity noise, a mass-dependent
tuning skew, small peaks lost, M+1 isotope peaks, random noise ions, column bleed (m/z 207,
281) and CO2 (44), co-eluting components blend; retention times follow an n-alkane ladder with
jitter; chromatograms get baseline drift, bleed and detector noise.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..protocols import andi, jcamp
from ..readings import Chromatogram, LabRun, MassSpectrum
from .base import DeviceSim
from .model import Emission, GroundTruth

__all__ = ["PRESETS", "LabSim", "ladder", "perturb_spectrum"]

PRESETS: dict[str, dict[str, float]] = {
    "cocaine": {"cocaine": 1.0},
    "cocaine_levamisole": {"cocaine": 0.65, "levamisole": 0.35},
    "cocaine_lidocaine": {"cocaine": 0.55, "lidocaine": 0.45},
    "cocaine_procaine_caffeine": {"cocaine": 0.4, "procaine": 0.3, "caffeine": 0.3},
    "cocaine_benzocaine_phenacetin": {"cocaine": 0.5, "benzocaine": 0.25, "phenacetin": 0.25},
    "heroin": {"heroin": 1.0},
    "heroin_caffeine_paracetamol": {"heroin": 0.35, "caffeine": 0.3, "paracetamol": 0.35},
    "methamphetamine": {"methamphetamine": 1.0},
    "methamphetamine_caffeine": {"methamphetamine": 0.6, "caffeine": 0.4},
    "amphetamine_caffeine": {"amphetamine": 0.3, "caffeine": 0.7},
    "amphetamine_paracetamol": {"amphetamine": 0.4, "paracetamol": 0.6},
    "mdma": {"mdma": 1.0},
    "mdma_caffeine": {"mdma": 0.7, "caffeine": 0.3},
    "cannabis_resin": {"thc": 0.55, "cbd": 0.25, "cbn": 0.2},
    "cannabis_herb": {"thc": 0.8, "cbn": 0.2},
    # the southern (Afghan-Iranian) route: street heroin keeps its acetylation by-products and
    # opium alkaloids; opium itself; pharmaceutical opioids; captagon; cathinones; ketamine
    "heroin_street": {"heroin": 0.5, "6_mam": 0.1, "acetylcodeine": 0.1, "noscapine": 0.15,
                      "papaverine": 0.08, "caffeine": 0.07},
    "heroin_dextromethorphan": {"heroin": 0.5, "dextromethorphan": 0.3, "caffeine": 0.2},
    "heroin_griseofulvin": {"heroin": 0.6, "griseofulvin": 0.25, "paracetamol": 0.15},
    "heroin_fentanyl": {"heroin": 0.6, "fentanyl": 0.1, "caffeine": 0.3},
    "opium": {"morphine": 0.45, "codeine": 0.2, "thebaine": 0.1, "noscapine": 0.15,
              "papaverine": 0.1},
    "tramadol_tablet": {"tramadol": 0.7, "paracetamol": 0.3},
    "methadone_syrup": {"methadone": 1.0},
    "oxycodone_tablet": {"oxycodone": 0.5, "paracetamol": 0.5},
    "hydrocodone_tablet": {"hydrocodone": 0.4, "paracetamol": 0.6},
    "pethidine_ampoule": {"pethidine": 1.0},
    "captagon": {"fenethylline": 0.6, "caffeine": 0.4},
    "mephedrone": {"mephedrone": 1.0},
    "alpha_pvp": {"alpha_pvp": 1.0},
    "ketamine": {"ketamine": 1.0},
    "cocaine_phenacetin_diltiazem": {"cocaine": 0.5, "phenacetin": 0.3, "diltiazem": 0.2},
    # negatives: no controlled substance
    "sugar": {"levoglucosan": 0.75, "hmf": 0.25},
    "ibuprofen_tablet": {"ibuprofen": 1.0},
    "caffeine_powder": {"caffeine": 1.0},
    "paracetamol_caffeine": {"paracetamol": 0.7, "caffeine": 0.3},
    "lidocaine_powder": {"lidocaine": 1.0},
    "nicotine_liquid": {"nicotine": 1.0},
    "cooking_oil_residue": {"methyl_palmitate": 1.0},
    "cough_syrup": {"dextromethorphan": 1.0},
    "diltiazem_tablet": {"diltiazem": 1.0},
    "griseofulvin_tablet": {"griseofulvin": 1.0},
    "papaverine_tablet": {"papaverine": 1.0},
}
NEGATIVE_PRESETS = tuple(k for k in PRESETS if k in (
    "sugar", "ibuprofen_tablet", "caffeine_powder", "paracetamol_caffeine", "lidocaine_powder",
    "nicotine_liquid", "cooking_oil_residue", "cough_syrup", "diltiazem_tablet",
    "griseofulvin_tablet", "papaverine_tablet"))
_RUN_MIN = 28.0


def ladder(shift_min: float = 0.0) -> tuple[tuple[float, float], ...]:
    """n-alkane ladder C10..C30 of the method: (retention time min, retention index)."""
    return tuple((round(3.0 + (n - 10) * 1.05 + 0.004 * (n - 10) ** 2 + shift_min, 4), 100.0 * n)
                 for n in range(10, 31))


def _rt_for(ri: float, lad: tuple[tuple[float, float], ...]) -> float:
    for (t1, r1), (t2, r2) in itertools.pairwise(lad):
        if ri <= r2:
            return t1 + (ri - r1) * (t2 - t1) / (r2 - r1)
    (t1, r1), (t2, r2) = lad[-2], lad[-1]
    return t2 + (ri - r2) * (t2 - t1) / (r2 - r1)


def perturb_spectrum(peaks: list[tuple[float, float]], rng: Any, mass_range: tuple[int, int] = (40, 550)
                     ) -> dict[int, float]:
    """A measured-looking spectrum from library major ions (see module docstring)."""
    skew = rng.uniform(-0.2, 0.2)
    out: dict[int, float] = {}
    top = sorted(peaks, key=lambda p: -p[1])[:3]
    for mz, rel in peaks:
        if rel < 8 and rng.random() < 0.35:
            continue  # a small peak lost in the noise
        factor = math.exp(rng.gauss(0, 0.12)) * max(0.2, 1 + skew * (mz - 100) / 200)
        out[int(mz)] = out.get(int(mz), 0.0) + rel * factor
    for mz, rel in top:
        iso = int(mz) + 1
        if iso not in out:
            out[iso] = rel * 0.011 * max(1.0, mz / 14.0) * math.exp(rng.gauss(0, 0.1))
    for _ in range(rng.randint(3, 8)):
        m = rng.randint(mass_range[0], mass_range[1])
        out[m] = out.get(m, 0.0) + rng.uniform(0.3, 2.0)
    for m, lo, hi in ((207, 0.5, 3.0), (281, 0.3, 2.0), (44, 0.5, 2.0)):
        out[m] = out.get(m, 0.0) + rng.uniform(lo, hi)
    return {m: v for m, v in out.items() if mass_range[0] <= m <= mass_range[1]}


class LabSim(DeviceSim):
    event_kinds = ("sample",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lib = json.loads(Path(self.profile.setting("library_file")).read_text(encoding="utf-8"))
        self.library = {e["id"]: e for e in lib["entries"]}
        self.is_ms = self.profile.device_class == "gc_ms"
        lo, hi = self.profile.setting("scan_range_mz", (40, 550))
        self.scan_range = (int(lo), int(hi))
        self.instrument = str(self.opt.get("instrument", "GCMS-QP2010" if self.is_ms else "GC-2010"))
        self.prefix = str(self.opt.get("sample_prefix", self.spec.id))
        self.shift = self.rng.uniform(-0.1, 0.1)
        self.n = 0

    def emissions(self) -> Iterator[Emission]:
        for ev in self.events():
            mixture = ev.params.get("mixture")
            preset = str(ev.params.get("preset", ""))
            if mixture is None:
                if not preset:
                    preset = self.rng.choice(sorted(PRESETS))
                if preset not in PRESETS:
                    from ..errors import ScenarioError

                    raise ScenarioError(f"{self.scenario.source}: lab preset {preset!r}; expected one of {sorted(PRESETS)}")
                mixture = PRESETS[preset]
            unknown = [c for c in mixture if c not in self.library]
            if unknown:
                from ..errors import ScenarioError

                raise ScenarioError(f"{self.scenario.source}: lab mixture names {unknown}, not in the library")
            yield self._run(ev, {str(k): float(v) for k, v in mixture.items()}, preset)

    def _run(self, ev: Any, mixture: dict[str, float], preset: str) -> Emission:
        rng = self.rng
        self.n += 1
        sample_id = f"{self.prefix}-{self.n:04d}"
        case_id = str(ev.params.get("case_id", f"SCC-CASE-{rng.randint(10000, 99999)}"))
        lad = ladder(self.shift)
        t_done = ev.t + float(ev.params.get("analysis_s", 5.0))
        components = []
        for cid, frac in mixture.items():
            entry = self.library[cid]
            rt = _rt_for(entry["retention_index"] + rng.gauss(0, 4), lad) + rng.gauss(0, 0.005)
            height = frac * rng.uniform(0.6, 1.4)
            components.append((cid, rt, height, rng.uniform(0.018, 0.03)))
        # impurities: small unknown peaks
        for _ in range(rng.randint(0, 3)):
            components.append(("", rng.uniform(4, 25), rng.uniform(0.005, 0.03), 0.02))
        rate = 2.0 if self.is_ms else 5.0  # points per second
        npts = int(_RUN_MIN * 60 * rate) + 1
        scale = 1e6 if self.is_ms else 5e4
        times = tuple(round(i / (rate * 60), 6) for i in range(npts))
        drift = rng.uniform(-0.002, 0.002)
        ys = []
        for tm in times:
            y = scale * (0.01 + drift * tm / _RUN_MIN + 0.02 * max(0.0, tm - 18) ** 2 / 100)
            for _, rt, h, w in components:
                if abs(tm - rt) < 8 * w:
                    y += scale * h * math.exp(-0.5 * ((tm - rt) / w) ** 2)
            ys.append(max(0.0, y + rng.gauss(0, scale * 0.0008)))
        chrom = Chromatogram(t=t_done, instrument=self.instrument, sample_id=sample_id, case_id=case_id,
                             detector="TIC" if self.is_ms else "FID", times_min=times, intensities=tuple(ys),
                             ri_calibration=lad, method="SCC-DRUGS-5MS-28MIN")
        spectra: list[MassSpectrum] = []
        if self.is_ms:
            for _cid, rt, h, _w in sorted(components, key=lambda c: c[1]):
                blend: dict[int, float] = {}
                for cid2, rt2, h2, w2 in components:
                    weight = h2 * math.exp(-0.5 * ((rt - rt2) / w2) ** 2)
                    if weight < 0.02 * h:
                        continue
                    peaks = ([(float(m), float(i)) for m, i in self.library[cid2]["peaks"]] if cid2
                             else [(float(rng.randint(41, 300)), 100.0) for _ in range(6)])
                    for m, v in perturb_spectrum(peaks, rng, self.scan_range).items():
                        blend[m] = blend.get(m, 0.0) + v * weight
                top = max(blend.values())
                mz = tuple(float(m) for m in sorted(blend) if blend[m] / top * 999 >= 0.5)
                inten = tuple(round(blend[int(m)] / top * 999, 1) for m in mz)
                spectra.append(MassSpectrum(t=t_done, instrument=self.instrument, sample_id=sample_id,
                                            case_id=case_id, retention_time_min=round(rt, 4), mz=mz,
                                            intensities=inten))
        andi_ms = self.profile.framing.protocol == "andi-ms"
        filename = f"{sample_id}{self.profile.framing.param('suffix', '.cdf' if andi_ms else '.jdx')}"
        run = LabRun(t=t_done, instrument=self.instrument, sample_id=sample_id, case_id=case_id,
                     chromatogram=chrom, spectra=tuple(spectra), filename=filename)
        if andi_ms:
            data = andi.encode_andi_ms(run)
        else:
            data = jcamp.encode_gcms_file(run) if self.is_ms else jcamp.encode_chromatogram_file(chrom)
        present = sorted(c for c, f in mixture.items() if f >= 0.05)
        controlled = sorted(c for c in present if self.library[c]["controlled"])
        truth = GroundTruth(t=t_done, device_id=self.device_id, event_id=ev.event_id, kind="sample",
                            record_type="lab.analysis", alert="warning" if controlled else None,
                            expect={"controlled_found": bool(controlled), "substances": present,
                                    "controlled": controlled, "sample_id": sample_id, "case_id": case_id},
                            start=ev.t, detail={"preset": preset, "mixture": mixture,
                                                "retention_min": {c: round(rt, 4) for c, rt, _, _ in components if c}})
        return Emission(t_done, self.device_id, (run,), data, truth)
