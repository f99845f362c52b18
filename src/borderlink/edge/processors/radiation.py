"""Radiation portal monitor: background tracking, gross-count and neutron alarms, NORM test.

Readings: :class:`~borderlink.hardware_profiles.readings.CountSample` (one panel, ~100 ms) and,
from monitors that only report per occupancy, :class:`OccupancyReport` (ANSI N42.42).

Background
    While the lane is empty each panel's gamma (low and high energy window) and neutron counts
    go into a sliding window of ``background_window_s`` (a windowed mean, exact counts and live
    time). Samples are committed only once they are ``guard_s`` old and the lane stayed empty,
    and for ``guard_s`` after a vehicle left nothing is taken: a source on a vehicle that
    approaches or leaves the lane never leaks into its own background. The window is frozen
    during an occupancy. Until ``min_background_s`` of background is collected the profile's
    nominal rates stand in.

Gamma (gross-count) alarm
    Over the occupancy, windows of each length in ``gamma_windows_s`` (a source passes the
    panels in 0.3 .. 3 s depending on speed; the best window matches the transit) slide sample
    by sample, on each panel and on the panels' sum. With ``n`` windows (all lengths) and ``c``
    channels there are ``m = n * c`` tests per
    occupancy; each is made at the Šidák rate ``1 - (1 - alpha) ** (1 / m)`` so the occupancy's
    false-alarm probability stays at ``gamma_false_alarm_rate`` (``alpha``). The threshold is the
    exact Poisson quantile of the expected background in the window (:mod:`.poisson`).
    A vehicle shadows the background (``vehicle_shadowing`` ~ 10-20 %); the expected count is
    lowered by the shadowing this vehicle shows (from the lower quartile of the occupancy's
    per-sample counts, taken two standard errors high so it rarely over-corrects) — never raised above the empty-lane
    background, so cargo cannot lift its own threshold.

Neutron alarm
    The panels' neutron sum, over sliding ``neutron_slice_s`` windows and the whole occupancy,
    against the predictive negative binomial of a background known from a few hundred counts.

Energy-window ratio (NORM), count-only monitors
    ``ratio = net high-window counts / net gross counts`` over the samples of the windows that
    are significant (>= 3 sigma on the sum). The band depends on the detector
    (``detector_type``; the profile's ``<type>_norm_ratio_band``). On plastic scintillator
    (``pvt``) panels, which see Compton continua only, naturally occurring radioactive
    material (K-40 in fertiliser and bananas, Ra-226/Th-232 chains in ceramics and tiles) has
    a hard spectrum whose ratio lies in the band (0.30-0.52); Cs-137 (662 keV, Compton edge
    477 keV) lies below it, Co-60 above it. A gamma-only alarm whose ratio is consistent with
    the band (within ``ratio_z`` standard errors) is a nuisance alarm; a neutron alarm never
    is. On NaI (``nai``) the photopeaks of Cs-137 and Co-60 fall in the high window as NORM's
    do (real RASE NaI spectra: Cs-137 0.32, Co-60 0.51, Th-232 0.32, Ra-226 0.25), so no band
    separates them: a NaI profile defines none and two windows alone never call a nuisance.

Photopeaks (NORM), spectroscopic monitors
    A report that carries the panels' spectra from a ``nai`` or ``hpge`` monitor is judged on
    photopeak windows instead (:mod:`.photopeaks`: Cs-137 662, Co-60 1173 + 1332 keV against
    K-40 1461, Tl-208 2614/583, Bi-214 609/1764 … keV, windows from ``resolution_662_pct``): a
    gamma-only alarm is a nuisance when NORM lines are seen and no man-made line is.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from borderlink.hardware_profiles.readings import CountSample, OccupancyReport

from .base import AlertLevel, Decision
from .photopeaks import PhotopeakVerdict, analyse
from .poisson import negbin_threshold, per_test_rate, poisson_threshold

__all__ = ["DETECTOR_TYPES", "RESOLUTION_662_PCT", "OccupancyResult", "RadiationConfig", "RadiationProcessor"]

#: Detector types; the spectroscopic ones are judged on photopeaks when spectra come.
DETECTOR_TYPES = frozenset({"pvt", "nai", "csi", "labr3", "hpge"})
_SPECTROSCOPIC = frozenset({"nai", "csi", "labr3", "hpge"})
#: Typical FWHM at 662 keV (%) of each spectroscopic type when the profile gives none:
#: NaI(Tl) ~7, a small CsI(Tl) hand-held ~7.5, LaBr3(Ce) ~3, coaxial HPGe ~0.2 (1.3 keV).
#: PVT has no photopeaks (Compton edges only): no identification.
RESOLUTION_662_PCT = {"nai": 7.0, "csi": 7.5, "labr3": 3.0, "hpge": 0.2}


@dataclass(frozen=True)
class RadiationConfig:
    """Parameters of one lane (from the ``[processing]`` table of an ``rpm`` profile)."""

    lane: str = "L1"
    panels: int = 2
    sample_interval_s: float = 0.1
    gamma_false_alarm_rate: float = 0.001  # per occupancy, all gamma tests together
    neutron_false_alarm_rate: float = 0.001  # per occupancy, all neutron tests together
    background_window_s: float = 60.0
    min_background_s: float = 5.0  # below this the nominal rates below stand in
    guard_s: float = 2.0  # samples this close to an occupancy never enter the background
    background_gamma_cps_per_panel: float = 1800.0  # nominal, until background is learnt
    background_neutron_cps_per_panel: float = 2.0
    background_high_fraction: float = 0.38  # nominal high-window share of the background
    detector_type: str = "pvt"  # pvt (plastic), nai, hpge: what a window or a line means
    # the two-window NORM band of this detector type (None: two windows never call NORM)
    norm_ratio_band: tuple[float, float] | None = (0.30, 0.52)
    # FWHM at 662 keV (spectroscopic detectors); None: the type's RESOLUTION_662_PCT
    resolution_662_pct: float | None = None
    photopeak_min_sigma: float = 5.0  # a line is seen at this many standard errors ...
    man_made_min_share: float = 0.02  # ... holding this share of the excess (man-made) ...
    norm_min_share: float = 0.005  # ... or this share (NORM lines)
    ratio_z: float = 0.0  # standard errors of the ratio allowed outside the band for NORM
    vehicle_shadowing: float = 0.12  # nominal; the largest correction applied is twice this
    gamma_windows_s: tuple[float, ...] = (0.5, 1.0, 2.0)  # sliding window lengths
    neutron_slice_s: float = 2.0
    max_occupancy_s: float = 120.0
    occupancy_timeout_s: float = 1.0  # no sample for this long during an occupancy ends it
    decision_deadline_ms: float = 100.0

    def __post_init__(self) -> None:
        for name in ("gamma_false_alarm_rate", "neutron_false_alarm_rate"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {value!r}")
        if self.panels < 1:
            raise ValueError(f"panels must be >= 1, got {self.panels!r}")
        if self.sample_interval_s <= 0:
            raise ValueError("sample_interval_s must be positive")
        if self.detector_type not in DETECTOR_TYPES:
            raise ValueError(f"detector_type must be one of {sorted(DETECTOR_TYPES)}, "
                             f"got {self.detector_type!r}")
        if self.resolution_662_pct is None:
            object.__setattr__(self, "resolution_662_pct",
                               RESOLUTION_662_PCT.get(self.detector_type, 7.0))
        if self.norm_ratio_band is not None:
            low, high = self.norm_ratio_band
            if not 0.0 <= low < high <= 1.0:
                raise ValueError(f"norm_ratio_band must be [low, high] in 0..1, got {self.norm_ratio_band!r}")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **overrides: Any) -> RadiationConfig:
        """Build from a profile's processing settings (unknown keys are ignored).

        The NORM band is the profile's ``<detector_type>_norm_ratio_band`` (a configuration
        built in code may give ``norm_ratio_band``); a detector type without one has none.
        """
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in settings.items() if k in names}
        dtype = str(overrides.get("detector_type", values.get("detector_type", "pvt")))
        band = settings.get(f"{dtype}_norm_ratio_band", values.get("norm_ratio_band"))
        values["norm_ratio_band"] = tuple(float(v) for v in band) if band else None
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_profile(cls, profile: Any, **overrides: Any) -> RadiationConfig:
        """Build from a loaded :class:`~borderlink.hardware_profiles.schema.Profile`."""
        settings = dict(profile.settings)
        framing = profile.framing
        extra: dict[str, Any] = {}
        for key, name in (("lane", "lane"), ("panels", "panels"),
                          ("sample_interval_s", "sample_interval_s")):
            value = framing.param(name)
            if value is not None:
                extra[key] = value
        extra.update(overrides)
        return cls.from_settings(settings, **extra)


@dataclass
class _Background:
    """Sliding window of empty-lane samples of one panel: exact counts and live time."""

    maxlen: int
    samples: deque[tuple[int, int, int]] = field(default_factory=deque)
    low: int = 0
    high: int = 0
    neutron: int = 0

    def add(self, low: int, high: int, neutron: int) -> None:
        self.samples.append((low, high, neutron))
        self.low += low
        self.high += high
        self.neutron += neutron
        if len(self.samples) > self.maxlen:
            old = self.samples.popleft()
            self.low -= old[0]
            self.high -= old[1]
            self.neutron -= old[2]


@dataclass(frozen=True)
class OccupancyResult:
    """The statistics of one occupancy (also in ``Decision.extra['result']``)."""

    occupancy_seq: int
    start: float
    end: float
    gamma_counts: int
    neutron_counts: int
    gamma_background_cps: float
    neutron_background_cps: float
    max_sigma: float
    gamma_alarm: bool
    neutron_alarm: bool
    neutron_sigma: float
    energy_ratio: float | None
    ratio_sigma: float | None
    nuisance: bool
    threshold_cps: float
    tests: int
    norm_test: str = "ratio"  # ratio (two windows), photopeaks, none (no band, no spectra)
    photopeaks: PhotopeakVerdict | None = None


class RadiationProcessor:
    """One lane's processor. ``feed`` takes CountSample/OccupancyReport readings of the lane."""

    def __init__(self, config: RadiationConfig | None = None) -> None:
        self.config = config or RadiationConfig()
        c = self.config
        self._bg_len = max(1, round(c.background_window_s / c.sample_interval_s))
        self._background = {p: _Background(self._bg_len) for p in range(c.panels)}
        self._pending: deque[CountSample] = deque()  # empty-lane samples not yet committed
        self._quiet_until = -math.inf  # no background before this (vehicle just left)
        self._occ: list[CountSample] | None = None
        self._occ_start = 0.0
        self._last_t = -math.inf
        self._seq = 0
        self._seen_samples = False
        self._panel_index: dict[int, int] = {}  # device panel number -> 0 .. panels-1

    def _index(self, panel: int) -> int | None:
        """Column of a panel number (devices number from 0 or 1; first seen, first served)."""
        index = self._panel_index.get(panel)
        if index is None and len(self._panel_index) < self.config.panels:
            index = self._panel_index[panel] = len(self._panel_index)
        return index

    # ------------------------------------------------------------------ background
    def background_cps(self) -> dict[int, tuple[float, float, float]]:
        """Per panel (low, high, neutron) background rate in counts per second."""
        out = {}
        for panel, bg in self._background.items():
            live = len(bg.samples) * self.config.sample_interval_s
            if live >= self.config.min_background_s:
                out[panel] = (bg.low / live, bg.high / live, bg.neutron / live)
            else:
                c = self.config
                g = c.background_gamma_cps_per_panel
                out[panel] = (g * (1 - c.background_high_fraction), g * c.background_high_fraction,
                              c.background_neutron_cps_per_panel)
        return out

    def _neutron_background(self) -> tuple[int, float]:
        """Neutron background counts (all panels) and their live time (s)."""
        c = self.config
        live = min(len(bg.samples) for bg in self._background.values()) * c.sample_interval_s
        if live >= c.min_background_s:
            counts = sum(bg.neutron for bg in self._background.values())
            # panels may differ by a sample; scale to the common live time
            lens = [len(bg.samples) for bg in self._background.values()]
            return round(counts * min(lens) / max(1, max(lens))), live
        return round(c.background_neutron_cps_per_panel * c.panels * c.background_window_s), \
            c.background_window_s

    def _commit_pending(self, now: float) -> None:
        guard = self.config.guard_s
        while self._pending and self._pending[0].t <= now - guard:
            s = self._pending.popleft()
            bg = self._background.get(self._panel_index[s.panel])
            if bg is not None:
                bg.add(s.gamma_low, s.gamma_high, s.neutron)

    # ------------------------------------------------------------------ Processor API
    def feed(self, reading: Any) -> list[Decision]:
        if isinstance(reading, CountSample):
            return self._feed_sample(reading)
        if isinstance(reading, OccupancyReport):
            return self._feed_report(reading)
        return []

    def tick(self, now: float) -> list[Decision]:
        if self._occ is not None and now - self._last_t >= self.config.occupancy_timeout_s:
            return self._finish(now)
        return []

    def _feed_sample(self, s: CountSample) -> list[Decision]:
        if s.lane != self.config.lane or self._index(s.panel) is None:
            return []
        self._seen_samples = True
        out: list[Decision] = []
        if self._occ is not None and s.t - self._last_t >= self.config.occupancy_timeout_s:
            out += self._finish(s.t)
        self._last_t = max(self._last_t, s.t)
        if s.occupied:
            if self._occ is None:
                self._occ = []
                self._occ_start = s.t - s.interval_s
                self._pending.clear()  # the approaching vehicle may already be seen
            self._occ.append(s)
            if s.t - self._occ_start >= self.config.max_occupancy_s:
                out += self._finish(s.t)
            return out
        if self._occ is not None:
            out += self._finish(s.t)
        if s.t > self._quiet_until:
            self._pending.append(s)
            self._commit_pending(s.t)
        return out

    # ------------------------------------------------------------------ decision
    def _finish(self, now: float) -> list[Decision]:
        samples, self._occ = self._occ or [], None
        self._quiet_until = now + self.config.guard_s
        if not samples:
            return []
        self._seq += 1
        result = self.evaluate(samples, self._seq, self._occ_start)
        return self._decisions(result, now, n42=None)

    def evaluate(self, samples: list[CountSample], seq: int, start: float) -> OccupancyResult:
        """The statistics of one occupancy against the current (frozen) background."""
        c = self.config
        dt = c.sample_interval_s
        panels = c.panels
        # ticks: one row per sample time, one column per panel
        index: dict[int, int] = {}
        rows: list[list[tuple[int, int, int]]] = []
        for s in samples:
            key = round(s.t * 1000)
            i = index.get(key)
            if i is None:
                i = index[key] = len(rows)
                rows.append([(0, 0, 0)] * panels)
            rows[i][self._panel_index[s.panel]] = (s.gamma_low, s.gamma_high, s.neutron)
        n = len(rows)
        bg = self.background_cps()
        end = max(s.t for s in samples)

        # gamma channels: each panel and the sum; per-tick gross counts
        chan_ticks: list[list[int]] = [[r[p][0] + r[p][1] for r in rows] for p in range(panels)]
        if panels > 1:
            chan_ticks.append([sum(x) for x in zip(*chan_ticks)])
        chan_rate = [bg[p][0] + bg[p][1] for p in range(panels)]
        if panels > 1:
            chan_rate.append(sum(chan_rate))
        widths = sorted({max(1, min(n, round(ws / dt))) for ws in c.gamma_windows_s})
        tests = sum(n - w + 1 for w in widths) * len(chan_ticks)
        p_test = per_test_rate(c.gamma_false_alarm_rate, tests)

        gamma_alarm = False
        max_sigma = -math.inf
        best_threshold_cps = 0.0
        sum_sig: list[float] = []
        w_ratio = widths[0]
        for ci, ticks in enumerate(chan_ticks):
            mu_tick = self._shadowed(ticks, chan_rate[ci] * dt)
            is_sum = ci == len(chan_ticks) - 1
            for w in widths:
                mu = mu_tick * w
                k = poisson_threshold(mu, p_test)
                sd = math.sqrt(mu) if mu > 0 else 1.0
                run = sum(ticks[:w])
                sigs = []
                for j in range(n - w + 1):
                    if j:
                        run += ticks[j + w - 1] - ticks[j - 1]
                    sig = (run - mu) / sd
                    sigs.append(sig)
                    if run >= k:
                        gamma_alarm = True
                    if sig > max_sigma:
                        max_sigma = sig
                        best_threshold_cps = k / (w * dt)
                if is_sum and w == w_ratio:
                    sum_sig = sigs

        # neutron: sum of panels, sliding windows + the whole occupancy
        n_ticks = [sum(r[p][2] for p in range(panels)) for r in rows]
        b_counts, b_live = self._neutron_background()
        wn = max(1, min(n, round(c.neutron_slice_s / dt)))
        n_windows_n = n - wn + 1
        p_n = per_test_rate(c.neutron_false_alarm_rate, n_windows_n + (1 if n > wn else 0))
        neutron_alarm = False
        k_w = negbin_threshold(b_counts, b_live, wn * dt, p_n)
        run = sum(n_ticks[:wn])
        best_n = run
        for j in range(n_windows_n):
            if j:
                run += n_ticks[j + wn - 1] - n_ticks[j - 1]
            best_n = max(best_n, run)
            if run >= k_w:
                neutron_alarm = True
        total_n = sum(n_ticks)
        if n > wn and total_n >= negbin_threshold(b_counts, b_live, n * dt, p_n):
            neutron_alarm = True
        n_rate = b_counts / b_live
        mu_nw = n_rate * wn * dt
        neutron_sigma = (best_n - mu_nw) / math.sqrt(mu_nw) if mu_nw > 0 else float(best_n)

        # energy-window ratio over the significant windows of the sum channel
        ratio = ratio_sigma = None
        nuisance = False
        if gamma_alarm:
            ratio, ratio_sigma = self._energy_ratio(rows, sum_sig, w_ratio, bg)
            nuisance = not neutron_alarm and self._in_band(ratio, ratio_sigma)
        if neutron_alarm and not gamma_alarm:
            best_threshold_cps = k_w / (wn * dt)
        return OccupancyResult(
            occupancy_seq=seq,
            start=start,
            end=end,
            gamma_counts=sum(chan_ticks[-1]) if panels > 1 else sum(chan_ticks[0]),
            neutron_counts=total_n,
            gamma_background_cps=sum(bg[p][0] + bg[p][1] for p in range(panels)),
            neutron_background_cps=n_rate,
            max_sigma=max_sigma if max_sigma > -math.inf else 0.0,
            gamma_alarm=gamma_alarm,
            neutron_alarm=neutron_alarm,
            neutron_sigma=neutron_sigma,
            energy_ratio=ratio,
            ratio_sigma=ratio_sigma,
            nuisance=nuisance,
            threshold_cps=best_threshold_cps,
            tests=tests,
            norm_test="ratio" if c.norm_ratio_band is not None else "none",
        )

    def _in_band(self, ratio: float | None, ratio_sigma: float | None) -> bool:
        c = self.config
        if ratio is None or ratio_sigma is None or c.norm_ratio_band is None:
            return False
        low, high = c.norm_ratio_band
        return low - c.ratio_z * ratio_sigma <= ratio <= high + c.ratio_z * ratio_sigma

    def _shadowed(self, ticks: list[int], mu_tick: float) -> float:
        """Expected per-sample background under this vehicle (never above the empty lane).

        From the lower quartile of the occupancy's samples (a source lifts at most the upper
        half of them): for Poisson counts of mean ``mu`` the quartile is ``mu - 0.674 sqrt(mu)``.
        The estimate is taken two standard errors high so it errs towards fewer alarms.
        """
        n = len(ticks)
        if n < 8 or mu_tick <= 0:
            return mu_tick
        ordered = sorted(ticks)
        q = ordered[(n - 1) // 4]
        est = q + 0.674 * math.sqrt(max(q, 1.0))
        se = 1.36 * math.sqrt(max(est, 1.0) / n)  # standard error of a quartile estimate
        floor = mu_tick * (1.0 - 2.0 * self.config.vehicle_shadowing)
        return max(floor, min(mu_tick, est + 2.0 * se))

    def _energy_ratio(self, rows: list[list[tuple[int, int, int]]], sigs: list[float], w: int,
                      bg: dict[int, tuple[float, float, float]],
                      ) -> tuple[float | None, float | None]:
        c = self.config
        dt = c.sample_interval_s
        panels = c.panels
        n = len(rows)
        chosen = [False] * n
        if sigs:
            best = max(range(len(sigs)), key=sigs.__getitem__)
            for j, sig in enumerate(sigs):
                if sig >= 3.0 or j == best:
                    for i in range(j, min(n, j + w)):
                        chosen[i] = True
        ticks = [i for i in range(n) if chosen[i]] or list(range(n))
        # the vehicle's own shadowing, from the samples away from the source (a point source
        # leaves most of the occupancy clean); cargo spread over the whole vehicle (NORM)
        # leaves none, then the nominal shadowing stands in with its uncertainty
        away = sorted(sum(rows[i][p][0] + rows[i][p][1] for p in range(panels))
                      for i in range(n) if not chosen[i])
        bg_low = sum(bg[p][0] for p in range(panels)) * dt
        bg_high = sum(bg[p][1] for p in range(panels)) * dt
        b_tick = bg_low + bg_high
        if b_tick <= 0:
            return None, None
        s_max = 2.0 * c.vehicle_shadowing
        if len(away) >= 6:
            median = (away[(len(away) - 1) // 2] + away[len(away) // 2]) / 2.0
            expected = max(b_tick * (1 - s_max), min(b_tick, median))
            bg_var_tick = 1.57 * expected / len(away)  # variance of a median of Poisson counts
        else:
            expected = b_tick * (1 - c.vehicle_shadowing)
            bg_var_tick = (b_tick * c.vehicle_shadowing / 2) ** 2
        scale = expected / b_tick
        m = len(ticks)
        low = sum(rows[i][p][0] for i in ticks for p in range(panels))
        high = sum(rows[i][p][1] for i in ticks for p in range(panels))
        exp_low, exp_high = bg_low * scale * m, bg_high * scale * m
        net_low, net_high = low - exp_low, high - exp_high
        net = net_low + net_high
        if net <= 0:
            return None, None
        ratio = net_high / net
        # delta method: Poisson counts, plus the error of the expected background (whose
        # composition is the background's own high fraction f_bg)
        f_bg = bg_high / b_tick
        var = ((1 - ratio) ** 2 * high + ratio ** 2 * low) / (net * net)
        var += ((ratio - f_bg) ** 2) * (m * m * bg_var_tick) / (net * net)
        return ratio, math.sqrt(var)

    def _decisions(self, r: OccupancyResult, now: float, n42: str | None) -> list[Decision]:
        c = self.config
        start_ms, end_ms = max(0, round(r.start * 1000)), max(0, round(r.end * 1000))
        alarm = r.gamma_alarm or r.neutron_alarm
        body: dict[str, Any] = {
            "lane": c.lane,
            "start_ms": start_ms,
            "end_ms": end_ms,
            "gamma_counts": r.gamma_counts,
            "gamma_background_cps": round(r.gamma_background_cps, 3),
            "neutron_counts": r.neutron_counts,
            "neutron_background_cps": round(r.neutron_background_cps, 4),
            "max_sigma": round(r.max_sigma, 3),
            "alarm": alarm,
        }
        if r.energy_ratio is not None:
            body["energy_ratio"] = round(r.energy_ratio, 4)
        identified = _identified(r)
        if alarm:
            body["nuisance"] = r.nuisance
        if r.photopeaks is not None:
            body["nuclides"] = identified
            body["verdict_reason"] = r.photopeaks.reason
        if n42 is not None:
            body["n42"] = n42
        extra = {"result": r}
        out = [Decision("radiation.occupancy", body, t=now, decided_at=now,
                        summary=f"lane {c.lane} occupancy {r.occupancy_seq}: "
                                f"{'alarm' if alarm else 'clear'}", extra=extra)]
        if alarm:
            kind = ("gamma+neutron" if r.gamma_alarm and r.neutron_alarm
                    else "gamma" if r.gamma_alarm else "neutron")
            level = AlertLevel.INFO if r.nuisance else AlertLevel.ALARM
            abody: dict[str, Any] = {
                "lane": c.lane,
                "kind": kind,
                "nuisance": r.nuisance,
                "sigma": round(r.max_sigma if r.gamma_alarm else r.neutron_sigma, 3),
                "threshold_cps": round(r.threshold_cps, 3),
                "start_ms": start_ms,
                "end_ms": end_ms,
                "occupancy_seq": r.occupancy_seq,
                "level": level.value,
            }
            if r.energy_ratio is not None:
                abody["energy_ratio"] = round(r.energy_ratio, 4)
            abody["nuclides"] = identified
            if r.photopeaks is not None:
                abody["verdict_reason"] = r.photopeaks.reason
            elif r.nuisance:
                abody["verdict_reason"] = "NORM nuisance: energy-window ratio in the NORM band"
            what = "NORM nuisance" if r.nuisance else f"{kind} ALARM"
            if identified:
                what += f" ({', '.join(n['name'] for n in identified)})"
            out.append(Decision("radiation.alarm", abody, t=now, alert=level, decided_at=now,
                                summary=f"lane {c.lane} occupancy {r.occupancy_seq}: {what}",
                                extra=extra))
        return out

    # ------------------------------------------------------------------ N42 reports
    def _feed_report(self, rep: OccupancyReport) -> list[Decision]:
        """Decide from a monitor's N42.42 occupancy report when no count stream is seen."""
        if rep.lane != self.config.lane or self._seen_samples:
            return []
        c = self.config
        if rep.live_time_s <= 0 or rep.background_live_time_s <= 0:
            return []
        fg = {pc.panel: pc for pc in rep.foreground}
        bgc = {pc.panel: pc for pc in rep.background}
        panels = sorted(set(fg) & set(bgc))
        if not panels:
            return []
        t_f, t_b = rep.live_time_s, rep.background_live_time_s
        chans = [(fg[p].gamma, bgc[p].gamma) for p in panels]
        if len(panels) > 1:
            chans.append((sum(x for x, _ in chans), sum(y for _, y in chans)))
        p_test = per_test_rate(c.gamma_false_alarm_rate, len(chans))
        gamma_alarm = False
        max_sigma = -math.inf
        thr_cps = 0.0
        for f, b in chans:
            k = negbin_threshold(b, t_b, t_f, p_test)
            mu = b / t_b * t_f
            sig = (f - mu) / math.sqrt(mu) if mu > 0 else float(f)
            gamma_alarm |= f >= k
            if sig > max_sigma:
                max_sigma, thr_cps = sig, k / t_f
        nf = sum(fg[p].neutron for p in panels)
        nb = sum(bgc[p].neutron for p in panels)
        k_n = negbin_threshold(nb, t_b, t_f, c.neutron_false_alarm_rate)
        neutron_alarm = nf >= k_n
        mu_n = nb / t_b * t_f
        n_sig = (nf - mu_n) / math.sqrt(mu_n) if mu_n > 0 else float(nf)
        ratio = ratio_sigma = None
        nuisance = False
        if gamma_alarm:
            low = sum(fg[p].gamma_low for p in panels)
            high = sum(fg[p].gamma_high for p in panels)
            exp_low = sum(bgc[p].gamma_low for p in panels) / t_b * t_f
            exp_high = sum(bgc[p].gamma_high for p in panels) / t_b * t_f
            net = (low - exp_low) + (high - exp_high)
            if net > 0:
                ratio = (high - exp_high) / net
                ratio_sigma = math.sqrt((1 - ratio) ** 2 * high + ratio ** 2 * low) / net
        norm_test = "ratio" if c.norm_ratio_band is not None else "none"
        peaks = None
        if c.detector_type in _SPECTROSCOPIC and rep.foreground_spectra:
            peaks = analyse(rep.foreground_spectra, rep.background_spectra,
                            resolution_662_pct=float(c.resolution_662_pct or 7.0),
                            min_sigma=c.photopeak_min_sigma,
                            man_made_min_share=c.man_made_min_share,
                            norm_min_share=c.norm_min_share)
        if peaks is not None:
            norm_test = "photopeaks"
            nuisance = gamma_alarm and not neutron_alarm and peaks.nuisance
        elif gamma_alarm:
            nuisance = not neutron_alarm and self._in_band(ratio, ratio_sigma)
        if neutron_alarm and not gamma_alarm:
            thr_cps = k_n / t_f
        self._seq += 1
        result = OccupancyResult(
            occupancy_seq=self._seq, start=rep.start, end=rep.end,
            gamma_counts=sum(fg[p].gamma for p in panels), neutron_counts=nf,
            gamma_background_cps=sum(bgc[p].gamma for p in panels) / t_b,
            neutron_background_cps=nb / t_b, max_sigma=max_sigma, gamma_alarm=gamma_alarm,
            neutron_alarm=neutron_alarm, neutron_sigma=n_sig, energy_ratio=ratio,
            ratio_sigma=ratio_sigma, nuisance=nuisance, threshold_cps=thr_cps, tests=len(chans),
            norm_test=norm_test, photopeaks=peaks,
        )
        return self._decisions(result, rep.t, n42=None)


def _identified(r: OccupancyResult) -> list[dict[str, Any]]:
    """The record's ``nuclides``: name (``Cs-137``) and confidence, best first (none without
    spectra: a count-only monitor identifies nothing)."""
    if r.photopeaks is None:
        return []
    return [{"name": name, "confidence": conf} for name, conf in r.photopeaks.nuclides]
