"""Seeded synthetic field data for the processor tests and benchmarks, with ground truth.

A stand-in until the scenario simulator of ``hardware_profiles`` exists; the physics is simple
but not tuned to the processors: Poisson counting (exact sampler), 1/r^2 geometry of a point
source passing two panels, distributed NORM cargo, vehicle shadowing of the background, slow
background drift; ground sensors with missed detections, jitter, wind gusts and wandering
animals; EI spectra perturbed (intensity skew, noise, dropped small ions, bleed/air ions,
co-eluting mixtures) and chromatograms with drifting baselines and noise.

Benchmarks import it with ``sys.path`` pointing at this folder.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from borderlink.hardware_profiles.readings import (
    Chromatogram,
    CountSample,
    LabRun,
    MassSpectrum,
)


# =========================================================================== counting
def poisson(rng: random.Random, lam: float) -> int:
    """Exact Poisson sample (Knuth below 30, Hörmann's PTRS above, as numpy does)."""
    if lam <= 0:
        return 0
    if lam < 30:
        limit = math.exp(-lam)
        k, prod = 0, rng.random()
        while prod > limit:
            k += 1
            prod *= rng.random()
        return k
    slam, loglam = math.sqrt(lam), math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    while True:
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - abs(u)
        k = math.floor((2 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)
                <= -lam + k * loglam - math.lgamma(k + 1)):
            return k


# =========================================================================== radiation
BG_GAMMA_CPS = 1800.0  # per panel, as the rpm-lane profile
BG_HIGH_FRACTION = 0.38
BG_NEUTRON_CPS = 2.0
NEUTRON_MDA_CPS_M2 = 40.0  # neutron cps per panel at 1 m of the weakest source to detect
LANE_WIDTH_M = 4.5
K_CPS_M2_PER_KBQ = {"cs137": 30.0, "co60": 66.0}  # panel cps at 1 m per kBq (eff. x geometry)
MDA_KBQ = {"cs137": 100.0, "co60": 45.0}
HIGH_FRACTION = {  # net high-window share of the excess counts (plastic, 400 keV boundary)
    "cs137": 0.10, "cs137_shielded": 0.07, "co60": 0.64, "co60_shielded": 0.60,
    "k40": 0.46, "ra226": 0.40, "th232": 0.48,
}
NORM_CARGO = {"fertiliser": "k40", "bananas": "k40", "ceramics": "ra226", "tiles": "th232"}


@dataclass
class Vehicle:
    kind: str  # clean, norm, cs137, co60, neutron
    expect: str  # clear, nuisance, alarm
    start: float
    end: float
    detail: dict[str, Any] = field(default_factory=dict)


def rpm_traffic(seed: int, n: int, mix: dict[str, float] | None = None, *,
                lane: str = "L1", t0: float = 1.8e9, gap_s: tuple[float, float] = (4.0, 9.0),
                warmup_s: float = 30.0, drift: float = 0.03,
                ) -> tuple[list[CountSample], list[Vehicle]]:
    """*n* vehicles through a two-panel lane; returns the 10 Hz samples and the truth."""
    rng = random.Random(seed)
    mix = mix or {"clean": 0.7, "norm": 0.15, "cs137": 0.06, "co60": 0.04, "neutron": 0.05}
    kinds, weights = zip(*mix.items())
    dt = 0.1
    samples: list[CountSample] = []
    truth: list[Vehicle] = []
    t = t0
    seq = 0
    drift_phase = rng.random() * 6.28

    def bg_scale(tt: float) -> float:
        return 1.0 + drift * math.sin(drift_phase + (tt - t0) / 900.0)

    def emit(tt: float, occupied: bool, extra: list[tuple[float, float, float]], shade: float) -> None:
        nonlocal seq
        seq += 1
        g = BG_GAMMA_CPS * bg_scale(tt) * (1.0 - shade) * dt
        for p in range(2):
            el, eh, en = extra[p]
            samples.append(CountSample(
                t=round(tt, 3), lane=lane, panel=p,
                gamma_low=poisson(rng, g * (1 - BG_HIGH_FRACTION) + el * dt),
                gamma_high=poisson(rng, g * BG_HIGH_FRACTION + eh * dt),
                neutron=poisson(rng, BG_NEUTRON_CPS * dt + en * dt),
                occupied=occupied, seq=seq))

    none = [(0.0, 0.0, 0.0), (0.0, 0.0, 0.0)]
    for _ in range(round(warmup_s / dt)):
        t += dt
        emit(t, False, none, 0.0)
    for _ in range(n):
        for _ in range(round(rng.uniform(*gap_s) / dt)):
            t += dt
            emit(t, False, none, 0.0)
        kind = rng.choices(kinds, weights)[0]
        v = rng.uniform(1.4, 4.2)  # 5 .. 15 km/h
        length = rng.uniform(4.0, 18.0)
        shade = rng.uniform(0.05, 0.18)
        d0 = rng.uniform(1.0, LANE_WIDTH_M - 1.0)
        dists = (d0, LANE_WIDTH_M - d0)
        occ_s = (length + 2.0) / v
        detail: dict[str, Any] = {"speed_mps": v, "length_m": length, "shadowing": shade}
        expect = "clear"
        src: Any = None
        if kind in ("cs137", "co60"):
            shielded = rng.random() < 0.4
            act = MDA_KBQ[kind] * rng.uniform(1.0, 4.0)
            u = rng.uniform(0.1, 0.9) * length
            hf = HIGH_FRACTION[kind + ("_shielded" if shielded else "")]
            src = ("point", K_CPS_M2_PER_KBQ[kind] * act, hf, u, 0.0)
            detail.update(activity_kbq=act, shielded=shielded, mda_kbq=MDA_KBQ[kind])
            expect = "alarm"
        elif kind == "neutron":
            u = rng.uniform(0.1, 0.9) * length
            src = ("point", 0.0, 0.3, u, NEUTRON_MDA_CPS_M2 * rng.uniform(1.0, 3.0))
            expect = "alarm"
        elif kind == "norm":
            cargo = rng.choice(list(NORM_CARGO))
            hf = HIGH_FRACTION[NORM_CARGO[cargo]]
            density = rng.uniform(150.0, 900.0)  # cps m per m of cargo, per panel at 1 m
            src = ("line", density, hf, 0.15 * length, 0.9 * length)
            detail.update(cargo=cargo)
            expect = "nuisance"
        start = t
        ticks = max(1, round(occ_s / dt))
        for i in range(ticks):
            t += dt
            front = v * (i + 1) * dt - 1.0  # metres of vehicle past the portal plane
            extra = []
            for p in range(2):
                d = dists[p]
                el = eh = en = 0.0
                if src is not None and src[0] == "point":
                    x = front - src[3]
                    geo = 1.0 / (d * d + x * x)
                    rate = src[1] * geo
                    el, eh, en = rate * (1 - src[2]), rate * src[2], src[4] * geo
                elif src is not None:
                    x1, x2 = front - src[4], front - src[3]
                    rate = src[1] / d * (math.atan(x2 / d) - math.atan(x1 / d))
                    el, eh = rate * (1 - src[2]), rate * src[2]
                extra.append((el, eh, en))
            emit(t, True, extra, shade)
        truth.append(Vehicle(kind, expect, start, t, detail))
    for _ in range(round(gap_s[0] / dt)):
        t += dt
        emit(t, False, none, 0.0)
    return samples, truth


# =========================================================================== laboratory
ALKANE_LADDER = tuple((round(3.0 + (c * 100 - 1000) / 100 * 0.95, 4), float(c * 100))
                      for c in range(10, 31, 2))  # C10 .. C30, ~0.95 min per carbon


def rt_of_ri(ri: float) -> float:
    return 3.0 + (ri - 1000.0) / 100.0 * 0.95


@dataclass
class LabTruth:
    sample_id: str
    components: list[str]  # library ids actually present
    controlled: bool
    unknowns: int = 0


def _noisy_spectrum(rng: random.Random, peaks: dict[int, float], scale: float,
                    other: dict[int, float] | None = None, other_frac: float = 0.0,
                    ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    tilt = rng.uniform(-0.35, 0.35)  # source tuning: high-mass response up or down
    spec: dict[int, float] = {}
    for m, i in peaks.items():
        if i < 12 and rng.random() < 0.3:
            continue  # small ions lost
        spec[m] = i * math.exp(rng.gauss(0, 0.15)) * (m / 150.0) ** tilt
    if other:
        for m, i in other.items():
            spec[m] = spec.get(m, 0.0) + other_frac * i
    for _ in range(rng.randint(4, 14)):  # chemical noise
        m = rng.randint(40, 400)
        spec[m] = spec.get(m, 0.0) + rng.uniform(0.3, 3.0)
    spec[207] = spec.get(207, 0.0) + rng.uniform(0.5, 6.0)  # column bleed
    spec[281] = spec.get(281, 0.0) + rng.uniform(0.3, 4.0)
    spec[44] = spec.get(44, 0.0) + rng.uniform(0.2, 3.0)  # air CO2
    spec[28] = spec.get(28, 0.0) + rng.uniform(2.0, 15.0)  # air N2 (below the mass range)
    mz = sorted(spec)
    return (tuple(m + rng.uniform(-0.15, 0.25) for m in mz),
            tuple(max(0.0, spec[m] * scale * (1 + rng.gauss(0, 0.02))) for m in mz))


def random_unknown(rng: random.Random) -> dict[int, float]:
    """A spectrum of a compound not in the library (sugars, plant matter ...)."""
    ions = {rng.randint(41, 300): rng.uniform(5, 100) for _ in range(rng.randint(6, 14))}
    top = max(ions.values())
    return {m: 100 * i / top for m, i in ions.items()}


def lab_sample(seed: int, library: dict[str, dict[str, Any]], *, kind: str | None = None,
               detector: str = "TIC", case_id: str = "SCC-2026-000123") -> tuple[LabRun, LabTruth]:
    """One run: a drug cut with 0..2 agents, or a negative; TIC + apex spectra, or FID only."""
    rng = random.Random(seed)
    drugs = [k for k, e in library.items() if e["controlled"]]
    cuts = [k for k, e in library.items() if e["category"] == "cutting_agent"]
    negs = [k for k, e in library.items() if e["category"] == "negative"]
    kind = kind or rng.choice(["drug", "drug", "drug", "negative"])
    comps: list[str] = []
    unknowns = 0
    if kind == "drug":
        drug = rng.choice(drugs)
        comps.append(drug)
        if drug == "thc" and rng.random() < 0.7:
            comps += rng.sample(["cbd", "cbn"], rng.randint(1, 2))
        else:
            comps += rng.sample(cuts, rng.randint(0, 2))
    else:
        comps += rng.sample(negs, rng.randint(1, 2))
        unknowns = rng.randint(0, 2)
    # components must be chromatographically resolved by at least ~12 RI units apart
    placed: list[tuple[float, str | None, dict[int, float]]] = []
    for cid in comps:
        e = library[cid]
        ri = e["retention_index"] + rng.gauss(0, 6)
        placed.append((ri, cid, {int(m): float(i) for m, i in e["peaks"]}))
    for _ in range(unknowns):
        placed.append((rng.uniform(1100, 2700), None, random_unknown(rng)))
    sample_id = f"S{seed:06d}"
    t_end = rt_of_ri(3000)
    step = 1 / 300.0  # 5 Hz
    times = [round(i * step, 5) for i in range(int(t_end / step))]
    base_level = rng.uniform(800, 2000)
    bleed = rng.uniform(500, 3000)
    noise = rng.uniform(15, 40)
    sig = [base_level + bleed * (t / t_end) ** 2 + rng.gauss(0, noise) for t in times]
    spectra = []
    for ri, _cid, peaks in placed:
        rt = rt_of_ri(ri)
        height = rng.uniform(30, 400) * noise
        width = rng.uniform(0.018, 0.03)
        tail = 1.0 + rng.uniform(0.0, 0.5)  # mild tailing
        for j in range(max(0, int((rt - 8 * width) / step)),
                       min(len(times), int((rt + 12 * width) / step))):
            dt = times[j] - rt
            w = width * (tail if dt > 0 else 1.0)
            sig[j] += height * math.exp(-0.5 * (dt / w) ** 2)
        other = None
        frac = 0.0
        near = [p for p in placed if p[2] is not peaks and abs(p[0] - ri) < 10]
        if near:
            other, frac = near[0][2], rng.uniform(0.05, 0.3)
        mz, inten = _noisy_spectrum(rng, peaks, height / 10, other, frac)
        spectra.append(MassSpectrum(t=1.8e9, instrument="GCMS-QP2010", sample_id=sample_id,
                                    case_id=case_id, retention_time_min=rt + rng.gauss(0, 0.002),
                                    mz=mz, intensities=inten))
    chrom = Chromatogram(t=1.8e9, instrument="GCMS-QP2010" if detector == "TIC" else "GC-2010",
                         sample_id=sample_id, case_id=case_id, detector=detector,
                         times_min=tuple(times), intensities=tuple(sig),
                         ri_calibration=ALKANE_LADDER)
    run = LabRun(t=1.8e9, instrument=chrom.instrument, sample_id=sample_id, case_id=case_id,
                 chromatogram=chrom, spectra=tuple(spectra) if detector == "TIC" else ())
    truth = LabTruth(sample_id, comps, any(library[c]["controlled"] for c in comps), unknowns)
    return run, truth
