"""Chromatogram processing: baseline correction, peak picking, retention indices; pure Python.

Baseline
    A morphological opening (moving minimum, then moving maximum, over ``window`` points —
    wider than any peak, narrower than the baseline's drift) followed by a moving average of
    the same width, lifted by the median residual (an opening of noisy data runs ~2 sigma
    low): it follows the rising column-bleed baseline of a temperature programme and
    never cuts into a peak narrower than the window. O(n) with monotonic deques.
Noise
    The median absolute deviation of the first differences of the corrected signal
    (``1.4826 * MAD / sqrt(2)``): robust against the peaks themselves.
Peaks
    Local maxima of the lightly smoothed corrected signal at least ``min_snr`` noise above
    zero; the apex refined by a parabola through three points; the boundaries walk down to the
    baseline or to the valley with a neighbour; the area is the trapezoidal integral of the
    corrected signal between them (signal x minutes).
Retention index
    Linear (van den Dool & Kratz) interpolation in the method's n-alkane ladder, extrapolated
    from the end segments.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Peak",
    "RetentionIndexScale",
    "correct_baseline",
    "moving_extreme",
    "noise_level",
    "pick_peaks",
]


def moving_extreme(values: Sequence[float], window: int, *, minimum: bool) -> list[float]:
    """Centred moving minimum (or maximum) over *window* points (truncated at the ends)."""
    n = len(values)
    half = window // 2
    out = [0.0] * n
    dq: deque[int] = deque()
    better = (lambda a, b: a <= b) if minimum else (lambda a, b: a >= b)
    right = 0
    for i in range(n):
        hi = min(n - 1, i + half)
        while right <= hi:
            while dq and better(values[right], values[dq[-1]]):
                dq.pop()
            dq.append(right)
            right += 1
        while dq[0] < i - half:
            dq.popleft()
        out[i] = values[dq[0]]
    return out


def _moving_average(values: Sequence[float], window: int) -> list[float]:
    n = len(values)
    half = window // 2
    prefix = [0.0]
    for v in values:
        prefix.append(prefix[-1] + v)
    out = []
    for i in range(n):
        lo, hi = max(0, i - half), min(n, i + half + 1)
        out.append((prefix[hi] - prefix[lo]) / (hi - lo))
    return out


def correct_baseline(values: Sequence[float], window: int) -> tuple[list[float], list[float]]:
    """(baseline, corrected signal) by a smoothed morphological opening over *window* points."""
    if window < 3 or len(values) < 3:
        base = [min(values)] * len(values) if values else []
        return base, [v - b for v, b in zip(values, base)]
    opened = moving_extreme(moving_extreme(values, window, minimum=True), window, minimum=False)
    base = _moving_average(opened, window)
    # the opening of noisy data runs ~2 sigma under the noise's mean; most points are
    # baseline, so the median residual is that offset
    residual = sorted(v - b for v, b in zip(values, base))
    offset = residual[len(residual) // 2]
    base = [b + offset for b in base]
    return base, [v - b for v, b in zip(values, base)]


def noise_level(values: Sequence[float]) -> float:
    """Robust standard deviation of the noise (from the MAD of first differences)."""
    if len(values) < 3:
        return 0.0
    diffs = sorted(abs(b - a) for a, b in itertools.pairwise(values))
    mad = diffs[len(diffs) // 2]
    # |d| of a N(0, 2 s^2) difference: median = 0.6745 * sqrt(2) * s
    return mad / (0.6745 * 2 ** 0.5)


@dataclass(frozen=True)
class Peak:
    """One chromatographic peak."""

    rt_min: float
    height: float
    area: float
    snr: float
    start_min: float
    end_min: float
    apex_index: int


def pick_peaks(times: Sequence[float], corrected: Sequence[float], *, min_snr: float = 10.0,
               smooth: int = 5, noise: float | None = None) -> list[Peak]:
    """Peaks of a baseline-corrected chromatogram, in retention-time order."""
    n = len(corrected)
    if n < 5:
        return []
    y = _moving_average(corrected, smooth) if smooth > 1 else list(corrected)
    sigma = noise if noise is not None else noise_level(corrected)
    floor = max(sigma, 1e-12) * min_snr
    peaks: list[Peak] = []
    i = 1
    while i < n - 1:
        if y[i] >= floor and y[i] >= y[i - 1] and y[i] > y[i + 1]:
            # boundaries: down to ~1 noise above baseline or a valley
            lo = i
            while lo > 0 and y[lo - 1] < y[lo] and y[lo - 1] > sigma:
                lo -= 1
            hi = i
            while hi < n - 1 and y[hi + 1] < y[hi] and y[hi + 1] > sigma:
                hi += 1
            area = 0.0
            for j in range(lo, hi):
                area += 0.5 * (corrected[j] + corrected[j + 1]) * (times[j + 1] - times[j])
            a, b, c = y[i - 1], y[i], y[i + 1]
            den = a - 2 * b + c
            shift = 0.5 * (a - c) / den if den != 0 else 0.0
            shift = max(-0.5, min(0.5, shift))
            step = times[i + 1] - times[i]
            rt = times[i] + shift * step
            height = b - 0.25 * (a - c) * shift
            peaks.append(Peak(rt, height, area, height / max(sigma, 1e-12),
                              times[lo], times[hi], i))
            i = hi + 1
            continue
        i += 1
    return peaks


class RetentionIndexScale:
    """Retention time (min) -> retention index from an n-alkane ladder [(rt_min, ri), ...]."""

    def __init__(self, ladder: Sequence[tuple[float, float]]) -> None:
        points = sorted((float(t), float(ri)) for t, ri in ladder)
        if len(points) < 2:
            raise ValueError("a retention-index ladder needs at least two alkanes")
        if any(b[0] <= a[0] or b[1] <= a[1] for a, b in itertools.pairwise(points)):
            raise ValueError("retention-index ladder must increase in time and index")
        self._t = [p[0] for p in points]
        self._ri = [p[1] for p in points]

    def __call__(self, rt_min: float) -> float:
        t, ri = self._t, self._ri
        k = bisect.bisect_right(t, rt_min) - 1
        k = max(0, min(len(t) - 2, k))
        return ri[k] + (ri[k + 1] - ri[k]) * (rt_min - t[k]) / (t[k + 1] - t[k])
