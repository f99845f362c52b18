"""Counting statistics for alarm thresholds: Poisson and negative-binomial tails, pure Python.

A radiation alarm compares a measured count with the count expected from the background. The
threshold is the smallest count whose tail probability under the background hypothesis is at
most the per-test false-alarm probability:

* :func:`poisson_sf` — ``P(X >= k)`` for ``X ~ Poisson(mu)``: the background rate is known
  well (gamma: ~10^5 background counts in the window), only the foreground fluctuates;
* :func:`negbin_sf` — ``P(X >= k)`` for the *predictive* count when the background rate itself
  was estimated from ``b`` counts in ``t_b`` seconds (neutrons: a few hundred counts): with a
  Jeffreys prior the rate is Gamma(``b + 1/2``, ``t_b``) and the foreground count over ``t_f``
  is negative binomial, ``r = b + 1/2``, ``p = t_b / (t_b + t_f)``;
* :func:`per_test_rate` — the Šidák correction: ``m`` tests per occupancy, each at
  ``1 - (1 - alpha) ** (1 / m)``, keep the family-wise rate at ``alpha`` (valid, conservative,
  for the positively correlated overlapping windows of one occupancy).

The tail functions are the regularised incomplete gamma and beta functions evaluated by their
series and continued fractions (Numerical Recipes, 3rd ed., §6.2 and §6.4).
"""

from __future__ import annotations

import math

__all__ = [
    "negbin_sf",
    "negbin_threshold",
    "normal_isf",
    "per_test_rate",
    "poisson_sf",
    "poisson_threshold",
]

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 10_000


def _gamma_p(a: float, x: float) -> float:
    """Regularised lower incomplete gamma P(a, x)."""
    if x <= 0.0:
        return 0.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:  # series
        term = total = 1.0 / a
        ap = a
        for _ in range(_MAX_ITER):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return min(1.0, total * math.exp(log_front))
    return 1.0 - _gamma_q_cf(a, x, log_front)


def _gamma_q_cf(a: float, x: float, log_front: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) by Lentz's continued fraction (x >= a + 1)."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(log_front) * h


def poisson_sf(k: int, mu: float) -> float:
    """``P(X >= k)`` for ``X ~ Poisson(mu)`` (1.0 for ``k <= 0``)."""
    if k <= 0:
        return 1.0
    if mu <= 0.0:
        return 0.0
    # P(X >= k) = P(k, mu), the regularised lower incomplete gamma function.
    if mu < k + 1.0:
        return _gamma_p(float(k), mu)
    return 1.0 - _gamma_q_cf(float(k), mu, k * math.log(mu) - mu - math.lgamma(k))


def _beta_cf(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def _beta_i(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_cf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_cf(b, a, 1.0 - x) / b


def negbin_sf(k: int, r: float, p: float) -> float:
    """``P(X >= k)`` for the negative binomial ``P(X = j) ∝ C(j + r - 1, j) p^r (1-p)^j``."""
    if k <= 0:
        return 1.0
    if p >= 1.0:
        return 0.0
    # P(X >= k) = I_{1-p}(k, r)
    return _beta_i(float(k), r, 1.0 - p)


def per_test_rate(alpha: float, tests: int) -> float:
    """Per-test false-alarm probability keeping the family-wise rate at *alpha* (Šidák)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"false-alarm rate must be in (0, 1), got {alpha!r}")
    tests = max(1, int(tests))
    return -math.expm1(math.log1p(-alpha) / tests)


def normal_isf(p: float) -> float:
    """The standard normal z with ``P(Z > z) = p`` (Acklam's rational approximation, ~1e-9)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {p!r}")
    q = min(p, 1.0 - p)
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
         3.754408661907416e00)
    if q < 0.02425:
        s = math.sqrt(-2.0 * math.log(q))
        z = (((((c[0] * s + c[1]) * s + c[2]) * s + c[3]) * s + c[4]) * s + c[5]) / (
            (((d[0] * s + d[1]) * s + d[2]) * s + d[3]) * s + 1.0)
        z = -z  # lower-tail quantile is negative; upper tail of q is +|z|
    else:
        u = q - 0.5
        s = u * u
        z = -(((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * u / (
            ((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1.0)
    return z if p <= 0.5 else -z


def _smallest_k(sf, guess: float, p: float) -> int:  # type: ignore[no-untyped-def]
    """Smallest integer k >= 1 with sf(k) <= p (sf decreasing), searched around *guess*."""
    lo = max(1, int(guess))
    step = max(1, int(math.sqrt(max(guess, 1.0))))
    while lo > 1 and sf(lo) <= p:
        lo = max(1, lo - step)
        step *= 2
    hi = lo + 1
    step = max(1, int(math.sqrt(max(guess, 1.0))))
    while sf(hi) > p:
        lo = hi
        hi += step
        step *= 2
    # invariant: sf(lo) > p or lo == 1 (checked below), sf(hi) <= p
    if sf(lo) <= p:
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if sf(mid) <= p:
            hi = mid
        else:
            lo = mid
    return hi


def poisson_threshold(mu: float, p: float) -> int:
    """Smallest count k with ``P(X >= k) <= p`` under ``Poisson(mu)``: alarm when count >= k."""
    if mu <= 0.0:
        return 1
    z = normal_isf(p)
    guess = mu + z * math.sqrt(mu) + (z * z) / 6.0
    return _smallest_k(lambda k: poisson_sf(k, mu), guess, p)


def negbin_threshold(b_counts: int, t_b: float, t_f: float, p: float) -> int:
    """Alarm count for a foreground of *t_f* s against *b_counts* background counts in *t_b* s.

    Uses the predictive negative binomial (see the module docstring), so the uncertainty of a
    background estimated from few counts widens the threshold instead of raising false alarms.
    """
    if t_b <= 0.0:
        raise ValueError("background live time must be positive")
    r = b_counts + 0.5
    q = t_b / (t_b + t_f)
    mean = r * (1 - q) / q
    var = mean / q
    z = normal_isf(p)
    guess = mean + z * math.sqrt(max(var, 1e-9))
    return _smallest_k(lambda k: negbin_sf(k, r, q), guess, p)
