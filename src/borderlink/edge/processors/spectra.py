"""Electron-ionisation mass-spectral library search: the NIST-style match factor, pure Python.

The match factor is the one an analyst knows from NIST MS Search (Stein & Scott, "Optimization
and testing of mass spectral library search algorithms for compound identification",
J. Am. Soc. Mass Spectrom. 5 (1994) 859-866):

* spectra are binned to unit m/z inside the method's scan range and weighted
  ``W = (m/z) ** mz_power * I ** intensity_power``. The square root of the intensity damps the
  base peak; the m/z weight favours the diagnostic high-mass ions. The lab profiles use
  ``(m/z)^1 * I^0.5``, the weighted dot product of NIST MS Search. Stein & Scott's optimum on the
  (complete) NIST library was ``(m/z)^3 * I^0.6``; against a library of *major ions only* that
  weight lets the molecular ion alone decide, so an isomer with the same molecular ion (piperine
  for morphine, both m/z 285) scores as the drug — the lighter weight does not;
* ``F1`` is the normalised dot product ``(sum Wu Wl)^2 / (sum Wu^2 * sum Wl^2)`` (cos²);
* ``F2`` is the peak-pair ratio term: for the peaks both spectra share, taken in m/z order, the
  ratio of neighbouring intensities in the unknown over the same in the library, folded to
  ``<= 1``, averaged;
* the composite ``MF = 999 * (Nu * F1 + Nc * F2) / (Nu + Nc)`` with ``Nu`` the unknown's peaks
  and ``Nc`` the shared ones (``F1`` alone when fewer than two are shared).

What the two spectra can say is compared, nothing else:

* ions the method cannot see are dropped from *both* sides — below the scan start or above the
  scan end, the column-bleed ions the method subtracts, and ions under its noise floor
  (``min_ion_pct``): a library ion the method could never record must not count as missing;
* a library entry lists its N most abundant ions (a major-ion list, 8-14 ions). An unknown's ion
  the entry does not list is evidence against it only when it ranks among the unknown's own N
  most abundant ions: weaker ones are exactly what a major-ion list leaves out, and a real
  record holds a hundred or more of them. The forward match is computed over the unknown's ions
  the entry lists plus those top-N ions; the reverse match over the entry's ions alone.

The *reverse* match factor is the same computed over the library spectrum's m/z values only:
ions in the unknown that the library compound lacks (a co-eluting cutting agent, column bleed at
m/z 207/281, air) do not lower it. A hit is accepted on both, e.g. MF >= 700 and RMF >= 750.

A spectrum holding two co-eluting compounds is searched again after the best hit's scaled
library spectrum is subtracted (:meth:`MsLibrary.search_mixture`).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FAINT_FACTOR", "Hit", "LibraryEntry", "MsLibrary", "bin_spectrum", "match_factor"]

#: a library ion under FAINT_FACTOR x the method's noise floor may be missing from a real record
FAINT_FACTOR = 2.0


@dataclass(frozen=True)
class LibraryEntry:
    """One reference compound: its major ions (m/z -> relative intensity) and retention index."""

    id: str
    name: str
    controlled: bool
    category: str
    retention_index: float | None
    peaks: Mapping[int, float]
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hit:
    """One library candidate for an unknown spectrum."""

    entry: LibraryEntry
    match: int  # 0..999
    reverse_match: int  # 0..999
    ri_delta: float | None = None  # measured RI - library RI


def bin_spectrum(mz: Iterable[float], intensities: Iterable[float],
                 mass_range: tuple[float, float] = (1, 2000)) -> dict[int, float]:
    """Sum a centroided spectrum into unit-m/z bins inside *mass_range*, base peak = 100."""
    lo, hi = mass_range
    bins: dict[int, float] = {}
    for m, i in zip(mz, intensities):
        if i <= 0 or not lo <= m <= hi + 0.5:
            continue
        key = math.floor(m + 0.3)  # mass defect of small organics is +0.0 .. +0.3
        bins[key] = bins.get(key, 0.0) + float(i)
    if not bins:
        return {}
    top = max(bins.values())
    return {k: 100.0 * v / top for k, v in bins.items()}


def _weights(spec: Mapping[int, float], mz_power: float, int_power: float) -> dict[int, float]:
    return {m: (m ** mz_power) * (i ** int_power) for m, i in spec.items() if i > 0}


def _composite(wu: Mapping[int, float], wl: Mapping[int, float], n_unknown: int) -> float:
    """Composite match (0..1) of weighted spectra *wu* (unknown) against *wl* (library)."""
    dot = 0.0
    for m, w in wu.items():
        other = wl.get(m)
        if other is not None:
            dot += w * other
    if dot <= 0.0:
        return 0.0
    su = sum(w * w for w in wu.values())
    sl = sum(w * w for w in wl.values())
    f1 = dot * dot / (su * sl)
    shared = sorted(m for m in wu if m in wl)
    nc = len(shared)
    if nc < 2:
        return f1
    f2 = 0.0
    for a, b in itertools.pairwise(shared):
        r = (wu[b] * wl[a]) / (wu[a] * wl[b])
        f2 += r if r <= 1.0 else 1.0 / r
    f2 /= nc - 1
    return (n_unknown * f1 + nc * f2) / (n_unknown + nc)


def _forward_reverse(wu: Mapping[int, float], by_abundance: Sequence[int],
                     wl: Mapping[int, float], faint: frozenset[int] = frozenset()
                     ) -> tuple[float, float]:
    """(forward, reverse) composite match, 0..1, of a weighted unknown against a weighted entry.

    Forward: over the ions the entry lists plus the unknown's own len(entry) most abundant
    (*by_abundance*, most abundant first) — the unknown read as a major-ion list like the entry.
    Reverse: over the entry's ions only. An entry's *faint* ion (near the method's noise floor)
    that the unknown lacks is left out of both: it may simply have fallen under the floor.
    """
    comparable = set(by_abundance[:len(wl)])
    if faint:
        wl = {m: w for m, w in wl.items() if m in wu or m not in faint}
    wf = {m: x for m, x in wu.items() if m in wl or m in comparable}
    forward = _composite(wf, wl, len(wf))
    ru = {m: wu[m] for m in wl if m in wu}
    reverse = _composite(ru, wl, len(ru)) if ru else 0.0
    return forward, reverse


def _by_abundance(spectrum: Mapping[int, float]) -> list[int]:
    return sorted(spectrum, key=lambda m: (-spectrum[m], m))


def match_factor(unknown: Mapping[int, float], library: Mapping[int, float], *,
                 mz_power: float = 1.0, intensity_power: float = 0.5) -> tuple[int, int]:
    """(match, reverse match), each 0..999, of binned spectra (m/z -> intensity)."""
    wu = _weights(unknown, mz_power, intensity_power)
    wl = _weights(library, mz_power, intensity_power)
    if not wu or not wl:
        return 0, 0
    forward, reverse = _forward_reverse(wu, _by_abundance({m: unknown[m] for m in wu}), wl)
    return round(999 * forward), round(999 * reverse)


class MsLibrary:
    """A searchable set of reference spectra (built from data; :meth:`load` reads a file)."""

    def __init__(self, entries: Sequence[LibraryEntry], *, mz_power: float = 1.0,
                 intensity_power: float = 0.5, mass_range: tuple[float, float] = (1, 2000),
                 ignore_ions: Iterable[int] = (), min_ion_pct: float = 0.0) -> None:
        if not entries:
            raise ValueError("a spectral library needs at least one entry")
        self.entries = tuple(entries)
        self.mz_power = mz_power
        self.intensity_power = intensity_power
        self.mass_range = mass_range
        lo, hi = mass_range
        ignored = frozenset(ignore_ions)
        self._weighted = []
        for e in self.entries:
            # the library seen through the method: its scan range, its subtracted background ions,
            # its noise floor (see the module docstring)
            peaks = {m: i for m, i in e.peaks.items() if lo <= m <= hi and m not in ignored}
            top = max(peaks.values()) if peaks else 1.0
            norm = {m: 100.0 * i / top for m, i in peaks.items() if 100.0 * i / top >= min_ion_pct}
            w = _weights(norm, mz_power, intensity_power)
            # ions under twice the noise floor: a factor-2 difference in relative intensity
            # between instruments and tunes is ordinary, so their absence proves nothing
            faint = frozenset(m for m, i in norm.items() if i < FAINT_FACTOR * min_ion_pct)
            self._weighted.append((e, norm, w, faint))
        self._by_id = {e.id: e for e in self.entries}

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, entry_id: str) -> LibraryEntry:
        return self._by_id[entry_id]

    @classmethod
    def from_json(cls, data: Mapping[str, Any], **kwargs: Any) -> MsLibrary:
        """From a ``borderlink.ms-library.v1`` document (``hardware_profiles/data``)."""
        if data.get("format") != "borderlink.ms-library.v1":
            raise ValueError(f"not a borderlink.ms-library.v1 document: {data.get('format')!r}")
        entries = []
        for raw in data["entries"]:
            peaks: dict[int, float] = {}
            for m, i in raw["peaks"]:
                peaks[round(m)] = peaks.get(round(m), 0.0) + float(i)
            ri = raw.get("retention_index")
            entries.append(LibraryEntry(
                id=str(raw["id"]), name=str(raw.get("name", raw["id"])),
                controlled=bool(raw.get("controlled", False)),
                category=str(raw.get("category", "")),
                retention_index=float(ri) if ri is not None else None,
                peaks=peaks, sources=tuple(raw.get("sources", ()))))
        return cls(entries, **kwargs)

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> MsLibrary:
        """Read a library file (the named factory that does I/O)."""
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")), **kwargs)

    def search(self, spectrum: Mapping[int, float], *, ri: float | None = None,
               ri_tolerance: float | None = None, top: int = 5) -> list[Hit]:
        """Candidates for a binned spectrum, best first.

        With *ri* and *ri_tolerance*, entries whose retention index lies outside the window are
        ranked after every entry inside it (they stay visible to an analyst, never on top).
        """
        wu = _weights(spectrum, self.mz_power, self.intensity_power)
        if not wu:
            return []
        by_abundance = _by_abundance({m: spectrum[m] for m in wu})
        scored = []
        for entry, _norm, wl, faint in self._weighted:
            if not any(m in wu for m in wl):
                continue
            forward, reverse = _forward_reverse(wu, by_abundance, wl, faint)
            delta = None
            inside = True
            if ri is not None and entry.retention_index is not None:
                delta = ri - entry.retention_index
                if ri_tolerance is not None:
                    inside = abs(delta) <= ri_tolerance
            hit = Hit(entry, round(999 * forward), round(999 * reverse), delta)
            scored.append((inside, hit.match, hit.reverse_match, hit))
        scored.sort(key=lambda s: (s[0], s[1], s[2]), reverse=True)
        return [s[3] for s in scored[:top]]

    def search_mixture(self, spectrum: Mapping[int, float], *, ri: float | None = None,
                       ri_tolerance: float | None = None, min_reverse: int = 750,
                       min_residual: float = 0.2) -> list[Hit]:
        """Up to two components of a spectrum: the best hit, then the best hit on the residual.

        The residual is the unknown minus the least-squares scaled library spectrum of the
        first hit (clipped at 0); it is searched when it still holds *min_residual* of the
        weighted signal and only a hit with reverse match >= *min_reverse* is kept.
        """
        hits = self.search(spectrum, ri=ri, ri_tolerance=ri_tolerance, top=1)
        if not hits:
            return []
        first = hits[0]
        lib = next(n for e, n, _w, _s in self._weighted if e is first.entry)
        num = sum(spectrum.get(m, 0.0) * i for m, i in lib.items())
        den = sum(i * i for i in lib.values())
        scale = num / den if den else 0.0
        residual = {m: i - scale * lib.get(m, 0.0) for m, i in spectrum.items()}
        residual = {m: i for m, i in residual.items() if i > 2.0}
        total = sum(math.sqrt(i) for i in spectrum.values())
        rest = sum(math.sqrt(i) for i in residual.values())
        if not residual or total <= 0 or rest / total < min_residual:
            return [first]
        top = max(residual.values())
        residual = {m: 100.0 * i / top for m, i in residual.items()}
        second = [h for h in self.search(residual, top=3) if h.entry is not first.entry]
        if second and second[0].reverse_match >= min_reverse:
            return [first, second[0]]
        return [first]
